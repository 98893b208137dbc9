"""The comparison's workbooks: 比对台账_Y.xlsx (the ledger of every listed person, a sheet per action,
what could not be matched, counts), 比对统计_Y.xlsx (counts and the fiscal estimate with native charts)
and the pre-filled declaration and adjustment workbooks in the templates' layout.

The per-person sheets go through the streaming writer (a 100,000-person list is 3 million cells:
xlsxwriter needed 17.6 s for half of them here); the small statistics workbook, which has the charts,
through xlsxwriter.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from xlflow.domain.findings import column_letter
from xlflow.domain.kinds import AMOUNT_KEYS, kind_spec
from xlflow.domain.kinds import kind as kind_of
from xlflow.domain.rulebook import RuleBook
from xlflow.domain.values import cents_text
from xlflow.domain.vocab import FUNDING_ITEMS
from xlflow.outputs.layout import titled_sheet
from xlflow.outputs.xlsxbook import Sheet, write_workbook
from xlflow.outputs.xlsxfast import Column, Style, cell_row, render_rows
from xlflow.templates.build import Body, cell_styles, template_book
from xlflow.validation.compare import (
    ACTIONS,
    ADJUST,
    DECLARE,
    FLAG,
    NOT_ELIGIBLE,
    NOTHING,
    REGISTER,
    ZERO_THEN_ADJUST,
    Comparison,
)

ITEMS = FUNDING_ITEMS
UNMATCHED_SHEET = "未能比对"
TEXT_HEADS = ("姓名", "身份证号码", "乡镇")
WRAPPED_HEADS = ("原因",)  # and every 「Y年度缴费」
NUMBER_HEADS = ("脱贫年度", "行")


def _visible(people: pd.DataFrame) -> list[str]:
    return [c for c in people.columns if not c.startswith("_")]


def _people_sheet(name: str, frame: pd.DataFrame, columns: list[str]) -> Sheet:
    """One person a row, with filter buttons; ages, years and row numbers as numbers (they sort as numbers
    and carry no green triangles), the long texts wrapped."""
    def column(c: str) -> Column:
        values = frame[c].astype(str).replace({"nan": "", "None": "", "<NA>": ""}).to_numpy(dtype=object)
        if c.endswith("年龄") or c in NUMBER_HEADS:
            return Column(values, True)
        wrapped = c in WRAPPED_HEADS or c.endswith("年度缴费")
        return Column(values, style=Style.WRAPPED if wrapped else Style.TEXT if c in TEXT_HEADS else Style.NONE)

    cols = [column(c) for c in columns]
    cols.insert(0, Column(np.arange(1, len(frame) + 1).astype(str).astype(object), True))
    head = cell_row(1, [(h, Style.HEADER) for h in ["序号", *columns]])
    width = {"身份证号码": 21, "原因": 60, "所在名单": 16, "类别级别": 22, "需办理事项": 13, "代缴身份": 13}
    width |= {c: 24 for c in columns if c.endswith("年度缴费")}
    return Sheet(name=name[:31], rows=itertools.chain([head], render_rows(2, cols, len(frame))),
                 last_row=len(frame) + 1, last_col=len(columns), widths=[6, *[width.get(c, 11) for c in columns]],
                 freeze_rows=1, freeze_cols=3, autofilter=f"A1:{column_letter(len(columns))}{len(frame) + 1}")


def counts_by(people: pd.DataFrame, key: str) -> pd.DataFrame:
    """Persons per ``key`` value × action (a column per action that occurs), with a total column."""
    table = pd.crosstab(people[key], people["需办理事项"])
    table = table[[a for a in ACTIONS if a in table.columns]]
    table["合计"] = table.sum(axis=1)
    return table


def _by_list(people: pd.DataFrame) -> pd.DataFrame:
    exploded = people.assign(名单=people["所在名单"].str.split("、")).explode("名单")
    return counts_by(exploded, "名单")


def _table_sheet(name: str, table: pd.DataFrame, label: str) -> Sheet:
    head = cell_row(1, [(label, Style.HEADER), *[(str(c), Style.HEADER) for c in table.columns]])
    rows = [head]
    for i, (key, values) in enumerate(table.iterrows(), start=2):
        rows.append(cell_row(i, [(str(key), Style.TEXT), *[(int(v), Style.NONE) for v in values]]))
    return Sheet(name=name, rows=rows, last_row=len(table) + 1, last_col=len(table.columns),
                 widths=[16, *[12] * len(table.columns)], freeze_rows=1)


def write_ledger_book(comparison: Comparison, path: Path) -> None:
    """比对台账_Y.xlsx: the 管理台账 first, then a sheet per action, what could not be matched, counts."""
    people = comparison.people
    columns = _visible(people)
    sheets = [_people_sheet("管理台账", people, columns)]
    if comparison.last is not None and comparison.changes is not None:  # since the last comparison of the year
        changes = comparison.changes
        sheets.append(_people_sheet("变化", changes, list(changes.columns)))
    for action in ACTIONS:
        part = people[people["需办理事项"] == action]
        if len(part):
            sheets.append(_people_sheet(action, part, columns))
    if len(comparison.unmatched):
        un = comparison.unmatched
        sheets.append(_people_sheet(UNMATCHED_SHEET, un, list(un.columns)))
    if len(people):
        sheets.append(_table_sheet("按乡镇统计", counts_by(people, "乡镇"), "乡镇"))
        sheets.append(_table_sheet("按名单统计", _by_list(people), "名单"))
    write_workbook(path, sheets)


def estimate(comparison: Comparison, what: str) -> pd.DataFrame:
    """Yuan per funding item by identity class × township: ``todo`` (to declare or adjust) or ``paid``."""
    money = comparison.money
    if money.empty:
        return pd.DataFrame(columns=["group", "township", "persons", *AMOUNT_KEYS])
    chosen = money[money["final"].isin([DECLARE, ADJUST, ZERO_THEN_ADJUST])] if what == "todo" else \
        money[comparison.people["_paid"].to_numpy()]
    cols = [f"{what}_{k}" for k in AMOUNT_KEYS]
    grouped = chosen.groupby(["group", "township"], sort=True)
    table = (grouped[cols].sum() / 100).round(2)
    table.columns = list(AMOUNT_KEYS)
    table.insert(0, "persons", grouped.size())
    return table.reset_index()


def write_statistics(comparison: Comparison, path: Path, book: RuleBook) -> None:
    """比对统计_Y.xlsx: counts per action, township and list, and the fiscal estimate, with charts."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    header = wb.add_format({"bold": True, "border": 1, "bg_color": "#DDEBF7", "align": "center"})
    money = wb.add_format({"num_format": "#,##0.00"})
    bold_money = wb.add_format({"num_format": "#,##0.00", "bold": True, "top": 1})
    title = wb.add_format({"bold": True, "font_size": 14})
    people = comparison.people
    ws = wb.add_worksheet("概况")
    ws.set_column(0, 0, 18)
    ws.set_column(1, 1, 70)
    ws.write_string(0, 0, f"{comparison.year} 年度数据比对", title)
    counts = comparison.counts()
    lines = [("名单人数", len(people)), *counts.items(), ("未能比对的名单行", len(comparison.unmatched)),
             ("征缴规则表", f"{book.source}（指纹 {book.fingerprint}）"), ("结论", comparison.summary_line())]
    for i, (label, value) in enumerate(lines, start=2):
        ws.write_string(i, 0, label, header if i == 2 else None)
        if isinstance(value, int):
            ws.write_number(i, 1, value)
        else:
            ws.write_string(i, 1, str(value))
    if counts:
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "人数", "categories": ["概况", 3, 0, 2 + len(counts), 0],
                          "values": ["概况", 3, 1, 2 + len(counts), 1], "data_labels": {"value": True}})
        chart.set_title({"name": "需办理事项"})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True})
        ws.insert_chart(2, 3, chart)
    if len(people):
        _counts_sheet(wb, "按乡镇统计", counts_by(people, "乡镇"), "乡镇", header)
        _counts_sheet(wb, "按名单统计", _by_list(people), "名单", header)
    if len(people):
        _progress_sheet(wb, people, header)
    todo, paid = estimate(comparison, "todo"), estimate(comparison, "paid")
    _money_sheet(wb, "财政测算", f"{comparison.year} 年度需申报和调整的人员（按规则表计算）", todo, header, money,
                 bold_money)
    _money_sheet(wb, "已缴费", f"{comparison.year} 年度已缴费的名单人员（缴费明细中的金额）", paid, header, money,
                 bold_money)
    ws = titled_sheet(wb, "全年合计", [("资金项目", 12), ("需申报调整", 14), ("已缴费", 14), ("全年合计", 14)], header)
    for i, key in enumerate(AMOUNT_KEYS, start=1):
        a, b = float(todo[key].sum()), float(paid[key].sum())
        ws.write_string(i, 0, ITEMS[key])
        for c, v in enumerate((a, b, a + b), start=1):
            ws.write_number(i, c, round(v, 2), money)
    chart = wb.add_chart({"type": "column", "subtype": "stacked"})
    for c, name in ((1, "需申报调整"), (2, "已缴费")):
        chart.add_series({"name": name, "categories": ["全年合计", 1, 0, 5, 0], "values": ["全年合计", 1, c, 5, c]})
    chart.set_title({"name": f"{comparison.year} 年度按资金来源（元）"})
    ws.insert_chart(1, 5, chart)
    wb.close()


def progress(people: pd.DataFrame) -> pd.DataFrame:
    """落实情况 per township over the people who qualify: listed, insured, flagged (nothing left to do in the
    system before paying), 代缴 paid or declared for the year, and the rate of each."""
    part = people[people["需办理事项"] != NOT_ELIGIBLE]
    frame = pd.DataFrame({"乡镇": part["乡镇"], "insured": part["是否参保"] == "是",
                          "flagged": ~part["需办理事项"].isin(FIRST_STEPS), "paid": part["需办理事项"] == NOTHING})
    table = frame.groupby("乡镇", sort=True).agg(名单人数=("insured", "size"), 已参保=("insured", "sum"),
                                                已设置身份标识=("flagged", "sum"), 已代缴=("paid", "sum"))
    for c in ("已参保", "已设置身份标识", "已代缴"):
        table[f"{c}率"] = (table[c] / table["名单人数"]).round(4)
    return table


def _progress_sheet(wb, people: pd.DataFrame, header) -> None:
    table = progress(people)
    heads = [("乡镇", 16), *[(c, 12) for c in table.columns]]
    ws = titled_sheet(wb, "落实情况", heads, header)
    percent = wb.add_format({"num_format": "0.0%"})
    for i, (town, r) in enumerate(table.iterrows(), start=1):
        ws.write_string(i, 0, str(town))
        for c, col in enumerate(table.columns, start=1):
            if col.endswith("率"):
                ws.write_number(i, c, float(r[col]), percent)
            else:
                ws.write_number(i, c, int(r[col]))
    if len(table):
        chart = wb.add_chart({"type": "column"})
        for c, col in enumerate(table.columns, start=1):
            if col.endswith("率"):
                chart.add_series({"name": ["落实情况", 0, c], "categories": ["落实情况", 1, 0, len(table), 0],
                                  "values": ["落实情况", 1, c, len(table), c]})
        chart.set_title({"name": "落实情况：参保、身份标识、政府代缴（按乡镇）"})
        chart.set_y_axis({"num_format": "0%", "max": 1})
        ws.insert_chart(len(table) + 2, 0, chart, {"x_scale": 1.5})


def _counts_sheet(wb, name: str, table: pd.DataFrame, label: str, header) -> None:
    ws = titled_sheet(wb, name, [(label, 16), *[(str(c), 12) for c in table.columns]], header)
    for i, (key, values) in enumerate(table.iterrows(), start=1):
        ws.write_string(i, 0, str(key))
        for c, v in enumerate(values, start=1):
            ws.write_number(i, c, int(v))
    actions = [c for c in table.columns if c != "合计"]
    if len(table) and actions:
        chart = wb.add_chart({"type": "column", "subtype": "stacked"})
        for c, action in enumerate(table.columns, start=1):
            if action in actions:
                chart.add_series({"name": [name, 0, c], "categories": [name, 1, 0, len(table), 0],
                                  "values": [name, 1, c, len(table), c]})
        chart.set_title({"name": f"{name}（人）"})
        ws.insert_chart(len(table) + 2, 0, chart, {"x_scale": 1.5})


def _money_sheet(wb, name: str, caption: str, table: pd.DataFrame, header, money, bold) -> None:
    heads = [("代缴类别", 10), ("乡镇", 12), ("人数", 8), *[(ITEMS[k], 12) for k in AMOUNT_KEYS], ("合计", 13)]
    ws = titled_sheet(wb, name, heads, header)
    for i, r in enumerate(table.itertuples(index=False), start=1):
        ws.write_string(i, 0, r.group or "—")
        ws.write_string(i, 1, str(r.township))
        ws.write_number(i, 2, int(r.persons))
        for c, key in enumerate(AMOUNT_KEYS, start=3):
            ws.write_number(i, c, float(getattr(r, key)), money)
        ws.write_number(i, 8, round(sum(float(getattr(r, k)) for k in AMOUNT_KEYS), 2), money)
    last = len(table) + 1
    ws.write_string(last, 0, "合计", bold)
    ws.write_number(last, 2, int(table["persons"].sum()) if len(table) else 0)
    for c, key in enumerate(AMOUNT_KEYS, start=3):
        ws.write_number(last, c, round(float(table[key].sum()), 2), bold)
    ws.write_number(last, 8, round(float(table[list(AMOUNT_KEYS)].to_numpy().sum()), 2), bold)
    ws.write_string(last + 1, 0, caption)
    by_group = table.groupby("group")[list(AMOUNT_KEYS)].sum() if len(table) else pd.DataFrame()
    start = last + 3
    ws.write_string(start, 0, "按代缴类别", header)
    for c, key in enumerate(AMOUNT_KEYS, start=1):
        ws.write_string(start, c, ITEMS[key], header)
    for i, (group, r) in enumerate(by_group.iterrows(), start=1):
        ws.write_string(start + i, 0, group or "—")
        for c, key in enumerate(AMOUNT_KEYS, start=1):
            ws.write_number(start + i, c, round(float(r[key]), 2), money)
    if len(by_group):
        chart = wb.add_chart({"type": "column", "subtype": "stacked"})
        for c in range(1, len(AMOUNT_KEYS) + 1):
            chart.add_series({"name": [name, start, c], "categories": [name, start + 1, 0, start + len(by_group), 0],
                              "values": [name, start + 1, c, start + len(by_group), c]})
        chart.set_title({"name": f"{name}：按代缴类别和资金来源（元）"})
        ws.insert_chart(start, 7, chart)


FIRST_STEPS = (REGISTER, FLAG)  # what must be done in the system before a row can be uploaded


def prefilled_rows(comparison: Comparison, book: RuleBook, kind: str, ready: bool = True) -> pd.DataFrame:
    """The rows of a pre-filled declaration (the people whose last action is a declaration) or adjustment
    (an adjustment, or a 零缴费 then an adjustment): field key → text.

    ``ready``: the people whose first step is the declaration or adjustment itself; else the people who must
    first be registered or have their identity flag set (the notice: a payment made before the flag is a
    普通 payment for good), each row saying so in 备注 — a workbook of their own, never mixed with rows that
    can be uploaded now. Together they are the fiscal estimate's people."""
    if kind_of(kind).flags:
        return identity_rows(comparison, ready)
    people = comparison.people
    adjusts = kind_of(kind).adjusts  # a paid year adjusted, or an unpaid one declared
    finals = (ADJUST, ZERO_THEN_ADJUST) if adjusts else (DECLARE,)
    waiting = people["需办理事项"].isin(FIRST_STEPS)
    mask = people["_final"].isin(finals) & (people["需办理事项"] != NOT_ELIGIBLE) & (~waiting if ready else waiting)
    part = people[mask]
    money = comparison.money[mask.to_numpy()]
    year = str(comparison.year)
    rows = pd.DataFrame({"seq": np.arange(1, len(part) + 1).astype(str), "name": part["姓名"].to_numpy(),
                         "id_number": part["身份证号码"].to_numpy(), "hukou": part["_hukou"].to_numpy(),
                         "identity": part["代缴身份"].to_numpy(), "year": year, "tier": part["_tier"].to_numpy(),
                         "township": part["乡镇"].to_numpy()})
    for key in AMOUNT_KEYS:
        rows[key] = [cents_text(v) for v in money[f"todo_{key}"].tolist()]
    if not adjusts:
        rows["total"] = [cents_text(v) for v in money[[f"todo_{k}" for k in AMOUNT_KEYS]].sum(axis=1).tolist()]
        rows["remark"] = _remark(part)
    else:
        rows["person_class"] = part["_class"].to_numpy()
        zero = part["_final"].to_numpy() == ZERO_THEN_ADJUST
        rows["reason"] = np.where(zero, "待遇人员未缴费年度，零缴费后补做政府代缴",
                                  "已按普通参保人员缴费，认定为" + part["代缴身份"].to_numpy() + "，补做政府代缴")
        rows["remark"] = _remark(part)
    return rows


def identity_rows(comparison: Comparison, ready: bool = True) -> pd.DataFrame:
    """The rows of a pre-filled 批量参保身份变更表: everyone whose first step is to set the identity flag
    (``ready``), or who must be registered first and then flagged (not ready: a workbook of its own, to
    upload once they are registered). 原参保身份 is the roster's flag (未设置 where none), 身份依据 the lists."""
    people = comparison.people
    mask = people["需办理事项"] == (FLAG if ready else REGISTER)
    part = people[mask]
    levels = part["类别级别"].astype(str)
    basis = np.where(levels != "", levels, part["所在名单"].astype(str) + "名单")
    old = part["系统身份标识"].astype(str).replace("", "未设置") if ready else pd.Series("", index=part.index)
    remark = "数据比对生成" if ready else "数据比对生成；此人尚未参保：先在系统中做参保登记，再导入本行"
    return pd.DataFrame({"seq": np.arange(1, len(part) + 1).astype(str), "name": part["姓名"].to_numpy(),
                         "id_number": part["身份证号码"].to_numpy(), "old_identity": old.to_numpy(),
                         "identity": part["代缴身份"].to_numpy(), "basis": basis,
                         "year": str(comparison.year), "remark": remark, "township": part["乡镇"].to_numpy()})


def waiting_words(kind: str) -> str:
    """What the pre-filled workbook of the people not ready yet says in its name: what to do first."""
    return "先办参保登记" if kind_of(kind).flags else "先办参保登记或身份标识"


def _remark(part: pd.DataFrame) -> np.ndarray:
    first, identity = part["需办理事项"].to_numpy(), part["代缴身份"].to_numpy()
    return np.where(first == REGISTER, "数据比对生成；先在系统中参保登记并把身份标识设为" + identity + "，再导入本行",
                    np.where(first == FLAG, "数据比对生成；先在系统中把身份标识设为" + identity
                             + "，再导入本行（否则按普通参保人员缴费，政府代缴进不了个人账户）", "数据比对生成"))


def write_prefilled(rows: pd.DataFrame, kind: str, book: RuleBook, path: Path, when: dt.datetime) -> None:
    """A generated template with ``rows`` filled in (the template's own builder): title, the header block
    left for the clerk, the header row, dropdowns and prompts, 填写说明, the hidden 代码表, its properties."""
    spec = kind_spec(kind)
    numeric = {"year", "amount", "signed_amount", "seq"}
    columns = []
    for c in spec.columns:
        values = rows[c.key].astype(str).to_numpy(dtype=object) if c.key in rows else \
            np.full(len(rows), "", dtype=object)
        columns.append(Column(values, c.type in numeric, cell_styles(c)[0]))
    sheets, props = template_book(spec, book, when, body=Body(columns, len(rows)))
    write_workbook(path, sheets, props)


REGISTRATION_HEADS = ("姓名", "身份证号码", "性别", "出生日期", "户口性质", "参保身份", "行政区划", "联系电话",
                      "所在名单", "需补填", "备注")  # fmt: skip
TO_FILL = ("户口性质", "联系电话")  # what registration needs that a list may not give: the clerk fills it in


def registration_rows(comparison: Comparison) -> pd.DataFrame:
    """Everyone on a list whose first step is 参保登记 (16 or over, not insured), with what registration needs:
    sex and birth date from the ID, 户口性质 and 联系电话 where a list has them (else left to fill), the identity
    to set, the 行政区划 from the list or the ID's area code; by 行政区划, then ID."""
    people = comparison.people
    part = people[people["需办理事项"] == REGISTER]
    ids = part["身份证号码"].astype(str)
    listed_area = part["_list_area"].astype(str)
    area = listed_area.where(listed_area != "", ids.str[:6])
    rows = pd.DataFrame({
        "姓名": part["姓名"].to_numpy(),
        "身份证号码": ids.to_numpy(),
        "性别": np.where(ids.str[16].fillna("0").isin(list("13579")), "男", "女"),
        "出生日期": (ids.str[6:10] + "-" + ids.str[10:12] + "-" + ids.str[12:14]).to_numpy(),
        "户口性质": part["_list_hukou"].astype(str).to_numpy(),
        "参保身份": part["代缴身份"].to_numpy(),
        "行政区划": area.to_numpy(),
        "联系电话": part["_list_phone"].astype(str).to_numpy(),
        "所在名单": part["所在名单"].to_numpy(),
        "备注": part["原因"].to_numpy(),
    })
    need = pd.Series("", index=rows.index, dtype=object)
    for c in TO_FILL:  # whole columns at once: a county's list is 100,000 people
        need = need + np.where(rows[c] == "", "、" + c, "")
    rows["需补填"] = need.str.lstrip("、")
    return rows.sort_values(["行政区划", "身份证号码"], kind="stable").reset_index(drop=True)[list(REGISTRATION_HEADS)]


def write_registration(rows: pd.DataFrame, path: Path, year: int) -> None:
    """预填_参保登记名单_Y.xlsx: one person a row, the fields still to fill marked (and named in 需补填), IDs as
    text, filter buttons, printed like every other sheet."""
    columns = [Column(np.arange(1, len(rows) + 1).astype(str).astype(object), True)]
    for c in REGISTRATION_HEADS:
        values = rows[c].astype(str).to_numpy(dtype=object)
        style = Style.TEXT if c in ("姓名", "身份证号码", "行政区划", "联系电话") else (
            Style.WRAPPED if c == "备注" else Style.NONE)
        marked = (values == "") if c in TO_FILL else None
        columns.append(Column(values, style=style, marked=marked, marked_style=Style.BAD_TEXT))
    heads = ["序号", *REGISTRATION_HEADS]
    title = cell_row(1, [(f"参保登记名单（{year} 年数据比对：名单中 16 周岁以上、尚未参保的人员；"
                          "标红的是登记还须补填的项）", Style.TITLE)])
    head = cell_row(2, [(h, Style.HEADER) for h in heads])
    widths = {"身份证号码": 21, "出生日期": 12, "参保身份": 14, "行政区划": 16, "联系电话": 14, "所在名单": 16,
              "需补填": 16, "备注": 50}
    sheet = Sheet(name="参保登记名单", rows=itertools.chain([title, head], render_rows(3, columns, len(rows))),
                  last_row=len(rows) + 2, last_col=len(heads) - 1,
                  widths=[6, *[widths.get(c, 8) for c in REGISTRATION_HEADS]],
                  freeze_rows=2, freeze_cols=3, autofilter=f"A2:{column_letter(len(heads) - 1)}{len(rows) + 2}")
    write_workbook(path, [sheet])
