"""A sheet that goes on with the table of the sheet before it, without a header row of its own.

An old system that splits a big export over sheets of 65,536 rows may write the header on the first sheet
only. Such a sheet holds rows as wide as the table, with an ID number where the table has its ID column: it
is read under the first sheet's header (and said so), not left out because no header was found on it.
"""

from __future__ import annotations

import dataclasses
import re
from itertools import chain, islice

from xlflow.io.cellvalues import cell_text
from xlflow.io.opening import RawSheet

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
