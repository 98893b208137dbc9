"""Checks of a filled 《批量缴费调整登记表》 against what was paid (SPEC 3.7, 4.3; codes A01–A10).

Per row: the rule in force for the new identity × 户口性质 × tier × year, minus what the ledger says was
paid for that person-year, is the computed adjustment per funding item. Empty amount cells are filled
with it; a typed amount that differs is kept with a warning (staff may change the computed amounts).
The notice's paid-as-normal case: the 代缴 part goes in the batch, the negative personal part cannot
(it is refunded only on the person's written request, singly): the batch row carries 0 and the person
goes on the single-processing list (A09). What the batch cannot do becomes a work list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.findings import FindingBlock, catalogue, column_letter
from xlflow.domain.idcard import id_shaped
from xlflow.domain.kinds import AMOUNT_KEYS
from xlflow.domain.rulebook import RuleBook
from xlflow.io.reading import Table
from xlflow.io.settings import Settings
from xlflow.store.ledger import LedgerLookup, LedgerView
from xlflow.validation.cells import check_cells
from xlflow.validation.declaration import _duplicates, money_text, rule_in_force, vocabulary
from xlflow.validation.engine import Whole, add_sheet_findings, cell_findings
from xlflow.validation.ledger_checks import ledger_findings
from xlflow.validation.result import LIST_ARRIVAL, LIST_NEGATIVE, LIST_ZERO, Checked

RECIPIENT = "待遇人员"
SUBSIDIES = ("province", "city", "county")
REFUND_NOTE = "已缴个人缴费原则上不退；仅在本人书面申请时，在系统中单个办理负调整，并填写领取银行和银行账号"


def check_adjustment(table: Table, book: RuleBook, settings: Settings, today_year: int,
                     ledger: LedgerLookup | None = None) -> Checked:
    allowed = {"hukou": list(vocab.HUKOU), "tier": list(vocab.TIERS), "identity": book.identities,
               "person_class": list(vocab.PERSON_CLASSES)}
    cells = check_cells(table, vocabulary(book), allowed, settings.first_year, today_year)
    values, checked, findings = cells.values, cells.checked, cells.findings
    year = cells.year if cells.year is not None else pd.Series(np.nan, index=values.index)
    index = values.index

    rule, has_rule = rule_in_force(table, book, values, checked, year, findings)

    recipient = values["person_class"] == RECIPIENT
    empty = {k: (values[k] == "") if k in values else pd.Series(True, index=index) for k in AMOUNT_KEYS}
    nothing = pd.Series(np.nan, index=index)
    typed = {k: cells.cents[k].where(~empty[k]) if k in cells.cents else nothing for k in AMOUNT_KEYS}
    shown = {k: values[k] if k in values else pd.Series("", index=index) for k in AMOUNT_KEYS}

    # What needs no ledger: a negative personal amount typed into the batch; negatives for a recipient.
    a03 = (typed["personal"] < 0).fillna(False) & ~recipient
    findings += _at(table, "personal", a03, "A03", shown["personal"])
    typed_negative = {k: (typed[k] < 0).fillna(False) & recipient for k in AMOUNT_KEYS}
    for k in AMOUNT_KEYS:
        findings += _at(table, k, typed_negative[k], "A05", shown[k], detail="填写了 " + shown[k])

    fills: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    used = pd.DataFrame({k: typed[k] for k in AMOUNT_KEYS}, index=index)
    before = after = None
    zero = pd.Series(False, index=index)
    waived = pd.Series(False, index=index)
    if ledger is None:
        for k in AMOUNT_KEYS:
            findings += _at(table, k, empty[k], "A10", None)
    else:
        base, computable, zero = _paid(table, values, year, ledger(values["id_number"], year), recipient, findings)
        computable &= has_rule
        computed = pd.DataFrame({k: (rule[k] - base[k]).where(computable) for k in AMOUNT_KEYS}, index=index)
        for k in AMOUNT_KEYS:
            comp = computed[k]
            fill = computable & empty[k]
            value = comp.copy()
            if k == "personal":  # the paid-as-normal case: the batch carries 0, the refund is single
                waived = ~recipient & computable & (comp < 0) & (empty[k] | (typed[k] == 0).fillna(False))
                findings += _at(table, k, waived, "A09", money_text(comp))
                value = comp.where(~waived, 0)
            # A recipient takes no negative adjustment on any item (注意事项 4): the batch carries 0.
            floored = recipient & computable & (comp < 0) & (empty[k] | (typed[k] == 0).fillna(False))
            findings += _at(table, k, floored, "A11", shown[k], detail=money_text(comp))
            value = value.where(~floored, 0)
            expected = comp.where(~(recipient & (comp < 0)), 0)
            differs = computable & ~empty[k] & typed[k].notna() & (typed[k] != expected)
            differs &= ~a03 & ~typed_negative[k] & ~(waived if k == "personal" else False)
            findings += _at(table, k, differs, "A07", shown[k], detail=money_text(expected))
            if fill.any() and k in table.keys:
                texts = money_text(value[fill])
                values.loc[fill, k] = texts
                rows = texts.index.to_numpy(dtype=np.int64)
                fills[k] = (rows, texts.to_numpy(dtype=object))
                computed_text = (texts + "（新规则 " + money_text(rule[k][fill]) + " − 已缴 "
                                 + money_text(base[k][fill]) + "）")
                detail = np.where(
                    waived[fill].to_numpy() & (k == "personal"),  # only the personal part is waived
                    "0（按新规则应为 " + money_text(comp[fill]) + "，负调整不在批量中办理，见 A09）",
                    np.where(floored[fill].to_numpy(),
                             "0（按新规则应为 " + money_text(comp[fill]) + "，待遇人员不做负调整，见 A11）",
                             computed_text))
                findings += [FindingBlock("X06", table.spec.column(k).header, column_letter(table.keys[k]), rows,
                                          np.broadcast_to(np.array([""], dtype=object), rows.shape),
                                          {"detail": detail.astype(object)})]
            used[k] = typed[k].where(~empty[k], value.where(fill))
        before = base.where(computable)
        after = before + used
        below = computable & ((after["personal"] + after["daijiao"]) < 0).fillna(False)
        findings += _at(table, "personal", below, "A04", money_text(after["personal"] + after["daijiao"]))

    subsidy_only = (used["personal"].fillna(0) == 0) & (used["daijiao"].fillna(0) == 0)
    subsidy_only &= (used[list(SUBSIDIES)].fillna(0) != 0).any(axis=1)
    findings += _at(table, "province", subsidy_only, "A06", shown["province"])

    findings += _duplicates(table, values, year, rule, settings, "调整")
    add_sheet_findings(findings, table, keep=("P05", "P06"))

    amounts = used.copy()
    amounts["total"] = used[list(AMOUNT_KEYS)].sum(axis=1, min_count=5)
    result = Checked(table, values, findings, cells.fixes, amounts, fills, before=before, after=after, year=year)
    result.lists = work_lists(result, year, rule, a03, waived, zero, subsidy_only)
    _say_where_listed(findings)
    return result


LISTED = {
    "A03": ("已列入汇总表的“个人缴费负调整”清单，请从本表删除此行。",
            "本行还有其他错误：改正后再检查，即列入汇总表的“个人缴费负调整”清单，届时再从本表删除此行。"),
    "A06": ("已列入汇总表的“0到款登记”清单。", "本行还有其他错误：改正后再检查，即列入汇总表的“0到款登记”清单。"),
    "A09": ("已列入汇总表的“个人缴费负调整”清单。",
            "本行还有其他错误：改正后再检查，即列入汇总表的“个人缴费负调整”清单。"),
}


def not_listable(findings) -> np.ndarray:
    """The rows a work list leaves out: those with an error other than A03 (an A03 row is exactly the
    single-processing case, so it is listed although it must leave the batch)."""
    return findings.rows_of(*[c for c, info in catalogue().items() if info.severity == "error" and c != "A03"])


def _say_where_listed(findings) -> None:
    """A03/A06/A09 say "已列入…清单" only on rows that are on the list (rows with no other error); on the
    others they say what will happen once the row is fixed."""
    bad = not_listable(findings)
    for block in findings.blocks(tuple(LISTED)):
        listed, not_yet = LISTED[block.code]
        block.params["listed"] = np.where(np.isin(block.rows, bad), not_yet, listed).astype(object)
    findings.changed()


def _at(table: Table, key: str, mask: pd.Series, code: str, shown: pd.Series | None, **params) -> list:
    """Findings of ``code`` at ``key``'s cell; nothing when the column is not in the file."""
    if key not in table.keys:
        return []
    return cell_findings(table, key, mask.fillna(False).astype(bool), code, shown, **params)


def _paid(table: Table, values: pd.DataFrame, year: pd.Series, view: LedgerView, recipient: pd.Series,
          findings) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """What was paid per row (cents per item), the rows whose adjustment can be computed, and the
    recipients' unpaid years (零缴费 first). Adds A01, A02, A08, P11 and the ledger's P codes."""
    index = values.index
    ids = values["id_number"]
    # An ID the cell checks refused (C02–C06) is reported once, for what is wrong with it, not as A08.
    valid = (ids != "") & id_shaped(ids)
    valid &= ~index.isin(findings.rows_of("C02", "C03", "C04", "C05", "C06"))
    in_roster = ids.isin(view.persons.index)
    has_paid = ids.isin(set(view.paid["id_number"])) if len(view.paid) else pd.Series(False, index=index)
    a08 = valid & ~in_roster & ~has_paid
    findings += cell_findings(table, "id_number", a08, "A08", ids)
    findings += cell_findings(table, "id_number", valid & ~in_roster & has_paid, "P11", ids)
    findings += ledger_findings(table, values, year, view, person_class=values["person_class"], declaration=False)

    keys = pd.DataFrame({"id_number": ids, "year": year.fillna(-1).astype(np.int64), "row": index})
    paid = keys.merge(view.paid, on=["id_number", "year"]).drop_duplicates("row").set_index("row")
    base = pd.DataFrame({k: pd.to_numeric(paid[k], errors="coerce").reindex(index) if len(paid)
                         else pd.Series(np.nan, index=index) for k in AMOUNT_KEYS}, index=index)
    found = pd.Series(index.isin(paid.index), index=index)
    unpaid = valid & ~a08 & year.notna() & ~found
    findings += cell_findings(table, "year", unpaid & ~recipient, "A01", Whole(year))
    zero = unpaid & recipient
    findings += cell_findings(table, "year", zero, "A02", Whole(year))
    base = base.fillna(0).where(found | zero)  # a recipient's unpaid year counts as paid nothing
    return base, found | zero, zero


def work_lists(checked: Checked, year: pd.Series, rule: pd.DataFrame, a03: pd.Series, waived: pd.Series,
               zero: pd.Series, subsidy_only: pd.Series) -> dict[str, pd.DataFrame]:
    """The three lists of what the batch cannot do, each ready to work from (SPEC 3.7).

    Only rows that are otherwise good are listed; a row with A03 is an error of the batch (the row must
    leave it) but it is exactly the single-processing case, so it is listed too.
    """
    findings = checked.findings
    bad = pd.Series(checked.values.index.isin(not_listable(findings)), index=checked.values.index)
    values = checked.values
    yuan = lambda s: (s / 100).round(2)  # noqa: E731

    def base(mask: pd.Series) -> pd.DataFrame:
        return pd.DataFrame({"原表行号": values.index[mask], "姓名": values["name"][mask].to_numpy(),
                             "身份证号码": values["id_number"][mask].to_numpy(),
                             "调整年度": year[mask].astype("Int64").to_numpy()})

    lists = {}
    single = (a03 | waived) & ~bad
    frame = base(single)
    paid = checked.before["personal"][single] if checked.before is not None else pd.Series(np.nan, index=frame.index)
    new = rule["personal"][single]
    amount = np.where(a03[single], checked.amounts["personal"][single], (new - paid.to_numpy()).to_numpy())
    frame["调整后缴费身份"] = values["identity"][single].to_numpy()
    frame["已缴个人缴费"] = yuan(pd.Series(paid.to_numpy()))
    frame["新规则个人缴费"] = yuan(pd.Series(new.to_numpy()))
    frame["个人缴费负调整金额"] = yuan(pd.Series(amount))
    frame["来源"] = np.where(a03[single], "表中填写（请从批量表中删除本行）", "按规则计算（批量表中按 0 处理）")
    frame["本人书面申请（是/否）"] = ""
    frame["领取银行"] = ""
    frame["银行账号"] = ""
    frame["说明"] = REFUND_NOTE
    lists[LIST_NEGATIVE] = frame

    zeros = zero & ~bad
    frame = base(zeros)
    for key, head in (("person_class", "人员类别"), ("hukou", "户口性质"), ("identity", "调整后缴费身份"),
                      ("tier", "调整后缴费档次")):
        frame[head] = values[key][zeros].to_numpy()
    frame["零缴费办理日期"] = ""
    frame["经办人"] = ""
    frame["说明"] = "先在系统中做“零缴费”生成零缴费记录，再做本行的缴费调整"
    lists[LIST_ZERO] = frame

    arrival = subsidy_only & ~bad
    frame = base(arrival)
    for key, head in (("province", "省级补贴调整"), ("city", "市级补贴调整"), ("county", "县级补贴调整")):
        frame[head] = yuan(pd.Series(checked.amounts[key][arrival].to_numpy()))
    frame["审核人"] = ""
    frame["0到款登记日期"] = ""
    frame["说明"] = "只调整财政补贴：调整审核通过后，在系统中办理“0到款登记”"
    lists[LIST_ARRIVAL] = frame
    return {name: rows for name, rows in lists.items() if len(rows)}


def money_change(checked: Checked) -> pd.DataFrame:
    """Money per funding item before / after / difference over the rows without errors (yuan)."""
    ok = ~checked.values.index.isin(checked.error_rows)
    rows = []
    for key in (*AMOUNT_KEYS, "total"):
        if key == "total":
            b = sum(r[1] for r in rows)
            a = sum(r[2] for r in rows)
        else:
            b = float(checked.before[key][ok].sum()) / 100 if checked.before is not None else float("nan")
            a = float(checked.after[key][ok].sum()) / 100 if checked.after is not None else float("nan")
        rows.append((key, round(b, 2), round(a, 2)))
    frame = pd.DataFrame(rows, columns=["item", "before", "after"])
    frame["difference"] = (frame["after"] - frame["before"]).round(2)
    if checked.before is None:  # without a ledger only the adjustments themselves are known
        diff = checked.amounts[ok][list(AMOUNT_KEYS)].sum() / 100
        frame["difference"] = [round(float(diff[k]), 2) for k in AMOUNT_KEYS] + [round(float(diff.sum()), 2)]
    return frame

