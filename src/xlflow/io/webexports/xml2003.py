"""XML Spreadsheet 2003, read by expat callbacks (no tree): typed cells, merges, hidden sheets, errors."""

from __future__ import annotations

import codecs
import datetime as dt
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from xlflow.io.refusal import ENTITY, MAX_CELL_CHARS, Limits, TooManyRows, UnreadableWorkbook, too_wide
from xlflow.io.webexports.html_tables import _number
from xlflow.io.webexports.sniff import (
    _SS,
    _X,
    _XML_ENCODING,
    MAX_SPAN,
    SNIFF_BYTES,
    _chunks,
    _Counter,
    bom,
    decoded,
    text_encoding,
)

MAX_MERGES = 100_000


@dataclass
class XmlSheet:
    name: str
    hidden: bool = False
    rows: int = 0
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (Excel row, column) → "#N/A"
    formula_blank: set[tuple[int, int]] = field(default_factory=set)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # MergeDown in one column



def _xml_feed(path: Path) -> tuple[Iterator[bytes], bool]:
    """(the file as bytes for expat, whether they were re-encoded to UTF-8); refused if a DOCTYPE comes first."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    name, rest = bom(head)
    if name and name.startswith("utf-16"):
        encoding = name
        prolog = rest[: len(rest) // 2 * 2].decode(name, "replace").encode("utf-8")
    else:
        found = _XML_ENCODING.search(rest.lstrip())
        encoding = found.group(1).decode("ascii") if found else "utf-8"
        prolog = rest
    root = re.search(rb"<(?:[A-Za-z_][\w.\-]*:)?Workbook\b", prolog)
    before = prolog[: root.start()] if root else prolog
    if b"<!DOCTYPE" in before or b"<!ENTITY" in before:
        raise UnreadableWorkbook(ENTITY)
    try:
        encoding = codecs.lookup(encoding).name
    except LookupError as exc:
        raise UnreadableWorkbook(f"XML 表格声明的编码“{encoding}”无法识别，请用 Excel 打开后另存为 .xlsx") from exc
    if encoding in ("utf-8", "ascii"):
        return _chunks(path), False
    encoding, skip = (encoding, len(head) - len(rest)) if name else text_encoding(path, encoding)
    return (piece.encode("utf-8") for piece in decoded(path, encoding, skip)), True



def _int(text, default: int = 0) -> int:
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        return default


_SS_ = _SS + "|"


_X_ = _X + "|"



def _ss(attrs: dict, name: str):
    """An ss: attribute; a generator that leaves the prefix off writes it in no namespace."""
    value = attrs.get(_SS_ + name)
    return attrs.get(name) if value is None else value



class _XmlBook:
    """An XML Spreadsheet 2003 file read by expat's callbacks (no tree is built): the rows of one worksheet,
    its Excel error values (C13) and formulas saved without a value (C11). A DOCTYPE is refused."""

    def __init__(self, wanted: str | None, limits: Limits):
        self.wanted = wanted
        self.limits = limits
        self.last = limits.max_rows + limits.header_scan_rows
        self.sheets: list[XmlSheet] = []
        self.sheet: XmlSheet | None = None
        self.reading = False  # inside the wanted worksheet
        self.out: list[list[Any]] = []
        self.row: list[Any] = []
        self.row_number = 0
        self.covered: dict[int, int] = {}
        self.active: set[int] = set()
        self.col = 0
        self.cell: tuple[int, int, int, bool] | None = None  # (column, across, down, has a formula)
        self.value: Any = ""
        self.error: str | None = None
        self.data_type: str | None = None
        self.text: list[str] | None = None
        self.visible: list[str] | None = None
        self.counter = _Counter(limits)
        self.finished = False

    def parser(self, utf8: bool):
        parser = expat.ParserCreate("UTF-8" if utf8 else None, namespace_separator="|")
        parser.buffer_text = True
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.chars
        parser.StartDoctypeDeclHandler = self.refuse
        parser.EntityDeclHandler = self.refuse
        parser.ExternalEntityRefHandler = self.refuse
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return parser

    def refuse(self, *_):
        raise UnreadableWorkbook(ENTITY)

    def start(self, name: str, attrs: dict) -> None:
        if name == _SS_ + "Cell":
            if self.sheet is None:
                return
            index = _int(_ss(attrs, "Index"), 0)
            col = index - 1 if index > 0 else self.col
            while index <= 0 and col in self.active:
                col += 1
            if col >= MAX_SPAN:
                raise too_wide(self.row_number, col + 1, self.limits)
            self.cell = (col, min(_int(_ss(attrs, "MergeAcross"), 0), MAX_SPAN),
                         min(_int(_ss(attrs, "MergeDown"), 0), self.limits.max_rows),
                         bool(_ss(attrs, "Formula")))
            self.value, self.error = "", None
        elif name == _SS_ + "Data":
            self.data_type = _ss(attrs, "Type") or "String"
            self.text = []
        elif name == _SS_ + "Row":
            at = _int(_ss(attrs, "Index"), self.row_number + 1)
            at = at if at > self.row_number else self.row_number + 1
            while self.row_number + 1 < at and at <= self.last:  # rows skipped by ss:Index are blank rows
                self.row_number += 1
                self.covered = {c: n - 1 for c, n in self.covered.items() if n > 1}
                if self.reading:
                    self.out.append([])
            self.row_number = at
            self.row, self.col = [], 0
            self.active = {c for c, n in self.covered.items() if n > 0}
        elif name == _SS_ + "Worksheet":
            self.sheet = XmlSheet(_ss(attrs, "Name") or f"Sheet{len(self.sheets) + 1}")
            self.sheets.append(self.sheet)
            self.reading = self.sheet.name == self.wanted
            self.row_number, self.covered, self.counter = 0, {}, _Counter(self.limits)
        elif name == _X_ + "Visible":
            self.visible = []

    def chars(self, data: str) -> None:
        if self.text is not None:
            if sum(map(len, self.text)) <= MAX_CELL_CHARS:
                self.text.append(data)
        elif self.visible is not None:
            self.visible.append(data)

    def end(self, name: str) -> None:
        if name == _SS_ + "Data":
            self.value, self.error = _value(self.data_type, "".join(self.text or ()))
            self.text = None
        elif name == _SS_ + "Cell":
            if self.cell is None or self.sheet is None:
                return
            col, across, down, formula = self.cell
            self.cell = None
            if self.error is not None:
                self.sheet.error_cells[(self.row_number, col)] = self.error
            elif self.value == "" and formula:
                self.sheet.formula_blank.add((self.row_number, col))
            row = self.row
            if col > len(row):
                row.extend([""] * (col - len(row)))
            if col < len(row):
                row[col] = self.value
            else:
                row.append(self.value)
            if across:
                row.extend([""] * across)
            if down:
                for c in range(col, col + across + 1):
                    self.covered[c] = max(self.covered.get(c, 0), down + 1)
                if not across and len(self.sheet.merged) < MAX_MERGES:
                    self.sheet.merged.append((self.row_number, col, self.row_number + down, col))
            self.col = col + across + 1
        elif name == _SS_ + "Row":
            if self.sheet is None:
                return
            self.covered = {c: n - 1 for c, n in self.covered.items() if n > 1} if self.covered else self.covered
            if self.row_number > self.last:  # too many rows: counted to the sheet's end, never kept
                return
            self.counter.add(self.row)
            self.sheet.rows = self.row_number
            if self.reading:
                self.out.append(self.row)
            self.row = []
        elif name == _SS_ + "Worksheet":
            if self.sheet is not None and self.row_number > self.last:
                raise TooManyRows(self.row_number, self.limits.max_rows)
            if self.reading:
                self.finished = True
            self.sheet, self.reading = None, False
        elif name == _X_ + "Visible":
            if self.sheets:
                self.sheets[-1].hidden = "".join(self.visible or ()).strip() in ("SheetHidden", "SheetVeryHidden")
            self.visible = None



def _value(kind: str | None, text: str) -> tuple[Any, str | None]:
    """(the cell's value, its Excel error text or None) from a <Data> element's type and text."""
    if kind == "String" or kind is None:
        return text[: MAX_CELL_CHARS + 1], None
    if kind == "Number":
        number = _number(text)
        return (number if number is not None else text), None
    if kind == "DateTime":
        try:
            return dt.datetime.fromisoformat(text.strip()[:19]), None
        except ValueError:
            return text, None
    if kind == "Boolean":
        return text.strip() in ("1", "true", "TRUE"), None
    if kind == "Error":
        return "", text.strip()
    return text[: MAX_CELL_CHARS + 1], None



def _xml_rows(path: Path, wanted: str | None, limits: Limits, book: _XmlBook | None = None) -> Iterator[list[Any]]:
    """The rows of worksheet ``wanted`` (None: no rows; ``book`` then learns the names, hidden flags, C11, C13)."""
    book = book or _XmlBook(wanted, limits)
    feed, utf8 = _xml_feed(path)
    parser = book.parser(utf8)
    try:
        for block in feed:
            parser.Parse(block, False)
            rows, book.out = book.out, []
            yield from rows
            if book.finished:
                return
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise UnreadableWorkbook("XML 格式的表格已损坏（内容不完整或不是有效的 XML），"
                                 "请用 Excel 打开后另存为 .xlsx") from exc
    yield from book.out
    book.out = []


_SHEET_TAGS = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(Worksheet|Visible)\b([^>]*)>([^<]*)")


_NAME = re.compile(rb"""\b(?:[A-Za-z_][\w.\-]*:)?Name\s*=\s*["']([^"']*)["']""")



class SpreadsheetML:
    """An XML Spreadsheet 2003 file: its worksheets' names and hidden flags from a scan of the bytes (at C
    speed), each worksheet's rows parsed as they are read, and its C11 / C13 cells known once they were."""

    def __init__(self, path: Path, limits: Limits):
        self.path = path
        self.limits = limits
        self.sheets: list[XmlSheet] = []
        self._books: dict[str, _XmlBook] = {}
        feed, _ = _xml_feed(path)
        tail = b""
        for block in feed:
            data = tail + block
            cut = max(0, len(data) - 4096)  # a tag across two blocks is read with the next one
            for m in _SHEET_TAGS.finditer(data):
                if m.start() >= cut:
                    break
                self._note(m)
            tail = data[cut:]
        for m in _SHEET_TAGS.finditer(tail):
            self._note(m)

    def _note(self, m: re.Match) -> None:
        if m.group(1) == b"Worksheet":
            name = _NAME.search(m.group(2))
            text = html.unescape(name.group(1).decode("utf-8", "replace")) if name else ""
            self.sheets.append(XmlSheet(text or f"Sheet{len(self.sheets) + 1}"))
        elif self.sheets and m.group(3).strip() in (b"SheetHidden", b"SheetVeryHidden"):
            self.sheets[-1].hidden = True

    def rows(self, name: str) -> Iterator[list[Any]]:
        book = _XmlBook(name, self.limits)
        self._books[name] = book
        return _xml_rows(self.path, name, self.limits, book)

    def scan(self, name: str) -> XmlSheet:
        """What the last reading of ``name`` found: its formulas without a value and its error values."""
        book = self._books.get(name)
        found = [s for s in book.sheets if s.name == name] if book else []
        return found[0] if found else XmlSheet(name)
