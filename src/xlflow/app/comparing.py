"""A comparison run: the files given directly imported into a scratch ledger, the comparison made
(``validation/compare.py``), then 比对台账_Y, 比对统计_Y and the pre-filled workbooks written
(``outputs/comparison.py``)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.app.imports import import_file
from xlflow.domain.kinds import kind, kinds
from xlflow.domain.rulebook import RuleBook
from xlflow.errors import XlflowError
from xlflow.io.settings import Settings
from xlflow.outputs.comparison import (
    prefilled_rows,
    registration_rows,
    waiting_words,
    write_ledger_book,
    write_prefilled,
    write_registration,
    write_statistics,
)
from xlflow.paths import file_safe
from xlflow.store import history
from xlflow.store.ledger import Ledger
from xlflow.store.ledger_guard import LedgerError
from xlflow.validation.changes import mark_changes
from xlflow.validation.compare import Comparison, compare


@dataclass
class ComparisonRun:
    comparison: Comparison
    outputs: dict[str, list[str]]
    not_kept: str = ""  # why the comparison could not be kept in the ledger (its workbooks are written)


def import_for_comparison(ledger: Ledger, roster: list, payments: list, lists: list[tuple[str, object]],
                          out_dir, settings: Settings) -> None:
    """Files given directly, imported into ``ledger`` (a scratch one) with the same normalisation and
    findings as `ledger import`; the list rows that could not be used are kept there, as for any import."""
    jobs = [("roster", p, None) for p in roster] + [("payments", p, None) for p in payments]
    jobs += [("list", p, list_kind) for list_kind, p in lists]
    for what, path, list_kind in jobs:
        result = import_file(ledger, Path(path), what, list_kind, out_dir, settings)
        if not result.check.unusable:
            continue
        codes = {f.code for f in result.check.findings if f.severity == "error"}  # few: the file was not read
        if kind(what).empty_ok and codes == {"F05"}:
            continue  # a county that has had no payment yet: nobody paid, nothing to refuse
        raise XlflowError(result.summary_line())


def run_comparison(ledger: Ledger, book: RuleBook, year: int, out_dir, settings: Settings | None = None,
                   per_township: bool = False, when=None) -> ComparisonRun:
    """Compare, then write 比对台账_Y.xlsx, 比对统计_Y.xlsx and the pre-filled workbooks into ``out_dir``."""
    when = when or dt.datetime.now().replace(microsecond=0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    comparison = compare(ledger, book, year, settings)
    # The 管理台账 remembers: what changed since the last comparison of the year, then this one kept.
    last, before = history.last(ledger, year)
    comparison.last = last
    comparison.changes = mark_changes(comparison, last, before, when.isoformat(sep=" "))
    filled = kinds(checks=True)  # the kinds a comparison pre-fills: what a listed person's action is done with
    outputs: dict[str, list[str]] = {"ledger": [], "statistics": [], "registration": [], **{k: [] for k in filled},
                                     **{f"{k}_waiting": [] for k in filled}}
    target = out / f"比对台账_{year}.xlsx"
    write_ledger_book(comparison, target)
    outputs["ledger"].append(str(target))
    target = out / f"比对统计_{year}.xlsx"
    write_statistics(comparison, target, book)
    outputs["statistics"].append(str(target))
    registering = registration_rows(comparison)
    if len(registering):  # the notice's first step: the people on a list who are not insured
        target = out / f"预填_参保登记名单_{year}.xlsx"
        write_registration(registering, target, year)
        outputs["registration"].append(str(target))
    for name, ready in itertools.product(filled, (True, False)):
        title = kind(name).title
        rows = prefilled_rows(comparison, book, name, ready)
        if rows.empty:
            continue
        parts = rows.groupby("township", sort=True) if per_township else [("", rows)]
        for township, part in parts:
            part = part.assign(seq=np.arange(1, len(part) + 1).astype(str))
            target = out / (f"预填_{title}_{year}{'' if ready else '_' + waiting_words(name)}"
                            f"{'_' + file_safe(str(township)) if township else ''}.xlsx")
            write_prefilled(part, name, book, target, when)
            outputs[name if ready else f"{name}_waiting"].append(str(target))
    people = comparison.people
    kept = pd.DataFrame({
        "id_number": people["身份证号码"], "action": people["需办理事项"], "final": people["_final"],
        "identity": people["代缴身份"], "lists": people["所在名单"], "first_listed": people["_first_listed"],
        "open_since": people["_open_since"]})
    try:  # the workbooks are written: a ledger that cannot take the record (read-only, full) loses only that
        history.record(ledger, year, when.isoformat(sep=" "), kept)
    except LedgerError as exc:
        return ComparisonRun(comparison, outputs, f"本次比对结果没有记入台账（下次比对不能据此列出变化）：{exc}")
    return ComparisonRun(comparison, outputs)
