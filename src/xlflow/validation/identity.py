"""Checks of a filled 《批量参保身份变更表》 (the identity flags set before any payment; codes I01–I05, X08).

The notice: "必须先设置人员身份标识…才能进行系统缴费" — a flag is only useful if the new identity has a rule in
force for the person's 户口性质 in the year it takes effect (I01), for someone 16 or over that year (P01), on
the roster and not 终止参保 (P11/P12). Against the ledger: the flag already set (I02), the 原参保身份 written
against the roster's (I03, or filled from it: X08), 贫困人口 after 脱贫 (I04), an identity no imported list of
its kind supports (I05). A person given two 代缴 identities for one year keeps one (P05/P06, SPEC 3.2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.findings import FindingBlock, column_letter
from xlflow.domain.idcard import birth_years
from xlflow.domain.rulebook import RuleBook
from xlflow.io.reading import Table
from xlflow.io.settings import Settings
from xlflow.store.ledger import LedgerLookup, LedgerView
from xlflow.validation.cells import check_cells
from xlflow.validation.declaration import _duplicates, vocabulary
from xlflow.validation.engine import Whole, add_sheet_findings, cell_findings
from xlflow.validation.ledger_checks import person_findings
from xlflow.validation.result import Checked

UNSET = "未设置"
_UNSET_WORDS = ("", UNSET, "无", "空", "没有", "未标识", "—", "-")


def check_identity(table: Table, book: RuleBook, settings: Settings, today_year: int,
                   ledger: LedgerLookup | None = None) -> Checked:
    cells = check_cells(table, vocabulary(book), {"identity": book.identities}, settings.first_year, today_year)
    values, findings = cells.values, cells.findings
    index = values.index
    year = cells.year if cells.year is not None else pd.Series(np.nan, index=index)
    ids = values["id_number"]
    ok_id = pd.Series(~index.isin(findings.rows_of("C02", "C03", "C04", "C05", "C06")), index=index)

    born = birth_years(ids).where(ok_id)
    young = ((year - born) < settings.min_age).fillna(False)
    findings += cell_findings(table, "year", young, "P01", Whole(born), detail=Whole(year), min_age=settings.min_age)

    fills: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    view = ledger(ids, year) if ledger is not None else None
    hukou = pd.Series(None, index=index, dtype=object)
    if view is not None:
        known, found = person_findings(table, values, view, ok_id)
        findings += found
        hukou = ids.map(view.persons["hukou"]).where(known & ids.map(view.persons["hukou"]).isin(vocab.HUKOU))
        findings += _against_roster(table, values, view, known, fills)
        findings += _against_lists(table, values, year, view, ok_id)

    identity = cells.checked["identity"]
    valid = identity.isin(book.identities) & year.notna()
    daijiao = _lowest_rule(book, identity.where(valid), hukou, year)
    no_rule = valid & daijiao.isna()
    at = index[no_rule.to_numpy(dtype=bool)]
    said = hukou[at].fillna("农业户籍和城镇户籍").astype(str)
    detail = year[at].astype("Int64").astype(str) + " 年度（" + said + "）"
    findings += cell_findings(table, "identity", no_rule, "I01", values["identity"], detail=detail)

    findings += _duplicates(table, values, year, pd.DataFrame({"daijiao": daijiao}), settings, "设置参保身份")
    add_sheet_findings(findings, table, keep=("P05", "P06"))
    return Checked(table, values, findings, cells.fixes, pd.DataFrame(index=index), fills, year=year)


def _lowest_rule(book: RuleBook, identity: pd.Series, hukou: pd.Series, year: pd.Series) -> pd.Series:
    """Each row's 代缴 at the identity's lowest tier with a rule in force that year, for the person's 户口性质
    (either where the roster does not say): cents, NaN where none. The identity with the larger one wins an
    overlap, as for a declaration."""
    index = identity.index
    daijiao = pd.Series(np.nan, index=index)
    todo = identity.notna()
    for t in vocab.TIERS:
        for h in vocab.HUKOU:
            ask = todo & daijiao.isna() & (hukou.isna() | (hukou == h))
            if not ask.any():
                continue
            at = book.lookup(identity[ask], pd.Series(h, index=index[ask.to_numpy()]),
                             pd.Series(t, index=index[ask.to_numpy()]), year[ask])
            hit = at.index[at["rule"].notna().to_numpy()]
            daijiao[hit] = at.loc[hit, "daijiao"].to_numpy(dtype=float)
        if not (todo & daijiao.isna()).any():
            break
    return daijiao


def _pairwise(a: pd.Series, b: pd.Series, test) -> pd.Series:
    """``test`` of each row's pair, asked once per distinct pair (a county's file repeats a few identities)."""
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    answers = {p: bool(test(*p)) for p in set(pairs)}
    return pd.Series([answers[p] for p in pairs], index=a.index, dtype=bool)


def _flag_text(series: pd.Series) -> pd.Series:
    text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    return text.where(~text.isin(_UNSET_WORDS), UNSET)


def _against_roster(table: Table, values: pd.DataFrame, view: LedgerView, known: pd.Series,
                    fills: dict) -> list[FindingBlock]:
    """I02 the flag already set, I03 a 原参保身份 other than the roster's, X08 an empty one filled from it."""
    ids = values["id_number"]
    flag = _flag_text(ids.map(view.persons["identity"]).where(known))
    new = values["identity"]
    same = _pairwise(flag, new, lambda f, n: f != UNSET and n != "" and vocab.same_identity(f, n)) & known
    out = cell_findings(table, "identity", same, "I02", new, detail=flag)
    if "old_identity" not in table.keys:
        return out
    written = values["old_identity"]
    stated = _flag_text(written)
    differs = known & (written != "") & _pairwise(
        stated, flag, lambda a, b: a != b and not (a != UNSET and b != UNSET and vocab.same_identity(a, b)))
    out += cell_findings(table, "old_identity", differs, "I03", written, detail=flag)
    empty = known & (written == "")
    if empty.any():
        texts = flag[empty]
        values.loc[empty, "old_identity"] = texts
        rows = texts.index.to_numpy(dtype=np.int64)
        fills["old_identity"] = (rows, texts.to_numpy(dtype=object))
        out.append(FindingBlock("X08", table.spec.column("old_identity").header,
                                column_letter(table.keys["old_identity"]), rows,
                                np.broadcast_to(np.array([""], dtype=object), rows.shape),
                                {"detail": texts.to_numpy(dtype=object)}))
    return out


def _against_lists(table: Table, values: pd.DataFrame, year: pd.Series, view: LedgerView,
                   ok_id: pd.Series) -> list[FindingBlock]:
    """I04 贫困人口 from a year after 脱贫; I05 a 代缴 identity no list of its kind names the person on (only
    for the kinds of list the ledger holds: without one, nothing is known either way)."""
    ids = values["id_number"]
    group = values["identity"].map({n: vocab.identity_group(n) for n in values["identity"].unique()})
    poor = (group == "贫困人口") & ok_id
    exit_year = ids.map(view.exits["exit_year"]) if len(view.exits) else pd.Series(np.nan, index=ids.index)
    after = (poor & year.notna() & exit_year.notna() & (year > exit_year)).fillna(False)
    out = cell_findings(table, "year", after, "I04", Whole(year), detail=Whole(exit_year))
    listed = view.listed if view.listed is not None else pd.DataFrame(columns=["id_number", "kind"])
    on = set(zip(listed["id_number"], listed["kind"], strict=True))
    held = group.isin(view.list_kinds) & ok_id & (ids != "")
    missing = held & pd.Series([(i, g) not in on for i, g in zip(ids, group, strict=True)], index=ids.index)
    out += cell_findings(table, "identity", missing.fillna(False), "I05", values["identity"],
                         group=group.where(missing, ""))
    return out
