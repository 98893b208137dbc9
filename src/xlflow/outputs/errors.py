"""NAME_错误数据.xlsx: rows with errors as the user wrote them, bad cells marked, 反馈信息 column."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np

from xlflow.findings import column_letter
from xlflow.outputs.layout import FEEDBACK_HEADER, head_rows, output_columns, text_columns, widths
from xlflow.outputs.xlsxfast import Column, Sheet, Style, render_rows, write_workbook
from xlflow.validation.declaration import Checked


def write_errors(checked: Checked, path: Path) -> int:
    table = checked.table
    error_rows = checked.error_rows
    rows = table.frame.index[table.frame.index.isin(error_rows)]
    messages: dict[int, list[str]] = defaultdict(list)
    bad_cells: dict[str, list[int]] = defaultdict(list)  # column letter → rows
    for f in checked.findings:
        if f.row in error_rows and f.severity != "fixed":
            messages[f.row].append(f"[{f.code}] {f.message}")
            if f.severity == "error" and f.cell:
                bad_cells[f.cell.rstrip("0123456789")].append(f.row)
    columns = output_columns(table)
    positions = table.frame.index.get_indexer(rows)
    row_numbers = rows.to_numpy()
    texts = text_columns(table)
    data = []
    for c in columns:
        values = table.frame[c].to_numpy()[positions]
        # As the clerk wrote it: a number stays a number (an ID stored as a number is not padded into
        # a text that could pass its check digit), in a text-formatted cell where the template has one.
        number = table.numeric[c].to_numpy()[positions]
        marked = np.isin(row_numbers.astype(np.int64), np.asarray(bad_cells.get(column_letter(c), []), dtype=np.int64))
        plain, bad = (Style.TEXT, Style.BAD_TEXT) if c in texts else (Style.NONE, Style.BAD)
        data.append(Column(values, number, plain, marked if marked.any() else None, bad))
    feedback = np.array(["\n".join(messages[r]) for r in row_numbers], dtype=object)
    data.append(Column(feedback, False, Style.FEEDBACK))
    heads = head_rows(table, columns, extra_headers=(FEEDBACK_HEADER,))
    first = len(heads) + 1
    sheet = Sheet(
        name=table.spec.title[:31],
        rows=itertools.chain(heads, render_rows(first, data, len(rows))),
        last_row=first + len(rows) - 1,
        last_col=len(columns),
        widths=[*widths(table, columns), 60],
        column_styles={i: Style.TEXT for i, c in enumerate(columns) if c in texts},
        freeze_rows=len(heads),
    )
    write_workbook(path, [sheet])
    return len(rows)
