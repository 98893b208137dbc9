"""Telling a web or text export by its content, its encoding, and counting its rows before any is parsed."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from xlflow.io.refusal import Limits, TooManyRows, UnreadableWorkbook, too_wide

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
