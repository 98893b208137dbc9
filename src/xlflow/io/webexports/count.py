"""Rows counted before any is parsed: a file over the row limit is refused (F06) at C speed."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from xlflow.io.refusal import Limits, TooManyRows
from xlflow.io.webexports.sniff import _chunks, decoded
from xlflow.io.webexports.text import TextTable, _Lines

_ROW_MARKS = {"html": re.compile(rb"<tr[\s>/]", re.I),
              "spreadsheetml": re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Row[\s>/]")}


def precount(path: Path, kind: str, limits: Limits, table: TextTable | None = None) -> None:
    """Refuse (F06) a file with more rows than the limit before any row is parsed: its row marks are
    counted at C speed, a block at a time (a text file's line count is exact only without quoted line
    breaks, so one over the limit is counted again as records)."""
    last = limits.max_rows + limits.header_scan_rows
    count, tail = 0, b""
    for block in _chunks(path):
        if kind == "text":
            count += block.count(b"\n")
            continue
        data = tail + block
        cut = max(0, len(data) - 64)  # a mark across the blocks' joint is counted with the next block
        count += sum(1 for m in _ROW_MARKS[kind].finditer(data) if m.start() < cut)
        tail = data[cut:]
    count += len(_ROW_MARKS[kind].findall(tail)) if kind != "text" else 0
    if count <= last:
        return
    if kind == "text" and table is not None:
        count = sum(1 for _ in csv.reader(_Lines(decoded(path, table.encoding, table.skip)), table.dialect))
        if count <= last:
            return
    raise TooManyRows(count, limits.max_rows)
