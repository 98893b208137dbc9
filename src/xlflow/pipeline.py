"""One workbook end to end: read → normalise → validate → write the three outputs."""

from __future__ import annotations

import datetime as dt
import logging
import re
import zipfile
from pathlib import Path

from xlflow.errors import OutputError
from xlflow.findings import make
from xlflow.kinds import kind_spec
from xlflow.outputs.corrected import write_corrected
from xlflow.outputs.errors import write_errors
from xlflow.outputs.summary import totals, write_summary
from xlflow.rules import RuleBook
from xlflow.settings import Settings
from xlflow.validation.declaration import check_declaration
from xlflow.validation.engine import read_for_check
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


def process_workbook(
    path: Path,
    book: RuleBook,
    out_dir: Path | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
) -> CheckResult:
    """Validate one declaration workbook and write its corrected, error and summary workbooks."""
    settings = settings or Settings()
    today = today or dt.date.today()
    path = Path(path)
    limits = settings.limits()
    result = CheckResult(file=str(path), kind=None)
    table = read_for_check(path, [kind_spec("declaration")], limits, result)
    outputs = output_paths(path, out_dir)
    if table is None:
        log.info("%s: unusable (%s)", path.name, ",".join(f.code for f in result.findings))
        return result
    stored = template_fingerprint(path)
    if stored and stored != book.fingerprint:
        result.findings.append(make("F07", value=stored, detail=book.fingerprint))
    checked = check_declaration(table, book, settings, today.year)
    result.findings = result.findings + checked.findings
    result.totals = totals(checked)
    try:
        outputs["corrected"].parent.mkdir(parents=True, exist_ok=True)
        write_corrected(checked, outputs["corrected"])
        write_errors(checked, outputs["errors"])
        write_summary(result, checked, outputs["summary"], book)
    except OSError as exc:
        raise OutputError(f"无法写出结果文件到 {outputs['corrected'].parent}：{exc.strerror}") from exc
    result.outputs = {k: str(v) for k, v in outputs.items()}
    return result
