"""NAME_更正.xlsx: rows without errors, fixes applied, amounts filled, changed cells highlighted."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain.findings import catalogue, column_letter
from xlflow.outputs.layout import TEXT_FORMAT_TYPES, head_rows, header_marks, output_columns, text_columns, widths
from xlflow.outputs.xlsxbook import Sheet, write_workbook
from xlflow.outputs.xlsxfast import MAX_SHEET_ROWS, Column, LazyValues, Style, cell_row, render_rows, taken
from xlflow.validation.result import Checked

NUMERIC_TYPES = ("year", "amount", "signed_amount")
# Columns whose values in a row without errors passed a check that admits no &, <, > or edge spaces.
VOUCHED_TYPES = ("id", "name", "hukou", "tier", "person_class")  # identities come from the rule table: not vouched
TEXT_TYPES = ("id", "name", "hukou", "tier", "identity", "identity_name", "person_class")
MONEY_TYPES = ("amount", "signed_amount")
CHANGE_LOG = "修改记录"
LOG_HEADERS = [("原表行号", 9), ("本表行号", 9), ("列", 12), ("单元格", 9), ("更正前", 22), ("更正后", 22),
               ("代码", 7), ("说明", 26)]  # fmt: skip


def _styles(col_type: str | None) -> tuple[int, int]:
    """(style of an unchanged cell, style of a changed cell) for a column."""
    if col_type in MONEY_TYPES:
        return Style.MONEY, Style.CHANGED_MONEY
    if col_type in TEXT_FORMAT_TYPES:
        return Style.TEXT, Style.CHANGED_TEXT
    return Style.NONE, Style.CHANGED


def write_corrected(checked: Checked, path: Path, rows: pd.Index | None = None,
                    properties: dict[str, str] | None = None) -> int:
    """Write the rows without errors (or ``rows``) → the number of data rows written. ``properties``
    (the template kind and rule-table fingerprint) are kept so that F07 works on the corrected file."""
    table = checked.table
    if rows is None:
        rows = table.frame.index[~table.frame.index.isin(checked.error_rows)]
    columns = output_columns(table)
    key_of = {c: k for k, c in table.keys.items()}
    types = {c.key: c.type for c in table.spec.columns}
    positions = table.frame.index.get_indexer(rows)
    fixes = checked.fixes[checked.fixes["row"].isin(rows)]
    fills = checked.fills
    row_numbers = rows.to_numpy()
    data = []
    for c in columns:
        key = key_of.get(c)
        source = checked.values[key] if key in checked.values else table.frame[c]
        col_type = types.get(key)
        if col_type in NUMERIC_TYPES:
            number = True
        elif col_type in TEXT_TYPES:
            number = False  # a coded or checked text column: 20 became 农业户籍, 1 became 一档
        else:  # numbers the clerk typed in 序号, 备注 and extra columns stay numbers
            number = table.numeric[c].to_numpy()[positions]
        plain, changed = _styles(col_type)
        fixed_rows = fixes.loc[fixes["key"] == key, "row"].to_numpy(dtype=np.int64)
        if key in fills:
            fixed_rows = np.concatenate([fixed_rows, fills[key][0]])
        marked = np.isin(row_numbers.astype(np.int64), fixed_rows)
        data.append(
            Column(
                taken(source.to_numpy(), positions),
                number,
                plain,
                marked if marked.any() else None,
                changed,
                plain=col_type in VOUCHED_TYPES,
            )
        )
    heads = head_rows(table, columns, marked=header_marks(checked.findings.file_level()))
    first = len(heads) + 1
    body = Sheet(
        name=table.spec.title[:31],
        rows=itertools.chain(heads, render_rows(first, data, len(rows))),
        last_row=first + len(rows) - 1,
        last_col=len(columns) - 1,
        widths=widths(table, columns),
        column_styles={i: Style.TEXT for i, c in enumerate(columns) if c in text_columns(table)},
        freeze_rows=len(heads),
    )
    out_rows = pd.Series(np.arange(first, first + len(rows)), index=rows)
    write_workbook(path, [body, *_change_log(fixes, fills, table, out_rows, columns)], properties)
    return len(rows)


def _grouped_fills(fills: dict, rows_kept: np.ndarray, headers: dict, letters: dict) -> pd.DataFrame:
    """Amount fills (X06) as one log line per data row: a row with six filled amounts reads as one line.

    A row with a single filled amount keeps the plain form (its column, its cell, the amount).
    """
    order = [k for k in headers if k in fills]
    rows = np.unique(np.concatenate([fills[k][0] for k in order]))
    rows = rows[np.isin(rows, rows_kept)]
    combo = np.zeros(len(rows), dtype=np.int64)
    wide = {}
    for key in order:
        at, after = fills[key]
        keep = np.isin(at, rows)
        col = np.full(len(rows), "", dtype=object)
        col[np.searchsorted(rows, at[keep])] = after[keep]
        codes, uniques = pd.factorize(col)
        combo = pd.factorize(combo * (len(uniques) + 1) + codes)[0]
        wide[key] = col
    _, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
    column, firsts, lasts, after = [], [], [], []
    for i in first:
        filled = [k for k in order if wide[k][i] != ""]
        if len(filled) == 1:
            column.append(headers[filled[0]])
            after.append(wide[filled[0]][i])
        else:
            column.append("、".join(headers[k] for k in filled))
            after.append("；".join(f"{headers[k]} {wide[k][i]}" for k in filled))
        firsts.append(letters[filled[0]])
        lasts.append(letters[filled[-1]])
    pick = lambda values: np.array(values, dtype=object)[inverse]  # noqa: E731
    return pd.DataFrame(
        {
            "row": rows,
            "column": pick(column),
            "first": pick(firsts),
            "last": pick(lasts),
            "before": "",
            "after": pick(after),
            "code": "X06",
        }
    )


def _log_entries(fixes: pd.DataFrame, fills: dict, rows_kept: np.ndarray, table, columns: list[int]) -> pd.DataFrame:
    """row, column, first and last column letter (in this workbook), before, after, code: one line per change."""
    headers = {c.key: c.header for c in table.spec.columns}
    letters = {k: column_letter(columns.index(c)) for k, c in table.keys.items() if c in columns}
    others = fixes
    plain = pd.DataFrame(
        {
            "row": others["row"].to_numpy(dtype=np.int64),
            "column": others["key"].map(headers).to_numpy(dtype=object),
            "first": others["key"].map(letters).to_numpy(dtype=object),
            "last": others["key"].map(letters).to_numpy(dtype=object),
            "before": others["before"].to_numpy(dtype=object),
            "after": others["after"].to_numpy(dtype=object),
            "code": others["code"].to_numpy(dtype=object),
        }
    )
    if fills:
        grouped = _grouped_fills(fills, rows_kept, headers, letters)
        # A full sheet of amount fills is a million lines: no copy to join or sort what needs neither.
        plain = grouped if plain.empty else pd.concat([plain, grouped], ignore_index=True)
    if plain["row"].is_monotonic_increasing:
        return plain.reset_index(drop=True)
    return plain.sort_values("row", kind="stable").reset_index(drop=True)


def _change_log(fixes: pd.DataFrame, fills: dict, table, out_rows: pd.Series, columns: list[int]) -> list[Sheet]:
    """The 修改记录 sheet(s): one line per change, cells named as in this workbook; split over sheets
    past Excel's row limit."""
    entries = _log_entries(fixes, fills, out_rows.index.to_numpy(dtype=np.int64), table, columns)
    names = {code: info.name for code, info in catalogue().items()}
    rows = entries["row"].to_numpy(dtype=np.int64)
    here = out_rows.reindex(rows).to_numpy(dtype=np.int64)
    first, last = entries["first"].to_numpy(dtype=object), entries["last"].to_numpy(dtype=object)

    def cells(a: int, b: int) -> np.ndarray:
        r = here[a:b].astype(str).astype(object)
        out = first[a:b] + r
        span = first[a:b] != last[a:b]
        out[span] = out[span] + ":" + last[a:b][span] + r[span]
        return out

    n = len(entries)
    columns = [
        Column(LazyValues(n, lambda a, b: rows[a:b].astype(str).astype(object)), True),
        Column(LazyValues(n, lambda a, b: here[a:b].astype(str).astype(object)), True),
        Column(entries["column"].to_numpy(dtype=object)),
        Column(LazyValues(n, cells)),
        Column(entries["before"].astype(str).to_numpy(dtype=object)),
        Column(entries["after"].astype(str).to_numpy(dtype=object)),
        Column(entries["code"].to_numpy(dtype=object)),
        Column(entries["code"].map(names).to_numpy(dtype=object)),
    ]
    per_sheet = MAX_SHEET_ROWS - 1
    sheets = []
    for part, start in enumerate(range(0, max(n, 1), per_sheet), start=1):
        stop = min(start + per_sheet, n)
        sliced = [Column(LazyValues(stop - start, lambda a, b, c=c, s=start: c.values[s + a : s + b]), c.number)
                  for c in columns]
        sheets.append(
            Sheet(
                name=CHANGE_LOG if part == 1 else f"{CHANGE_LOG}{part}",
                rows=itertools.chain(
                    [cell_row(1, [(h, Style.HEADER) for h, _ in LOG_HEADERS])], render_rows(2, sliced, stop - start)
                ),
                last_row=stop - start + 1,
                last_col=len(LOG_HEADERS) - 1,
                widths=[w for _, w in LOG_HEADERS],
                freeze_rows=1,
            )
        )
    return sheets
