"""A comparison run: the files given directly imported into a scratch ledger, the comparison made
(``compare.py``), then 比对台账_Y, 比对统计_Y and the pre-filled workbooks written (``outputs/comparison.py``)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlflow.compare import Comparison, compare
from xlflow.errors import XlflowError
from xlflow.imports import import_file
from xlflow.ledger import Ledger
from xlflow.outputs.comparison import prefilled_rows, write_ledger_book, write_prefilled, write_statistics
from xlflow.rules import RuleBook
from xlflow.settings import Settings


@dataclass
class ComparisonRun:
    comparison: Comparison
    outputs: dict[str, list[str]]


def import_for_comparison(ledger: Ledger, roster: list, payments: list, lists: list[tuple[str, object]],
                          out_dir, settings: Settings) -> None:
    """Files given directly, imported into ``ledger`` (a scratch one) with the same normalisation and
    findings as `ledger import`; the list rows that could not be used are kept there, as for any import."""
    jobs = [("roster", p, None) for p in roster] + [("payments", p, None) for p in payments]
    jobs += [("list", p, kind) for kind, p in lists]
    for kind, path, list_kind in jobs:
        result = import_file(ledger, Path(path), kind, list_kind, out_dir, settings)
        codes = {f.code for f in result.check.findings if f.severity == "error"}
        if result.check.unusable and kind == "payments" and codes == {"F05"}:
            continue  # a county that has had no payment yet: nobody paid, nothing to refuse
        if result.check.unusable:
            raise XlflowError(result.summary_line())


def run_comparison(ledger: Ledger, book: RuleBook, year: int, out_dir, settings: Settings | None = None,
                   per_township: bool = False, when=None) -> ComparisonRun:
    """Compare, then write 比对台账_Y.xlsx, 比对统计_Y.xlsx and the pre-filled workbooks into ``out_dir``."""
    when = when or dt.datetime.now().replace(microsecond=0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    comparison = compare(ledger, book, year, settings)
    outputs: dict[str, list[str]] = {"ledger": [], "statistics": [], "declaration": [], "adjustment": [],
                                     "declaration_waiting": [], "adjustment_waiting": []}
    target = out / f"比对台账_{year}.xlsx"
    write_ledger_book(comparison, target)
    outputs["ledger"].append(str(target))
    target = out / f"比对统计_{year}.xlsx"
    write_statistics(comparison, target, book)
    outputs["statistics"].append(str(target))
    for (kind, title), ready in itertools.product((("declaration", "批量缴费申报表"),
                                                   ("adjustment", "批量缴费调整登记表")), (True, False)):
        rows = prefilled_rows(comparison, book, kind, ready)
        if rows.empty:
            continue
        parts = rows.groupby("township", sort=True) if per_township else [("", rows)]
        for township, part in parts:
            part = part.assign(seq=np.arange(1, len(part) + 1).astype(str))
            name = (f"预填_{title}_{year}{'' if ready else '_先办参保登记或身份标识'}"
                    f"{'_' + file_safe(str(township)) if township else ''}.xlsx")
            write_prefilled(part, kind, book, out / name, when)
            outputs[kind if ready else f"{kind}_waiting"].append(str(out / name))
    return ComparisonRun(comparison, outputs)


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def file_safe(name: str) -> str:
    """A township's name as part of a file name on every file system we run on (雨湖区/城正街街道)."""
    return _UNSAFE.sub("_", name).strip(" .") or "_"
