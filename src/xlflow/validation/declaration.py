"""Checks of a filled 《批量缴费申报表》: cells (C), policy (P01–P06), rule amounts (P03/P04, X06)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.findings import FindingBlock, Findings, column_letter
from xlflow.domain.idcard import birth_years
from xlflow.domain.kinds import AMOUNT_KEYS
from xlflow.domain.rulebook import RuleBook
from xlflow.domain.values import cents_text
from xlflow.io.reading import Table
from xlflow.io.settings import Settings
from xlflow.store.ledger import LedgerLookup
from xlflow.validation.cells import check_cells
from xlflow.validation.engine import (
    Whole,
    add_sheet_findings,
    cell_findings,
)
from xlflow.validation.ledger_checks import ledger_findings
from xlflow.validation.normalise import Vocabulary
from xlflow.validation.result import Checked

_SCIENTIFIC = r"^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$"


def vocabulary(book: RuleBook) -> Vocabulary:
    return Vocabulary(
        {
            "hukou": vocab.hukou_map(),
            "tier": vocab.tier_map() | _tiers_by_amount(book),
            "identity": vocab.identity_map(book.identities),
            "person_class": vocab.person_class_map(),
        }
    )


def _tiers_by_amount(book: RuleBook) -> dict[str, str]:
    """A tier written as its amount (100元, 100元档, 一档（100元）): each tier is an ordinary person's yearly
    amount (普通参保人员's 个人缴费 in the rule table). Only an amount that is one tier's, in every period and
    户口性质, is read as it."""
    normal = book.frame[book.frame["identity"] == vocab.NORMAL_IDENTITY]
    tiers: dict[int, set[str]] = {}
    for tier, cents in zip(normal["tier"], normal["personal"], strict=True):
        if cents == cents and cents > 0 and cents % 100 == 0:
            tiers.setdefault(int(cents) // 100, set()).add(tier)
    out = {}
    for yuan, named in tiers.items():
        if len(named) == 1:
            (tier,) = named
            for spelling in (f"{yuan}元", f"{yuan}元档", f"{yuan}元档次", f"{tier}（{yuan}元）", f"{tier}({yuan}元)"):
                out[spelling] = tier
    return out


def check_declaration(table: Table, book: RuleBook, settings: Settings, today_year: int,
                      ledger: LedgerLookup | None = None) -> Checked:
    """``ledger`` is asked, after the cell pass, what it knows of the people as their IDs were fixed."""
    allowed = {"hukou": list(vocab.HUKOU), "tier": list(vocab.TIERS), "identity": book.identities}
    cells = check_cells(table, vocabulary(book), allowed, settings.first_year, today_year)
    values, findings, fixes, year = cells.values, cells.findings, cells.fixes, cells.year

    ok_id = ~values.index.isin(findings.rows_of("C02", "C03", "C04", "C05", "C06"))
    born = birth_years(values["id_number"]).where(ok_id)
    age = year - born
    young = (age < settings.min_age).fillna(False)
    old = (age >= settings.max_age).fillna(False)
    findings += cell_findings(table, "year", young, "P01", Whole(born),
                              detail=Whole(year), min_age=settings.min_age)
    findings += cell_findings(table, "year", old, "P02", Whole(born),
                              detail=Whole(year), max_age=settings.max_age)
    del born, age, young, old

    # Each intermediate table is let go as soon as the next step has what it needs: on a full sheet they
    # are tens of MB each, and the peak is where they pile up.
    rule, has_rule = rule_in_force(table, book, values, cells.checked, year, findings)
    cells.checked = None
    fills, amounts = _fill_and_compare(table, values, cells.cents, rule, has_rule, findings)
    cells.cents = {}
    daijiao = rule[["daijiao"]]
    del rule, has_rule
    findings += fill_findings(fills, table)
    findings += _duplicates(table, values, year, daijiao, settings, "申报")
    if ledger is not None:
        view = ledger(values["id_number"], year)
        findings += ledger_findings(table, values, year, view, ok_id=pd.Series(ok_id, index=values.index),
                                    repeated=findings.rows_of("P05"))
    add_sheet_findings(findings, table, keep=("P05", "P06"))
    return Checked(table, values, findings, fixes, amounts, fills, year=year)


def rule_in_force(table: Table, book: RuleBook, values: pd.DataFrame, checked: pd.DataFrame, year: pd.Series,
                  findings: Findings) -> tuple[pd.DataFrame, pd.Series]:
    """The rule for each row's identity × 户口性质 × tier × year → (amounts per row, rows that have one);
    P03 for a row whose keys are valid but no rule covers them."""
    keyed = checked[["identity", "hukou", "tier"]].notna().all(axis=1) & year.notna()
    keyed &= checked["identity"].isin(book.identities) & checked["tier"].isin(vocab.TIERS)
    keyed &= checked["hukou"].isin(vocab.HUKOU)
    rule = book.lookup(checked["identity"], checked["hukou"], checked["tier"], year)
    no_rule = keyed & rule["rule"].isna()
    at = values.index[no_rule.to_numpy(dtype=bool)]  # the label only where it is quoted (not a million new str)
    label = values.loc[at, "identity"] + " " + values.loc[at, "hukou"] + " " + values.loc[at, "tier"]
    findings += cell_findings(table, "tier", no_rule, "P03", Whole(year), detail=label)
    return rule, keyed & ~no_rule


def money_text(cents: pd.Series) -> pd.Series:
    """Cents → '9.9' per row, each distinct amount formatted once (one shared str per amount)."""
    codes, uniques = pd.factorize(cents)
    texts = np.array([cents_text(u) for u in uniques] + [""], dtype=object)
    return pd.Series(texts[codes], index=cents.index, dtype=object)


def _fill_and_compare(table, values, cents, rule, has_rule, findings):
    """X06 for empty amounts, P04 for amounts that differ from the rule; returns fills, amounts."""
    fills: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    amounts = pd.DataFrame(index=values.index)
    for key in AMOUNT_KEYS:
        expected = rule[key]
        given = cents.get(key, pd.Series(np.nan, index=values.index))
        empty = values[key] == "" if key in values else pd.Series(True, index=values.index)
        differs = has_rule & ~empty & given.notna() & (given != expected)
        findings += cell_findings(table, key, differs, "P04", values.get(key),
                                  detail=money_text(expected[differs]))
        fill = has_rule & empty
        if key in values and fill.any():
            filled = money_text(expected[fill])
            fills[key] = (filled.index.to_numpy(dtype=np.int64), filled.to_numpy(dtype=object))
            values.loc[fill, key] = filled
        amounts[key] = given.where(~empty, expected)
    amounts["total"] = amounts[list(AMOUNT_KEYS)].sum(axis=1, min_count=5)
    if "total" in values:
        given = cents["total"]
        empty = values["total"] == ""
        rule_total = rule[list(AMOUNT_KEYS)].sum(axis=1, min_count=5)
        differs = has_rule & ~empty & given.notna() & (given != rule_total)
        findings += cell_findings(table, "total", differs, "P04", values["total"],
                                  detail=money_text(rule_total[differs]))
        fill = has_rule & empty & amounts["total"].notna()
        if fill.any():
            filled = money_text(amounts["total"][fill])
            fills["total"] = (filled.index.to_numpy(dtype=np.int64), filled.to_numpy(dtype=object))
            values.loc[fill, "total"] = filled
    return fills, amounts


def fill_findings(fills: dict[str, tuple[np.ndarray, np.ndarray]], table: Table) -> list[FindingBlock]:
    """X06 per filled cell, sharing the fills' arrays (a full sheet of empty amounts is 6 million)."""
    empty = np.array([""], dtype=object)
    return [FindingBlock("X06", table.spec.column(key).header, column_letter(table.keys[key]), rows,
                         np.broadcast_to(empty, rows.shape), {"detail": after})
            for key, (rows, after) in fills.items()]


def _duplicates(table, values, year, rule, settings: Settings, what: str = "申报") -> list[FindingBlock]:
    """P05: the same person and year again (same 代缴 group); P06: different 代缴 groups.

    Each finding carries ``keep_row``, the input row kept; :func:`describe_twins` says where it ended up.
    """
    # Person-years that repeat, found on integer codes; the frame is built for those rows only.
    ids = values["id_number"].to_numpy(dtype=object)
    codes, _ = pd.factorize(ids)
    years = year.to_numpy(dtype=float)
    present = (ids != "") & ~np.isnan(years)
    key = codes.astype(np.int64) * 10_000 + np.nan_to_num(years, nan=0).astype(np.int64) % 10_000
    repeated = present & pd.Series(key).where(present).duplicated(keep=False).to_numpy() if present.any() \
        else present
    out = _passed_before(table, values, year, present) if table.passed else []
    if not repeated.any():
        return out
    dup = pd.DataFrame({"id": ids[repeated], "year": years[repeated],
                        "identity": values["identity"].to_numpy(dtype=object)[repeated],
                        "daijiao": rule["daijiao"].fillna(-1).to_numpy()[repeated],
                        "row": values.index.to_numpy()[repeated]})
    order = {g: i for i, g in enumerate(settings.group_order)}
    names = dup["identity"].unique()
    groups = {n: vocab.identity_group(n) for n in names}
    dup = dup.assign(group=dup["identity"].map({n: g or n for n, g in groups.items()}),
                     grouped=dup["identity"].map({n: bool(g) for n, g in groups.items()}))
    dup = dup.assign(rank=dup["group"].map(lambda g: order.get(g, len(order))))
    # Per person-year the row kept is the larger 代缴, then the group order, then the first row.
    ranked = dup.sort_values(["id", "year", "daijiao", "rank", "row"], ascending=[True, True, False, True, True])
    by = ranked.groupby(["id", "year"], sort=False)
    keep = {c: by[c].transform("first").to_numpy() for c in ("row", "group", "identity", "daijiao", "grouped")}
    other = (ranked["row"].to_numpy() != keep["row"])
    p06_mask = other & (ranked["group"].to_numpy() != keep["group"]) & ranked["grouped"].to_numpy(dtype=bool) \
        & keep["grouped"].astype(bool)
    p05_mask = other & ~p06_mask
    rows, years, idents = ranked["row"].to_numpy(), ranked["year"].to_numpy(), ranked["identity"].to_numpy()
    daijiao = ranked["daijiao"].to_numpy()
    p05 = list(zip(rows[p05_mask].tolist(), years[p05_mask].astype(int).tolist(), keep["row"][p05_mask].tolist(),
                   strict=True))
    p06 = []
    for i in np.flatnonzero(p06_mask).tolist():
        k_row, k_ident, k_dj = int(keep["row"][i]), keep["identity"][i], keep["daijiao"][i]
        reason = (f"代缴金额较高：{cents_text(k_dj)} 元" if k_dj > daijiao[i]
                  else f"代缴金额相同，按优先顺序{'＞'.join(settings.group_order)}")
        p06.append((int(rows[i]), int(years[i]), k_row, f"原表第 {k_row} 行为{k_ident}，本行为{idents[i]}",
                    k_ident, reason))
    for code, key, items in (("P05", "id_number", p05), ("P06", "identity", p06)):
        if not items:
            continue
        cols = list(zip(*items, strict=True))
        params = {"what": what, "keep_row": np.array(cols[2], dtype=np.int64), "detail": np.array(
            [f"与原表第 {k} 行相同" for k in cols[2]] if code == "P05" else cols[3], dtype=object)}
        if code == "P06":
            params |= {"keep": np.array(cols[4], dtype=object), "reason": np.array(cols[5], dtype=object),
                       "where": np.array([f"原表第 {k} 行" for k in cols[2]], dtype=object)}
        out.append(FindingBlock(code, table.spec.column(key).header, column_letter(table.keys[key]),
                                np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=object), params))
    return out


def _passed_before(table: Table, values: pd.DataFrame, year: pd.Series, present: np.ndarray) -> list[FindingBlock]:
    """P05 for a row that repeats a person-year this file's batch already passed (an error workbook
    dropped back carries them in its hidden sheet): the row is to be deleted, not fixed."""
    if not table.passed:
        return []
    frame = pd.DataFrame({"id": values["id_number"].to_numpy(dtype=object)[present],
                          "year": year.to_numpy(dtype=float)[present], "row": values.index.to_numpy()[present]})
    passed = pd.DataFrame(table.passed, columns=["id", "year", "file", "at"])
    passed["where"] = "“" + passed["file"] + "”第 " + passed["at"] + " 行"
    passed["year"] = pd.to_numeric(passed["year"], errors="coerce")
    hit = frame.merge(passed.drop_duplicates(["id", "year"]), on=["id", "year"])
    if hit.empty:
        return []
    detail = "该人该年度已在" + hit["where"].astype(str) + "通过检查，本行请直接删除，不要改正后再提交"
    detail = detail.to_numpy(dtype=object)
    return [FindingBlock("P05", table.spec.column("id_number").header, column_letter(table.keys["id_number"]),
                         hit["row"].to_numpy(dtype=np.int64), hit["year"].astype(int).to_numpy(dtype=object),
                         {"detail": detail, "what": "申报"})]


def describe_twins(checked: Checked, corrected_names: list[str], split_rows: int | None, errors_name: str) -> None:
    """Say in each P05/P06 message where the kept row ended up: a row of the corrected workbook (the
    file and its row there: this row is to be deleted) or of the error workbook (keep one of the two)."""
    table = checked.table
    index = table.frame.index.to_numpy(dtype=np.int64)
    errors = checked.error_rows
    first = table.first_data_row
    valid = index[~np.isin(index, errors)]
    for block in checked.findings.blocks(("P05", "P06")):
        keep = block.params.get("keep_row")
        if keep is None:
            continue
        in_errors = np.isin(keep, errors)  # once for the block: a P05 per row of a big file is common
        error_at = np.searchsorted(errors, keep) + first
        rank = np.searchsorted(valid, keep)
        texts = []
        for k, bad, here, r in zip(keep.tolist(), in_errors.tolist(), error_at.tolist(), rank.tolist(), strict=True):
            if bad:
                texts.append(f"原表第 {k} 行（本错误表第 {here} 行）也在错误表中，改正其中一行、删除另一行")
                continue
            part, row = (r // split_rows, r % split_rows) if split_rows else (0, r)
            name = corrected_names[min(part, len(corrected_names) - 1)]
            texts.append(f"原表第 {k} 行已写入“{name}”第 {row + first} 行，本行请直接删除，不要改正后再提交")
        if block.code == "P05":
            block.params["detail"] = np.array(texts, dtype=object)
        else:
            block.params["where"] = np.array(texts, dtype=object)
    checked.findings.changed()


