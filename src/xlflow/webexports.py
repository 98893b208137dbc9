"""What web systems write as "Excel": an HTML table, an XML Spreadsheet 2003 file, or tab-separated text.

Excel and WPS open all three (with a warning), so a county's "导出 Excel" is often one of them under a
.xls name. Each is streamed here row by row, as lists of raw values like calamine's, within the same
limits as a workbook: rows and cells are counted as they come, an XML file with a DOCTYPE (where
entities are declared) is refused, an HTML tag that never ends is refused instead of buffered. No pandas.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from xlflow.refusal import ENTITY, MAX_CELL_CHARS, Limits, TooManyRows, UnreadableWorkbook, too_wide

CHUNK = 1 << 20
SNIFF_BYTES = 1 << 16
MAX_TAG_BYTES = 1 << 20  # an HTML tag, comment or declaration longer than this is not an export
MAX_SPAN = 16_384  # colspan / rowspan / MergeAcross beyond a sheet's columns are cut

FORMAT_WORDS = {
    "html": "HTML 格式导出的表格（网页表格）",
    "spreadsheetml": "XML 格式导出的表格（XML 电子表格 2003）",
    "tsv": "制表符分隔的文本",
    "csv": "逗号分隔的文本（CSV）",
}
# A file whose content is what its name says needs no word about its format.
NAMED = {"html": (".htm", ".html"), "spreadsheetml": (".xml",), "tsv": (".txt", ".tsv"), "csv": (".csv", ".txt")}



def source_note(file: str, source: str | None) -> str | None:
    """The words that say what was read, for a file whose name does not say it (a .xls holding HTML)."""
    if source is None or Path(file).suffix.lower() in NAMED.get(source, ()):
        return None
    return f"此文件实际是{FORMAT_WORDS[source]}，已按表格读取（上传省系统请用更正后的 .xlsx 文件）"


_SS = "urn:schemas-microsoft-com:office:spreadsheet"
_X = "urn:schemas-microsoft-com:office:excel"
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|table|tr|td|th|style|title|div)\b", re.I)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_\-]+)["']""")


def sniff(head: bytes, suffix: str = "") -> str | None:
    """'html', 'spreadsheetml' or 'text' from a file's first bytes (after any BOM); None for binary (a NUL
    byte, unless the name says text: a stray NUL in a CSV is removed by X01)."""
    encoding, text = bom(head)
    if encoding in ("utf-16-le", "utf-16-be"):
        try:
            sample = text[: len(text) // 2 * 2].decode(encoding, "replace").encode("utf-8")
        except (UnicodeError, LookupError):
            return None
    else:
        sample = text
    lead = sample.lstrip()[:SNIFF_BYTES]
    if lead.startswith(b"<?xml") or lead.startswith(b"<Workbook") or lead.startswith(b"<ss:Workbook"):
        if _SS.encode() in lead:
            return "spreadsheetml"
    if _HTML_START.search(lead[:4096]) and lead.startswith(b"<"):
        return "html"
    if b"\x00" in sample[:SNIFF_BYTES] and suffix.lower() not in (".csv", ".txt", ".tsv"):
        return None
    for name in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(name)().decode(sample[:SNIFF_BYTES])
            return "text"
        except UnicodeDecodeError:
            continue
    return None


def bom(head: bytes) -> tuple[str | None, bytes]:
    """(the encoding a byte-order mark names, the bytes after it)."""
    for mark, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(mark):
            return name, head[len(mark):]
    return None, head


def _chunks(path: Path, skip: int = 0) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(skip)
        while block := fh.read(CHUNK):
            yield block


def _valid(path: Path, encoding: str, skip: int) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for block in _chunks(path, skip):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def text_encoding(path: Path, declared: str | None = None) -> tuple[str, int]:
    """(encoding, bytes to skip): a BOM, else what the file declares, else UTF-8 if every byte is, else GB18030."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    name, rest = bom(head)
    if name:
        return name, len(head) - len(rest)
    if declared:
        try:
            declared = codecs.lookup(declared).name
        except LookupError:
            declared = None
    if declared in ("gb2312", "gbk", "gb18030", "hz"):
        return "gb18030", 0  # GB18030 is a superset of what systems call GB2312 and GBK
    if declared and declared not in ("utf-8", "ascii") and _valid(path, declared, 0):
        return declared, 0
    if _valid(path, "utf-8", 0):
        return "utf-8", 0
    if _valid(path, "gb18030", 0):
        return "gb18030", 0
    raise UnreadableWorkbook("文件编码无法识别，请用 Excel 打开后另存为 .xlsx")


def decoded(path: Path, encoding: str, skip: int) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    for block in _chunks(path, skip):
        yield decoder.decode(block)
    yield decoder.decode(b"", final=True)


class _Counter:
    """Rows and cells as they come, against the limits: refused past them, with the rows counted to the end."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.rows = 0
        self.width = 0

    def add(self, row: list) -> None:
        self.rows += 1
        if len(row) > self.width:
            self.width = len(row)
        if self.rows * self.width > self.limits.max_cells:
            raise too_wide(self.rows, self.width, self.limits)

    @property
    def over(self) -> bool:  # title rows and the header row above the data are allowed for
        return self.rows > self.limits.max_rows + self.limits.header_scan_rows


def _too_many(count_rest: Callable[[], int], seen: int, limits: Limits) -> TooManyRows:
    return TooManyRows(seen + count_rest(), limits.max_rows)


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


# --------------------------------------------------------------------------------------------- text

@dataclass
class TextTable:
    encoding: str
    skip: int
    dialect: Any
    delimiter: str


def open_text(path: Path) -> TextTable:
    encoding, skip = text_encoding(path)
    sample = ""
    for piece in decoded(path, encoding, skip):
        sample += piece
        if len(sample) >= 4096:
            break
    try:
        dialect = csv.Sniffer().sniff(sample[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = "excel-tab" if sample.count("\t") > sample.count(",") else csv.excel
    delimiter = csv.get_dialect(dialect).delimiter if isinstance(dialect, str) else dialect.delimiter
    return TextTable(encoding, skip, dialect, delimiter)


class _Lines:
    """A decoded text stream as lines for the csv module (which keeps no more than one record). Lines end at
    "\n" only, as io.StringIO splits them: a "\r\n" cut between two blocks stays one line end."""

    def __init__(self, pieces: Iterator[str]):
        self.pieces = pieces

    def __iter__(self):
        rest = ""
        for piece in self.pieces:
            if not piece:
                continue
            lines = (rest + piece).split("\n")
            rest = lines.pop()
            for line in lines:
                yield line + "\n"
        if rest:
            yield rest


def text_rows(path: Path, table: TextTable, limits: Limits) -> Iterator[list[Any]]:
    """The rows of a CSV or tab-separated file, streamed; refused (F06) past the row limit, counted to the end."""
    csv.field_size_limit(max(csv.field_size_limit(), 16 * 2**20))  # long cells become C12, not a crash
    counter = _Counter(limits)
    reader = csv.reader(_Lines(decoded(path, table.encoding, table.skip)), table.dialect)
    try:
        for row in reader:
            counter.add(row)
            if counter.over:
                raise _too_many(lambda: sum(1 for _ in reader), counter.rows, limits)
            yield row
    except csv.Error as exc:
        raise UnreadableWorkbook("文本文件格式有误（引号不配对或单元格过长），请用 Excel 打开后另存为 .xlsx") from exc


# --------------------------------------------------------------------------------------------- HTML

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "caption", "center"}
_SKIPPED = {"script", "style", "title", "head", "noscript", "template"}
_SPACES = re.compile(r"[ \t\r\n\f]+")
_BREAK = "\x1f"


def _span(attrs: dict, name: str) -> int:
    try:
        return max(1, min(int(str(attrs.get(name) or "1").strip().strip('"') or 1), MAX_SPAN))
    except ValueError:
        return 1


def _tidy(pieces: list[str]) -> str:
    """Cell text as a browser (and Excel) shows it: runs of spaces one space, <br> a line break."""
    text = _SPACES.sub(" ", "".join(pieces))
    text = "\n".join(part.strip(" ") for part in text.split(_BREAK)).strip("\n")
    return text if text.strip() else ""  # <td>&nbsp;</td>, a system's empty cell, is empty


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


_TAG = re.compile(r"""<(/?)([A-Za-z][A-Za-z0-9:_\-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""")
_OTHER = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[!?][^>]*>", re.S)
_ATTR = re.compile(r"""([A-Za-z_:][\w:.\-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_RAW_END = {"script": re.compile(r"</script\s*>", re.I), "style": re.compile(r"</style\s*>", re.I)}


def _attrs(text: str) -> dict:
    out = {}
    for m in _ATTR.finditer(text):
        value = m.group(2)
        if value and value[0] in "\"'":
            value = value[1:-1]
        out[m.group(1).lower()] = html.unescape(value) if value and "&" in value else value
    return out


class _Tables:
    """Every <tr> of the page's tables as a row (colspan and rowspan as merged cells: the value in the
    first, the others empty), text outside the tables as one-cell rows, <script>/<style> ignored.

    A tokenizer of its own (tags, comments, text; entities as a browser reads them): the standard library's
    HTMLParser spent 35 of 48 seconds of a 100,000-row export in its own bookkeeping."""

    def __init__(self):
        self.rawdata = ""  # the unread end of what was fed: an unfinished tag or entity
        self.raw_end: re.Pattern | None = None  # inside <script> or <style>: where their text ends
        self.done: list[list[Any]] = []
        self.depth = 0
        self.skip = 0
        self.row: list[Any] | None = None
        self.cell: list[str] | None = None
        self.cell_chars = 0
        self.cell_attrs: dict = {}
        self.loose: list[str] = []
        self.spans: dict[int, int] = {}  # column → rows below still covered by a rowspan
        self.active: set[int] = set()

    # rows and cells
    def _start_row(self) -> None:
        self._end_row()
        self.row = []
        self.active = {c for c, n in self.spans.items() if n > 0}

    def _end_row(self) -> None:
        self._end_cell()
        if self.row is None:
            return
        self.done.append(self.row)
        for c in self.active:
            self.spans[c] -= 1
            if self.spans[c] <= 0:
                del self.spans[c]
        self.row = None
        self.active = set()

    def _start_cell(self, attrs: dict) -> None:
        if self.row is None:
            self._start_row()
        self._end_cell()
        self.cell = []
        self.cell_chars = 0
        self.cell_attrs = attrs

    def _end_cell(self) -> None:
        if self.cell is None or self.row is None:
            self.cell = None
            return
        attrs, text = self.cell_attrs, _tidy(self.cell)
        self.cell = None
        col = len(self.row)
        while col in self.active:
            self.row.append("")
            col += 1
        value: Any = text
        if "x:num" in attrs:  # what Excel wrote as a number: digits past the 15th are lost, as in Excel
            number = _number(attrs["x:num"] if attrs["x:num"] not in (None, "") else text)
            if number is not None:
                value = number
        across, down = _span(attrs, "colspan"), _span(attrs, "rowspan")
        self.row.append(value)
        self.row.extend([""] * (across - 1))
        if down > 1:
            for c in range(col, col + across):
                self.spans[c] = max(self.spans.get(c, 0), down - 1)

    def _flush_loose(self) -> None:
        text = _tidy(self.loose)
        self.loose = []
        for line in text.split("\n"):
            if line.strip():
                self.done.append([line.strip()])

    # the parser's events
    def feed(self, text: str, final: bool = False) -> None:
        data = self.rawdata + text
        pos, end = 0, len(data)
        while pos < end:
            if self.raw_end is not None:  # the text of a script or style is never read
                m = self.raw_end.search(data, pos)
                if m is None:
                    pos = max(pos, end - 16)
                    break
                self.raw_end = None
                self.handle_endtag(m.group().strip("</> \t\r\n").lower())
                pos = m.end()
                continue
            lt = data.find("<", pos)
            if lt == -1:
                cut = end if final else _entity_cut(data, pos, end)
                self.handle_data(data, pos, cut)
                pos = cut
                break
            if lt > pos:
                self.handle_data(data, pos, lt)
            following = data[lt + 1 : lt + 2]
            if following.isalpha() or following == "/":
                m = _TAG.match(data, lt)
                if m is None:
                    if ">" in data[lt:] or final:  # "<b" with a quote never closed: read as text
                        self.handle_data(data, lt, lt + 1)
                        pos = lt + 1
                        continue
                    pos = lt
                    break
                tag = m.group(2).lower()
                if m.group(1):
                    self.handle_endtag(tag)
                else:
                    attrs = m.group(3)
                    self.handle_starttag(tag, attrs)
                    if attrs.rstrip().endswith("/"):
                        self.handle_startendtag_end(tag)
                    elif tag in _RAW_END:
                        self.raw_end = _RAW_END[tag]
                pos = m.end()
            elif following in ("!", "?"):
                m = _OTHER.match(data, lt)
                if m is None:
                    if final:
                        pos = end
                    else:
                        pos = lt
                    break
                pos = m.end()
            elif following == "" and not final:
                pos = lt
                break
            else:  # "<" followed by a space or a digit is text
                self.handle_data(data, lt, lt + 1)
                pos = lt + 1
        self.rawdata = data[pos:]

    def close(self) -> None:
        self.feed("", final=True)

    def handle_starttag(self, tag, attr_text: str):
        if tag in _SKIPPED:
            self.skip += 1
            return
        if self.skip:
            return
        attrs = _attrs(attr_text) if tag in ("td", "th") and attr_text.strip() else {}
        if tag == "table":
            if self.depth == 0:
                self._flush_loose()
            elif self.cell is not None:
                self.cell.append(" ")
            self.depth += 1
        elif self.depth > 1:  # a table inside a cell: its text belongs to the cell
            if tag in ("td", "th", "br") and self.cell is not None:
                self.cell.append(" ")
        elif tag == "tr" and self.depth == 1:
            self._start_row()
        elif tag in ("td", "th") and self.depth == 1:
            self._start_cell(attrs)
        elif tag == "br":
            (self.cell if self.cell is not None else self.loose).append(_BREAK)
        elif tag in _BLOCKS and self.depth == 0:
            self._flush_loose()

    def handle_startendtag_end(self, tag):
        if tag in _SKIPPED:
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in _SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif self.skip:
            return
        elif tag == "table" and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self._end_row()
                self.spans = {}
        elif self.depth == 1 and tag in ("td", "th"):
            self._end_cell()
        elif self.depth == 1 and tag == "tr":
            self._end_row()
        elif tag in _BLOCKS and self.depth == 0:
            self._flush_loose()

    def handle_data(self, data: str, start: int, stop: int) -> None:
        if self.skip or start >= stop:
            return
        if self.cell is not None:
            if self.cell_chars <= MAX_CELL_CHARS:  # more is cut (C12): the rest is never kept
                stop = min(stop, start + MAX_CELL_CHARS + 1 - self.cell_chars)
                text = data[start:stop]
                self.cell.append(html.unescape(text) if "&" in text else text)
                self.cell_chars += stop - start
        elif self.depth == 0 and sum(map(len, self.loose)) <= MAX_CELL_CHARS:
            text = data[start : min(stop, start + MAX_CELL_CHARS)]
            self.loose.append(html.unescape(text) if "&" in text else text)

    def finish(self) -> None:
        self.close()
        self._end_row()
        self._flush_loose()


def _entity_cut(data: str, start: int, end: int) -> int:
    """Where text at the end of a block may be read to: before an entity the next block may finish."""
    amp = data.rfind("&", max(start, end - 32), end)
    return amp if amp != -1 and ";" not in data[amp:end] else end


def html_encoding(path: Path) -> tuple[str, int]:
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    found = _CHARSET.search(head)
    return text_encoding(path, found.group(1).decode("ascii") if found else None)


def html_rows(path: Path, limits: Limits) -> Iterator[list[Any]]:
    encoding, skip = html_encoding(path)
    parser = _Tables()
    counter = _Counter(limits)
    for piece in decoded(path, encoding, skip):
        parser.feed(piece)
        if len(parser.rawdata) > MAX_TAG_BYTES:  # a tag or comment that never ends would be re-read each time
            raise UnreadableWorkbook("网页格式的表格中有一个异常长的标签或注释，不像系统导出的表格，已拒绝读取")
        rows, parser.done = parser.done, []
        for row in rows:
            counter.add(row)
            if counter.over:
                raise TooManyRows(counter.rows, limits.max_rows)
            yield row
    parser.finish()
    for row in parser.done:
        counter.add(row)
        yield row


# ----------------------------------------------------------------------------------- SpreadsheetML

@dataclass
class XmlSheet:
    name: str
    hidden: bool = False
    rows: int = 0
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (Excel row, column) → "#N/A"
    formula_blank: set[tuple[int, int]] = field(default_factory=set)


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
