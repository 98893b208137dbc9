"""Opening a file safely: size, zip expansion, XML entity declarations, encryption; the raw sheets.

Kept free of pandas so that a file can be opened (parsed by calamine, which releases the GIL) in a
background thread while the rest of xlflow is still importing: see :func:`prefetch`.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine as calamine


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 200 * 2**20
    max_expanded_bytes: int = 3 * 2**30
    max_ratio: int = 250  # a member this many times its compressed size is a zip bomb
    max_rows: int = 1_048_576
    header_scan_rows: int = 40
    chunk_rows: int = 65_536


DEFAULT_LIMITS = Limits()


class UnreadableWorkbook(Exception):
    """The file cannot be read as a spreadsheet; ``detail`` is Chinese, for the F01 message."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def _check_zip(path: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > limits.max_expanded_bytes:
                raise UnreadableWorkbook("文件解压后超过大小上限，可能是压缩炸弹")
            for info in infos:
                if info.file_size > 2**20 and info.file_size > limits.max_ratio * max(
                    info.compress_size, 1
                ):
                    raise UnreadableWorkbook("文件压缩比异常，可能是压缩炸弹，已拒绝读取")
                if info.filename.endswith((".xml", ".rels", ".vml")):
                    with zf.open(info) as fh:
                        head = fh.read(4096)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise UnreadableWorkbook("文件中含有 XML 实体声明，出于安全考虑已拒绝读取")
    except zipfile.BadZipFile as exc:
        raise UnreadableWorkbook("文件已损坏，不是有效的 Excel 文件") from exc


def _sniff(path: Path, limits: Limits) -> str:
    """'zip', 'ole' or 'text'; refuses what cannot be a spreadsheet."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableWorkbook("找不到文件或没有读取权限") from exc
    if size == 0:
        raise UnreadableWorkbook("文件是空的（0 字节）")
    if size > limits.max_file_bytes:
        mib = limits.max_file_bytes // 2**20
        raise UnreadableWorkbook(f"文件大小超过上限 {mib} MB")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04"):
        _check_zip(path, limits)
        return "zip"
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后另存再提交")
        return "ole"
    if path.suffix.lower() in (".csv", ".txt"):
        return "text"
    raise UnreadableWorkbook("不是电子表格文件（支持 .xlsx、.xlsm、.xls、.ods、.csv）")


def _decode_csv(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableWorkbook("CSV 文件编码无法识别，请另存为 UTF-8 或 Excel 格式")


@dataclass
class RawSheet:
    name: str
    first_row: int  # 0-based sheet row of the first row yielded
    first_col: int
    _rows: Any  # callable → iterator of lists
    formula_blank: frozenset[tuple[int, int]] = frozenset()  # (Excel row, column) of C11 cells
    is_csv: bool = False  # a CSV has no room for the header block above the table

    def rows(self) -> Iterator[list[Any]]:
        return self._rows()


def _open_sheets(path: Path, limits: Limits) -> list[RawSheet]:
    kind = _sniff(path, limits)
    if kind == "text":
        text = _decode_csv(path.read_bytes())
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(io.StringIO(text), dialect))
        return [RawSheet(path.stem, 0, 0, lambda: iter(rows), is_csv=True)]
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
        sheets = []
        for meta in book.sheets_metadata:
            if str(meta.typ) not in ("SheetTypeEnum.WorkSheet", "WorkSheet"):
                continue
            sheet = book.get_sheet_by_name(meta.name)
            start = sheet.start or (0, 0)
            blank = formulas_without_value(path, meta.name) if kind == "zip" else set()
            sheets.append(
                RawSheet(meta.name, start[0], start[1], lambda s=sheet: iter(s.iter_rows()), frozenset(blank))
            )
        return sheets
    except calamine.PasswordError as exc:
        raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后另存再提交") from exc
    except (calamine.CalamineError, ValueError, OSError) as exc:
        raise UnreadableWorkbook("文件已损坏或格式不受支持，无法读取内容") from exc


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


def _sheet_part(zf: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member of the worksheet called ``sheet_name`` (workbook.xml + its rels)."""
    try:
        book = zf.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    except KeyError:
        return None
    rid = None
    for m in re.finditer(r"<sheet\b[^>]*>", book):
        tag = m.group()
        name = re.search(r'name="([^"]*)"', tag)
        if name and html.unescape(name.group(1)) == sheet_name:
            found = re.search(r'r:id="([^"]*)"', tag)
            rid = found.group(1) if found else None
    for m in re.finditer(r"<Relationship\b[^>]*>", rels):
        tag = m.group()
        if rid and f'Id="{rid}"' in tag:
            target = re.search(r'Target="([^"]*)"', tag).group(1)
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return None


def formulas_without_value(path: Path, sheet_name: str, chunk: int = 1 << 22) -> set[tuple[int, int]]:
    """(Excel row, 0-based column) of formula cells that have no cached value (C11).

    Excel and WPS save each formula's last result; a file written by a program that does not
    calculate (or saved with calculation off) has none, and the cell reads as empty.
    """
    found: set[tuple[int, int]] = set()
    try:
        with zipfile.ZipFile(path) as zf:
            part = _sheet_part(zf, sheet_name)
            if part is None:
                return found
            with zf.open(part) as fh:
                tail = b""
                while block := fh.read(chunk):
                    data = tail + block
                    cut = data.rfind(b"</row>") + len(b"</row>") if b"</row>" in data else 0
                    tail = data[cut:]
                    if _has_formula(data, cut):
                        found |= _scan_cells(data[:cut])
                if _FORMULA.search(tail):
                    found |= _scan_cells(tail)
    except (zipfile.BadZipFile, KeyError, OSError):
        return found
    return found


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
