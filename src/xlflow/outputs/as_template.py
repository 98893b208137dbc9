"""What makes an output workbook a working template: the template's dropdowns, hover prompts, 填写说明,
hidden 代码表 and custom properties, written by the streaming writer (SPEC 4.5, 6).

The error workbook is handed back to the clerk to fix and drop in again: it must behave like the
template it came from, on the clerk's own column order.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from xlflow.findings import column_letter
from xlflow.kinds import KindSpec
from xlflow.outputs.xlsxfast import Column, Sheet, Style, cell_row, data_validation, render_rows
from xlflow.rules import RuleBook
from xlflow.templates.build import (
    FIRST_YEAR,
    INSTRUCTIONS_SHEET,
    LISTS_SHEET,
    VALIDATION_ROWS,
    _list_refs,
    code_lists,
    coded_values,
    example_row,
    instruction_lines,
    template_properties,
    tier_prompt,
)


def validations(spec: KindSpec, book: RuleBook, keys: list[str | None], first: int, rows: int) -> list[str]:
    """One <dataValidation> per known column, on the data rows (at least the template's 10,000)."""
    last = first + max(rows, VALIDATION_ROWS) - 1
    refs = _list_refs(spec, book)
    out = []
    for i, key in enumerate(keys):
        if key is None:
            continue
        col = spec.column(key)
        letter = column_letter(i)
        sqref = f"{letter}{first}:{letter}{last}"
        prompt = tier_prompt(col, book) if col.type == "tier" else (col.prompt or col.instruction)
        common = {"prompt_title": col.header, "prompt": prompt}
        if coded_values(col.type, book) is not None and col.type in refs:
            out.append(data_validation(sqref, "list", refs[col.type].lstrip("="), error_title="不在下拉列表中",
                                       error=col.hint or "请从下拉列表选择。", **common))
        elif col.type == "year":
            out.append(data_validation(sqref, "whole", str(FIRST_YEAR), operator="between", formula2="2100",
                                       error_title="年度不对", error="请填写 4 位数字年份，例如 2024。", **common))
        elif col.type == "id":
            cell = f"{letter}{first}"
            out.append(data_validation(sqref, "custom", f"OR(LEN({cell})=15,LEN({cell})=18)",
                                       error_title="身份证号码位数不对", error="身份证号码应为 18 位（老证 15 位）。",
                                       **common))
        elif col.type == "amount":
            out.append(data_validation(sqref, "decimal", "0", operator="greaterThanOrEqual", error_title="金额不对",
                                       error="金额应为不小于 0 的数字，最多两位小数。", **common))
        else:
            out.append(data_validation(sqref, **common))
    return out


def instructions_sheet(spec: KindSpec, book: RuleBook, when: dt.datetime) -> Sheet:
    rows = [cell_row(1, [(f"《{spec.title}》填写说明", Style.TITLE)])]
    lines = instruction_lines(spec, book, when)
    for n, line in enumerate(lines, start=1):
        rows.append(cell_row(n + 2, [(f"{n}.", Style.NONE), (line, Style.FEEDBACK)]))
    at = len(lines) + 4
    rows.append(cell_row(at, [("示例（填写时从数据表表头的下一行开始，不要把示例行带入）：", Style.NONE)]))
    example = example_row(spec, book, when)
    rows.append(cell_row(at + 1, [(c.header, Style.HEADER) for c in spec.columns]))
    rows.append(cell_row(at + 2, [(str(example.get(c.key, "")), Style.NONE) for c in spec.columns]))
    return Sheet(name=INSTRUCTIONS_SHEET, rows=rows, last_row=at + 2, last_col=len(spec.columns) - 1,
                 widths=[6, 110])


def lists_sheet(spec: KindSpec, book: RuleBook) -> Sheet:
    lists = code_lists(spec, book)
    height = max((len(v) for _, v in lists), default=0)
    columns = [Column(np.array([*values, *[""] * (height - len(values))], dtype=object)) for _, values in lists]
    head = cell_row(1, [(title, Style.HEADER) for title, _ in lists])
    return Sheet(name=LISTS_SHEET, rows=itertools.chain([head], render_rows(2, columns, height)),
                 last_row=height + 1, last_col=max(len(lists) - 1, 0), widths=[14] * len(lists), hidden=True)


def properties(spec: KindSpec, book: RuleBook, when: dt.datetime) -> dict[str, str]:
    return template_properties(spec, book, when)
