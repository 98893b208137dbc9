"""NAME_汇总.xlsx: overview, findings by code, money by identity × 户口性质 × tier, charts, to-do lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from xlflow.domain.findings import catalogue
from xlflow.domain.kinds import AMOUNT_KEYS, kind
from xlflow.domain.rulebook import RuleBook
from xlflow.domain.vocab import SEVERITY_WORDS
from xlflow.outputs.layout import titled_sheet
from xlflow.validation.adjustment import money_change
from xlflow.validation.ledger_checks import SKIPPED
from xlflow.validation.money import ITEM_HEADERS, money_table
from xlflow.validation.result import LIST_NEGATIVE, Checked, CheckResult


def write_summary(result: CheckResult, checked: Checked | None, path: Path, book: RuleBook | None) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    bold = wb.add_format({"bold": True})
    header = wb.add_format({"bold": True, "border": 1, "bg_color": "#DDEBF7", "align": "center"})
    money = wb.add_format({"num_format": "#,##0.00"})
    money_bold = wb.add_format({"num_format": "#,##0.00", "bold": True, "top": 1})
    title = wb.add_format({"bold": True, "font_size": 14})
    red = wb.add_format({"bold": True, "font_color": "#C00000"})
    _overview(wb, result, checked, book, title, bold, red)
    _by_code(wb, result, header)
    if checked is not None:
        formats = {"header": header, "money": money, "money_bold": money_bold,
                   "count_bold": wb.add_format({"num_format": "#,##0", "bold": True, "top": 1}),
                   "count": wb.add_format({"num_format": "#,##0"}), "note": wb.add_format({"italic": True})}
        if kind(checked.table.spec.kind).adjusts:
            _change(wb, checked, formats)
        if kind(checked.table.spec.kind).pays:
            _money(wb, checked, result, book.identities if book else None, formats)
        else:
            _people_by_identity(wb, checked, formats)
    _todo(wb, header, result)
    for name, rows in result.lists.items():
        _work_list(wb, name, rows, formats if checked is not None else {"header": header})
    wb.close()


def _overview(wb, result: CheckResult, checked: Checked | None, book, title, bold, red) -> None:
    ws = wb.add_worksheet("概况")
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 46)  # numbers next to their labels, long texts wrapped: one page, label and value together
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    left = wb.add_format({"align": "left", "valign": "top", "text_wrap": True})
    ws.write_string(0, 0, "检查结果汇总", title)
    rows: list[tuple[str, object]] = []
    problems = result.file_problems()
    if problems:  # what stops the upload comes first
        rows.append(("文件错误", f"{len(problems)} 处：{'、'.join(problems)}"))
    fields = checked.table.header_values if checked is not None else {}
    fills = result.findings.code_counts().get("X06", 0)
    rows += [
        ("文件", Path(result.file).name),
        ("表格种类", kind(result.kind).title if kind(result.kind) else "未识别"),
        *[(label, fields[key].value if key in fields and fields[key].value else "（未填写）")
          for key, label in (("unit", "申报单位"), ("clerk", "经办人"), ("date", "申报日期"))
          if checked is not None and not checked.table.is_csv],
        ("数据行数", result.rows),
        ("通过", result.valid_rows),
        ("错误行", result.error_row_count),
        ("警告", result.count("warning")),
        ("自动更正", result.count("fixed") - fills),
        (kind(result.kind).fills if kind(result.kind) else "补全金额", fills),
        ("征缴规则表", f"{book.source}（指纹 {book.fingerprint}）" if book else "—"),
        ("台账", result.ledger or SKIPPED),
        ("处理时间", f"{result.checked_at:%Y-%m-%d %H:%M:%S}" if result.checked_at else "—"),
        ("结论", result.summary_line()),
    ]
    for i, (label, value) in enumerate(rows, start=2):
        ws.write_string(i, 0, label, red if label == "文件错误" else bold)
        if isinstance(value, int):
            ws.write_number(i, 1, value, left)
        else:
            ws.write_string(i, 1, str(value), red if label == "文件错误" else left)


def _by_code(wb, result: CheckResult, header) -> None:
    ws = titled_sheet(wb, "问题分类", [("代码", 8), ("问题", 26), ("级别", 8), ("处数", 8),
                                        ("涉及行（原表行号，前 20 个）", 60)], header)
    counts = result.findings.code_counts()
    info = catalogue()
    codes = sorted(counts, key=lambda c: (["error", "warning", "fixed"].index(info[c].severity), c))
    for i, code in enumerate(codes, start=1):
        ws.write_string(i, 0, code)
        ws.write_string(i, 1, info[code].name)
        ws.write_string(i, 2, SEVERITY_WORDS[info[code].severity])
        ws.write_number(i, 3, counts[code])
        ws.write_string(i, 4, "、".join(str(r) for r in result.findings.rows_of(code)[:20].tolist()))
    # Errors and warnings in one chart, fixes in another: 88 X06 fills would dwarf three errors.
    problems = sum(info[c].severity != "fixed" for c in codes)
    at = 1
    for first, last, name in ((1, problems, "错误和警告"), (problems + 1, len(codes), "自动更正")):
        if last < first:
            continue
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "处数", "categories": ["问题分类", first, 1, last, 1],
                          "values": ["问题分类", first, 3, last, 3], "data_labels": {"value": True}})
        chart.set_title({"name": f"问题分类：{name}"})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True, "name": "问题", "interval_unit": 1})  # every label shown
        chart.set_x_axis({"name": "处数"})
        rows = last - first + 1
        ws.insert_chart(at, 6, chart, {"x_scale": 1.3, "y_scale": max(1.0, rows / 10)})
        at += int(15 * max(1.0, rows / 10)) + 2


def _money(wb, checked: Checked, result: CheckResult, identities, formats) -> None:
    header, money, money_bold = formats["header"], formats["money"], formats["money_bold"]
    table = money_table(checked, identities)
    heads = [("缴费身份", 14), ("户口性质", 10), ("缴费档次", 10), ("人数", 10)]
    ws = titled_sheet(wb, "金额汇总", heads + [(h, 13) for h in ITEM_HEADERS.values()], header)
    for i, r in enumerate(table.itertuples(index=False), start=1):
        ws.write_string(i, 0, r.identity)
        ws.write_string(i, 1, r.hukou)
        ws.write_string(i, 2, r.tier)
        ws.write_number(i, 3, r.persons, formats["count"])
        for c, key in enumerate(ITEM_HEADERS, start=4):
            ws.write_number(i, c, getattr(r, key), money)
    last = len(table) + 1
    ws.write_string(last, 0, "合计", money_bold)
    ws.write_number(last, 3, int(table["persons"].sum()), formats["count_bold"])
    for c, key in enumerate(ITEM_HEADERS, start=4):
        ws.write_number(last, c, round(float(table[key].sum()), 2), money_bold)
    notes = []
    if getattr(kind(result.kind), "adjusts", False):
        notes.append("注：以上为调整金额（调整后减已缴），调整前后的金额见“资金变化”。")
    if result.error_row_count:
        notes.append(f"注：有错误的 {result.error_row_count:,} 行不计入以上金额，改正后重新检查才会计入。")
    if notes:
        ws.write_string(last + 1, 0, "".join(notes), formats["note"])
    # Totals per funding level (财政补贴测算), and a chart of them.
    base = last + 3
    ws.write_string(base, 0, "按资金来源合计（元）", header)
    ws.write_string(base, 1, "金额", header)
    for i, key in enumerate(AMOUNT_KEYS, start=1):
        ws.write_string(base + i, 0, ITEM_HEADERS[key])
        ws.write_number(base + i, 1, round(float(table[key].sum()), 2), money)
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"name": "金额（元）", "categories": ["金额汇总", base + 1, 0, base + 5, 0],
                      "values": ["金额汇总", base + 1, 1, base + 5, 1], "data_labels": {"value": True}})
    chart.set_title({"name": "按资金来源合计"})
    chart.set_legend({"none": True})
    chart.set_x_axis({"name": "资金来源"})
    chart.set_y_axis({"name": "金额（元）"})
    ws.insert_chart(base, 3, chart)
    by_identity = table.groupby("identity", sort=False)[list(AMOUNT_KEYS)].sum()
    start = base + 20
    ws.write_string(start, 0, "按缴费身份（元）", header)
    for c, key in enumerate(AMOUNT_KEYS, start=1):
        ws.write_string(start, c, ITEM_HEADERS[key], header)
    for i, (identity, r) in enumerate(by_identity.iterrows(), start=1):
        ws.write_string(start + i, 0, identity)
        for c, key in enumerate(AMOUNT_KEYS, start=1):
            ws.write_number(start + i, c, round(float(r[key]), 2), money)
    if len(by_identity):
        stacked = wb.add_chart({"type": "column", "subtype": "stacked"})
        n = len(by_identity)
        for c in range(1, len(AMOUNT_KEYS) + 1):
            stacked.add_series({"name": ["金额汇总", start, c], "categories": ["金额汇总", start + 1, 0, start + n, 0],
                                "values": ["金额汇总", start + 1, c, start + n, c]})
        stacked.set_title({"name": "按缴费身份的资金构成"})
        stacked.set_x_axis({"name": "缴费身份"})
        stacked.set_y_axis({"name": "金额（元）"})
        ws.insert_chart(start, 7, stacked)


def _people_by_identity(wb, checked: Checked, formats) -> None:
    """按参保身份: the rows that passed, by new identity × 生效年度 (what the clerk will set in the system)."""
    ok = ~checked.values.index.isin(checked.error_rows)
    year = checked.year if checked.year is not None else pd.Series(np.nan, index=checked.values.index)
    frame = pd.DataFrame({"identity": checked.values["identity"][ok], "year": year[ok].astype("Int64")})
    table = frame.groupby(["identity", "year"], dropna=False).size().reset_index(name="persons")
    ws = titled_sheet(wb, "按参保身份", [("新参保身份", 16), ("生效年度", 10), ("人数", 10)], formats["header"])
    for i, r in enumerate(table.itertuples(index=False), start=1):
        ws.write_string(i, 0, str(r.identity))
        ws.write_string(i, 1, "" if pd.isna(r.year) else str(r.year))
        ws.write_number(i, 2, int(r.persons), formats["count"])
    last = len(table) + 1
    ws.write_string(last, 0, "合计", formats["count_bold"])
    ws.write_number(last, 2, int(table["persons"].sum()) if len(table) else 0, formats["count_bold"])


def _todo(wb, header, result: CheckResult) -> None:
    ws = wb.add_worksheet("待办清单")
    ws.set_column(0, 0, 80)
    ws.write_string(0, 0, "需要另行办理的事项", header)
    own = kind(result.kind)
    if own is None or own.no_work_list:
        ws.write_string(1, 0, own.no_work_list if own else "本文件无需单独办理的事项。")
        return
    if not result.lists:
        ws.write_string(1, 0, "本调整表没有需要单独办理的事项。")
        return
    for i, (name, rows) in enumerate(result.lists.items(), start=1):
        ws.write_string(i, 0, f"{name}：{len(rows):,} 人，见工作表“{_sheet_name(name)}”")


def _sheet_name(name: str) -> str:
    return name.split("（")[0][:31]


def _change(wb, checked: Checked, formats) -> None:
    """资金变化: money per funding item before / after the adjustment and the difference (the fiscal
    effect by level), over the rows without errors, with a chart of the differences."""
    header, money, money_bold = formats["header"], formats["money"], formats["money_bold"]
    ws = titled_sheet(wb, "资金变化", [("资金项目", 12), ("调整前（已缴）", 15), ("调整后", 15), ("差额", 15)], header)
    change = money_change(checked)
    for i, r in enumerate(change.itertuples(index=False), start=1):
        style = money_bold if r.item == "total" else money
        ws.write_string(i, 0, ITEM_HEADERS[r.item], money_bold if r.item == "total" else None)
        for c, value in enumerate((r.before, r.after, r.difference), start=1):
            if pd.isna(value):
                ws.write_string(i, c, "—")
            else:
                ws.write_number(i, c, value, style)
    note = ("注：只计没有错误的行；“调整前”是台账缴费明细中该人该年度已缴的金额。" if checked.before is not None
            else "注：未使用台账，已缴金额未知，只列出调整金额（差额）。")
    ws.write_string(len(change) + 2, 0, note, formats["note"])
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"name": "差额（元）", "categories": ["资金变化", 1, 0, len(AMOUNT_KEYS), 0],
                      "values": ["资金变化", 1, 3, len(AMOUNT_KEYS), 3], "data_labels": {"value": True}})
    chart.set_title({"name": "调整带来的资金变化"})
    chart.set_legend({"none": True})
    chart.set_x_axis({"name": "资金来源"})
    chart.set_y_axis({"name": "差额（元）"})
    ws.insert_chart(1, 5, chart)


TEXT_HEADS = ("身份证号码", "银行账号", "领取银行", "姓名")


def _work_list(wb, name: str, rows: pd.DataFrame, formats) -> None:
    """One work list as its own sheet: the title says what to do; the empty columns are for the clerk.
    IDs and bank accounts are text cells (an account typed as a number loses its last digits)."""
    text = wb.add_format({"num_format": "@"})
    heads = [(str(c), max(10, min(40, 2 * len(str(c)) + 4))) for c in rows.columns]
    ws = titled_sheet(wb, _sheet_name(name), heads, formats["header"])
    for c, (head, width) in enumerate(heads):
        if head in TEXT_HEADS:
            ws.set_column(c, c, width, text)
    money = formats.get("money")
    for i, record in enumerate(rows.itertuples(index=False), start=1):
        for c, value in enumerate(record):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                ws.write_blank(i, c, None, text if heads[c][0] in TEXT_HEADS else None)
            elif isinstance(value, str):
                ws.write_string(i, c, value, text if heads[c][0] in TEXT_HEADS else None)
            elif isinstance(value, float):
                ws.write_number(i, c, value, money)
            else:
                ws.write_number(i, c, int(value))
    if name == LIST_NEGATIVE:
        ws.write_string(len(rows) + 2, 0, "负调整不能批量办理：原则上不退费，"
                        "仅在本人书面申请时单个办理，并填写领取银行和银行账号。")
