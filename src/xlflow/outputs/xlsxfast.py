"""A small streaming .xlsx writer for the bulk rows of the corrected and error workbooks.

xlsxwriter spends ~18 µs on each cell (measured: 80k write_number calls took 2.0 s), which alone
misses the 100k-row target several times over. Here each column of a chunk of rows is rendered to
cell XML with whole-array string operations, text as inline strings, and streamed into the zip.
Only what these two workbooks need: a fixed style table, column widths, a frozen header, text that
is always text (never a formula).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from xlflow.domain.findings import column_letter

MAX_SHEET_ROWS = 1_048_576
CHUNK_ROWS = 8_192


class Style:
    """Indexes into the fixed cellXfs table of STYLES_XML."""

    NONE = 0
    TITLE = 1
    HEADER = 2
    CHANGED = 3
    CHANGED_MONEY = 4
    MONEY = 5
    BAD = 6
    FEEDBACK = 7
    TEXT = 8
    CHANGED_TEXT = 9
    BAD_TEXT = 10
    WRAPPED = 11  # long text, wrapped, at the top of its cell
    # The template's own (SPEC 4.5): the error workbook and the pre-filled ones are laid out by the same code.
    BIG_TITLE = 12  # bold 16, centred over the table
    LABEL = 13  # a header-block label: bold, right-aligned
    VALUE = 14  # a header-block value: underlined by a bottom border
    CELL = 15  # a data cell with borders
    CELL_TEXT = 16
    CELL_BAD = 17  # an offending cell: dark red on pink, with borders
    CELL_BAD_TEXT = 18
    NOTE = 19  # a line of 填写说明: wrapped, at the top
    CELL_FEEDBACK = 20  # 反馈信息: dark red, wrapped, with borders
    YEAR = 21  # a whole number (the template's year column)
    VALUE_BAD = 22  # a required header-block value left empty (F04)
    CELL_MONEY = 23
    CELL_YEAR = 24


_STYLES_TEMPLATE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="5">
<font><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>
<font><b/><sz val="14"/><name val="宋体"/><family val="3"/><charset val="134"/></font>
<font><b/><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>
<font><sz val="11"/><color rgb="FF9C0006"/><name val="宋体"/><family val="3"/><charset val="134"/></font>
<font><b/><sz val="16"/><name val="宋体"/><family val="3"/><charset val="134"/></font>
</fonts>
<fills count="5">
<fill><patternFill patternType="none"/></fill>
<fill><patternFill patternType="gray125"/></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFFFF2CC"/><bgColor indexed="64"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFFFC7CE"/><bgColor indexed="64"/></patternFill></fill>
</fills>
<borders count="3">
<border><left/><right/><top/><bottom/><diagonal/></border>
<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>\
<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom><diagonal/></border>
<border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom><diagonal/></border>
</borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="{count}">
{xfs}</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>
"""

_XFS = """<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>
<xf numFmtId="0" fontId="2" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" \
applyAlignment="1"><alignment horizontal="center" vertical="center" wrapText="1"/></xf>
<xf numFmtId="0" fontId="0" fillId="3" borderId="0" xfId="0" applyFill="1"/>
<xf numFmtId="2" fontId="0" fillId="3" borderId="0" xfId="0" applyNumberFormat="1" applyFill="1"/>
<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="0" fontId="3" fillId="4" borderId="0" xfId="0" applyFont="1" applyFill="1"/>
<xf numFmtId="0" fontId="3" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment vertical="top" wrapText="1"/></xf>
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="49" fontId="0" fillId="3" borderId="0" xfId="0" applyNumberFormat="1" applyFill="1"/>
<xf numFmtId="49" fontId="3" fillId="4" borderId="0" xfId="0" applyNumberFormat="1" applyFont="1" applyFill="1"/>
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" applyAlignment="1">\
<alignment vertical="top" wrapText="1"/></xf>
<xf numFmtId="0" fontId="4" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment horizontal="center" vertical="center"/></xf>
<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment horizontal="right" vertical="center"/></xf>
<xf numFmtId="49" fontId="0" fillId="0" borderId="2" xfId="0" applyNumberFormat="1" applyBorder="1"/>
<xf numFmtId="0" fontId="0" fillId="0" borderId="1" xfId="0" applyBorder="1" applyAlignment="1">\
<alignment vertical="center"/></xf>
<xf numFmtId="49" fontId="0" fillId="0" borderId="1" xfId="0" applyNumberFormat="1" applyBorder="1" \
applyAlignment="1"><alignment vertical="center"/></xf>
<xf numFmtId="0" fontId="3" fillId="4" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" \
applyAlignment="1"><alignment vertical="center"/></xf>
<xf numFmtId="49" fontId="3" fillId="4" borderId="1" xfId="0" applyNumberFormat="1" applyFont="1" applyFill="1" \
applyBorder="1" applyAlignment="1"><alignment vertical="center"/></xf>
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">\
<alignment vertical="top" wrapText="1"/></xf>
<xf numFmtId="0" fontId="3" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1" applyAlignment="1">\
<alignment vertical="center" wrapText="1"/></xf>
<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="49" fontId="3" fillId="4" borderId="2" xfId="0" applyNumberFormat="1" applyFont="1" applyFill="1" \
applyBorder="1"/>
<xf numFmtId="2" fontId="0" fillId="0" borderId="1" xfId="0" applyNumberFormat="1" applyBorder="1" \
applyAlignment="1"><alignment vertical="center"/></xf>
<xf numFmtId="1" fontId="0" fillId="0" borderId="1" xfId="0" applyNumberFormat="1" applyBorder="1" \
applyAlignment="1"><alignment vertical="center"/></xf>
"""


def _quote_prefixed(xf: str) -> str:
    """The same cell style with Excel's quote prefix: text that starts like a formula stays text even
    when a clerk presses F2 and Enter in the cell."""
    return xf.replace("<xf ", '<xf quotePrefix="1" ', 1)


_XF_LINES = [line for line in re.split(r"(?<=/>)\n|(?<=</xf>)\n", _XFS.strip()) if line]
QUOTED = len(_XF_LINES)  # style s, quote-prefixed, is s + QUOTED
STYLES_XML = _STYLES_TEMPLATE.format(count=2 * QUOTED,
                                     xfs="\n".join(_XF_LINES + [_quote_prefixed(x) for x in _XF_LINES]) + "\n")
_FORMULA_LIKE = re.compile(r"\n[=+\-@]")


def _quoted_attr(attr: str) -> str:
    return f' s="{(int(attr[4:-1]) if attr else 0) + QUOTED}"'


_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _escape_one(text: str) -> str:
    """XML-escape; control characters become _xHHHH_ (as Excel writes them), a literal _xHHHH_ is
    protected with _x005F_ so Excel shows it as typed."""
    text = re.sub(r"_(x[0-9A-Fa-f]{4}_)", r"_x005F_\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return escape(text)


def _number_text(text: str) -> str:
    return format(float(text), ".15g")


@dataclass
class Column:
    """One column of a block of rows. ``values`` are cell texts ('' for empty)."""

    values: np.ndarray
    number: bool | np.ndarray = False  # write as a number (where True)
    style: int = Style.NONE
    marked: np.ndarray | None = None  # rows written with ``marked_style`` instead
    marked_style: int = Style.NONE
    plain: bool = False  # the caller vouches that no text needs escaping or xml:space (checked values)
    sets_height: float = 0  # wrapped text this many characters wide per line: its rows are made tall enough


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class LazyValues:
    """Column values made a chunk at a time (row numbers, cell names and messages of long sheets)."""

    def __init__(self, n: int, make):
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, part: slice) -> np.ndarray:
        return self.make(*part.indices(self.n)[:2])


def taken(values: np.ndarray, positions: np.ndarray) -> LazyValues:
    """``values[positions]`` a chunk at a time as the rows are written (a full sheet's 14 columns copied
    at once were 117 MB more at the peak)."""
    return LazyValues(len(positions), lambda a, b: values[positions[a:b]])


def _body(text: str, number: bool, attr: str) -> str:
    """Everything of a cell after ``<c r="A1"``; a value that is not a number is written as text."""
    if text == "":
        return attr + "/>"
    if number and _is_number(text):
        return f"{attr}><v>{_number_text(text)}</v></c>"
    return f'{attr} t="inlineStr"><is>{_t(text)}</is></c>'


def _t(text: str) -> str:
    """The <t> element of an inline string; spaces at either end are kept with xml:space."""
    if _NEEDS_ESCAPE.search(text):
        text = _escape_one(text)
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def _attr(style: int) -> str:
    return f' s="{style}"' if style else ""


# Values whose cell XML needs no escaping, no xml:space and no number reformatting.
_PLAIN_TEXT = re.compile(r"(?!.*_x[0-9A-Fa-f]{4}_)[^&<>\x00-\x1f\ufffe\uffff\s]"
                         r"(?:[^&<>\x00-\x1f\ufffe\uffff]*[^&<>\x00-\x1f\ufffe\uffff\s])?", re.S)
_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{0,5}[1-9])?")
# The same over values joined by newlines (which no plain value holds): one match answers for them all.
_ALL_PLAIN_TEXT = re.compile(r"(?:(?![^\n]*_x[0-9A-Fa-f]{4}_)[^&<>\x00-\x1f\ufffe\uffff\s]"
                             r"(?:[^&<>\x00-\x1f\ufffe\uffff]*[^&<>\x00-\x1f\ufffe\uffff\s])?\n)*")
_ALL_PLAIN_NUMBER = re.compile(r"(?:-?(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{0,5}[1-9])?\n)*")


def _plain(uniques: np.ndarray, number: bool) -> tuple[np.ndarray, bool]:
    """Which values can be written as they are, and whether any may start like a formula: one regex over
    all of them joined each, and only when some value is not plain, one regex per value."""
    present = uniques != ""
    try:
        joined = "\n" + "\n".join(uniques[present].tolist()) + "\n"
    except TypeError:  # not all text: decided one by one
        joined = None
    formula_like = joined is None or _FORMULA_LIKE.search(joined) is not None
    if joined is not None and (_ALL_PLAIN_NUMBER if number else _ALL_PLAIN_TEXT).fullmatch(joined, 1):
        return present, formula_like and not number  # a column of plain numbers holds no text at all
    match = (_PLAIN_NUMBER if number else _PLAIN_TEXT).fullmatch
    return np.fromiter((match(u) is not None for u in uniques), dtype=bool, count=len(uniques)), formula_like


def _render(uniques: np.ndarray, number: bool, attr: str, vouched: bool = False, tail: str = "") -> np.ndarray:
    """What follows ``<c r="A1`` for each distinct value, up to ``tail`` (the next cell's ``<c r="B``):
    plain values by whole-array concatenation, the rest one by one."""
    # vouched values (checked IDs, years) hold no text that starts like a formula
    plain, formula_like = (uniques != "", False) if vouched and not number else _plain(uniques, number)
    out = np.empty(len(uniques), dtype=object)
    if plain.any():
        if number:
            out[plain] = '"' + attr + "><v>" + uniques[plain] + ("</v></c>" + tail)
        else:
            out[plain] = '"' + attr + ' t="inlineStr"><is><t>' + uniques[plain] + ("</t></is></c>" + tail)
    if not plain.all():
        out[~plain] = ['"' + _body(u, number, attr) + tail for u in uniques[~plain]]
    if formula_like:
        _quote_formula_like(uniques, number, attr, tail, out)
    return out


def _quote_formula_like(uniques: np.ndarray, number: bool, attr: str, tail: str, out: np.ndarray) -> None:
    """Text starting with = + - @ is written with the quote-prefixed twin of its style."""
    qattr = _quoted_attr(attr)
    for i, u in enumerate(uniques.tolist()):
        if isinstance(u, str) and u[:1] in "=+-@" and not (number and _is_number(u)):
            out[i] = '"' + _body(u, False, qattr) + tail


def _fragments(col: Column, start: int, stop: int, tail: str = "") -> np.ndarray:
    """What follows ``<c r="A1`` in the cells of rows start..stop, up to ``tail``; each distinct value
    is rendered once."""
    values = np.asarray(col.values[start:stop], dtype=object)
    scalar_number = col.number if isinstance(col.number, bool) else False
    attr = _attr(col.style)
    codes, uniques = pd.factorize(values)
    rendered = np.append(_render(np.asarray(uniques, dtype=object), scalar_number, attr, col.plain, tail),
                         '"' + attr + "/>" + tail)
    frags = rendered[codes]
    if isinstance(col.number, np.ndarray):
        rows = np.flatnonzero(col.number[start:stop] & (values != ""))
        if len(rows):
            sub_codes, sub_uniques = pd.factorize(values[rows])
            frags[rows] = _render(np.asarray(sub_uniques, dtype=object), True, attr, tail=tail)[sub_codes]
    if col.marked is not None:
        marked = col.marked[start:stop]
        numbers = (col.number[start:stop] if isinstance(col.number, np.ndarray)
                   else np.full(len(values), scalar_number))
        mattr = _attr(col.marked_style)
        for as_number in (False, True):
            rows = np.flatnonzero(marked & (numbers == as_number))
            if len(rows):
                sub_codes, sub_uniques = pd.factorize(values[rows])
                rendered = np.append(_render(np.asarray(sub_uniques, dtype=object), as_number, mattr, tail=tail),
                                     '"' + mattr + "/>" + tail)
                frags[rows] = rendered[sub_codes]
    return frags


LINE_HEIGHT = 14.25  # points per line of 11-point 宋体


MAX_LINES = int((409.0 - 3) // LINE_HEIGHT) + 1  # Excel's tallest row is 409 points
# The piece after a row number for each count of lines (rows of one line keep the default height).
_HEIGHT_PIECES = np.array(['"><c r="A', '"><c r="A'] + [
    f'" ht="{min(409.0, round(LINE_HEIGHT * k + 3, 2))}" customHeight="1"><c r="A' for k in range(2, MAX_LINES + 1)],
    dtype=object)


def _heights(texts: np.ndarray, per_line: float) -> np.ndarray:
    """The piece after each row number: a row height that shows every line of its wrapped text (each line
    break, and each ``per_line`` characters, one line more: a little tall at worst, never cut)."""
    step = int(per_line)
    lines = np.fromiter((t.count("\n") + 1 + len(t) // step if isinstance(t, str) else 1 for t in texts.tolist()),
                        dtype=np.int64, count=len(texts))
    return _HEIGHT_PIECES[np.minimum(lines, MAX_LINES)]


def render_rows(first_row: int, columns: list[Column], n: int) -> Iterator[str]:
    """XML <row> elements for ``n`` rows starting at Excel row ``first_row``, chunk by chunk.

    A chunk is laid out as a grid of pieces filled column by column, then joined once: no Python call
    per row or cell. A row is ``<row r="`` · number · ``"><c r="A`` and then, per cell, the row number
    and a piece from :func:`_fragments` that ends with the next cell's ``<c r="B`` (the last with
    ``</row>``). An empty cell is written as ``<c r="X9"/>``.
    """
    k = len(columns)
    if k == 0:
        yield from (f'<row r="{r}"/>' for r in range(first_row, first_row + n))
        return
    tails = [f'<c r="{column_letter(i + 1)}' for i in range(k - 1)] + ["</row>"]
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        numbers = np.arange(first_row + start, first_row + stop).astype(str).astype(object)
        grid = np.empty((stop - start, 2 * k + 3), dtype=object)
        grid[:, 0] = '<row r="'
        grid[:, 1] = numbers
        grid[:, 2] = '"><c r="A'
        for col in columns:
            if col.sets_height:
                grid[:, 2] = _heights(np.asarray(col.values[start:stop], dtype=object), col.sets_height)
        for i, col in enumerate(columns):
            grid[:, 3 + 2 * i] = numbers
            grid[:, 4 + 2 * i] = _fragments(col, start, stop, tails[i])
        yield "".join(grid.ravel().tolist())


class Starred(str):
    """A label or header of a required field: written as rich text with a red * after it (SPEC 4.5)."""


_RUN = '<r><rPr><b/><sz val="11"/>{color}<rFont val="宋体"/><family val="3"/><charset val="134"/></rPr>{t}</r>'


def _starred(text: str) -> str:
    return (_RUN.format(color="", t=_t(text)) if text else "") + _RUN.format(color='<color rgb="FFFF0000"/>',
                                                                             t="<t>*</t>")


def cell_row(row: int, cells: list[tuple[str, int]], height: float | None = None) -> str:
    """One small row of text cells [(text, style)] (titles, header rows); an int or float is a number, a
    :class:`Starred` text a required field's label (with its red *)."""
    ht = f' ht="{height}" customHeight="1"' if height else ""
    parts = [f'<row r="{row}"{ht}>']
    for i, (text, style) in enumerate(cells):
        if text == "" and not style:
            continue
        attr = f' s="{style}"' if style else ""
        ref = f"{column_letter(i)}{row}"
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            parts.append(f'<c r="{ref}"{attr}><v>{_number_text(str(text))}</v></c>')
        elif isinstance(text, Starred):
            parts.append(f'<c r="{ref}"{attr} t="inlineStr"><is>{_starred(str(text))}</is></c>')
        elif text == "":
            parts.append(f'<c r="{ref}"{attr}/>')
        else:
            parts.append(f'<c r="{ref}"{attr} t="inlineStr"><is>{_t(text)}</is></c>')
    parts.append("</row>")
    return "".join(parts)
