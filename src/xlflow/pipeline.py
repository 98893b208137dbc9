"""One workbook end to end: read → normalise → validate → write the three outputs."""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from xlflow.errors import OutputError
from xlflow.findings import make
from xlflow.kinds import kind_spec
from xlflow.ledger import Ledger
from xlflow.outputs.corrected import write_corrected
from xlflow.outputs.errors import passed_sheet, write_errors
from xlflow.outputs.summary import totals, write_summary
from xlflow.rules import RuleBook
from xlflow.settings import Settings
from xlflow.templates.build import template_properties
from xlflow.validation.adjustment import check_adjustment
from xlflow.validation.declaration import check_declaration, describe_twins
from xlflow.validation.engine import read_for_check, without_cycle_collector
from xlflow.validation.result import CheckResult

log = logging.getLogger("xlflow")


def output_paths(path: Path, out_dir: Path | None) -> dict[str, Path]:
    folder = Path(out_dir) if out_dir else Path(path).parent
    stem = Path(path).stem
    return {"corrected": folder / f"{stem}_更正.xlsx", "errors": folder / f"{stem}_错误数据.xlsx",
            "summary": folder / f"{stem}_汇总.xlsx"}  # fmt: skip


def template_fingerprint(path: Path) -> str | None:
    """The rule-table fingerprint stored in a template's custom properties, if any."""
    try:
        with zipfile.ZipFile(path) as zf:
            xml = zf.read("docProps/custom.xml").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    m = re.search(r'name="xlflow_rules_fingerprint"[^>]*>\s*<vt:lpwstr>([0-9a-f]+)<', xml)
    return m.group(1) if m else None


def _check_declaration(table, book, settings, today, view, own_batch):
    return check_declaration(table, book, settings, today.year, view, own_batch)


def _check_adjustment(table, book, settings, today, view, own_batch):
    return check_adjustment(table, book, settings, today.year, view)


# The checker per workbook kind; reading tries every kind here and the headers decide.
CHECKERS = {"declaration": _check_declaration, "adjustment": _check_adjustment}

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


def _record_batch(ledger: Ledger, path: Path, checked) -> dict:
    """The corrected rows' person-years as a pending batch of this file (replacing its earlier one)."""
    table = checked.table
    ok = ~table.frame.index.isin(checked.error_rows)
    rows = pd.DataFrame({"id_number": checked.values["id_number"][ok], "year": checked.values["year"][ok],
                         "identity": checked.values["identity"][ok], "row": table.frame.index[ok]})
    rows = rows[rows["year"].str.fullmatch(r"[0-9]{4}")]
    if rows.empty:  # nothing passed: no batch to upload
        return {"id": None, "status": "empty", "rows": 0}
    field = lambda key: (table.header_values[key].value if key in table.header_values else "")  # noqa: E731
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    batch, what = ledger.record_batch(path.name, field("unit"), field("clerk"), field("date"), sha, rows)
    return {"id": batch, "status": what, "rows": len(rows)}


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
) -> CheckResult:
    """Validate one declaration or adjustment workbook and write its corrected, error and summary workbooks.

    ``split_rows`` writes the corrected rows as parts of at most that many rows (NAME_更正_1.xlsx,
    ...). ``progress`` is called with the name of each stage as it starts.
    """
    step = progress or (lambda stage: None)
    settings = settings or Settings()
    now = dt.datetime.now().replace(microsecond=0)  # the one reading of the clock; below it, ``today``
    today = today or now.date()
    path = Path(path)
    result = CheckResult(file=str(path), kind=None, checked_at=dt.datetime.combine(today, now.time()))
    step(STAGES[0])
    table = read_for_check(path, [kind_spec(k) for k in CHECKERS], settings.limits(), result)
    outputs = output_paths(path, out_dir)
    if table is None:
        log.info("%s: unusable (%s)", path.name, ",".join(f.code for f in result.findings))
        return result
    stored = template_fingerprint(path)
    if stored and stored != book.fingerprint:
        result.findings.append(make("F07", value=stored, detail=book.fingerprint))
    step(STAGES[1])
    if len(table.frame) > BIG_FILE_ROWS:
        _give_back_memory()
    unit = table.header_values.get("unit")
    own_batch = (path.name, unit.value if unit else "")
    view = ledger.view(table.text("id_number").unique()) if ledger is not None else None
    checked = CHECKERS[table.spec.kind](table, book, settings, today, view, own_batch)
    result.lists = checked.lists
    result.ledger = str(ledger.path) if ledger is not None else None
    names = _corrected_names(outputs["corrected"], len(table.frame) - len(checked.error_rows), split_rows)
    describe_twins(checked, names, split_rows, outputs["errors"].name)
    result.findings = result.findings + checked.findings
    result.totals = totals(checked)
    if len(table.frame) > BIG_FILE_ROWS:
        _give_back_memory()
    try:
        outputs["corrected"].parent.mkdir(parents=True, exist_ok=True)
        step(STAGES[2])
        properties = template_properties(table.spec, book, result.checked_at)
        parts = _write_corrected_parts(checked, outputs["corrected"], split_rows, path, properties)
        step(STAGES[3])
        if len(checked.error_rows):
            _atomic(outputs["errors"], lambda p: write_errors(checked, p, passed_sheet(checked, names, split_rows),
                                                              book, result.checked_at))
        else:  # nothing to fix: no error workbook, and none left from an earlier run of this file
            outputs["errors"].unlink(missing_ok=True)
            outputs["errors"] = None
        step(STAGES[4])
        _atomic(outputs["summary"], lambda p: write_summary(result, checked, p, book))
    except OSError as exc:
        raise OutputError(f"无法写出结果文件到 {outputs['corrected'].parent}：{exc.strerror}") from exc
    result.outputs = {k: (str(v) if v else None) for k, v in outputs.items()}
    # Written after the outputs: a crash before leaves the ledger as it was. Only declarations are batches.
    if ledger is not None and table.spec.kind == "declaration":
        result.batch = _record_batch(ledger, path, checked)
    if parts != [outputs["corrected"]]:
        result.outputs["corrected"] = [str(p) for p in parts]
    return result
