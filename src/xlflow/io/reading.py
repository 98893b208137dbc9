"""Workbook → the table of one known kind: header fields, text cells, cell types.

Safety limits live here: size, zip expansion, XML entity declarations, encryption. A file that cannot
be read at all raises :class:`UnreadableWorkbook`, which becomes an F01 finding at the edge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain.findings import column_letter
from xlflow.domain.kinds import KindSpec, all_specs
from xlflow.io.cellvalues import cell_text, convert_column, cut_long
from xlflow.io.headers import HeaderValue, column_text, header_values
from xlflow.io.opening import DEFAULT_LIMITS, Limits, RawSheet, Reread, open_sheets
from xlflow.io.sheets import continued, take_sheets

MAX_HEAD_ROWS = 5_000  # rows searched for the header row, blank ones included


class KindNotRecognised(Exception):
    """No sheet has a header row of a known kind (F02)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass
class Table:
    """One table read from a sheet. ``frame`` is indexed by the Excel row number."""

    spec: KindSpec
    sheet: str
    header_row: int  # Excel row number of the header row
    headers: list[str]  # header text of every column, in sheet order, as matched ('' where none)
    keys: dict[str, int]  # field key → 0-based column index
    frame: pd.DataFrame  # one str column per sheet column (named by column index), '' when empty
    numeric: pd.DataFrame  # True where the raw cell was a number
    raw_headers: list[str] = field(default_factory=list)  # the header cells exactly as written
    header_values: dict[str, HeaderValue] = field(default_factory=dict)
    duplicate_keys: dict[str, list[int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # required column keys not found
    formula_blank: frozenset[tuple[int, int]] = frozenset()  # (row, column) of formulas with no value
    is_csv: bool = False
    title_rows: list[list[str]] = field(default_factory=list)  # rows above the header, as text
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) → "#N/A"
    long_cells: dict[tuple[int, int], int] = field(default_factory=dict)  # (row, column) → characters
    hidden_tables: list[tuple[str, str]] = field(default_factory=list)  # (sheet, kind title) of hidden sheets
    # (sheet, kind title, its rows as counted in the rows read to find its header) of the other visible sheets
    # that hold a table: not read (F10)
    other_tables: list[tuple[str, str, str]] = field(default_factory=list)
    table_sheets: list[str] = field(default_factory=list)  # the visible sheets holding a table, in sheet order
    handled: str = ""  # what the check of this file covers, where more than this sheet ("前 100 张工作表")
    header_from: str = ""  # a sheet without a header row, read under that sheet's (an export split over sheets)
    passed: list[tuple[str, str, str, str]] = field(default_factory=list)  # (ID, year, file, row) carried over
    first_col: int = 0  # sheet column of the first column read (title rows start there)
    source: str | None = None  # a web or text export: what it really is ("html", "spreadsheetml", "tsv", "csv")
    merged_fills: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) → the merged value
    # (column, header as written, the absent column it looks like) of filled columns no kind's name matches
    unknown_columns: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def first_data_row(self) -> int:
        """The Excel row of the first data row in what keeps this table's layout (the corrected workbook: the
        title rows as written, then the header)."""
        return len(self.title_rows) + 2

    def text(self, key: str) -> pd.Series:
        return self.frame[self.keys[key]]

    def is_number(self, key: str) -> pd.Series:
        return self.numeric[self.keys[key]]

    def cell(self, key: str, row: int) -> str:
        return f"{column_letter(self.keys[key])}{row}"

    def cell_letter(self, column: int) -> str:
        return column_letter(column)


# ---------------------------------------------------------------- cell values → text


# ---------------------------------------------------------------- opening, safely


@cache
def _name_index(spec: KindSpec) -> dict[str, str]:
    index = {}
    for col in spec.columns:
        for name in col.names:
            index.setdefault(name, col.key)
    return index


@cache
def _name_rank(spec: KindSpec) -> dict[str, int]:
    """Each header name's place among its column's names: where two columns name one (户主姓名 and 成员姓名 in
    a household list), the one named first in the kind's list is read."""
    return {name: rank for col in spec.columns for rank, name in enumerate(col.names)}


@cache
def _others_names(spec: KindSpec, others: tuple[KindSpec, ...]) -> frozenset[str]:
    """Header names the other candidate kinds know (a header row is scored against each kind)."""
    return frozenset(n for other in others if other.kind != spec.kind for n in _name_index(other))


def _score(spec: KindSpec, headers: list[str], others: tuple[KindSpec, ...] = ()) -> tuple:
    """How well a header row fits ``spec``: (its own columns decide, share of required columns, columns).

    A row with two or more headers only this kind has (个人缴费调整, 调整原因, 人员类别 for an adjustment;
    开始年月 for a rule table) and three quarters of its required columns is that kind even when the
    columns it shares with another kind make the other complete: an adjustment missing 调整原因 is an
    adjustment with F03, not a declaration.
    """
    names = _name_index(spec)
    found = {names[h] for h in headers if h in names}
    required = {c.key for c in spec.required_columns}
    ratio = len(found & required) / max(len(required), 1)
    own = sum(1 for h in set(headers) if h in names and h not in _others_names(spec, others))
    return (own >= 2 and ratio >= 0.75, ratio, len(found))


def _detect(sheets: list[RawSheet], specs: list[KindSpec], limits: Limits):
    """The best header row of any sheet: visible sheets first, then those with rows under the header, then
    the best score. Also returns the hidden sheets that hold a table (reported as F08, never chosen silently
    over a visible one) and the visible ones that hold rows."""
    best = None
    hidden, visible, bare = [], [], []
    for sheet in sheets:
        if sheet.name in SUPPORT_SHEETS:  # the instructions' example table is not the data
            continue
        found = _best_in_sheet(sheet, specs, limits)
        if found is None:
            bare.append(sheet)  # no header: it may go on with the table of the sheet before it
            continue
        seen, people = _rows_seen(found[4], found[3], limits)
        if sheet.hidden:
            hidden.append((sheet.name, found[1].title))
        elif people:  # a header alone (an empty copy of the template) holds no one to name or check
            visible.append((sheet.name, found[1].title, seen, found))
        ranked = (not sheet.hidden, people, *found[0])  # a sheet with people before an empty one
        if best is None or ranked > best[0]:
            best = (ranked, *found[1:])
    return best, hidden, visible, bare


def _rows_seen(head: list, head_index: int, limits: Limits) -> tuple[str, bool]:
    """The filled rows under a header among the rows read to find it ("12 行", or "至少 190 行" when the search
    stopped before the sheet's end), and whether there may be any."""
    rows = sum(1 for row in head[head_index + 1:] if any(v not in ("", None) for v in row))
    cut = len(head) >= MAX_HEAD_ROWS or sum(1 for row in head if any(v not in ("", None) for v in row)) \
        >= limits.header_scan_rows
    return (f"至少 {rows:,} 行" if cut else f"{rows:,} 行"), bool(rows or cut)


def _best_in_sheet(sheet: RawSheet, specs: list[KindSpec], limits: Limits):
    """(score, spec, sheet, header row index, rows read) of the sheet's best header row, or None."""
    best = None
    head = []
    filled = 0
    for row in sheet.rows():  # blank rows above the table do not count
        head.append(row)
        filled += any(v not in ("", None) for v in row)
        if filled >= limits.header_scan_rows or len(head) >= MAX_HEAD_ROWS:
            break
    for i, row in enumerate(head):
        if not any(v not in ("", None) for v in row):
            continue
        headers = [column_text(v) for v in row]
        for spec in specs:
            score = _score(spec, headers, tuple(specs))
            if score[1] >= 0.5 and score[2] >= spec.min_columns and (best is None or score > best[0]):
                best = (score, spec, sheet, i, head)
    return best


def read_table(
    path: Path, kinds: list[KindSpec] | None = None, limits: Limits = DEFAULT_LIMITS
) -> Table:
    """Find the header row of a known kind in any sheet and read its table as text."""
    return read_tables(path, kinds, limits, every_sheet=False)[0]


def read_tables(path: Path, kinds: list[KindSpec] | None = None, limits: Limits = DEFAULT_LIMITS,
                every_sheet: bool = True, sheet: str | None = None) -> list[Table]:
    """The best table of a known kind, then (``every_sheet``) each other visible sheet's table of the same kind
    (an export split over sheets of 65,536 rows; a 民政 list of one sheet per township, or 城市低保 and 农村低保):
    read as they are, in sheet order. The first's ``other_tables`` are the sheets of another kind. ``sheet``:
    that sheet's table alone (a workbook whose sheets are checked one by one; the others are not named)."""
    sheets = open_sheets(path, limits)
    try:
        return _read_sheets(sheets, kinds, limits, every_sheet, sheet)
    except Reread:  # the scan beside the reading found what the reading could not assume: scan first
        return read_tables(path, kinds, dataclasses.replace(limits, scan_beside_bytes=2**62), every_sheet, sheet)
    finally:
        for sheet in sheets:
            if sheet.helper is not None:
                sheet.helper.stop()


def _read_sheets(sheets: list[RawSheet], kinds: list[KindSpec] | None, limits: Limits,
                 every_sheet: bool, only: str | None = None) -> list[Table]:
    specs = kinds or all_specs()
    found, hidden, visible, bare = _detect([s for s in sheets if s.name == only] if only else sheets, specs, limits)
    if found is None:
        wanted = "、".join(s.title for s in specs)
        raise KindNotRecognised(f"应为：{wanted}")
    _, spec, sheet, head_index, head = found
    table = _build_table(spec, sheet, head_index, head, limits)  # the best: what else the reader saw is told with it
    found_in = {other[0]: other[3] for other in visible}
    table.other_tables = [other[:3] for other in visible if other[0] != sheet.name]
    taken = take_sheets(table, lambda other: every_sheet and found_in[other[0]][1].kind == spec.kind, limits)
    tables = [table] + [_build_table(spec, *found_in[name][2:], limits) for name, *_ in taken]
    if every_sheet and "id_number" in table.keys and _second_header_row(spec, head, head_index) is None:
        tables += _continued(table, bare, head[head_index], limits, limits.max_sheets - len(tables))
    table.passed = _passed_rows(sheets)
    table.hidden_tables = [(name, title) for name, title in hidden if name != sheet.name]
    table.table_sheets = [other[0] for other in visible]
    if sheet.hidden:
        table.hidden_tables.insert(0, (sheet.name, spec.title))
    return tables


def _continued(first: Table, bare: list[RawSheet], header: list, limits: Limits, room: int) -> list[Table]:
    """The tables of the sheets without a header that go on with ``first`` (read under its header)."""
    out = []
    for sheet in bare:
        more = continued(sheet, header, first.first_col, first.keys["id_number"] - first.first_col)
        found = _best_in_sheet(more, [first.spec], limits) if more is not None and len(out) < room else None
        if found is not None and found[3] == 0:
            out.append(_build_table(first.spec, more, 0, found[4], limits))
            out[-1].header_from = first.sheet
    return out


PASSED_SHEET = "已通过记录"  # hidden sheet of an error workbook: the person-years its batch already passed
SUPPORT_SHEETS = ("填写说明", "代码表", PASSED_SHEET)  # sheets of a template that never hold the data


def _passed_rows(sheets: list[RawSheet]) -> list[tuple[str, str, str, str]]:
    """(ID, year, corrected file, row there) of the person-years an error workbook's batch passed."""
    for sheet in sheets:
        if sheet.name == PASSED_SHEET:
            rows = iter(sheet.rows())
            next(rows, None)  # its header row
            return [tuple(cell_text(v) for v in (*r[:4], "", "", "", "")[:4]) for r in rows if r and r[0]]
    return []


def _second_header_row(spec: KindSpec, head, head_index: int) -> list[str] | None:
    """The row under a two-row (merged) header: every filled cell is a column name of the kind."""
    if head_index + 1 >= len(head):
        return None
    names = _name_index(spec)
    below = [_sub_name(column_text(v), names) for v in head[head_index + 1]]
    filled = [t for t in below if t]
    if filled and all(t in names for t in filled):
        return below
    return None


# Under a merged 财政补贴 (or 补贴金额, 调整金额 …), the second header row names the payers alone: 省级 / 市级 / 县级.
_PAYERS = {"省": "省级", "市": "市级", "县": "县级", "县(市、区)": "县级", "县（市、区）": "县级", "县区": "县级"}


def _sub_name(text: str, names: dict[str, str]) -> str:
    """A cell of a second header row as a column name: itself, or a payer alone (省级, 市, 县级; 个人 and 政府代缴
    under an adjustment's merged 调整金额) as the kind's column for that payer's part (省级补贴, 省级补贴调整,
    个人缴费调整, 政府代缴调整)."""
    if text in names or not text:
        return text
    payer = _PAYERS.get(text, text)
    return next((name for name in (f"{payer}补贴", f"{payer}补贴调整", f"{payer}财政补贴", f"{payer}缴费调整",
                                   f"{payer}调整") if name in names), text)


def _build_table(spec, sheet: RawSheet, head_index: int, head, limits: Limits) -> Table:
    headers = [column_text(v) for v in head[head_index]]
    raw_cells = [cell_text(v) for v in head[head_index]]
    names = _name_index(spec)
    second = _second_header_row(spec, head, head_index)
    if second is not None:  # e.g. 缴费金额 merged over 个人缴费 … 合计 on the row below
        width = max(len(headers), len(second))
        headers = [(second[c] if c < len(second) and second[c] else (headers[c] if c < len(headers) else ""))
                   for c in range(width)]
        below = [cell_text(v) for v in head[head_index + 1]]
        raw_cells = [(below[c] if c < len(below) and below[c] else (raw_cells[c] if c < len(raw_cells) else ""))
                     for c in range(width)]
    keys: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    rank = _name_rank(spec)
    for col, text in enumerate(headers):
        key = names.get(text)
        if key is None:
            continue
        if key in keys:
            duplicates.setdefault(key, [keys[key] + sheet.first_col]).append(col + sheet.first_col)
            if rank[text] < rank[headers[keys[key]]]:  # 成员姓名 beside 户主姓名: the member's is the person's
                keys[key] = col
        else:
            keys[key] = col
    offset = sheet.first_col
    keys = {k: c + offset for k, c in keys.items()}
    headers = [""] * offset + headers
    raw = [""] * offset + raw_cells
    title_rows = [[cell_text(v) for v in row] for row in head[:head_index]]
    seq = keys.get("seq")
    body_index = head_index + (1 if second is not None else 0)
    header_row = sheet.first_row + body_index + 1
    # A row whose only content is a formula saved without its value is a row (C11), not a blank one. Where
    # the scan runs beside the reading, which rows those are is known only once the rows are read.
    def formula_rows() -> set[int]:
        sheet.settle()
        return {r - header_row - 1 for r, _ in sheet.formula_blank if r > header_row}

    frame, numeric, long_cells = _read_body(sheet, body_index, len(headers), offset, limits, seq, formula_rows)
    frame.index = frame.index + header_row + 1
    numeric.index = frame.index
    table = Table(
        spec=spec,
        sheet=sheet.name,
        header_row=header_row,
        headers=headers + [""] * (frame.shape[1] - len(headers)),
        raw_headers=raw + [""] * (frame.shape[1] - len(raw)),
        keys=keys,
        frame=frame,
        numeric=numeric,
        duplicate_keys=duplicates,
        missing=[c.key for c in spec.required_columns if c.key not in keys],
        title_rows=title_rows,
        formula_blank=sheet.formula_blank,
        is_csv=sheet.is_csv,
        long_cells={(r + header_row + 1, c): n for (r, c), n in long_cells.items()},
        first_col=offset,
        source=sheet.source,
    )
    _apply_error_cells(table, sheet.error_cells)
    table.merged_fills = _fill_merged(table, sheet.merged)
    table.unknown_columns = _look_alike_columns(table)
    table.header_values = header_values(spec, head[:head_index], sheet)
    return table


def _read_body(sheet: RawSheet, head_index: int, width: int, offset: int, limits: Limits, seq: int | None,
               formula_rows: Callable[[], set[int]] = frozenset):
    """Rows below the header → (text frame, numeric mask, long cells), converted a band of rows at a time.

    Each band becomes one array per column straight away and its blank rows are dropped there, so the
    rows as the reader gives them (a Python list per row) never pile up: a full sheet stays in bounded
    memory. A row whose only filled cell is 序号 (a pre-numbered sheet) is blank too; a row whose only
    content is a formula saved without its value (``formula_rows()``) is not. Where those rows are known
    only after the reading (a scan beside it), blank rows are dropped at the end.
    """
    long_cells: dict[tuple[int, int], int] = {}
    rows = sheet.rows()
    for _ in range(head_index + 1):
        next(rows, None)
    texts: list[list[np.ndarray]] = []  # per band, one array per column (bands may differ in width)
    numbers: list[list[np.ndarray | None]] = []
    kept: list[np.ndarray] = []
    blanks: list[np.ndarray] = []  # per band, its blank rows (while the formula rows are not known)
    late = not sheet.settled
    formula_at = np.array([] if late else sorted(formula_rows()), dtype=np.int64)
    start = 0
    while True:
        chunk = list(islice(rows, limits.chunk_rows))
        if not chunk:
            break
        n = len(chunk)
        band_width = max(width - offset, max(map(len, chunk)))
        if any(len(r) != band_width for r in chunk):
            chunk = [r if len(r) == band_width else list(r) + [""] * (band_width - len(r)) for r in chunk]
        band_texts, band_numbers = [], []
        blank = np.ones(n, dtype=bool)
        for i, column in enumerate(zip(*chunk, strict=True)):
            text, number, empty, long = convert_column(column)
            if long:
                cut_long(text, i + offset, start, long_cells)
            if i + offset != seq:
                blank &= empty
            band_texts.append(text)
            band_numbers.append(number)
        positions = np.arange(start, start + n, dtype=np.int64)
        if late:
            blanks.append(blank)
        else:
            band_texts, band_numbers, positions = _drop_blank(band_texts, band_numbers, positions, blank, formula_at)
        texts.append(band_texts)
        numbers.append(band_numbers)
        kept.append(positions)
        del chunk
        start += n
        if n < limits.chunk_rows:
            break
    if late:
        formula_at = np.array(sorted(formula_rows()), dtype=np.int64)
        for b, blank in enumerate(blanks):
            texts[b], numbers[b], kept[b] = _drop_blank(texts[b], numbers[b], kept[b], blank, formula_at)
    past = formula_at[formula_at >= start]  # past the last row a reader with no value sees
    if len(past):
        texts.append([np.full(len(past), "", dtype=object)])
        numbers.append([None])
        kept.append(past)
    total_width = max([width, *(len(b) + offset for b in texts)])
    index = pd.Index(np.concatenate(kept) if kept else np.array([], dtype=np.int64))
    # One 2-D block per frame, filled band by band (each band freed once copied): pandas keeps it as
    # it is, where building from columns made a copy of the whole table.
    block = np.full((total_width, len(index)), "", dtype=object)
    flags = np.zeros((total_width, len(index)), dtype=bool)
    at = 0
    for b in range(len(kept)):
        n = len(kept[b])
        for i, (text, number) in enumerate(zip(texts[b], numbers[b], strict=True)):
            block[i + offset, at:at + n] = text
            if number is not None:
                flags[i + offset, at:at + n] = number
        texts[b] = numbers[b] = None
        at += n
    columns = pd.RangeIndex(total_width)
    frame = pd.DataFrame(block.T, index=index, columns=columns, dtype=object, copy=False)
    numeric = pd.DataFrame(flags.T, index=index, columns=columns, copy=False)
    return frame, numeric, long_cells


def _drop_blank(texts: list[np.ndarray], numbers: list[np.ndarray | None], positions: np.ndarray,
                blank: np.ndarray, formula_at: np.ndarray):
    """A band without its blank rows (a row holding a formula saved without its value is not blank)."""
    if len(formula_at):
        blank = blank & ~np.isin(positions, formula_at)
    if not blank.any():
        return texts, numbers, positions
    keep = ~blank
    return [t[keep] for t in texts], [None if m is None else m[keep] for m in numbers], positions[keep]


def _look_alike_columns(table: Table) -> list[tuple[int, str, str]]:
    """Filled columns under a header that names no column of the kind but looks like one the table lacks
    (个人应缴 for 个人缴费, 缴费年份 for 缴费年度): they are kept as they are and not checked, which a clerk
    should know (F09)."""
    from difflib import SequenceMatcher

    absent = [c for c in table.spec.columns if c.key not in table.keys]
    names = _name_index(table.spec)
    out = []
    for col, text in enumerate(table.headers):
        if not text or text in names or col >= table.frame.shape[1] or not absent:
            continue
        score, like = max((SequenceMatcher(None, text, name).ratio(), c.header) for c in absent for name in c.names)
        if score >= 0.6 and (table.frame[col] != "").any():
            out.append((col, table.raw_headers[col] or text, like))
    return out


def _fill_merged(table: Table, merged: list[tuple[int, int, int, int]]) -> dict[tuple[int, int], str]:
    """A cell merged down over the rows below it, in one column of the table (户口性质 or 缴费档次 of a
    household): every data row it covers shows its value, so every such row is given it (X11 lists each).
    Merges across columns, starting above the data or over unknown columns are left as they are."""
    fills: dict[tuple[int, int], str] = {}
    index = table.frame.index
    known = set(table.keys.values())
    for r1, c1, r2, c2 in merged:
        if c1 != c2 or r2 <= r1 or c1 not in known or c1 >= table.frame.shape[1] or r1 not in index:
            continue
        top = table.frame.at[r1, c1]
        if top == "":
            continue
        at = np.arange(index.searchsorted(r1, side="right"), index.searchsorted(r2, side="right"))
        at = at[table.frame.iloc[at, c1].to_numpy(dtype=object) == ""]
        if len(at):
            table.frame.iloc[at, c1] = top
            table.numeric.iloc[at, c1] = bool(table.numeric.at[r1, c1])
            fills.update(dict.fromkeys(((int(r), c1) for r in index[at]), top))
    return fills


def _apply_error_cells(table: Table, error_cells: dict[tuple[int, int], str]) -> None:
    """Excel error values (#N/A …) read as empty: put back what the clerk sees, for C13 and the outputs."""
    for (row, col), text in error_cells.items():
        if row in table.frame.index and col in table.frame.columns:
            table.frame.at[row, col] = text
            table.error_cells[(row, col)] = text
