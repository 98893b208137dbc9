"""Workbook kinds as data: columns, header fields and help texts from workbook_templates/*.toml.

One source per column gives its header, synonyms, instruction, hover prompt and error hint.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache

from xlflow.paths import data_dir

KIND_NAMES = ("declaration", "adjustment", "rules")  # the kinds with a template
LEDGER_KINDS = ("roster", "payments", "list")  # system exports and office lists, imported into the ledger
AMOUNT_KEYS = ("personal", "province", "city", "county", "daijiao")


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    header: str
    type: str
    width: int = 10
    required: bool = False
    synonyms: tuple[str, ...] = ()
    instruction: str = ""
    prompt: str = ""
    hint: str = ""
    example: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.header, *self.synonyms)


@dataclass(frozen=True)
class HeaderField:
    key: str
    label: str
    required: bool = False
    prompt: str = ""


@dataclass(frozen=True)
class KindSpec:
    kind: str
    title: str
    version: str
    purpose: str
    columns: tuple[ColumnSpec, ...]
    header_fields: tuple[HeaderField, ...] = field(default=())
    row_rule: str = "一人一年一行"
    notes: tuple[str, ...] = ()
    min_columns: int = 3  # known columns a header row needs to be taken for this kind

    def column(self, key: str) -> ColumnSpec:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    @property
    def required_columns(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.required)


@cache
def kind_spec(kind: str) -> KindSpec:
    """The spec of ``kind`` (declaration, adjustment, rules)."""
    with open(data_dir("workbook_templates") / f"{kind}.toml", "rb") as fh:
        raw = tomllib.load(fh)
    columns = tuple(
        ColumnSpec(**{**c, "synonyms": tuple(c.get("synonyms", ()))}) for c in raw["columns"]
    )
    fields = tuple(HeaderField(**f) for f in raw.get("header_fields", ()))
    return KindSpec(
        kind=raw["kind"],
        title=raw["title"],
        version=str(raw["version"]),
        purpose=raw.get("purpose", ""),
        columns=columns,
        header_fields=fields,
        row_rule=raw.get("row_rule", "一人一年一行"),
        notes=tuple(raw.get("notes", ())),
        min_columns=int(raw.get("min_columns", 3)),
    )


def all_specs() -> list[KindSpec]:
    return [kind_spec(k) for k in KIND_NAMES]
