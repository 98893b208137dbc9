"""Workbook → the table of one known kind: header fields, text cells, cell types.

Safety limits live here: size, zip expansion, XML entity declarations, encryption. A file that cannot
be read at all raises :class:`UnreadableWorkbook`, which becomes an F01 finding at the edge.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import python_calamine as calamine

from xlflow.findings import column_letter
from xlflow.kinds import KindSpec, all_specs

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".csv"}


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


class KindNotRecognised(Exception):
    """No sheet has a header row of a known kind (F02)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass
class HeaderValue:
    label: str
    value: str
    cell: str | None


@dataclass
class Table:
    """One table read from a sheet. ``frame`` is indexed by the Excel row number."""

    spec: KindSpec
    sheet: str
    header_row: int  # Excel row number of the header row
    headers: list[str]  # header text of every column, in sheet order ('' where none)
    keys: dict[str, int]  # field key → 0-based column index
    frame: pd.DataFrame  # one str column per sheet column (named by column index), '' when empty
    numeric: pd.DataFrame  # True where the raw cell was a number
    header_values: dict[str, HeaderValue] = field(default_factory=dict)
    duplicate_keys: dict[str, list[int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # required column keys not found
    title_rows: list[list[str]] = field(default_factory=list)  # rows above the header, as text

    def text(self, key: str) -> pd.Series:
        return self.frame[self.keys[key]]

    def is_number(self, key: str) -> pd.Series:
        return self.numeric[self.keys[key]]

    def cell(self, key: str, row: int) -> str:
        return f"{column_letter(self.keys[key])}{row}"

    def cell_letter(self, column: int) -> str:
        return column_letter(column)


# ---------------------------------------------------------------- cell values → text


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


def header_text(value: Any) -> str:
    """Header cell → the name used to match columns: spaces, line breaks and a trailing * removed."""
    text = re.sub(r"[\s\u3000\u200b\ufeff]+", "", cell_text(value))
    return text.rstrip("*＊").strip()


# ---------------------------------------------------------------- opening, safely


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

    def rows(self) -> Iterator[list[Any]]:
        return self._rows()


def open_sheets(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[RawSheet]:
    """Every sheet of the file, each able to yield its rows (lists of raw values)."""
    path = Path(path)
    kind = _sniff(path, limits)
    if kind == "text":
        text = _decode_csv(path.read_bytes())
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(io.StringIO(text), dialect))
        return [RawSheet(path.stem, 0, 0, lambda: iter(rows))]
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
        sheets = []
        for meta in book.sheets_metadata:
            if str(meta.typ) not in ("SheetTypeEnum.WorkSheet", "WorkSheet"):
                continue
            sheet = book.get_sheet_by_name(meta.name)
            start = sheet.start or (0, 0)
            sheets.append(
                RawSheet(meta.name, start[0], start[1], lambda s=sheet: iter(s.iter_rows()))
            )
        return sheets
    except calamine.PasswordError as exc:
        raise UnreadableWorkbook("文件设置了打开密码（已加密），请去掉密码后另存再提交") from exc
    except (calamine.CalamineError, ValueError, OSError) as exc:
        raise UnreadableWorkbook("文件已损坏或格式不受支持，无法读取内容") from exc


# ---------------------------------------------------------------- finding the table


def _name_index(spec: KindSpec) -> dict[str, str]:
    index = {}
    for col in spec.columns:
        for name in col.names:
            index.setdefault(name, col.key)
    return index


def _score(spec: KindSpec, headers: list[str]) -> tuple[float, int]:
    names = _name_index(spec)
    found = {names[h] for h in headers if h in names}
    required = {c.key for c in spec.required_columns}
    return len(found & required) / max(len(required), 1), len(found)


def _detect(sheets: list[RawSheet], specs: list[KindSpec], limits: Limits):
    best = None
    for sheet in sheets:
        head = []
        for i, row in enumerate(sheet.rows()):
            if i >= limits.header_scan_rows:
                break
            head.append(row)
        for i, row in enumerate(head):
            headers = [header_text(v) for v in row]
            for spec in specs:
                score = _score(spec, headers)
                if score[0] >= 0.5 and score[1] >= 3 and (best is None or score > best[0]):
                    best = (score, spec, sheet, i, head)
    return best


def read_table(
    path: Path, kinds: list[KindSpec] | None = None, limits: Limits = DEFAULT_LIMITS
) -> Table:
    """Find the header row of a known kind in any sheet and read its table as text."""
    sheets = open_sheets(path, limits)
    specs = kinds or all_specs()
    found = _detect(sheets, specs, limits)
    if found is None:
        wanted = "、".join(s.title for s in specs)
        raise KindNotRecognised(f"应为：{wanted}")
    _, spec, sheet, head_index, head = found
    return _build_table(spec, sheet, head_index, head, limits)


def _build_table(spec, sheet: RawSheet, head_index: int, head, limits: Limits) -> Table:
    headers = [header_text(v) for v in head[head_index]]
    names = _name_index(spec)
    keys: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for col, text in enumerate(headers):
        key = names.get(text)
        if key is None:
            continue
        if key in keys:
            duplicates.setdefault(key, [keys[key]]).append(col + sheet.first_col)
        else:
            keys[key] = col
    offset = sheet.first_col
    keys = {k: c + offset for k, c in keys.items()}
    headers = [""] * offset + headers
    title_rows = [[cell_text(v) for v in row] for row in head[:head_index]]
    frame, numeric = _read_body(sheet, head_index, len(headers), offset, limits)
    header_row = sheet.first_row + head_index + 1
    frame.index = frame.index + header_row + 1
    numeric.index = frame.index
    table = Table(
        spec=spec,
        sheet=sheet.name,
        header_row=header_row,
        headers=headers + [""] * (frame.shape[1] - len(headers)),
        keys=keys,
        frame=frame,
        numeric=numeric,
        duplicate_keys=duplicates,
        missing=[c.key for c in spec.required_columns if c.key not in keys],
        title_rows=title_rows,
    )
    table.header_values = _header_values(spec, head[:head_index], sheet)
    return table


def _read_body(sheet: RawSheet, head_index: int, width: int, offset: int, limits: Limits):
    """Rows below the header → (text frame, numeric mask), column-wise and chunked for memory."""
    text_chunks: list[pd.DataFrame] = []
    num_chunks: list[pd.DataFrame] = []
    rows = sheet.rows()
    for _ in range(head_index + 1):
        next(rows, None)
    start = 0
    while True:
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= limits.chunk_rows:
                break
        if not chunk:
            break
        text, num = _convert_chunk(chunk, width - offset, offset, start)
        text_chunks.append(text)
        num_chunks.append(num)
        start += len(chunk)
        if len(chunk) < limits.chunk_rows:
            break
    if not text_chunks:
        cols = range(width)
        return (pd.DataFrame({c: pd.Series(dtype=object) for c in cols}),
                pd.DataFrame({c: pd.Series(dtype=bool) for c in cols}))
    frame = pd.concat(text_chunks)
    numeric = pd.concat(num_chunks)
    blank = (frame == "").all(axis=1)
    return frame[~blank], numeric[~blank]


def _convert_chunk(chunk: list[list[Any]], width: int, offset: int, start: int):
    width = max(width, max(len(r) for r in chunk))
    padded = [r if len(r) == width else list(r) + [""] * (width - len(r)) for r in chunk]
    text_cols = {}
    num_cols = {}
    for i, column in enumerate(zip(*padded, strict=True)):
        text_cols[i + offset], num_cols[i + offset] = _convert_column(column)
    index = pd.RangeIndex(start, start + len(chunk))
    for c in range(offset):
        text_cols[c] = [""] * len(chunk)
        num_cols[c] = None
    order = sorted(text_cols)
    text = pd.DataFrame({c: pd.Series(text_cols[c], index=index, dtype=object) for c in order})
    num = pd.DataFrame(
        {
            c: (pd.Series(False, index=index) if num_cols[c] is None
                else pd.Series(num_cols[c], index=index, dtype=bool))
            for c in order
        }
    )
    return text, num


def _convert_column(column: tuple) -> tuple[Any, Any]:
    """Raw cells → (texts, numeric mask or None). Distinct values are converted once."""
    types = set(map(type, column))
    if types == {str}:
        return column, None
    if bool in types:  # True == 1 would merge with 1 when factorised: convert cell by cell
        return [cell_text(v) for v in column], [type(v) in (int, float) for v in column]
    codes, uniques = pd.factorize(np.array(column, dtype=object))
    uniques = np.asarray(uniques, dtype=object)
    numbers = np.array([type(u) in (int, float) for u in uniques], dtype=bool)
    texts = np.empty(len(uniques), dtype=object)
    # Whole numbers below 1e15 (years, 序号, most amounts) are formatted as a block.
    values = np.array([float(u) if n else 0.5 for u, n in zip(uniques, numbers, strict=True)])
    whole = numbers & (values == np.floor(values)) & (np.abs(values) < 1e15)
    texts[whole] = values[whole].astype(np.int64).astype(str)
    texts[~whole] = [cell_text(u) for u in uniques[~whole]]
    return np.append(texts, "")[codes], np.append(numbers, False)[codes]


def _header_values(spec: KindSpec, rows: list[list[Any]], sheet: RawSheet) -> dict:
    labels = {f.label: f.key for f in spec.header_fields}
    found: dict[str, HeaderValue] = {}
    for r, row in enumerate(rows):
        texts = [cell_text(v).strip() for v in row]
        for c, text in enumerate(texts):
            bare = header_text(text).rstrip(":：")
            inline = re.match(r"^(.+?)[*＊]?\s*[:：]\s*(.+)$", text)
            if bare in labels:
                value, cell = "", None
                for c2 in range(c + 1, len(texts)):
                    if header_text(texts[c2]).rstrip(":：") in labels:
                        break
                    if texts[c2]:
                        value = texts[c2]
                        cell = f"{column_letter(c2 + sheet.first_col)}{r + sheet.first_row + 1}"
                        break
                found.setdefault(labels[bare], HeaderValue(bare, value, cell))
            elif inline and header_text(inline.group(1)) in labels:
                label = header_text(inline.group(1))
                cell = f"{column_letter(c + sheet.first_col)}{r + sheet.first_row + 1}"
                found.setdefault(labels[label], HeaderValue(label, inline.group(2).strip(), cell))
    return found
