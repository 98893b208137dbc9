"""The rule table 《征缴规则表》 as a workbook kind: check it (R01–R07 through the same cell pass) and load it
into a rule book (``domain/rulebook.py``: the valid rules and their lookup)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.findings import Finding, make
from xlflow.domain.kinds import AMOUNT_KEYS, kind_spec
from xlflow.domain.rulebook import KEY_COLUMNS, RuleBook, fingerprint, rule_name
from xlflow.domain.values import cents_text, parse_amount, parse_month
from xlflow.io.opening import DEFAULT_LIMITS, Limits
from xlflow.validation.engine import (
    add_sheet_findings,
    cell_findings,
    fix_findings,
    parse_column,
    read_for_check,
)
from xlflow.validation.normalise import Vocabulary, normalise
from xlflow.validation.result import CheckResult
from xlflow.validation.schemas import row_schema, schema_failures


def rules_vocabulary(identities: list[str] | None = None) -> Vocabulary:
    names = [n for names in vocab.IDENTITY_CODES.values() for n in names]
    return Vocabulary(
        {
            "hukou": vocab.hukou_map(),
            "tier": vocab.tier_map(),
            "identity_name": vocab.identity_map(identities or names),
            "end_month": dict.fromkeys(OPEN_END, "209912"),
        }
    )


# How a rule that has no end is written: 长期 / 至今, or a year 9999 (the product writes 209912, as the
# system does).
OPEN_END = ("长期", "长期有效", "至今", "永久", "永久有效", "9999", "999912", "9999-12", "99991231", "9999-12-31",
            "2099")


def check_rules(
    path: Path, limits: Limits = DEFAULT_LIMITS, today: dt.date | None = None
) -> tuple[CheckResult, RuleBook | None]:
    """Validate a rule table; the RuleBook holds its rows without errors (None if unusable). No clock is read:
    ``today`` bounds birth years, and a rule table has no ID column (given by callers that have the date)."""
    spec = kind_spec("rules")
    result = CheckResult(file=str(path), kind="rules")
    table = read_for_check(Path(path), [spec], limits, result)
    if table is None:
        return result, None
    findings = result.findings
    for key, cols in table.duplicate_keys.items():
        headers = "、".join(table.headers[c] for c in cols)
        findings.append(make("R03", row=table.header_row, value=spec.column(key).header,
                             detail=f"第 {table.header_row} 行表头：{headers}"))  # fmt: skip
    types = {c.key: c.type for c in spec.columns} | {"end": "end_month"}  # 长期 is an end, never a start
    frame, fixes, *_ = normalise(table, types, rules_vocabulary())
    findings += fix_findings(fixes, table)
    checked = frame.where(frame != "", None)
    for key in AMOUNT_KEYS:
        cents, problem = parse_column(frame[key], partial(parse_amount, signed=True))
        findings += cell_findings(table, key, problem.notna(), "C08", frame[key], detail=problem)
        checked[f"{key}:cents"] = pd.to_numeric(cents, errors="coerce")
    months = {}
    for key in ("start", "end"):
        months[key], problem = parse_column(frame[key], parse_month)
        findings += cell_findings(table, key, problem.notna(), "R04", frame[key], detail=problem)
    allowed = {"hukou": list(vocab.HUKOU), "tier": list(vocab.TIERS)}
    failures = schema_failures(row_schema(spec, allowed, today.year if today else dt.MAXYEAR), checked)
    for key, code, group in _grouped(failures):
        mask = frame.index.isin(group["row"])
        shown = frame[key]
        findings += cell_findings(table, key, pd.Series(mask, index=frame.index), code, shown,
                                  detail="")  # fmt: skip
    start = pd.to_numeric(months["start"], errors="coerce")
    end = pd.to_numeric(months["end"], errors="coerce")
    backwards = (start > end).fillna(False)
    findings += cell_findings(
        table, "start", backwards, "R04", frame["start"],
        detail=pd.Series("开始年月 " + frame["start"] + " 晚于终止年月 " + frame["end"]),
    )  # fmt: skip
    key_headers = {spec.column(k).header for k in (*KEY_COLUMNS, "start", "end")}
    bad_keys = {f.row for f in findings if f.severity == "error" and f.column in key_headers and f.row}
    rules = pd.DataFrame(
        {
            "identity": frame["identity"], "hukou": frame["hukou"], "tier": frame["tier"],
            **{k: checked[f"{k}:cents"] for k in AMOUNT_KEYS},
            "start": start, "end": end, "row": frame.index,
        }
    )  # fmt: skip
    rules = rules[~rules["row"].isin(bad_keys)].copy()
    for col in ("start", "end"):
        rules[col] = rules[col].astype("int64")
    names = frame.get("rule_name", pd.Series("", index=frame.index))
    rules["name"] = [
        names.get(r) or rule_name({k: getattr(t, k) for k in AMOUNT_KEYS})
        for r, t in zip(rules["row"], rules.itertuples(), strict=True)
    ]
    findings += table_checks(rules, table)
    add_sheet_findings(findings, table)
    bad_rows = set(findings.rows_of(severity="error").tolist())
    usable = rules[~rules["row"].isin(bad_rows)].reset_index(drop=True)
    usable = usable.astype({k: "int64" for k in AMOUNT_KEYS})
    return result, RuleBook(usable, Path(path).name, fingerprint(usable))


def _grouped(failures: pd.DataFrame):
    for (key, code), group in failures.groupby(["key", "code"], sort=False):
        yield key, ("C03" if code == "ID" else code), group


def _overlaps_by_group(left: pd.DataFrame, right: pd.DataFrame, keys: list[str], limit: int = 50):
    """For each rule of ``left``, up to ``limit`` rules of ``right`` with the same ``keys`` whose period
    overlaps it → {left position: [right positions]}, the latest-starting first. Never builds the pairs
    of every rule with every other: 30,000 identical rules need a few MB, not gigabytes."""
    out: dict[int, list[int]] = {}
    groups = right.groupby(keys, sort=False).indices
    for key, lpos in left.groupby(keys, sort=False).indices.items():
        rpos = groups.get(key)
        if rpos is None:
            continue
        order = rpos[np.argsort(right["start"].to_numpy()[rpos], kind="stable")]
        starts = right["start"].to_numpy()[order]
        ends = right["end"].to_numpy()[order]
        lstart = left["start"].to_numpy()[lpos]
        lend = left["end"].to_numpy()[lpos]
        last = np.searchsorted(starts, lend, side="right")  # right rules starting by the left rule's end
        for i, p, stop in zip(lpos.tolist(), lstart.tolist(), last.tolist(), strict=True):
            hits = np.flatnonzero(ends[:stop] >= p)[-limit:]  # memory stays linear in the group
            if len(hits):
                out[i] = order[hits[::-1]].tolist()
    return out


def _first_overlaps(rules: pd.DataFrame) -> list[tuple[int, int]]:
    """R01 pairs (later Excel row, earlier Excel row) of rules with one key whose periods overlap."""
    pairs = {}
    for idx in rules.groupby(KEY_COLUMNS, sort=False).indices.values():
        if len(idx) < 2:
            continue
        sub = rules.iloc[idx]
        order = np.lexsort((sub["row"].to_numpy(), sub["start"].to_numpy()))
        starts, ends, rows = (sub[c].to_numpy()[order].tolist() for c in ("start", "end", "row"))
        best_end, best_row = None, None
        for start, end, row in zip(starts, ends, rows, strict=True):
            if best_end is not None and start <= best_end:
                later, earlier = max(row, best_row), min(row, best_row)
                pairs.setdefault(later, earlier)
            if best_end is None or end > best_end:
                best_end, best_row = end, row
    return sorted(pairs.items())


def table_checks(rules: pd.DataFrame, table) -> list[Finding]:
    """R01 overlaps, R02 personal ≠ standard − 代缴, R05 missing 户口性质 counterpart, R07."""
    out: list[Finding] = []
    rules = rules.reset_index(drop=True)
    by_row = rules.set_index("row")
    for row, other in _first_overlaps(rules):
        r = by_row.loc[row]
        out.append(make("R01", row=int(row), column="开始年月", cell=table.cell("start", int(row)),
                        value=f"{r.identity} {r.hukou} {r.tier}", detail=int(other)))  # fmt: skip
    # R02 / R07: each 代缴 rule against the 普通参保人员 rule(s) of its 户口性质 × tier in force.
    normal = rules[rules["identity"] == vocab.NORMAL_IDENTITY].reset_index(drop=True)
    daijiao = rules[rules["identity"].map(vocab.identity_group).notna()].reset_index(drop=True)
    matches = _overlaps_by_group(daijiao, normal, ["hukou", "tier"])
    for i, r in enumerate(daijiao.itertuples()):
        if i not in matches:
            out.append(make("R07", row=r.row, column="缴费档次", cell=table.cell("tier", r.row),
                            value=f"{r.hukou} {r.tier}", detail="在此期间"))  # fmt: skip
            continue
        for j in matches[i]:
            n = normal.iloc[j]
            if pd.isna(r.personal) or pd.isna(r.daijiao) or pd.isna(n.personal):
                continue
            expected = n.personal - r.daijiao
            if r.personal != expected:
                detail = (f"{cents_text(n.personal)} − 政府代缴 {cents_text(r.daijiao)} = "
                          f"{cents_text(expected)}（第 {n.row} 行）")  # fmt: skip
                out.append(make("R02", row=r.row, column="个人缴费", cell=table.cell("personal", r.row),
                                value=cents_text(r.personal), detail=detail))  # fmt: skip
                break
    # R05: a rule whose identity × tier has no rule for the other 户口性质 over its period.
    other = rules.assign(hukou=rules["hukou"].map({"农业户籍": "城镇户籍", "城镇户籍": "农业户籍"}))
    twins = _overlaps_by_group(other, rules, KEY_COLUMNS, limit=1)
    for i, r in enumerate(rules.itertuples()):
        if i not in twins:
            counterpart = "城镇户籍" if r.hukou == "农业户籍" else "农业户籍"
            out.append(make("R05", row=r.row, column="户口性质", cell=table.cell("hukou", r.row),
                            value=f"{r.identity} {r.hukou} {r.tier}", detail=f"{r.identity} {counterpart} {r.tier}"))
    return out


def load_rulebook(path: Path, limits: Limits = DEFAULT_LIMITS) -> RuleBook:
    """A usable RuleBook or an XlflowError saying why the rule table cannot be used."""
    from xlflow.errors import XlflowError

    result, book = check_rules(path, limits)
    if book is None or result.unusable:
        first = next((f.message for f in result.findings if f.severity == "error"), "")
        raise XlflowError(f"征缴规则表 {Path(path).name} 无法使用：{first}")
    if book.frame.empty:
        raise XlflowError(f"征缴规则表 {Path(path).name} 中没有可用的规则，请先运行 xlflow rules check")
    return book
