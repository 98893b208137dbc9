"""What a check of one file returns: data first (findings, counts), text second."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xlflow.domain.findings import Findings, catalogue
from xlflow.domain.kinds import kind
from xlflow.io.reading import Table
from xlflow.io.webexports import source_note

# The work an adjustment leaves, as lists (SPEC 3.7): name → the short words of the one-line result.
LIST_NEGATIVE = "个人缴费负调整（单个办理）"
LIST_ZERO = "零缴费（先做零缴费再调整）"
LIST_ARRIVAL = "0到款登记（审核后办理）"
LIST_WORDS = {LIST_NEGATIVE: "需单个负调整", LIST_ZERO: "零缴费", LIST_ARRIVAL: "0到款登记"}


@dataclass
class Checked:
    """The outcome of checking one table: fixed values, amounts, findings."""

    table: Table
    values: pd.DataFrame  # fixed text per field key (amounts filled from the rule)
    findings: Findings
    fixes: pd.DataFrame  # row, key, before, after, code of the text fixes (X01–X05, X07)
    amounts: pd.DataFrame = field(default_factory=pd.DataFrame)  # cents per funding item + total
    fills: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # X06: key → (rows, amount)
    # adjustments: cents per item already paid (before) and after the adjustment, per row
    before: pd.DataFrame | None = None
    after: pd.DataFrame | None = None
    lists: dict[str, pd.DataFrame] = field(default_factory=dict)  # work lists by name (零缴费 ...)
    year: pd.Series | None = None  # the parsed year per row (NaN where none or bad)

    @property
    def error_rows(self) -> np.ndarray:
        """Sorted row numbers that have at least one error."""
        return self.findings.rows_of(severity="error")


JSON_FINDINGS = 1000  # findings listed in --json; the counts and the workbooks cover every one


@dataclass
class CheckResult:
    file: str
    kind: str | None
    rows: int = 0
    findings: Findings = field(default_factory=Findings)
    outputs: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    unusable: bool = False  # the file could not be used at all (F01/F02/F03/F05 ...)
    checked_at: dt.datetime | None = None
    ledger: str | None = None  # the ledger checked against (None: ledger checks skipped)
    batch: dict[str, Any] | None = None  # the pending batch recorded in the ledger
    source: str | None = None  # a web or text export: what it really is ("html", "spreadsheetml", ...)
    lists: dict[str, pd.DataFrame] = field(default_factory=dict)  # an adjustment's work lists
    sheet: str | None = None  # the sheet checked, where the workbook has tables on several sheets
    more_sheets: list[str] = field(default_factory=list)  # the workbook's other sheets with a table, to check
    sheet_order: list[str] = field(default_factory=list)  # every sheet with a table, in the workbook's order

    @property
    def error_rows(self) -> set[int]:
        return set(self.findings.rows_of(severity="error").tolist())

    @property
    def error_row_count(self) -> int:
        return len(self.findings.rows_of(severity="error"))

    @property
    def valid_rows(self) -> int:
        return 0 if self.unusable else self.rows - self.error_row_count

    def count(self, severity: str) -> int:
        return self.findings.count(severity)

    @property
    def has_errors(self) -> bool:
        return self.count("error") > 0

    @property
    def exit_code(self) -> int:
        if self.unusable:
            return 2
        return 1 if self.has_errors else 0

    def file_problems(self) -> list[str]:
        """Short Chinese phrases for the file-level errors (the header block), for the one-line result."""
        out = []
        for f in self.findings.file_level():
            if f.severity != "error":
                continue
            out.append(f"表头“{f.column}”未填写" if f.code == "F04" else catalogue()[f.code].name)
        return out

    def summary_line(self) -> str:
        if self.unusable:
            first = next((f for f in self.findings if f.severity == "error"), None)
            return f"文件无法处理：[{first.code}] {first.message}" if first else "文件无法处理"
        fills = self.findings.code_counts().get("X06", 0)
        line = (
            f"共 {self.rows:,} 条：通过 {self.valid_rows:,} 条，错误 {self.error_row_count:,} 条，"
            f"警告 {self.count('warning'):,} 处，自动更正 {self.count('fixed') - fills:,} 处"
        )
        own = kind(self.kind)
        if fills:
            line += f"，{own.fills if own else '补全金额'} {fills:,} 处"
        if own is not None and own.adjusts and self.lists:
            line += "；" + "，".join(f"{LIST_WORDS[name]} {len(rows):,} 人" for name, rows in self.lists.items())
        if note := source_note(self.file, self.source):
            line += f"；{note}"
        problems = self.file_problems()
        if problems:
            line += f"；文件错误 {len(problems)} 处：{'、'.join(problems)}"
        if self.outputs and not self.outputs.get("errors"):
            line += "；没有错误行，未生成错误数据表"
        return line

    def as_json(self, max_findings: int = JSON_FINDINGS) -> dict[str, Any]:
        """The result as data; at most ``max_findings`` findings are listed (the workbooks hold all)."""
        listed = self.findings[:max_findings]
        return {
            "file": self.file,
            "sheet": self.sheet,
            "kind": self.kind,
            "format": self.source,
            "rows": self.rows,
            "valid_rows": self.valid_rows,
            "error_rows": self.error_row_count,
            "findings": [
                {k: f.as_dict()[k] for k in ("row", "column", "cell", "code", "severity", "message")}
                for f in listed
            ],
            "findings_total": len(self.findings),
            "findings_left_out": len(self.findings) - len(listed),
            "outputs": self.outputs,
            "totals": self.totals,
            "ledger": self.ledger,
            "batch": self.batch,
            "lists": {name: {"count": len(rows), "rows": _records(rows[:max_findings])}
                      for name, rows in self.lists.items()},
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON values (NaN → null, numpy numbers → Python numbers)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in clean.to_dict("records")]
