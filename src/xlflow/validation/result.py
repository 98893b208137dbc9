"""What a check of one file returns: data first (findings, counts), text second."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from xlflow.findings import Findings, catalogue

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
        if fills:
            line += f"，补全金额 {fills:,} 处"
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
            "kind": self.kind,
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
        }
