"""Opening a file safely: size, zip expansion, XML entity declarations, encryption; the raw sheets.

Kept free of pandas so that a file can be opened (parsed by calamine, which releases the GIL) in a
background thread while the rest of xlflow is still importing: see :func:`prefetch`.
"""

from __future__ import annotations

import atexit
import dataclasses
import html
import json
import re
import stat
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import python_calamine as calamine
import python_calamine_plus as calamine_stream

from xlflow import webexports
from xlflow.refusal import (
    BOMB,
    BROKEN,
    DEFAULT_LIMITS,
    ENTITY,
    MAX_CELL_CHARS,
    Limits,
    TooManyRows,
    UnreadableWorkbook,
    column_letter_of,
    too_wide,
)
from xlflow.xlsbiff import formula_blanks

__all__ = ["BOMB", "BROKEN", "DEFAULT_LIMITS", "ENTITY", "MAX_CELL_CHARS", "Limits", "TooManyRows",
           "UnreadableWorkbook", "column_letter_of", "open_sheets", "prefetch", "sheet_parts"]


_SCAN_CHUNK = 1 << 22


@dataclass
class SheetScan:
    """What one worksheet's XML holds, found before any reader allocates for it."""

    cells: int = 0
    rows: int = 0
    max_row: int = 0
    max_col: int = 0  # 1-based
    formula_blank: set[tuple[int, int]] = field(default_factory=set)
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) → "#N/A"

    @property
    def span(self) -> int:
        return max(self.max_row, self.rows) * max(self.max_col, 1)


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


_LAST_ROW = re.compile(rb'<row [^>]*?r="([0-9]+)"')
_CELL_REF = re.compile(rb'<c [^>]*?\br="([A-Z]{1,3})([0-9]+)"')
_ERROR_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"[^>]*?t="e"[^>]*>.*?<v>(#[A-Z0-9/!?]{1,7})</v>', re.S)
_FAR_ROW = re.compile(rb'r="[A-Z]{0,3}([0-9]{7,})"')  # row 1,000,000 or below


def _flattener(best: int) -> bytes:
    """A bytes.translate table: columns up to ``best`` → 'A', letters beyond → '#', digits → '0'.

    Searching the flattened XML for '<c r="#' or '<c r="AA' finds a cell beyond the widest column
    seen so far at C speed; only then is the chunk read with a regex.
    """
    table = bytearray(range(256))
    for i in range(26):
        table[65 + i] = ord("A") if i < best else ord("#")
    for d in range(48, 58):
        table[d] = ord("0")
    return bytes(table)


def _scan_sheet(fh, limits: Limits, budget: int, progress=None) -> tuple[SheetScan, int]:
    """Stream a worksheet part: cells, rows, the farthest cell, formulas without a value.

    The limits are checked after every block, so that a reader following the scan (see
    :class:`ScanBeside`) never reaches rows the scan would refuse; ``progress(scan)`` is told of each
    block of whole rows scanned.
    """
    scan = SheetScan()
    tail = b""
    total = 0
    while block := fh.read(_SCAN_CHUNK):
        if total == 0 and (b"<!DOCTYPE" in block[:4096] or b"<!ENTITY" in block[:4096]):
            raise UnreadableWorkbook(ENTITY)
        total += len(block)
        if total > budget:
            raise UnreadableWorkbook(BOMB)
        data = tail + block
        cut = data.rfind(b"</row>")
        cut = cut + len(b"</row>") if cut != -1 else 0
        if cut == 0 and len(data) > 16 * _SCAN_CHUNK:
            raise UnreadableWorkbook(BOMB)
        tail = data[cut:]
        _scan_block(scan, data[:cut])
        _judge(scan, total, limits, slack=16 * _SCAN_CHUNK)
        if progress is not None and cut:
            progress(scan)
    _scan_block(scan, tail)
    _judge(scan, total, limits)
    return scan, total


def _judge(scan: SheetScan, size: int, limits: Limits, slack: int = 2**20) -> None:
    """Refuse a sheet whose XML is far more than its cells need (a bomb) or that spans too many cells."""
    if size > slack + limits.max_bytes_per_cell * scan.cells:
        raise UnreadableWorkbook(BOMB)
    if scan.span > limits.max_cells:
        raise too_wide(max(scan.max_row, scan.rows), max(scan.max_col, 1), limits)


def _scan_block(scan: SheetScan, data: bytes) -> None:
    if not data:
        return
    if scan.max_col == 0:  # a first guess of the width from the first rows keeps the regex off the rest
        for m in _CELL_REF.finditer(data, 0, data.find(b"</row>", 1 << 16) + 1 or len(data)):
            scan.max_col = max(scan.max_col, _col_number(m.group(1)))
    flat = data.translate(_flattener(scan.max_col))
    cells = flat.count(b"<c ")
    scan.cells += cells
    scan.rows += flat.count(b"<row")
    at = data.rfind(b"<row ")
    if at != -1 and (m := _LAST_ROW.match(data, at)):
        scan.max_row = max(scan.max_row, int(m.group(1)))
    if flat.count(b'<c r="A0') != cells:  # a cell beyond the widest column so far (or written unusually)
        for m in _CELL_REF.finditer(data):
            scan.max_col = max(scan.max_col, _col_number(m.group(1)))
            scan.max_row = max(scan.max_row, int(m.group(2)))
    if b'0000000"' in flat:
        for m in _FAR_ROW.finditer(data):
            scan.max_row = max(scan.max_row, int(m.group(1)))
    if _has_formula(data, len(data)):
        scan.formula_blank |= _scan_cells(data)
    if b't="e"' in data:
        for m in _ERROR_CELL.finditer(data):
            scan.error_cells[(int(m.group(2)), _col_number(m.group(1)) - 1)] = m.group(3).decode("ascii", "replace")


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> int:
    """Unpack a member without keeping it; refuse once it passes ``cap`` bytes (sizes can lie)."""
    total = 0
    with zf.open(info) as fh:
        head = fh.read(4096)
        if info.filename.endswith((".xml", ".rels", ".vml")) and (b"<!DOCTYPE" in head or b"<!ENTITY" in head):
            raise UnreadableWorkbook(ENTITY)
        total = len(head)
        while block := fh.read(_SCAN_CHUNK):
            total += len(block)
            if total > cap:
                raise UnreadableWorkbook(BOMB)
    return total


def _check_zip(path: Path, limits: Limits) -> dict[str, SheetScan | ScanBeside]:
    """Refuse zip bombs, entity declarations and sheets too large to hold; scan every worksheet.

    A worksheet of ``limits.scan_beside_bytes`` or more is scanned by a helper process while it is read
    (:class:`ScanBeside`); the rest of the file is checked here first, whatever its size.
    """
    scans: dict[str, SheetScan | ScanBeside] = {}
    beside: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if sum(i.file_size for i in infos) > limits.max_expanded_bytes:
                raise UnreadableWorkbook(BOMB)
            unpacked = 0
            for info in infos:
                if info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                    raise UnreadableWorkbook(BOMB)
                left = limits.max_expanded_bytes - unpacked
                if re.fullmatch(r"xl/worksheets/[^/]+\.xml", info.filename):
                    if info.file_size >= limits.scan_beside_bytes:
                        beside.append(info.filename)
                        continue
                    with zf.open(info) as fh:
                        scan, size = _scan_sheet(fh, limits, left)
                    scans[info.filename] = scan
                elif info.filename == "content.xml" and "mimetype" in zf.namelist():  # OpenDocument
                    size = _check_ods(zf, info, limits, left)
                else:
                    cap = limits.max_strings_bytes if info.filename.endswith("sharedStrings.xml") else left
                    size = _read_capped(zf, info, min(cap, left))
                unpacked += size
    except zipfile.BadZipFile as exc:
        raise UnreadableWorkbook(BROKEN) from exc
    except (zlib.error, EOFError) as exc:
        raise UnreadableWorkbook(BROKEN) from exc
    if beside:
        budget = limits.max_expanded_bytes - unpacked
        try:
            watch = ScanBeside(path, beside, limits, budget)
        except OSError:  # no helper process to be had: scanned here, first
            scans.update(scan_parts(path, beside, limits, budget))
        else:
            scans.update({part: watch for part in beside})
    return scans


def scan_parts(path: Path, parts: list[str], limits: Limits, budget: int,
               progress=None) -> Iterator[tuple[str, SheetScan]]:
    """(part, its scan) for worksheet parts in turn, each within what the parts before it left of the
    budget; ``progress(part, scan)`` is told of each block (the helper process reports it)."""
    try:
        with zipfile.ZipFile(path) as zf:
            for part in parts:
                with zf.open(part) as fh:
                    scan, size = _scan_sheet(fh, limits, budget,
                                             None if progress is None else lambda s, part=part: progress(part, s))
                budget -= size
                yield part, scan
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
        raise UnreadableWorkbook(BROKEN) from exc


class Reread(Exception):
    """What a sheet scanned beside its reading turned out to hold differs from what the reading assumed
    (cells further right than the first rows had, or the helper process died): read it again, scanned first."""


class ScanBeside:
    """Worksheets scanned by a helper process (``python -m xlflow.scanner``) while this one reads them.

    The scan unpacks the XML a second time (~6 s for a full sheet): beside the reading, on another core,
    it costs no time. It stays ahead of the reading, which asks :meth:`allowed` before each run of rows:
    no row is read before the scan has passed the XML that holds it, so a bomb or a far cell is refused
    (by the same checks, block by block) before any of it is read.
    """

    def __init__(self, path: Path, parts: list[str], limits: Limits, budget: int):
        self._seen: dict[str, tuple[int, int]] = {}  # part → (rows passed, widest column so far)
        self._done: dict[str, SheetScan] = {}
        self._refused: str | None = None
        self._ended = False
        self._changed = threading.Condition()
        self._proc = subprocess.Popen(self.command(path, parts, limits, budget), stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                      creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # Windows: no console
        threading.Thread(target=self._listen, name="xlflow-scan", daemon=True).start()
        _helpers.add(self)

    @staticmethod
    def command(path: Path, parts: list[str], limits: Limits, budget: int) -> list[str]:
        return [sys.executable, "-m", "xlflow.scanner", str(path), json.dumps(dataclasses.asdict(limits)),
                str(budget), *parts]

    def _listen(self) -> None:
        try:
            for line in self._proc.stdout:
                msg = json.loads(line)
                with self._changed:
                    if "refused" in msg:
                        self._refused = msg["refused"]
                    elif "done" in msg:
                        scan = SheetScan(**{k: v for k, v in msg["done"].items()
                                            if k not in ("formula_blank", "error_cells")})
                        scan.formula_blank = {tuple(c) for c in msg["done"]["formula_blank"]}
                        scan.error_cells = {(r, c): text for r, c, text in msg["done"]["error_cells"]}
                        self._done[msg["part"]] = scan
                    else:
                        self._seen[msg["part"]] = (msg["rows"], msg["max_col"])
                    self._changed.notify_all()
        except (ValueError, KeyError, TypeError):
            pass  # a garbled line: the helper is not trusted further, the sheet is read again
        finally:
            self._proc.stdout.close()
            self._proc.wait()
            with self._changed:
                self._ended = True
                self._changed.notify_all()
            _helpers.discard(self)

    def _wait(self, ready) -> None:
        with self._changed:
            while not (self._refused or ready() or self._ended):
                self._changed.wait()
            if self._refused:
                raise UnreadableWorkbook(self._refused)

    def width(self, part: str) -> int:
        """The widest column (1-based) in the first rows: the reading is bounded by it."""
        self._wait(lambda: part in self._seen or part in self._done)
        if part in self._done:
            return self._done[part].max_col
        if part not in self._seen:
            raise Reread()
        return self._seen[part][1]

    def allowed(self, part: str, row: int) -> int:
        """How many rows (from the top) may be read, once more than ``row`` may or the scan is done."""
        self._wait(lambda: part in self._done or self._seen.get(part, (0, 0))[0] > row)
        if part in self._done:
            scan = self._done[part]
            return max(scan.max_row, scan.rows, 1) if scan.cells else 0
        if self._seen.get(part, (0, 0))[0] > row:
            return self._seen[part][0]
        raise Reread()  # the helper ended without a verdict

    def result(self, part: str) -> SheetScan:
        """The whole scan of ``part`` (waits for it)."""
        self._wait(lambda: part in self._done)
        if part not in self._done:
            raise Reread()
        return self._done[part]

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()


_helpers: set[ScanBeside] = set()


@atexit.register
def _stop_helpers() -> None:
    for watch in list(_helpers):
        watch.stop()


_ODS_ROW = re.compile(rb"<table:table-row\b([^>]*?)(/>|>(.*?)</table:table-row>)", re.S)
_ODS_CELL = re.compile(rb"<table:(?:covered-)?table-cell\b([^>]*?)(/>|>(.*?)</table:(?:covered-)?table-cell>)", re.S)
_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated="([0-9]+)"')
_COLS_REPEATED = re.compile(rb'table:number-columns-repeated="([0-9]+)"')


def _check_ods(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, budget: int) -> int:
    """An OpenDocument sheet's extent before the reader expands it: rows and columns repeated by
    attribute count only up to the last cell that holds something (an empty tail is free)."""
    data = b""
    with zf.open(info) as fh:
        while block := fh.read(_SCAN_CHUNK):
            data += block
            if len(data) > min(budget, 512 * 2**20):
                raise UnreadableWorkbook(BOMB)
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
        raise UnreadableWorkbook(ENTITY)
    for table in re.split(rb"<table:table[\s>]", data)[1:]:
        row, max_row, max_col = 0, 0, 0
        for m in _ODS_ROW.finditer(table):
            repeat = int(r.group(1)) if (r := _ROWS_REPEATED.search(m.group(1))) else 1
            col, width = 0, 0
            for c in _ODS_CELL.finditer(m.group(3) or b""):
                span = int(r.group(1)) if (r := _COLS_REPEATED.search(c.group(1))) else 1
                col += span
                if c.group(3) or b"office:value" in c.group(1):
                    width = col
            if width:
                max_row, max_col = row + repeat, max(max_col, width)
            row += repeat
            if max_row * max_col > limits.max_cells:
                raise UnreadableWorkbook(
                    f"工作表的内容一直延伸到 {column_letter_of(max_col)}{max_row} 单元格，"
                    f"超出上限 {limits.max_cells:,} 个单元格。请删除表格以外的内容（或把表格复制到新文件）后再提交")
    return len(data)


def _sniff(path: Path, limits: Limits) -> tuple[str, dict[str, SheetScan]]:
    """('zip', 'ole' or 'text', worksheet scans of a zip); refuses what cannot be a spreadsheet."""
    if path.is_dir():
        raise UnreadableWorkbook("这是一个文件夹，不是文件。请给出要检查的表格文件")
    try:
        st = path.stat()
    except OSError as exc:
        raise UnreadableWorkbook("找不到文件或没有读取权限") from exc
    if not stat.S_ISREG(st.st_mode):  # a pipe or a device: reading it could wait for ever or never end
        raise UnreadableWorkbook("这不是一个普通文件（可能是管道或设备）。请给出要检查的表格文件")
    size = st.st_size
    if size == 0:
        raise UnreadableWorkbook("文件是空的（0 字节）")
    if size > limits.max_file_bytes:
        mib = limits.max_file_bytes // 2**20
        raise UnreadableWorkbook(f"文件大小超过上限 {mib} MB")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04"):
        return "zip", _check_zip(path, limits)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后另存再提交")
        return "ole", {}
    with open(path, "rb") as fh:
        found = webexports.sniff(fh.read(webexports.SNIFF_BYTES), path.suffix)
    if found is not None and path.suffix.lower() not in (".xlsx", ".xlsm", ".ods"):
        return found, {}  # the content decides, not the name: a web system's "xls" is often HTML or XML
    if found is not None:  # Excel and WPS refuse to open these under a name that says zip
        raise UnreadableWorkbook(f"不是电子表格文件：文件名是 {path.suffix}，内容却是文本或网页。如果是系统导出的，"
                                 "请把扩展名改为 .xls 后重新提交，或用 Excel 打开后另存为 .xlsx")
    raise UnreadableWorkbook("不是电子表格文件（支持 .xlsx、.xlsm、.xls、.ods、.csv，"
                             "以及系统导出的网页、XML 和文本格式表格）")


@dataclass
class RawSheet:
    name: str
    first_row: int  # 0-based sheet row of the first row yielded
    first_col: int
    _rows: Any  # callable → iterator of lists
    formula_blank: frozenset[tuple[int, int]] = frozenset()  # (Excel row, column) of C11 cells
    is_csv: bool = False  # a CSV has no room for the header block above the table
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (Excel row, column) → "#N/A"
    hidden: bool = False
    _late: Any = None  # () → SheetScan: formula_blank and error_cells are known once a scan beside ends
    helper: Any = None  # the ScanBeside of this sheet, if any
    source: str | None = None  # what a web or text export really is ("html", "spreadsheetml", "tsv", "csv")

    def rows(self) -> Iterator[list[Any]]:
        return self._rows()

    @property
    def settled(self) -> bool:
        """Whether formula_blank and error_cells are known yet."""
        return self._late is None

    def settle(self) -> None:
        """Wait for the scan beside the reading (if any) and take formula_blank and error_cells from it."""
        if self._late is not None:
            scan = self._late()
            self.formula_blank = frozenset(scan.formula_blank)
            self.error_cells = scan.error_cells
            self._late = None


def _open_sheets(path: Path, limits: Limits) -> list[RawSheet]:
    kind, scans = _sniff(path, limits)
    if kind in ("text", "html", "spreadsheetml"):
        return _export_sheets(path, kind, limits)
    try:
        parts = sheet_parts(path) if kind == "zip" else {}
        if parts and all(part in scans for part in parts.values()):
            return _stream_sheets(path, parts, scans)
        biff = None
        if kind == "ole":  # C11 in a legacy .xls: its BIFF scan runs while calamine (without the GIL) parses
            biff = ThreadPoolExecutor(max_workers=1).submit(formula_blanks, path.read_bytes())
        book = calamine.CalamineWorkbook.from_path(str(path))
        parsed = []
        for meta in book.sheets_metadata:
            if not _is_worksheet(meta):
                continue
            parsed.append((meta, book.get_sheet_by_name(meta.name)))
        blanks = biff.result() if biff is not None else {}
        sheets = []
        for meta, sheet in parsed:
            # iter_rows yields every row from the sheet's first (blank rows above the table included)
            # but only the columns from the first used one: the row offset is 0, the column offset is not.
            start = sheet.start or (0, 0)
            scan = scans.get(parts.get(meta.name), SheetScan())
            sheets.append(RawSheet(meta.name, 0, start[1], lambda s=sheet: iter(s.iter_rows()),
                                   frozenset(scan.formula_blank | blanks.get(meta.name, set())),
                                   error_cells=scan.error_cells,
                                   hidden=_is_hidden(meta)))
        return sheets
    except (calamine.PasswordError, calamine_stream.PasswordError) as exc:
        raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后另存再提交") from exc
    except (calamine.CalamineError, calamine_stream.CalamineError, ValueError, OSError) as exc:
        raise UnreadableWorkbook("文件已损坏或格式不受支持，无法读取内容") from exc


def _export_sheets(path: Path, kind: str, limits: Limits) -> list[RawSheet]:
    """A CSV or tab-separated text, an HTML table or an XML Spreadsheet 2003 file: streamed, never held."""
    if kind == "text":
        table = webexports.open_text(path)
        webexports.precount(path, kind, limits, table)
        source = "tsv" if table.delimiter == "\t" else "csv"
        return [RawSheet(path.stem, 0, 0, lambda: webexports.text_rows(path, table, limits), is_csv=True,
                         source=source)]
    webexports.precount(path, kind, limits)
    if kind == "html":
        return [RawSheet(path.stem, 0, 0, lambda: webexports.html_rows(path, limits), source=kind)]
    book = webexports.SpreadsheetML(path, limits)
    return [RawSheet(sheet.name, 0, 0, lambda name=sheet.name: book.rows(name), hidden=sheet.hidden, source=kind,
                     _late=lambda name=sheet.name: book.scan(name))
            for sheet in book.sheets]


def _is_worksheet(meta) -> bool:
    return str(meta.typ) in ("SheetTypeEnum.WorkSheet", "WorkSheet")


def _is_hidden(meta) -> bool:
    return str(meta.visible) not in ("SheetVisibleEnum.Visible", "Visible")


def _stream_sheets(path: Path, parts: dict[str, str], scans: dict[str, SheetScan | ScanBeside]) -> list[RawSheet]:
    """.xlsx / .xlsm: each sheet is streamed row by row, never loaded whole (a full sheet held by calamine
    took 1.1 GB). The stream is bounded by the extent the scan found, not by the sheet's own <dimension>
    (which may claim 16,384 columns); it yields every row from row 1 and every column from A."""
    book = calamine_stream.CalamineWorkbook.from_path(str(path))
    sheets = []
    for meta in book.sheets_metadata:
        if not _is_worksheet(meta) or meta.name not in parts:
            continue
        part = parts[meta.name]
        scan = scans[part]
        if isinstance(scan, ScanBeside):
            rows = lambda name=meta.name, part=part, watch=scan: _rows_beside(book, name, part, watch)  # noqa: E731
            sheets.append(RawSheet(meta.name, 0, 0, rows, hidden=_is_hidden(meta),
                                   _late=lambda part=part, watch=scan: watch.result(part), helper=scan))
            continue

        def rows(name=meta.name, scan=scan) -> Iterator[list[Any]]:
            if scan.cells == 0:
                return
            last_row = max(scan.max_row, scan.rows, 1)
            stream = _stream(book, name, last_row + 1, scan.max_col)
            yield from islice(stream, last_row)
            _nothing_below(stream, last_row)

        sheets.append(RawSheet(meta.name, 0, 0, rows, frozenset(scan.formula_blank), error_cells=scan.error_cells,
                               hidden=_is_hidden(meta)))
    return sheets


def _stream(book, name: str, last_row: int | None, max_col: int) -> Iterator[list[Any]]:
    try:  # the XML is parsed as the rows are read: a broken part shows here, not on opening
        yield from book.stream_sheet_by_name(name, max_row=None if last_row is None else last_row - 1,
                                             max_col=max(max_col, 1) - 1)
    except (calamine_stream.CalamineError, ValueError) as exc:
        raise UnreadableWorkbook("文件已损坏或格式不受支持，无法读取内容") from exc


def _rows_beside(book, name: str, part: str, watch: ScanBeside) -> Iterator[list[Any]]:
    """The rows of a sheet whose scan runs beside: each run of rows is read once the scan has passed it,
    as wide as the first rows; a sheet found wider in the end is read again (:class:`Reread`). The rows
    end where the scan says the sheet ends, as when the scan comes first."""
    width = watch.width(part)
    stream = _stream(book, name, None, width)
    done = 0
    while (allowed := watch.allowed(part, done)) > done:
        for row in islice(stream, allowed - done):
            yield row
            done += 1
        if done < allowed:  # the stream ended before the rows the scan passed
            break
    if watch.result(part).max_col != width:  # a cell further right than the first rows' (rare): not read
        raise Reread()
    if done == allowed:
        _nothing_below(stream, done)


def _nothing_below(stream: Iterator[list[Any]], last_row: int) -> None:
    """A cell whose reference lies below the last row the sheet's row elements name (a hand-edited or
    tampered file: ``<row r="8"><c r="B12">``) would be silently left out: the file is refused instead."""
    if next(stream, None) is not None:
        raise UnreadableWorkbook(f"工作表第 {last_row} 行以下还有单元格，但它们写在了别的行里（文件结构异常，"
                                 "可能被其他程序改动过）。请用 Excel 或 WPS 打开后另存为新文件再提交")


_pool: ThreadPoolExecutor | None = None
_pending: dict[tuple[str, Limits], Future] = {}


def prefetch(path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Start opening ``path`` in a background thread; :func:`open_sheets` picks the result up."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlflow-open")
    key = (str(Path(path).resolve()), limits)
    if key not in _pending:
        _pending[key] = _pool.submit(_open_sheets, Path(path), limits)


def open_sheets(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[RawSheet]:
    """Every sheet of the file, each able to yield its rows (lists of raw values)."""
    pending = _pending.pop((str(Path(path).resolve()), limits), None)
    if pending is not None:
        return pending.result()
    return _open_sheets(Path(path), limits)


_FORMULA = re.compile(rb"<f[ >/]")
_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"[^>]*?(?:/>|>(.*?)</c>)', re.S)
_VALUE = re.compile(rb"<v>[^<]|<is>")


def sheet_parts(path: Path) -> dict[str, str]:
    """{sheet name: its zip member} from workbook.xml and its rels."""
    try:
        with zipfile.ZipFile(path) as zf:
            book = zf.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}
    targets = {}
    for m in re.finditer(r"<Relationship\b[^>]*>", rels):
        rid = re.search(r'Id="([^"]*)"', m.group())
        target = re.search(r'Target="([^"]*)"', m.group())
        if rid and target:
            t = target.group(1)
            targets[rid.group(1)] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    out = {}
    for m in re.finditer(r"<sheet\b[^>]*>", book):
        name = re.search(r'name="([^"]*)"', m.group())
        rid = re.search(r'r:id="([^"]*)"', m.group())
        if name and rid and rid.group(1) in targets:
            out[html.unescape(name.group(1))] = targets[rid.group(1)]
    return out


def _has_formula(data: bytes, end: int) -> bool:
    at = data.find(b"<f", 0, end)
    while at != -1:
        if data[at + 2 : at + 3] in (b" ", b">", b"/"):
            return True
        at = data.find(b"<f", at + 2, end)
    return False


def _scan_cells(data: bytes) -> set[tuple[int, int]]:
    out = set()
    for m in _CELL.finditer(data):
        inner = m.group(3)
        if inner and _FORMULA.search(inner) and not _VALUE.search(inner):
            letters = m.group(1).decode()
            col = 0
            for ch in letters:
                col = col * 26 + ord(ch) - 64
            out.add((int(m.group(2)), col - 1))
    return out
