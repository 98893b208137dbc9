"""What the corrected and error workbooks share: the input's title rows, header row and columns."""

from __future__ import annotations

import xlsxwriter

from xlflow.reading import Table

FEEDBACK_HEADER = "反馈信息"


def open_book(path) -> xlsxwriter.Workbook:
    # constant_memory streams rows to disk in order: flat memory for a full sheet.
    # strings_to_formulas=False: text from the input is always written as text (no "=cmd|..." tricks).
    return xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False, "strings_to_numbers": False})


def output_columns(table: Table) -> list[int]:
    """Sheet columns to write: every column with a header or a known key, minus an old 反馈信息."""
    known = set(table.keys.values())
    return [c for c, h in enumerate(table.headers)
            if (h or c in known) and h != FEEDBACK_HEADER and c in table.frame.columns]


def write_head(ws, table: Table, columns: list[int], fmt_title, fmt_header) -> int:
    """Title / header-block rows as they were, then the header row; returns the next row index."""
    row = 0
    for texts in table.title_rows:
        for c, text in enumerate(texts):
            if text:
                ws.write_string(row, c, text, fmt_title if row == 0 else None)
        row += 1
    for out_col, c in enumerate(columns):
        ws.write_string(row, out_col, table.headers[c], fmt_header)
    return row + 1


def set_widths(ws, table: Table, columns: list[int], extra: int = 0) -> None:
    widths = {table.keys[c.key]: c.width for c in table.spec.columns if c.key in table.keys}
    for out_col, c in enumerate(columns):
        ws.set_column(out_col, out_col, widths.get(c, 12))
    if extra:
        ws.set_column(len(columns), len(columns) + extra - 1, 60)


def titled_sheet(wb, name: str, columns: list[tuple[str, int]], header_fmt):
    """A plain list sheet: one header row of (text, width) columns, frozen below it."""
    ws = wb.add_worksheet(name)
    for c, (text, width) in enumerate(columns):
        ws.write_string(0, c, text, header_fmt)
        ws.set_column(c, c, width)
    ws.freeze_panes(1, 0)
    return ws
