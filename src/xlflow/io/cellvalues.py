"""Cell values as a clerk sees them: one value as text, and a band's column at a time as texts, a
numeric mask and which cells look empty (the reader's conversion)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from xlflow.io.opening import MAX_CELL_CHARS

CUT_NOTE = "……（超过单元格上限，已截断）"


def cell_text(value: Any) -> str:
    """What a clerk sees in the cell, as text. Large numbers keep Excel's 15 significant digits."""
    if value is None or value == "":
        return ""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(format(value, ".15g")), "f")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def cut_long(texts, column: int, start: int, long_cells: dict) -> None:
    """Text past Excel's cell limit is cut (with a note) and remembered for C12."""
    for r, t in enumerate(texts):
        if isinstance(t, str) and len(t) >= MAX_CELL_CHARS:
            long_cells[(start + r, column)] = len(t) if len(t) > MAX_CELL_CHARS else f"至少 {MAX_CELL_CHARS}"
            texts[r] = t[: MAX_CELL_CHARS - len(CUT_NOTE)] + CUT_NOTE


def _too_long(texts) -> bool:
    # calamine cuts longer text to exactly the limit: a cell of that length was longer in the file
    return max(map(len, texts), default=0) >= MAX_CELL_CHARS


_SPACE_ONLY = re.compile(r"[\s\u3000\xa0\u200b\ufeff]+")
_SPACE = re.compile(r"[\s\u3000\xa0\u200b\ufeff]")


def _blank_texts(texts: np.ndarray) -> np.ndarray:
    """Which texts leave a cell looking empty: '' and a cell cleared with the space bar (" ", "\u3000"). A row
    of such cells is a blank row, not a person with everything missing. One search over the texts joined
    (most columns hold no space at all); only a text with a space in it is looked at."""
    blank = texts == ""
    if blank.all():
        return blank
    joined = "".join(texts.tolist())
    hits = [m.start() for m in _SPACE.finditer(joined)]
    if hits:
        ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
        for i in np.unique(np.searchsorted(ends, hits, side="right")).tolist():
            if not blank[i] and _SPACE_ONLY.fullmatch(texts[i]):
                blank[i] = True
    return blank


def _mostly_distinct(column: tuple, sample: int = 2_000) -> bool:
    head = column[:sample]
    return len(head) >= 100 and len(set(head)) >= 0.9 * len(head)


def convert_column(column: tuple) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, bool]:
    """Raw cells → (texts, numeric mask or None, empty mask, any text past Excel's cell limit). Distinct
    values are converted once, and share one str object (the reader makes a new one per cell)."""
    types = set(map(type, column))
    if bool in types:  # True == 1 would merge with 1 when factorised: convert cell by cell
        texts = np.array([cell_text(v) for v in column], dtype=object)
        return (texts, np.array([type(v) in (int, float) for v in column], dtype=bool), _blank_texts(texts),
                _too_long(texts))
    if types == {str} and _mostly_distinct(column):  # IDs, names: no str to share, factorising costs 2.5×
        texts = np.array(column, dtype=object)
        return texts, None, _blank_texts(texts), _too_long(texts)
    codes, uniques = pd.factorize(np.array(column, dtype=object))
    uniques = np.asarray(uniques, dtype=object)
    if types == {str}:
        texts = uniques
        numbers = None
    else:
        number = np.array([type(u) in (int, float) for u in uniques], dtype=bool)
        texts = np.empty(len(uniques), dtype=object)
        # Whole numbers below 1e15 (years, 序号, most amounts) are formatted as a block.
        values = np.array([float(u) if n else 0.5 for u, n in zip(uniques, number, strict=True)])
        whole = number & (values == np.floor(values)) & (np.abs(values) < 1e15)
        texts[whole] = values[whole].astype(np.int64).astype(str)
        texts[~whole] = [cell_text(u) for u in uniques[~whole]]
        numbers = np.append(number, False)[codes]
    empty_code = np.flatnonzero(_blank_texts(texts))
    texts = np.append(texts, "")
    empty = codes == -1
    for code in empty_code.tolist():
        empty |= codes == code
    return texts[codes], numbers, empty, _too_long(texts[:-1] if types == {str} else texts[:-1][~whole])
