"""The rule table 《征缴规则表》: load, check (R01–R07), and look up rules for whole columns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.values import cents_text, parse_amount, parse_month
from xlflow.findings import Finding, make
from xlflow.kinds import AMOUNT_KEYS, kind_spec
from xlflow.normalise import Vocabulary, normalise
from xlflow.opening import DEFAULT_LIMITS, Limits
from xlflow.validation.engine import cell_findings, fix_findings, parse_column, read_for_check
from xlflow.validation.result import CheckResult
from xlflow.validation.schemas import row_schema, schema_failures

ITEM_LABELS = {"personal": "个人缴费", "province": "省补贴", "city": "市补贴", "county": "县补贴",
               "daijiao": "政府代缴"}  # fmt: skip
KEY_COLUMNS = ["identity", "hukou", "tier"]


@dataclass
class RuleBook:
    """Valid rules: one row each, amounts in cents, periods as yyyymm."""

    frame: pd.DataFrame  # identity hukou tier personal..daijiao start end name row
    source: str
    fingerprint: str

    @property
    def identities(self) -> list[str]:
        return list(dict.fromkeys(self.frame["identity"]))

    @property
    def tiers(self) -> list[str]:
        present = set(self.frame["tier"])
        return [t for t in vocab.TIERS if t in present]

    def lookup(
        self, identity: pd.Series, hukou: pd.Series, tier: pd.Series, year: pd.Series
    ) -> pd.DataFrame:
        """The rule in force for each row → DataFrame aligned to the inputs' index with ``rule``
        (the rule's Excel row, NaN when none) and the five amounts in cents. Where a period starts
        within the year, the later rule wins."""
        keys = pd.DataFrame(
            {"identity": identity.to_numpy(), "hukou": hukou.to_numpy(),
             "tier": tier.to_numpy(), "year": pd.to_numeric(year.to_numpy(), errors="coerce"),
             "pos": np.arange(len(identity))}
        )  # fmt: skip
        keys = keys[keys["year"].notna() & keys["identity"].notna()]
        merged = keys.merge(self.frame, on=KEY_COLUMNS, how="inner")
        ym = merged["year"] * 100
        merged = merged[(merged["start"] <= ym + 12) & (merged["end"] >= ym + 1)]
        merged = merged.sort_values("start").drop_duplicates("pos", keep="last")
        out = merged.set_index("pos")[["row", *AMOUNT_KEYS]].reindex(range(len(identity)))
        out.index = identity.index
        return out.rename(columns={"row": "rule"})


def rule_name(amounts: dict[str, float]) -> str:
    """As the guide writes it: 个人缴费0省补贴10市补贴10县补贴10政府代缴100."""
    if any(pd.isna(v) for v in amounts.values()):
        return ""
    return "".join(f"{ITEM_LABELS[k]}{cents_text(amounts[k])}" for k in AMOUNT_KEYS)


def rules_vocabulary(identities: list[str] | None = None) -> Vocabulary:
    names = [n for names in vocab.IDENTITY_CODES.values() for n in names]
    return Vocabulary(
        {
            "hukou": vocab.hukou_map(),
            "tier": vocab.tier_map(),
            "identity_name": vocab.identity_map(identities or names),
        }
    )


def check_rules(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[CheckResult, RuleBook | None]:
    """Validate a rule table; the RuleBook holds its rows without errors (None if unusable)."""
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
    types = {c.key: c.type for c in spec.columns}
    frame, fixes = normalise(table, types, rules_vocabulary())
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
    failures = schema_failures(row_schema(spec, allowed), checked)
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
    bad_keys = {f.row for f in findings if f.severity == "error" and f.column in key_headers}
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
    findings.sort(key=lambda f: (f.row or 0, f.code))
    bad_rows = {f.row for f in findings if f.severity == "error" and f.row is not None}
    usable = rules[~rules["row"].isin(bad_rows)].reset_index(drop=True)
    usable = usable.astype({k: "int64" for k in AMOUNT_KEYS})
    return result, RuleBook(usable, Path(path).name, fingerprint(usable))


def _grouped(failures: pd.DataFrame):
    for (key, code), group in failures.groupby(["key", "code"], sort=False):
        yield key, ("C03" if code == "ID" else code), group


def fingerprint(rules: pd.DataFrame) -> str:
    """A short hash of the rules' content, stored in templates to notice a changed rule table."""
    cols = [*KEY_COLUMNS, *AMOUNT_KEYS, "start", "end"]
    text = rules[cols].sort_values(cols).to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _overlapping(a_start, a_end, b_start, b_end):
    return (a_start <= b_end) & (b_start <= a_end)


def table_checks(rules: pd.DataFrame, table) -> list[Finding]:
    """R01 overlaps, R02 personal ≠ standard − 代缴, R05 missing 户口性质 counterpart, R07."""
    out: list[Finding] = []
    described = rules["identity"] + " " + rules["hukou"] + " " + rules["tier"]
    # R01: same identity × 户口性质 × tier, periods overlap.
    pairs = rules.merge(rules, on=KEY_COLUMNS, suffixes=("", "_o"))
    pairs = pairs[(pairs["row"] > pairs["row_o"]) &
                  _overlapping(pairs["start"], pairs["end"], pairs["start_o"], pairs["end_o"])]  # fmt: skip
    for r in pairs.drop_duplicates("row").itertuples():
        out.append(make("R01", row=r.row, column="开始年月", cell=table.cell("start", r.row),
                        value=f"{r.identity} {r.hukou} {r.tier}", detail=r.row_o))  # fmt: skip
    # R02 / R07: each 代缴 rule against the 普通参保人员 rule(s) of its 户口性质 × tier in force.
    normal = rules[rules["identity"] == vocab.NORMAL_IDENTITY]
    daijiao = rules[rules["identity"].map(vocab.identity_group).notna()]
    both = daijiao.merge(normal, on=["hukou", "tier"], suffixes=("", "_n"))
    both = both[_overlapping(both["start"], both["end"], both["start_n"], both["end_n"])]
    comparable = both[both[["personal", "daijiao", "personal_n"]].notna().all(axis=1)]
    wrong = comparable[comparable["personal"] != comparable["personal_n"] - comparable["daijiao"]]
    for r in wrong.drop_duplicates("row").itertuples():
        expected = r.personal_n - r.daijiao
        detail = (f"{cents_text(r.personal_n)} − 政府代缴 {cents_text(r.daijiao)} = "
                  f"{cents_text(expected)}（第 {r.row_n} 行）")  # fmt: skip
        out.append(make("R02", row=r.row, column="个人缴费", cell=table.cell("personal", r.row),
                        value=cents_text(r.personal), detail=detail))  # fmt: skip
    orphans = daijiao[~daijiao["row"].isin(both["row"])]
    for r in orphans.itertuples():
        out.append(make("R07", row=r.row, column="缴费档次", cell=table.cell("tier", r.row),
                        value=f"{r.hukou} {r.tier}", detail="在此期间"))  # fmt: skip
    # R05: a rule whose identity × tier has no rule for the other 户口性质 over its period.
    other = rules.assign(hukou=rules["hukou"].map({"农业户籍": "城镇户籍", "城镇户籍": "农业户籍"}))
    twin = other.merge(rules, on=KEY_COLUMNS, suffixes=("", "_t"))
    twin = twin[_overlapping(twin["start"], twin["end"], twin["start_t"], twin["end_t"])]
    lonely = rules[~rules["row"].isin(twin["row"])]
    for r in lonely.itertuples():
        counterpart = "城镇户籍" if r.hukou == "农业户籍" else "农业户籍"
        out.append(make("R05", row=r.row, column="户口性质", cell=table.cell("hukou", r.row),
                        value=described[r.Index], detail=f"{r.identity} {counterpart} {r.tier}"))  # fmt: skip
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
