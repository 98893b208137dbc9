"""Opening a file safely: size, zip expansion, XML entity declarations, encryption; the raw sheets.

Kept free of pandas so that a file can be opened (parsed by calamine, which releases the GIL) in a
background thread while the rest of xlflow is still importing: see :func:`prefetch`.
"""

from __future__ import annotations

import html
import re
import stat
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import python_calamine as calamine
import python_calamine_plus as calamine_stream

from xlflow.io import webexports
from xlflow.io.refusal import (
    BOMB,
    BROKEN,
    DEFAULT_LIMITS,
    ENTITY,
    MAX_CELL_CHARS,
    Limits,
    TooManyRows,
    UnreadableWorkbook,
    column_letter_of,
)
from xlflow.io.xlsbiff import formula_blanks
from xlflow.io.zipscan import ODS_PART, Reread, ScanBeside, SheetScan, _check_zip

__all__ = ["BOMB", "BROKEN", "DEFAULT_LIMITS", "ENTITY", "MAX_CELL_CHARS", "Limits", "TooManyRows",
           "UnreadableWorkbook", "column_letter_of", "open_sheets", "prefetch", "sheet_parts"]


_NO_ACCESS = "没有读取这个文件的权限，或共享文件夹断开了。请管理员给出读取权限，或把文件复制到自己的文件夹后重新检查"


def _sniff(path: Path, limits: Limits) -> tuple[str, dict[str, SheetScan]]:
    """('zip', 'ole' or 'text', worksheet scans of a zip); refuses what cannot be a spreadsheet."""
    if path.is_dir():
        raise UnreadableWorkbook("这是一个文件夹，不是文件。请给出要检查的表格文件")
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise UnreadableWorkbook("找不到这个文件。请检查文件名和所在的文件夹（共享文件夹是否连着）") from exc
    except OSError as exc:
        raise UnreadableWorkbook(_NO_ACCESS) from exc
    if not stat.S_ISREG(st.st_mode):  # a pipe or a device: reading it could wait for ever or never end
        raise UnreadableWorkbook("这不是一个普通文件（可能是管道或设备）。请给出要检查的表格文件")
    size = st.st_size
    if size == 0:
        raise UnreadableWorkbook("文件是空的（0 字节）")
    if size > limits.max_file_bytes:
        mib = limits.max_file_bytes // 2**20
        raise UnreadableWorkbook(f"文件大小超过上限 {mib} MB")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError as exc:  # no permission to read it (the folder lets it be seen), or the share dropped
        raise UnreadableWorkbook(_NO_ACCESS) from exc
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
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # (Excel row, column, last row, column)

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
            self.merged = list(getattr(scan, "merged", []))
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
        ods = {k[len(ODS_PART):]: scan.merged for k, scan in scans.items() if k.startswith(ODS_PART)}
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
                                   hidden=_is_hidden(meta), merged=ods.get(meta.name) or _merged(sheet)))
        return sheets
    except (calamine.PasswordError, calamine_stream.PasswordError) as exc:
        raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后另存再提交") from exc
    except (calamine.CalamineError, calamine_stream.CalamineError, ValueError, OSError) as exc:
        raise UnreadableWorkbook(_broken(path)) from exc


def _broken(path: Path) -> str:
    """Why a spreadsheet could not be read: a WPS file that is not an .xls inside is told how to save it."""
    if path.suffix.lower() in (".et", ".ett"):
        return ("这是 WPS 表格自己的格式（.et），无法直接读取。请在 WPS 中点“文件 → 另存为”，选择"
                "“Excel 文件（*.xlsx）”后重新提交")
    return "文件已损坏或格式不受支持，无法读取内容"


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
        merged: list = []  # the rowspans the last reading found, given to the table once it is read
        return [RawSheet(path.stem, 0, 0, lambda: webexports.html_rows(path, limits, merged), source=kind,
                         _late=lambda: SheetScan(merged=list(merged)))]
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
                               hidden=_is_hidden(meta), merged=scan.merged))
    return sheets


def _merged(sheet) -> list[tuple[int, int, int, int]]:
    """A loaded sheet's merged ranges (.xls, .xlsx read whole) as (Excel row, column, last row, column)."""
    try:
        ranges = sheet.merged_cell_ranges or []
    except (AttributeError, ValueError, calamine.CalamineError):
        return []
    return [(r1 + 1, c1, r2 + 1, c2) for (r1, c1), (r2, c2) in ranges[:100_000]]


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
