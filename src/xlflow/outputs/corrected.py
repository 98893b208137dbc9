"""NAME_更正.xlsx: rows without errors, fixes applied, amounts filled, changed cells highlighted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlflow.findings import catalogue
from xlflow.outputs.layout import open_book, output_columns, set_widths, titled_sheet, write_head
from xlflow.validation.declaration import Checked

NUMERIC_TYPES = ("year", "amount", "signed_amount")
CHANGE_LOG = "修改记录"


def write_corrected(checked: Checked, path: Path, rows: pd.Index | None = None) -> int:
    """Write the rows without errors (or ``rows``) → the number of data rows written."""
    table = checked.table
    if rows is None:
        rows = table.frame.index[~table.frame.index.isin(checked.error_rows)]
    wb = open_book(path)
    title = wb.add_format({"bold": True, "font_size": 14})
    header = wb.add_format({"bold": True, "border": 1, "bg_color": "#DDEBF7", "align": "center"})
    changed = wb.add_format({"bg_color": "#FFF2CC"})
    changed_num = wb.add_format({"bg_color": "#FFF2CC", "num_format": "0.00"})
    money = wb.add_format({"num_format": "0.00"})
    ws = wb.add_worksheet(table.spec.title[:31])
    columns = output_columns(table)
    set_widths(ws, table, columns)
    first = write_head(ws, table, columns, title, header)
    ws.freeze_panes(first, 0)
    key_of = {c: k for k, c in table.keys.items()}
    types = {c.key: c.type for c in table.spec.columns}
    fixes = checked.fixes[checked.fixes["row"].isin(rows)]
    touched = set(zip(fixes["row"], fixes["key"], strict=True))
    data = [(c, key_of.get(c)) for c in columns]
    positions = table.frame.index.get_indexer(rows)
    # Plain lists: per-cell pandas access would cost more than writing the cell.
    texts = [(checked.values[k] if k in checked.values else table.frame[c]).to_numpy()[positions].tolist()
             for c, k in data]
    numbers = [table.numeric[c].to_numpy()[positions].tolist() for c, _ in data]
    kinds = [types.get(k) for _, k in data]
    out_row = first
    out_rows = {}
    for i, r in enumerate(rows.tolist()):
        for out_col, (_, key) in enumerate(data):
            text = texts[out_col][i]
            mark = (r, key) in touched if touched else False
            if text == "":
                if mark:
                    ws.write_blank(out_row, out_col, None, changed)
                continue
            kind = kinds[out_col]
            if kind in NUMERIC_TYPES or (key != "id_number" and not mark and numbers[out_col][i]):
                fmt = changed_num if mark else (money if kind in ("amount", "signed_amount") else None)
                ws.write_number(out_row, out_col, float(text), fmt)
            else:
                ws.write_string(out_row, out_col, text, changed if mark else None)
        out_rows[r] = out_row + 1
        out_row += 1
    _change_log(wb, fixes, table, out_rows, header)
    wb.close()
    return len(rows)


def _change_log(wb, fixes: pd.DataFrame, table, out_rows: dict, header) -> None:
    ws = titled_sheet(wb, CHANGE_LOG, [("原表行号", 9), ("本表行号", 9), ("列", 12), ("单元格", 12),
                                       ("更正前", 22), ("更正后", 22), ("代码", 8), ("说明", 30)], header)
    names = {code: info.name for code, info in catalogue().items()}
    for i, (row, key, before, after, code) in enumerate(
        fixes.sort_values(["row"], kind="stable").itertuples(index=False), start=1
    ):
        ws.write_number(i, 0, int(row))
        ws.write_number(i, 1, out_rows[row])
        ws.write_string(i, 2, table.spec.column(key).header)
        ws.write_string(i, 3, table.cell(key, int(row)))
        ws.write_string(i, 4, str(before))
        ws.write_string(i, 5, str(after))
        ws.write_string(i, 6, code)
        ws.write_string(i, 7, names[code])
