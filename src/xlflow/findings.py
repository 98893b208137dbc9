"""The Finding record and the code catalogue (validators/findings.toml).

Run ``python -m xlflow.findings`` to print the catalogue as Markdown (docs/findings.md).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from xlflow.paths import data_dir

SEVERITIES = ("error", "warning", "fixed")


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: str
    name: str
    message: str
    description: str


@dataclass
class Finding:
    """One problem or fix. ``row`` is the Excel row number the user sees (None for the file)."""

    code: str
    severity: str
    message: str
    row: int | None = None
    column: str | None = None
    cell: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def catalogue() -> dict[str, CodeInfo]:
    with open(data_dir("validators") / "findings.toml", "rb") as fh:
        raw = tomllib.load(fh)
    return {code: CodeInfo(code=code, **entry) for code, entry in raw.items()}


def render(code: str, **params: Any) -> str:
    """The Chinese message of ``code`` with its placeholders filled (missing ones left empty)."""
    values = defaultdict(str, {k: "" if v is None else v for k, v in params.items()})
    return catalogue()[code].message.format_map(values).strip()


def make(
    code: str,
    *,
    row: int | None = None,
    column: str | None = None,
    cell: str | None = None,
    value: Any = None,
    **params: Any,
) -> Finding:
    """Build a finding of ``code``; ``params`` fill the message template."""
    info = catalogue()[code]
    shown = None if value is None else str(value)
    message = render(code, column=column, value=shown, **params)
    return Finding(code, info.severity, message, row, column, cell, shown)


def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def markdown() -> str:
    lines = [
        "# Finding codes",
        "",
        "Generated from `validators/findings.toml` by `make docs`; a test keeps them equal.",
        "",
        "| code | severity | name | meaning | message shown to the clerk |",
        "|---|---|---|---|---|",
    ]
    for info in catalogue().values():
        message = info.message.replace("|", "\\|")
        lines.append(
            f"| {info.code} | {info.severity} | {info.name} | {info.description} | {message} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
