"""NAME_错误数据.xlsx: rows with errors as the user wrote them, bad cells marked, 反馈信息 column."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np

from xlflow.domain.findings import Findings, column_letter
from xlflow.domain.rulebook import RuleBook
from xlflow.io.opening import MAX_CELL_CHARS
from xlflow.io.reading import PASSED_SHEET
from xlflow.outputs.layout import FEEDBACK_HEADER, head_rows, header_marks, output_columns, text_columns, widths
from xlflow.outputs.xlsxbook import Sheet, write_workbook
from xlflow.outputs.xlsxfast import Column, LazyValues, Style, cell_row, render_rows, taken
from xlflow.templates.build import Body, cell_styles, first_data_row, template_book
from xlflow.validation.result import Checked

CUT_NOTE = "……（反馈信息超过单元格上限，其余内容见汇总表）"


class Feedback:
    """The 反馈信息 of each error row, rendered a chunk at a time (a full sheet of errors stays small)."""

    def __init__(self, findings: Findings, rows: np.ndarray):
        self.findings = findings
        self.rows = rows
        self._last = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, part: slice) -> np.ndarray:
        rows = self.rows[part]
        if not len(rows):
            return np.array([], dtype=object)
        key = (part.start, part.stop)
        if self._last is not None and self._last[0] == key:  # asked twice per chunk: for the heights too
            return self._last[1]
        by_row = self.findings.feedback_by_row(rows)
        texts = np.array([feedback_text(by_row.get(r, [])) for r in rows.tolist()], dtype=object)
        self._last = (key, texts)
        return texts


def feedback_text(lines: list[str]) -> str:
    text = "\n".join(lines)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(CUT_NOTE)] + CUT_NOTE
    return text


def passed_sheet(checked: Checked, corrected_names: list[str], split_rows: int | None) -> Sheet:
    """The hidden sheet of person-years this batch passed (and those an earlier round passed): when the
    error workbook comes back, a row that repeats one of them is still P05. Its columns are made a chunk
    at a time as they are written (a full sheet's million row numbers as text were 60 MB)."""
    table = checked.table
    index = table.frame.index.to_numpy(dtype=np.int64)
    ok = ~np.isin(index, checked.error_rows)
    ids = checked.values["id_number"].to_numpy(dtype=object)[ok]
    years = checked.values["year"].to_numpy(dtype=object)[ok]
    first = table.first_data_row
    split = split_rows if split_rows and len(ids) > split_rows else None
    names = np.array(corrected_names, dtype=object)
    earlier = list(zip(*table.passed, strict=True)) if table.passed else [(), (), (), ()]

    def rows(lo: int, hi: int) -> np.ndarray:  # row numbers in the corrected file (or its part)
        rank = np.arange(lo, hi)
        return ((rank % split if split else rank) + first).astype(str).astype(object)

    def files(lo: int, hi: int) -> np.ndarray:
        rank = np.arange(lo, hi)
        return names[rank // split] if split else np.full(hi - lo, names[0], dtype=object)

    n = len(ids) + len(table.passed)
    # IDs of passed rows hold only digits and X (vouched); the file names repeat (rendered once each).
    columns = [Column(_then(lambda lo, hi: ids[lo:hi], len(ids), earlier[0]), plain=True),
               Column(_then(lambda lo, hi: years[lo:hi], len(ids), earlier[1]), True),
               Column(_then(files, len(ids), earlier[2])),
               Column(_then(rows, len(ids), earlier[3]), True)]
    head = cell_row(1, [(h, Style.HEADER) for h in ("身份证号码", "缴费年度", "已通过的文件", "行")])
    return Sheet(name=PASSED_SHEET, rows=itertools.chain([head], render_rows(2, columns, n)), last_row=n + 1,
                 last_col=3, widths=[20, 10, 30, 8], hidden=True)


def _then(ours, count: int, theirs: tuple) -> LazyValues:
    """``ours(lo, hi)`` for the first ``count`` rows, then ``theirs`` (carried over from an earlier round)."""
    def make(lo: int, hi: int) -> np.ndarray:
        parts = []
        if lo < count:
            parts.append(ours(lo, min(hi, count)))
        if hi > count:
            parts.append(np.array(theirs[max(lo - count, 0):hi - count], dtype=object))
        return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.array([], dtype=object)

    return LazyValues(count + len(theirs), make)


NOTES = 5_000  # cells that get a note; past that the 反馈信息 column still holds every message


def _cell_notes(checked: Checked, columns: list[int | None], row_numbers: np.ndarray,
                first: int) -> list[tuple[int, str, str]]:
    """Each offending cell's messages as a note at the cell, moved to where its row and column are written
    here (``columns``: the input's column written at each position, None for one it did not have)."""
    at = {int(r): first + i for i, r in enumerate(row_numbers.tolist())}
    letter_here = {column_letter(c): column_letter(i) for i, c in enumerate(columns) if c is not None}
    return [(at[row], letter_here[letter], text) for row, letter, text in checked.findings.notes("error", NOTES)
            if row in at and letter in letter_here]


def write_errors(checked: Checked, path: Path, passed: Sheet | None = None, book: RuleBook | None = None,
                 when: dt.datetime | None = None, lineage: dict[str, str] | None = None,
                 rows: np.ndarray | None = None) -> int:
    """The rows with errors, as the clerk wrote them. With a rule table it is the template (SPEC 6): laid out
    by the template's own builder, the clerk's header values in its header block, the clerk's values in its
    columns (columns of the clerk's own after them), then 反馈信息; each offending cell marked and carrying its
    messages as a note. Without one (an import's refused rows) it keeps the export's own layout."""
    table = checked.table
    rows = table.frame.index[table.frame.index.isin(checked.error_rows if rows is None else rows)]
    if book is None:
        write_workbook(path, [_as_written(checked, rows), *([passed] if passed else [])], lineage)
        return len(rows)
    spec = table.spec
    positions = table.frame.index.get_indexer(rows)
    row_numbers = rows.to_numpy(dtype=np.int64)
    bad_cells = checked.findings.cells_of("error")
    keyed = {table.keys[c.key]: c for c in spec.columns if c.key in table.keys}
    own = [c for c in output_columns(table) if c not in keyed]  # the clerk's own columns, kept after ours
    sources = [table.keys.get(c.key) for c in spec.columns] + own
    data = []
    for source, col in zip(sources, [*spec.columns, *[None] * len(own)], strict=True):
        plain, bad = cell_styles(col)
        if source is None:  # a column of the template the clerk's file did not have
            data.append(Column(np.full(len(rows), "", dtype=object), False, plain))
            continue
        values = taken(table.frame[source].to_numpy(), positions)
        # As the clerk wrote it: a number stays a number (an ID stored as a number is not padded into
        # a text that could pass its check digit), in a text-formatted cell where the template has one.
        number = table.numeric[source].to_numpy()[positions]
        marked = np.isin(row_numbers, bad_cells.get(column_letter(source), np.array([], dtype=np.int64)))
        data.append(Column(values, number, plain, marked if marked.any() else None, bad))
    data.append(Column(Feedback(checked.findings, row_numbers), False, Style.CELL_FEEDBACK, sets_height=FEEDBACK_CHARS))
    first = first_data_row(spec)
    body = Body(data, len(rows), headers=[table.raw_headers[c] for c in own] + [FEEDBACK_HEADER],
                widths=[12] * len(own) + [FEEDBACK_WIDTH],
                notes=_cell_notes(checked, sources, row_numbers, first))
    values = {key: hv.value for key, hv in table.header_values.items()}
    missing = frozenset(hf.key for hf in spec.header_fields
                        if any(f.code == "F04" and f.column == hf.label for f in checked.findings.file_level()))
    sheets, props = template_book(spec, book, when, values, body, missing)
    write_workbook(path, [*sheets, *([passed] if passed else [])], props | (lineage or {}))
    return len(rows)


FEEDBACK_WIDTH = 60
FEEDBACK_CHARS = 28  # Chinese characters per line of the 反馈信息 column


def _as_written(checked: Checked, rows) -> Sheet:
    """The refused rows of an import, under the export's own title and header rows."""
    table = checked.table
    bad_cells = checked.findings.cells_of("error")
    columns = output_columns(table)
    positions = table.frame.index.get_indexer(rows)
    row_numbers = rows.to_numpy(dtype=np.int64)
    texts = text_columns(table)
    data = []
    for c in columns:
        values = taken(table.frame[c].to_numpy(), positions)
        number = table.numeric[c].to_numpy()[positions]
        marked = np.isin(row_numbers, bad_cells.get(column_letter(c), np.array([], dtype=np.int64)))
        plain, bad = (Style.CELL_TEXT, Style.CELL_BAD_TEXT) if c in texts else (Style.CELL, Style.CELL_BAD)
        data.append(Column(values, number, plain, marked if marked.any() else None, bad))
    data.append(Column(Feedback(checked.findings, row_numbers), False, Style.CELL_FEEDBACK, sets_height=FEEDBACK_CHARS))
    key_of = {c: k for k, c in table.keys.items()}
    keys = [key_of.get(c) for c in columns]
    heads = head_rows(
        table, columns, extra_headers=(FEEDBACK_HEADER,), marked=header_marks(checked.findings.file_level())
    )
    first = len(heads) + 1
    return Sheet(
        name=table.spec.title[:31],
        rows=itertools.chain(heads, render_rows(first, data, len(rows))),
        last_row=first + len(rows) - 1,
        last_col=len(columns),
        widths=[*widths(table, columns), FEEDBACK_WIDTH],
        column_styles={i: Style.TEXT for i, c in enumerate(columns) if c in texts},
        freeze_rows=len(heads),
        freeze_cols=keys.index("id_number") + 1 if "id_number" in keys else 0,
        notes=_cell_notes(checked, columns, row_numbers, first),
    )
