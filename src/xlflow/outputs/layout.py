"""What the corrected and error workbooks share: the input's title rows, header row and columns."""

from __future__ import annotations

import xlsxwriter

from xlflow.io.reading import Table
from xlflow.outputs.xlsxfast import Style, cell_row

FEEDBACK_HEADER = "反馈信息"
# Column types the template formats as text (@): kept as text in both outputs, marked or not, so that
# an ID re-typed into the cell is not turned into a number again.
TEXT_FORMAT_TYPES = ("id", "name", "text", "month")


def text_columns(table: Table) -> set[int]:
    return {table.keys[c.key] for c in table.spec.columns if c.type in TEXT_FORMAT_TYPES and c.key in table.keys}


def output_columns(table: Table) -> list[int]:
    """Sheet columns to write: every column with a header or a known key, minus an old 反馈信息."""
    known = set(table.keys.values())
    return [c for c, h in enumerate(table.headers)
            if (h or c in known) and h != FEEDBACK_HEADER and c in table.frame.columns]


def head_rows(table: Table, columns: list[int], extra_headers: tuple[str, ...] = (),
              marked: tuple[str, ...] = ()) -> list[str]:
    """Title / header-block rows as they were, then the header row, as rendered <row> elements.

    ``marked`` are A1 cells of the header block (a required field left empty) to show in red.
    """
    marks = set()
    for cell in marked:
        letters = cell.rstrip("0123456789")
        col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(letters))) - 1 - table.first_col
        marks.add((int(cell[len(letters):]), col))
    rows = []
    for i, texts in enumerate(table.title_rows, start=1):
        style = Style.TITLE if i == 1 else Style.NONE
        width = max([len(texts)] + [c + 1 for r, c in marks if r == i])
        cells = [(texts[c] if c < len(texts) else "", style if c < len(texts) and texts[c] else Style.NONE)
                 for c in range(width)]
        for r, c in marks:
            if r == i and c >= 0:
                cells[c] = (cells[c][0], Style.BAD)
        rows.append(cell_row(i, cells))
    headers = [(table.raw_headers[c], Style.HEADER) for c in columns]
    headers += [(h, Style.HEADER) for h in extra_headers]
    rows.append(cell_row(table.first_data_row - 1, headers))
    return rows


def header_marks(findings) -> tuple[str, ...]:
    """Cells of the header block with a file-level error (F04: a required field left empty)."""
    return tuple(f.cell for f in findings if f.row is None and f.cell and f.severity == "error")


def widths(table: Table, columns: list[int]) -> list[float]:
    by_column = {table.keys[c.key]: c.width for c in table.spec.columns if c.key in table.keys}
    return [by_column.get(c, 12) for c in columns]


def titled_sheet(wb: xlsxwriter.Workbook, name: str, columns: list[tuple[str, int]], header_fmt):
    """A plain list sheet (xlsxwriter): one header row of (text, width) columns, frozen below it."""
    ws = wb.add_worksheet(name)
    for c, (text, width) in enumerate(columns):
        ws.write_string(0, c, text, header_fmt)
        ws.set_column(c, c, width)
    ws.freeze_panes(1, 0)
    return ws
