"""The safety scans of a workbook's zip before any reader allocates for it: the expansion of every part,
entity declarations, the extent and the cells each worksheet's XML holds, formulas without values and error
cells; a big worksheet scanned by a helper process beside the reading (:class:`ScanBeside`); an .ods's
table rows."""

from __future__ import annotations

import atexit
import dataclasses
import json
import re
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xlflow.io.refusal import (
    BOMB,
    BROKEN,
    ENTITY,
    Limits,
    UnreadableWorkbook,
    column_letter_of,
    too_wide,
)

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
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # (first row, column, last row, column)

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
_MERGE = re.compile(rb'<mergeCell ref="([A-Z]{1,3})([0-9]+):([A-Z]{1,3})([0-9]+)"')
MAX_MERGES = 100_000  # more merged ranges than that are not read (nor filled in)


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
    if b"<mergeCell " in data:  # after the rows: the ranges a clerk merged (Excel rows, 0-based columns)
        for m in _MERGE.finditer(data):
            if len(scan.merged) < MAX_MERGES:
                scan.merged.append((int(m.group(2)), _col_number(m.group(1)) - 1, int(m.group(4)),
                                    _col_number(m.group(3)) - 1))


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
                    size, merged = _check_ods(zf, info, limits, left)
                    scans.update({f"{ODS_PART}{name}": SheetScan(merged=found) for name, found in merged.items()})
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
    """Worksheets scanned by a helper process (``python -m xlflow.io.scanner``) while this one reads them.

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
        return [sys.executable, "-m", "xlflow.io.scanner", str(path), json.dumps(dataclasses.asdict(limits)),
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
                                            if k not in ("formula_blank", "error_cells", "merged")})
                        scan.formula_blank = {tuple(c) for c in msg["done"]["formula_blank"]}
                        scan.error_cells = {(r, c): text for r, c, text in msg["done"]["error_cells"]}
                        scan.merged = [tuple(int(v) for v in m) for m in msg["done"].get("merged", [])]
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


def _check_ods(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits,
               budget: int) -> tuple[int, dict[str, list[tuple[int, int, int, int]]]]:
    """An OpenDocument sheet's extent before the reader expands it: rows and columns repeated by
    attribute count only up to the last cell that holds something (an empty tail is free). Also, per
    sheet, the cells merged down in one column (Excel row, column, last row, column): calamine gives no
    merged ranges for .ods."""
    import html

    data = b""
    with zf.open(info) as fh:
        while block := fh.read(_SCAN_CHUNK):
            data += block
            if len(data) > min(budget, 512 * 2**20):
                raise UnreadableWorkbook(BOMB)
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
        raise UnreadableWorkbook(ENTITY)
    spans = b"number-rows-spanned" in data
    merges: dict[str, list[tuple[int, int, int, int]]] = {}
    for table in re.split(rb"<table:table[\s>]", data)[1:]:
        row, max_row, max_col = 0, 0, 0
        found: list[tuple[int, int, int, int]] = []
        for m in _ODS_ROW.finditer(table):
            repeat = int(r.group(1)) if (r := _ROWS_REPEATED.search(m.group(1))) else 1
            col, width = 0, 0
            for c in _ODS_CELL.finditer(m.group(3) or b""):
                span = int(r.group(1)) if (r := _COLS_REPEATED.search(c.group(1))) else 1
                if spans and (down := _ROWS_SPANNED.search(c.group(1))) and len(found) < MAX_MERGES:
                    across = _COLS_SPANNED.search(c.group(1))
                    if int(down.group(1)) > 1 and (across is None or int(across.group(1)) == 1):
                        found.append((row + 1, col, row + int(down.group(1)), col))
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
        if found and (name := _TABLE_NAME.match(table)):
            merges[html.unescape(name.group(1).decode("utf-8", "replace"))] = found
    return len(data), merges


_ROWS_SPANNED = re.compile(rb'table:number-rows-spanned="([0-9]+)"')
_COLS_SPANNED = re.compile(rb'table:number-columns-spanned="([0-9]+)"')
_TABLE_NAME = re.compile(rb'^[^>]*?table:name="([^"]*)"')
ODS_PART = "content.xml#"  # the key of an .ods sheet's scan (its merges): content.xml holds every sheet


_FORMULA = re.compile(rb"<f[ >/]")
_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"[^>]*?(?:/>|>(.*?)</c>)', re.S)
_VALUE = re.compile(rb"<v>[^<]|<is>")


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
