"""Which sheets of a workbook are read besides the best one.

An old system that splits a big export over sheets of 65,536 rows may write the header on the first sheet
only. Such a sheet holds rows as wide as the table, with an ID number where the table has its ID column: it
is read under the first sheet's header (and said so), not left out because no header was found on it
(:func:`continued`). A workbook of 10,000 sheets is not read, or checked, whole (:func:`take_sheets`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from itertools import chain, islice
from typing import TYPE_CHECKING

from xlflow.io.cellvalues import cell_text
from xlflow.io.opening import Limits, RawSheet

if TYPE_CHECKING:
    from xlflow.io.reading import Table

SAMPLE_ROWS = 20  # filled rows looked at
_ID = re.compile(r"\d{15}|\d{17}[\dXx]")


def continued(sheet: RawSheet, header: list, first_col: int, id_column: int) -> RawSheet | None:
    """``sheet`` read as if ``header`` (the raw header row of the table before it) stood above its first row,
    or None when its rows do not go on with that table: wider than the header, or without an ID number in
    the ID column (``id_column``: 0-based, in the header's row) in three rows of five of its first ones."""
    if sheet.first_col != first_col or sheet.hidden or sheet.is_csv:
        return None
    width = max((i + 1 for i, v in enumerate(header) if v not in ("", None)), default=0)
    rows = [row for row in islice(sheet.rows(), SAMPLE_ROWS * 5) if any(v not in ("", None) for v in row)]
    rows = rows[:SAMPLE_ROWS]
    if not rows or width == 0:
        return None
    for row in rows:
        if max((i + 1 for i, v in enumerate(row) if v not in ("", None)), default=0) > width:
            return None
    ids = sum(1 for row in rows if id_column < len(row)
              and _ID.fullmatch(re.sub(r"\s", "", cell_text(row[id_column]))))
    if ids * 5 < len(rows) * 3:
        return None
    read = sheet.rows
    return dataclasses.replace(sheet, _rows=lambda: chain([list(header)], read()), first_row=sheet.first_row - 1)


def take_sheets(table: Table, wanted: Callable[[tuple], bool], limits: Limits) -> list[tuple[str, str, str]]:
    """The sheets of ``table.other_tables`` that ``wanted`` picks, as many as ``max_sheets`` leaves room for
    beside ``table``, taken out of them; those past the limit stay (F10) and ``handled`` says what was covered
    (a workbook of 10,000 sheets is not read, or checked, whole)."""
    picked = [other for other in table.other_tables if wanted(other)]
    taken = picked[:limits.max_sheets - 1]
    table.other_tables = [other for other in table.other_tables if other not in taken]
    if len(picked) > len(taken):
        table.handled = f"前 {limits.max_sheets} 张工作表"
    return taken
