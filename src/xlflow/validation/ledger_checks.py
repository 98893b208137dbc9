"""Checks of a workbook against the ledger (P05 across batches, P07–P13): what the county's system knows.

They see only a read-only :class:`~xlflow.store.ledger.LedgerView` of the people in the file; without a
ledger they are skipped and the summary says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.findings import FindingBlock
from xlflow.domain.idcard import id_shaped
from xlflow.domain.values import cents_text
from xlflow.io.reading import Table
from xlflow.store.ledger import LedgerView
from xlflow.validation.engine import Whole, cell_findings

SKIPPED = "未使用台账：已缴费（P08）、脱贫（P07）、身份标识（P10）、参保登记（P11/P12）和跨批次重复（P05）没有检查。"


def _paid_text(paid: pd.DataFrame) -> pd.Series:
    """'已缴 普通参保人员 一档：个人 100 元，代缴 0 元' per paid person-year."""
    who = (paid["identity"].fillna("") + " " + paid["tier"].fillna("")).str.strip()
    money = ("个人 " + paid["personal"].map(cents_text) + " 元，政府代缴 " + paid["daijiao"].map(cents_text) + " 元")
    return ("已缴 " + who + "：" + money).where(who != "", "已缴：" + money)


def person_findings(table: Table, values: pd.DataFrame, view: LedgerView, ok_id: pd.Series | None = None,
                    unknown: bool = True) -> tuple[pd.Series, list[FindingBlock]]:
    """The rows whose person the roster knows, and what the roster says of them: P11 not registered (when
    ``unknown``: an adjustment tells apart a person with payments from one unknown, A08), P12 终止参保, P09
    another name."""
    ids = values["id_number"]
    present = (ids != "") & id_shaped(ids)
    if ok_id is not None:  # an ID the cell checks refused is reported for that alone
        present &= ok_id
    persons = view.persons
    known = present & ids.isin(persons.index)
    out: list[FindingBlock] = []
    if unknown:
        out += cell_findings(table, "id_number", present & ~known, "P11", ids)
    status = ids.map(persons["status"]).where(known)
    out += cell_findings(table, "id_number", (status == vocab.TERMINATED).fillna(False), "P12", ids)
    name = ids.map(persons["name"]).where(known)
    out += cell_findings(table, "name", known & name.notna() & (name != values["name"]), "P09", values["name"],
                         detail=name)
    return known, out


def ledger_findings(table: Table, values: pd.DataFrame, year: pd.Series, view: LedgerView,
                    person_class: pd.Series | None = None, declaration: bool = True,
                    ok_id: pd.Series | None = None, repeated: np.ndarray | None = None) -> list[FindingBlock]:
    """Findings of every row against the ledger, the person found by the ID as fixed. The view's pending
    rows are other batches' (this file's own batch, found by its lineage, is not a clash with itself);
    ``repeated``: rows already P05 in the file (a row its error workbook's hidden sheet passed is told once)."""
    ids = values["id_number"]
    known, out = person_findings(table, values, view, ok_id, unknown=declaration)
    persons = view.persons
    status = ids.map(persons["status"]).where(known)
    flag = ids.map(persons["identity"]).where(known)
    pairs = pd.DataFrame({"flag": flag, "declared": values["identity"]})[known & flag.notna()]
    same = {p: vocab.same_identity(*p) for p in set(zip(pairs["flag"], pairs["declared"], strict=True))}
    differs = known & flag.notna() & (values["identity"] != "") & ~pd.Series(
        [same.get((f, d), True) for f, d in zip(flag, values["identity"], strict=True)], index=values.index)
    # No flag at all in the system while a 代缴 identity is declared: the notice's "没有做好缴费身份标识".
    groups = {n: vocab.identity_group(n) for n in values["identity"].unique()}
    daijiao = values["identity"].map(groups).notna()
    flag_text = flag.astype(object).fillna("").astype(str).str.strip()
    unset = known & (flag_text == "") & daijiao
    shown_flag = flag.astype(object).where(~unset, "未设置")
    out += cell_findings(table, "identity", differs | unset, "P10", values["identity"], detail=shown_flag)
    poor = values["identity"].map(groups).eq("贫困人口")  # each distinct name asked once, not each row
    exit_year = ids.map(view.exits["exit_year"]) if len(view.exits) else pd.Series(np.nan, index=ids.index)
    after = poor & year.notna() & exit_year.notna() & (year > exit_year)
    out += cell_findings(table, "year", after.fillna(False), "P07", Whole(year),
                         detail=Whole(exit_year))
    if person_class is not None:
        classes = {s: vocab.status_class(s) for s in status.dropna().unique() if isinstance(s, str)}
        implied = status.map(classes)
        odd = known & implied.notna() & (person_class != "") & (implied != person_class)
        out += cell_findings(table, "person_class", odd.fillna(False), "P13", person_class, detail=status)
    keys = pd.DataFrame({"id_number": ids, "year": year, "row": values.index})
    if declaration and len(view.paid):
        paid = keys.merge(view.paid, on=["id_number", "year"])
        if len(paid):
            mask = pd.Series(values.index.isin(paid["row"]), index=values.index)
            out += cell_findings(table, "year", mask, "P08", Whole(year),
                                 detail=pd.Series(_paid_text(paid).to_numpy(), index=paid["row"].to_numpy()))
    if declaration and len(view.pending):
        hit = keys.merge(view.pending.drop(columns=["row"]), on=["id_number", "year"]).drop_duplicates("row")
        if len(hit):
            batch = hit["batch_id"].astype(str)
            where = ("该人该年度已在申报单位“" + hit["unit"].fillna("") + "”待上传的申报批次 " + batch + "（“"
                     + hit["file_name"] + "”，" + hit["declared_on"].fillna("") + " 申报）中。如该批次没有上传，"
                     "可用 xlflow ledger withdraw " + batch + " 撤回后再检查本表；已上传的请从本表删除此行"
                     "（缴费到账后导入缴费明细即记为已缴）")
            mask = pd.Series(values.index.isin(hit["row"]), index=values.index)
            out += cell_findings(table, "id_number", mask, "P05", Whole(year),
                                 detail=pd.Series(where.to_numpy(), index=hit["row"].to_numpy()), what="申报")
    if declaration and view.siblings is not None and len(view.siblings):
        hit = keys.merge(view.siblings, on=["id_number", "year"]).drop_duplicates("row_x")
        if repeated is not None and len(repeated):
            hit = hit[~hit["row_x"].isin(repeated)]
        if len(hit):
            where = ("该人该年度已在本批次的“" + hit["member_file"].fillna(hit["file_name"]) + "”第 "
                     + hit["row_y"].astype("Int64").astype(str) + " 行通过检查，本行请直接删除，不要改正后再提交")
            mask = pd.Series(values.index.isin(hit["row_x"]), index=values.index)
            out += cell_findings(table, "id_number", mask, "P05", Whole(year),
                                 detail=pd.Series(where.to_numpy(), index=hit["row_x"].to_numpy()), what="申报")
    return out
