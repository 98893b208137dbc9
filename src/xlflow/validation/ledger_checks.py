"""Checks of a workbook against the ledger (P05 across batches, P07–P13): what the county's system knows.

They see only a read-only :class:`~xlflow.ledger.LedgerView` of the people in the file; without a
ledger they are skipped and the summary says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.idcard import id_shaped
from xlflow.domain.values import cents_text
from xlflow.findings import FindingBlock
from xlflow.ledger import LedgerView
from xlflow.reading import Table
from xlflow.validation.engine import Whole, cell_findings

SKIPPED = "未使用台账：已缴费（P08）、脱贫（P07）、身份标识（P10）、参保登记（P11/P12）和跨批次重复（P05）没有检查。"


def _paid_text(paid: pd.DataFrame) -> pd.Series:
    """'已缴 普通参保人员 一档：个人 100 元，代缴 0 元' per paid person-year."""
    who = (paid["identity"].fillna("") + " " + paid["tier"].fillna("")).str.strip()
    money = ("个人 " + paid["personal"].map(cents_text) + " 元，政府代缴 " + paid["daijiao"].map(cents_text) + " 元")
    return ("已缴 " + who + "：" + money).where(who != "", "已缴：" + money)


def ledger_findings(table: Table, values: pd.DataFrame, year: pd.Series, view: LedgerView,
                    own_batch: tuple[str, str] | None = None, person_class: pd.Series | None = None,
                    declaration: bool = True, ok_id: pd.Series | None = None) -> list[FindingBlock]:
    """Findings of every row against the ledger; ``own_batch`` (file name, 申报单位) is this file's own
    earlier batch, which a re-validation replaces rather than clashes with."""
    ids = values["id_number"]
    present = (ids != "") & id_shaped(ids)
    if ok_id is not None:  # an ID the cell checks refused is reported for that alone
        present &= ok_id
    persons = view.persons
    known = present & ids.isin(persons.index)
    out: list[FindingBlock] = []
    if declaration:  # an adjustment tells apart a person with payments (P11) from one unknown (A08)
        out += cell_findings(table, "id_number", present & ~known, "P11", ids)
    status = ids.map(persons["status"]).where(known)
    out += cell_findings(table, "id_number", (status == vocab.TERMINATED).fillna(False), "P12", ids)
    name = ids.map(persons["name"]).where(known)
    out += cell_findings(table, "name", known & name.notna() & (name != values["name"]), "P09", values["name"],
                         detail=name)
    flag = ids.map(persons["identity"]).where(known)
    pairs = pd.DataFrame({"flag": flag, "declared": values["identity"]})[known & flag.notna()]
    same = {p: vocab.same_identity(*p) for p in set(zip(pairs["flag"], pairs["declared"], strict=True))}
    differs = known & flag.notna() & (values["identity"] != "") & ~pd.Series(
        [same.get((f, d), True) for f, d in zip(flag, values["identity"], strict=True)], index=values.index)
    out += cell_findings(table, "identity", differs, "P10", values["identity"], detail=flag)
    poor = values["identity"].map(lambda n: vocab.identity_group(n) == "贫困人口").astype(bool)
    exit_year = ids.map(view.exits["exit_year"]) if len(view.exits) else pd.Series(np.nan, index=ids.index)
    after = poor & year.notna() & exit_year.notna() & (year > exit_year)
    out += cell_findings(table, "year", after.fillna(False), "P07", Whole(year),
                         detail=Whole(exit_year))
    if person_class is not None:
        implied = status.map(lambda s: vocab.status_class(s) if isinstance(s, str) else None)
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
        pending = view.pending
        if own_batch:
            same = (pending["file_name"] == own_batch[0]) & (pending["unit"].fillna("") == (own_batch[1] or ""))
            pending = pending[~same]
        hit = keys.merge(pending, on=["id_number", "year"]).drop_duplicates("row")
        if len(hit):
            where = ("该人该年度已在待上传的申报批次 " + hit["batch_id"].astype(str) + "（“" + hit["file_name"] + "”，"
                     + hit["unit"].fillna("") + "，" + hit["declared_on"].fillna("") + "）中，本行请删除")
            mask = pd.Series(values.index.isin(hit["row"]), index=values.index)
            out += cell_findings(table, "id_number", mask, "P05", Whole(year),
                                 detail=pd.Series(where.to_numpy(), index=hit["row"].to_numpy()))
    return out
