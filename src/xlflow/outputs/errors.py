"""NAME_错误数据.xlsx: rows with errors as the user wrote them, bad cells marked, 反馈信息 column."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from xlflow.outputs.layout import FEEDBACK_HEADER, open_book, output_columns, set_widths, write_head
from xlflow.validation.declaration import Checked


def write_errors(checked: Checked, path: Path) -> int:
    table = checked.table
    rows = table.frame.index[table.frame.index.isin(checked.error_rows)]
    messages: dict[int, list[str]] = defaultdict(list)
    bad_cells: set[tuple[int, str]] = set()
    for f in checked.findings:
        if f.row in checked.error_rows and f.severity != "fixed":
            messages[f.row].append(f"[{f.code}] {f.message}")
            if f.severity == "error" and f.cell:
                bad_cells.add((f.row, f.cell))
    wb = open_book(path)
    title = wb.add_format({"bold": True, "font_size": 14})
    header = wb.add_format({"bold": True, "border": 1, "bg_color": "#DDEBF7", "align": "center"})
    bad = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
    text_wrap = wb.add_format({"text_wrap": True, "font_color": "#9C0006"})
    ws = wb.add_worksheet(table.spec.title[:31])
    columns = output_columns(table)
    set_widths(ws, table, columns, extra=1)
    first = write_head(ws, table, columns, title, header)
    ws.write_string(first - 1, len(columns), FEEDBACK_HEADER, header)
    ws.freeze_panes(first, 0)
    letters = {c: table.cell_letter(c) for c in columns}
    id_column = table.keys.get("id_number")
    positions = table.frame.index.get_indexer(rows)
    texts = [table.frame[c].to_numpy()[positions].tolist() for c in columns]
    numbers = [table.numeric[c].to_numpy()[positions].tolist() for c in columns]
    out_row = first
    for i, r in enumerate(rows.tolist()):
        for out_col, c in enumerate(columns):
            text = texts[out_col][i]
            fmt = bad if (r, f"{letters[c]}{r}") in bad_cells else None
            if text != "" and numbers[out_col][i] and c != id_column:
                ws.write_number(out_row, out_col, float(text), fmt)
            elif text != "":
                ws.write_string(out_row, out_col, text, fmt)
            elif fmt is not None:
                ws.write_blank(out_row, out_col, None, fmt)
        ws.write_string(out_row, len(columns), "\n".join(messages[r]), text_wrap)
        out_row += 1
    wb.close()
    return len(rows)
