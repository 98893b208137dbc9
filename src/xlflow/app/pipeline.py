"""One workbook end to end: read → normalise → validate → write the three outputs."""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain.findings import make
from xlflow.domain.idcard import id_shaped
from xlflow.domain.kinds import kind, kind_spec, kinds
from xlflow.domain.rulebook import RuleBook
from xlflow.errors import OutputError
from xlflow.io.lineage import BATCH_PROPERTY, FINGERPRINT_PROPERTY, MEMBER_PROPERTY, read_properties
from xlflow.io.reading import take_sheets
from xlflow.io.settings import Settings
from xlflow.outputs.corrected import write_corrected
from xlflow.outputs.errors import passed_sheet, write_errors
from xlflow.outputs.summary import write_summary
from xlflow.paths import file_safe, fit_stem
from xlflow.store.ledger import BatchTarget, Ledger, LedgerView
from xlflow.templates.build import template_properties
from xlflow.validation.declaration import describe_twins
from xlflow.validation.engine import read_for_check, without_cycle_collector
from xlflow.validation.money import totals
from xlflow.validation.result import CheckResult

log = logging.getLogger("xlflow")


def output_paths(path: Path, out_dir: Path | None, stem: str | None = None) -> dict[str, Path]:
    """NAME_更正 / _错误数据 / _汇总.xlsx, NAME the input's (or ``stem``, where two inputs share a name)."""
    folder = Path(out_dir) if out_dir else Path(path).parent
    stem = fit_stem(stem or Path(path).stem)  # a 250-byte input name must not make a name the disk refuses
    return {"corrected": folder / f"{stem}_更正.xlsx", "errors": folder / f"{stem}_错误数据.xlsx",
            "summary": folder / f"{stem}_汇总.xlsx"}  # fmt: skip


class LedgerAccess:
    """The ledger as a workbook's checks see it: asked after the cell pass, with the IDs as it fixed them
    (the one key of a person), and for a declaration the batch it belongs to, found on the same keys."""

    def __init__(self, ledger: Ledger, path: Path, unit: str, carried: dict[str, str], batches: bool,
                 name: str | None = None):
        self.ledger, self.path, self.unit, self.carried, self.batches = ledger, path, unit, carried, batches
        self.name = name or path.name  # the batch's file: a sheet checked alone is NAME_SHEET.xlsx
        self.target: BatchTarget | None = None

    def __call__(self, ids: pd.Series, years: pd.Series) -> LedgerView:
        if self.batches:
            self.target = self.ledger.resolve_batch(self.unit, self.name, self.carried, person_years(ids, years))
        return self.ledger.view(ids[ids != ""].unique(), self.target)


def person_years(ids: pd.Series, years: pd.Series) -> pd.DataFrame:
    """The distinct (id_number, year) of the rows whose ID is shaped and whose year was read."""
    ok = (ids != "") & id_shaped(ids) & years.notna()
    keys = pd.DataFrame({"id_number": ids[ok], "year": years[ok].astype("int64")})
    return keys.drop_duplicates()


# The kinds `validate` checks (the registry's); reading tries every one and the headers decide.
CHECKED = kinds(checks=True)

STAGES = ("读取", "检查", "写更正表", "写错误表", "写汇总表")


BIG_FILE_ROWS = 100_000  # past this, freed memory is handed back between stages


def _give_back_memory() -> None:
    """Hand freed heap pages back to the system between stages (glibc only; elsewhere nothing happens).

    Reading a full sheet frees millions of small objects among the ones kept; the pages they leave stay
    counted against the process until trimmed, and the next stage's arrays come on top of them.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _atomic(target: Path, write: Callable[[Path], object]) -> None:
    """Write to a temporary name, then rename: a crash never leaves a half-written output."""
    temp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.xlsx")
    try:
        write(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _corrected_names(target: Path, rows: int, split_rows: int | None) -> list[str]:
    if not split_rows or rows <= split_rows:
        return [target.name]
    return [f"{target.stem}_{n}{target.suffix}" for n in range(1, (rows + split_rows - 1) // split_rows + 1)]


def _write_corrected_parts(checked, target: Path, split_rows: int | None, source: Path,
                           properties: dict[str, str]) -> list[Path]:
    rows = checked.table.frame.index[~checked.table.frame.index.isin(checked.error_rows)]
    if not split_rows or len(rows) <= split_rows:
        _atomic(target, lambda p: write_corrected(checked, p, properties=properties))
        parts = [target]
    else:
        parts = []
        for n, start in enumerate(range(0, len(rows), split_rows), start=1):
            part = target.with_name(f"{target.stem}_{n}{target.suffix}")
            _atomic(part, lambda p, r=rows[start:start + split_rows]: write_corrected(checked, p, r, properties))
            parts.append(part)
    # A corrected file or part left by an earlier run of the same input would be mistaken for this one's.
    stale = [target, *target.parent.glob(f"{glob.escape(target.stem)}_[0-9]*{target.suffix}")]
    for old in stale:
        if old not in parts and old.resolve() != source.resolve() and old.exists():
            old.unlink()
    return parts


def _record_batch(access: LedgerAccess, sha: str, checked) -> dict:
    """The corrected rows' person-years into the file's batch (its member's rows replaced, see
    :meth:`Ledger.record_batch`); the error rows' person-years are kept beside them to know its copies."""
    table = checked.table
    ok = ~table.frame.index.isin(checked.error_rows)
    year = checked.year if checked.year is not None else pd.Series(np.nan, index=table.frame.index)
    keyed = year.notna() & (checked.values["id_number"] != "")
    rows = pd.DataFrame({"id_number": checked.values["id_number"][ok & keyed], "year": year[ok & keyed],
                         "identity": checked.values["identity"][ok & keyed], "row": table.frame.index[ok & keyed]})
    errors = person_years(checked.values["id_number"][~ok], year[~ok])
    field = lambda key: (table.header_values[key].value if key in table.header_values else "")  # noqa: E731
    target = access.target
    role = {"file": "原表", "errors": "错误数据表"}.get(target.member.partition(":")[0], "副本")
    batch, what = access.ledger.record_batch(target, access.name, field("unit"), field("clerk"), field("date"),
                                             sha, rows, errors, role)
    return {"id": batch, "status": what, "rows": len(rows), "lineage": target.lineage, "found_by": target.how}


def lineage_properties(access: LedgerAccess | None, sha: str) -> tuple[dict[str, str], dict[str, str]]:
    """The properties that tie the corrected and the error workbook to the batch: (corrected, errors).
    The error workbook's rows, once fixed, are a member of their own (named by the input they came from)."""
    if access is None or access.target is None:
        return {}, {}
    target = access.target
    errors_member = f"errors:{hashlib.sha256((target.member + sha).encode()).hexdigest()[:16]}"
    return ({BATCH_PROPERTY: target.lineage, MEMBER_PROPERTY: target.member},
            {BATCH_PROPERTY: target.lineage, MEMBER_PROPERTY: errors_member})


@without_cycle_collector
def process_workbook(
    path: Path,
    book: RuleBook,
    out_dir: Path | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
    split_rows: int | None = None,
    progress: Callable[[str], None] | None = None,
    ledger: Ledger | None = None,
    stem: str | None = None,
    sheet: str | None = None,
) -> CheckResult:
    """Validate one declaration or adjustment workbook and write its corrected, error and summary workbooks.

    ``split_rows`` writes the corrected rows as parts of at most that many rows (NAME_更正_1.xlsx,
    ...). ``progress`` is called with the name of each stage as it starts. ``stem`` names the outputs in
    place of the input's name (明细.xlsx and 明细.csv checked together: 明细_csv_更正.xlsx for the second).
    A workbook with tables on several sheets (one per township): the best one is checked, its outputs named
    NAME_SHEET_…, and the others are ``result.more_sheets``, each to be checked with ``sheet`` (see
    :func:`process_sheets`). With ``sheet``, that sheet's table alone is checked.
    """
    step = progress or (lambda stage: None)
    settings = settings or Settings()
    now = dt.datetime.now().replace(microsecond=0)  # the one reading of the clock; below it, ``today``
    today = today or now.date()
    path = Path(path)
    result = CheckResult(file=str(path), kind=None, checked_at=dt.datetime.combine(today, now.time()))
    step(STAGES[0])
    table = read_for_check(path, [kind_spec(k) for k in CHECKED], settings.limits(), result, sheet)
    if table is not None and (sheet or table.other_tables):  # one batch, and three workbooks, per sheet
        result.sheet = table.sheet
        result.more_sheets = [name for name, *_ in take_sheets(table, lambda _other: True, settings.limits())]
        result.sheet_order = table.table_sheets
        stem = f"{stem or path.stem}_{file_safe(table.sheet)}"
    outputs = output_paths(path, out_dir, stem)
    if table is None:
        log.info("%s: unusable (%s)", path.name, ",".join(f.code for f in result.findings))
        return result
    carried = read_properties(path)
    stored = carried.get(FINGERPRINT_PROPERTY)
    if stored and stored != book.fingerprint:
        result.findings.append(make("F07", value=stored, detail=book.fingerprint))
    step(STAGES[1])
    if len(table.frame) > BIG_FILE_ROWS:
        _give_back_memory()
    unit = table.header_values.get("unit")
    batch_file = f"{stem}{path.suffix}" if result.sheet else None
    access = (LedgerAccess(ledger, path, unit.value if unit else "", carried, kind(table.spec.kind).declares,
                           batch_file) if ledger is not None else None)
    # A declaration is checked against the batches and recorded as one with the ledger held: two at once
    # (two townships, the watcher's two workers) must not both pass the same person-year.
    held = ledger.exclusive(f"检查并登记申报批次 {path.name}") if access is not None and access.batches \
        else contextlib.nullcontext()
    with held:
        return _check_and_write(path, table, book, settings, today, access, outputs, result, split_rows, step)


def process_sheets(path: Path, book: RuleBook, out_dir: Path | None = None, settings: Settings | None = None,
                   stem: str | None = None, **options) -> list[CheckResult]:
    """Every table of the workbook checked: the best, then each other visible sheet's (one township each),
    each with its own three workbooks (NAME_SHEET_更正.xlsx …) and, with a ledger, its own batch."""
    first = process_workbook(path, book, out_dir, settings, stem=stem, **options)
    results = [first]
    for sheet in first.more_sheets:
        results.append(process_workbook(path, book, out_dir, settings, stem=stem, sheet=sheet, **options))
    order = first.sheet_order  # told in the order of the sheets, as the clerk sees the tabs
    return sorted(results, key=lambda r: order.index(r.sheet) if r.sheet in order else -1)


def _check_and_write(path: Path, table, book: RuleBook, settings: Settings, today: dt.date,
                     access: LedgerAccess | None, outputs: dict, result: CheckResult, split_rows: int | None,
                     step: Callable[[str], None]) -> CheckResult:
    """The checks, the three workbooks, and (for a declaration with a ledger) the batch, in that order."""
    checked = kind(table.spec.kind).checker(table, book, settings, today.year, access)
    sha = hashlib.sha256(path.read_bytes()).hexdigest() if access is not None else ""
    lineage, errors_lineage = lineage_properties(access, sha)
    result.lists = checked.lists
    result.ledger = str(access.ledger.path) if access is not None else None
    names = _corrected_names(outputs["corrected"], len(table.frame) - len(checked.error_rows), split_rows)
    describe_twins(checked, names, split_rows, outputs["errors"].name)
    result.findings = result.findings + checked.findings
    result.totals = totals(checked)
    if len(table.frame) > BIG_FILE_ROWS:
        _give_back_memory()
    try:
        outputs["corrected"].parent.mkdir(parents=True, exist_ok=True)
        step(STAGES[2])
        properties = template_properties(table.spec, book, result.checked_at) | lineage
        parts = _write_corrected_parts(checked, outputs["corrected"], split_rows, path, properties)
        step(STAGES[3])
        if len(checked.error_rows):
            _atomic(outputs["errors"], lambda p: write_errors(checked, p, passed_sheet(checked, names, split_rows),
                                                              book, result.checked_at, errors_lineage))
        else:  # nothing to fix: no error workbook, and none left from an earlier run of this file
            outputs["errors"].unlink(missing_ok=True)
            outputs["errors"] = None
        step(STAGES[4])
        _atomic(outputs["summary"], lambda p: write_summary(result, checked, p, book))
    except OSError as exc:
        raise OutputError(f"无法写出结果文件到 {outputs['corrected'].parent}：{exc.strerror}") from exc
    result.outputs = {k: (str(v) if v else None) for k, v in outputs.items()}
    # Written after the outputs: a crash before leaves the ledger as it was. Only declarations are batches.
    if access is not None and access.target is not None:
        result.batch = _record_batch(access, sha, checked)
    if parts != [outputs["corrected"]]:
        result.outputs["corrected"] = [str(p) for p in parts]
    return result
