"""Workbook kinds: the registry (what each kind is and does) and, as data, each kind's columns, header fields
and help texts from workbook_templates/*.toml.

The registry is the one place that names the kinds: the pipeline, the summary, watch, imports, compare and the
command line ask it (``kind(name)``, ``kinds(...)``) instead of naming a kind. A new kind adds its TOML, its
checks module and one ``Kind`` here. One source per column gives its header, synonyms, instruction, hover
prompt and error hint.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from xlflow.domain.vocab import AMOUNT_KEYS
from xlflow.paths import data_dir

__all__ = ["AMOUNT_KEYS", "KIND_NAMES", "LEDGER_KINDS", "REGISTRY", "Kind", "KindSpec", "kind", "kind_spec", "kinds"]


@dataclass(frozen=True)
class Kind:
    """One kind of workbook xlflow knows: what a clerk calls it and what each step does with it."""

    name: str  # as in the TOML, the custom properties and --json
    word: str  # the short word of result lines and the watcher's log (申报表)
    template: bool = False  # `xlflow template NAME` makes one
    checks: str = ""  # "module:function" that checks a filled one (`validate`): three workbooks come back
    imported: bool = False  # a system export or office list imported into the ledger (`ledger import`)
    declares: bool = False  # its rows are person-years of a batch the ledger records (P05 across files)
    adjusts: bool = False  # its amounts change paid years: before / after / difference and work lists
    fills: str = "补全金额"  # what the summary calls the X06 fills of this kind
    no_work_list: str = ""  # what 待办清单 says when the kind never makes a work list
    adopted: bool = False  # the watcher makes a clean one the workspace's own (the rule table)
    folder: str = ""  # the inbox's sub-folder the watcher imports it from
    several_a_year: bool = False  # several records of a person-year are normal (payments: counted in 人年)
    office_list: bool = False  # an office's list of people, of a 类别 (低保对象, 特困人员, …)
    empty_ok: bool = False  # an export with no row is a fact (a county with no payment yet), not a refusal
    rows: str = ""  # "module:function" that writes an imported export's rows into the ledger
    pays: bool = True  # a checked one's rows carry amounts (the summary's money sheets, the totals)
    flags: bool = False  # its rows set identity flags (身份标识): compare pre-fills it for 身份标识变更

    @property
    def title(self) -> str:
        """The workbook's own title (批量缴费申报表), from its TOML."""
        return kind_spec(self.name).title

    @property
    def checker(self) -> Callable:
        """``check(table, book, settings, year, ledger) -> Checked``, imported when first asked for."""
        return _named(self.checks)

    @property
    def row_writer(self) -> Callable:
        """``write(ledger, rows, source, list_kind) -> counts`` of an imported kind, imported when asked for."""
        return _named(self.rows)


def _named(dotted: str) -> Callable:
    module, _, function = dotted.partition(":")
    return getattr(importlib.import_module(module), function)


REGISTRY: dict[str, Kind] = {k.name: k for k in (
    Kind("declaration", "申报表", template=True, checks="xlflow.validation.declaration:check_declaration",
         declares=True,
         no_work_list="批量缴费申报表无需单独办理的事项（负调整、零缴费、0到款登记清单只在调整表中产生）。"),
    Kind("adjustment", "调整表", template=True, checks="xlflow.validation.adjustment:check_adjustment",
         adjusts=True, fills="计算调整金额"),
    Kind("identity", "身份变更表", template=True, checks="xlflow.validation.identity:check_identity",
         pays=False, flags=True,
         no_work_list="批量参保身份变更表无需单独办理的事项。身份标识设置好以后，再用《批量缴费申报表》申报未缴费年度，"
                      "已缴费的年度用《批量缴费调整登记表》调整。"),
    Kind("rules", "规则表", template=True, adopted=True),
    Kind("roster", "参保人员信息", imported=True, folder="参保人员信息", rows="xlflow.app.ledger_rows:import_roster"),
    Kind("payments", "缴费明细", imported=True, folder="缴费明细", several_a_year=True, empty_ok=True,
         rows="xlflow.app.ledger_rows:import_payments"),
    Kind("list", "名单", imported=True, folder="名单", office_list=True, rows="xlflow.app.ledger_rows:import_list"),
)}


def kind(name: str | None) -> Kind | None:
    """The registered kind called ``name`` (None for a workbook no kind was recognised in)."""
    return REGISTRY.get(name or "")


def kinds(**having: bool) -> tuple[str, ...]:
    """The names of the kinds with each given attribute true, in registry order: ``kinds(template=True)``."""
    return tuple(k.name for k in REGISTRY.values() if all(bool(getattr(k, a)) == v for a, v in having.items()))


KIND_NAMES = kinds(template=True)  # the kinds with a template
LEDGER_KINDS = kinds(imported=True)  # system exports and office lists, imported into the ledger


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
