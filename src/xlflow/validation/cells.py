"""The one cell pass every workbook kind shares: fixes (X), then the cell checks (C) of its columns.

normalise → fix findings → parse (C02 IDs stored as numbers, C09 years, C08 amounts) → the pandera row
schema of the kind (C01, C07, C10, the ID checks) → findings at the cell. Kinds add their own checks on
what this returns (policy for declarations, the ledger's rules for imports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from xlflow.domain.findings import Finding, FindingBlock, Findings, make
from xlflow.domain.idcard import DISABILITY_CERT_NAMES, DISABILITY_KINDS, DISABILITY_LEVELS, id_shaped, inspect_ids
from xlflow.domain.values import parse_amount, parse_year
from xlflow.io.reading import Table
from xlflow.validation.engine import cell_findings, fix_findings, parse_column
from xlflow.validation.normalise import Vocabulary, normalise
from xlflow.validation.schemas import row_schema, schema_failures

_SCIENTIFIC = r"[0-9](\.[0-9]+)?[eE]\+?[0-9]+"
AMOUNT_TYPES = ("amount", "signed_amount")
RULE_KEYS = ("identity", "hukou", "tier")  # what a rule is looked up by (with the year)


@dataclass
class Cells:
    """A table after the cell pass: fixed text, parsed years and amounts, findings so far."""

    values: pd.DataFrame  # fixed text per field key ('' when empty)
    checked: pd.DataFrame  # the rule-lookup columns (RULE_KEYS) with None where empty
    findings: Findings
    fixes: pd.DataFrame  # row, key, before, after, code
    year: pd.Series | None = None  # the parsed year (NaN where none or bad)
    cents: dict[str, pd.Series] = field(default_factory=dict)  # parsed amounts per amount column
    id_as_number: pd.Series | None = None


def header_findings(table: Table) -> list[Finding]:
    """F04 for required header-block fields; a CSV cannot hold them, so it is not asked to."""
    if table.is_csv and not table.header_values:  # a bare CSV holds no header block to ask of
        return []
    out = []
    for spec_field in table.spec.header_fields:
        found = table.header_values.get(spec_field.key)
        if spec_field.required and (found is None or not found.value):
            out.append(make("F04", column=spec_field.label, cell=found.cell if found else None))
    return out


def formula_findings(table: Table) -> list[FindingBlock | Finding]:
    """C11 for each formula cell of a known column that was saved without its value."""
    columns = {c: k for k, c in table.keys.items()}
    out = []
    for row, col in sorted(table.formula_blank):
        if col in columns and row in table.frame.index:
            key = columns[col]
            out.append(make("C11", row=row, column=table.spec.column(key).header, cell=table.cell(key, row), value=""))
    return out


def _from_certificates(values: pd.DataFrame, fixes: pd.DataFrame) -> pd.DataFrame:
    """A list that gives 残疾人证号 for the ID: each certificate's kind (肢体残疾 …) and level (二级 …) are the
    row's 类别 and 级别 where the list gives none (they hold "" when the list has no such column)."""
    cut = fixes[fixes["code"] == "X14"]
    if not len(cut):
        return values
    values = values.copy()
    for key, place, words in (("category", 18, DISABILITY_KINDS), ("level", 19, DISABILITY_LEVELS)):
        if key not in values:
            values[key] = ""
        derived = pd.Series([words[t[place]] for t in cut["before"]], index=cut["row"].to_numpy())
        empty = values.loc[derived.index, key].eq("").to_numpy()
        values.loc[derived.index[empty], key] = derived[empty].to_numpy()
    return values


def check_cells(table: Table, vocabulary: Vocabulary, allowed: dict[str, list[str]], first_year: int,
                today_year: int) -> Cells:
    """Fix and check every cell of the known columns of ``table``."""
    spec = table.spec
    types = {c.key: c.type for c in spec.columns if c.key in table.keys}
    schema = row_schema(spec, allowed, today_year)
    # The None-for-empty frame is kept for the rule lookup only (the row schema reads the distinct values;
    # a full sheet's 14 columns of it were 110 MB).
    cert = "id_number" in types and table.headers[table.keys["id_number"]] in DISABILITY_CERT_NAMES
    fixing = {**types, "id_number": "disability_id"} if cert else types
    values, fixes, checked, distinct = normalise(table, fixing, vocabulary, RULE_KEYS)
    if cert:
        values = _from_certificates(values, fixes)
    distinct = {key: distinct[key] for key in schema.columns if key in distinct}  # the rest can go now
    findings = Findings(header_findings(table) + fix_findings(fixes, table) + formula_findings(table))
    cells = Cells(values, checked, findings, fixes)

    if "id_number" in values:
        ids = values["id_number"]
        # A 15-digit number is exact (Excel keeps 15 digits): it is upgraded by X04, not refused.
        stored = table.is_number("id_number")
        exact = _fullmatch_where(table.text("id_number"), r"[0-9]{15}", stored)
        # Scientific notation is looked for only where the text is not shaped like an ID.
        scientific = _fullmatch_where(ids, _SCIENTIFIC, ~id_shaped(ids) & (ids != ""))
        as_number = ((stored & ~exact) | scientific) & (ids != "")
        shown, lost = _as_excel_shows(ids.where(as_number, ""))
        findings += cell_findings(table, "id_number", as_number, "C02", shown, detail=lost)
        codes, finals = distinct["id_number"]  # seen by the row schema as empty: reported once, as C02
        distinct["id_number"] = (np.where(as_number.to_numpy(dtype=bool), len(finals) - 1, codes).astype(np.int32),
                                 finals)
        cells.id_as_number = as_number

    if "year" in values:
        years, problem = parse_column(values["year"], partial(parse_year, first=first_year, last=today_year + 1))
        findings += cell_findings(table, "year", problem.notna(), "C09", values["year"], detail=problem)
        cells.year = pd.to_numeric(years, errors="coerce")

    for key, col_type in types.items():
        if col_type in AMOUNT_TYPES:
            parsed, problem = parse_column(values[key], partial(parse_amount, signed=col_type == "signed_amount"))
            findings += cell_findings(table, key, problem.notna(), "C08", values[key], detail=problem)
            cells.cents[key] = pd.to_numeric(parsed, errors="coerce")

    failures = schema_failures(schema, checked, distinct)
    del distinct  # before the ID findings, which need room of their own on a full sheet of bad IDs
    for (key, code), group in failures.groupby(["key", "code"], sort=False):
        mask = pd.Series(values.index.isin(group["row"]), index=values.index)
        if code == "ID":
            findings += _id_findings(table, values["id_number"], mask, today_year)
            continue
        if code == "C01" and key == "id_number" and cells.id_as_number is not None:
            mask &= ~cells.id_as_number  # a number-stored ID is not empty: it is C02
        if code == "C01" and table.formula_blank:  # an empty cell that holds a formula is reported once, as C11
            col = table.keys[key]
            mask &= np.array([(r, col) not in table.formula_blank for r in values.index], dtype=bool)
        detail = "长度不对或含有数字、符号" if code == "C10" else ""
        findings += cell_findings(table, key, mask, code, values[key], detail=detail)
    return cells


def _as_excel_shows(ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """What a clerk sees in a cell holding an ID as a number (4.30382E+17) and which digits the
    number lost, per row (only the rows given a value are worked out)."""
    shown = pd.Series("", index=ids.index, dtype=object)
    lost = pd.Series("", index=ids.index, dtype=object)
    for row, text in ids[ids != ""].items():
        digits = text if text.isdigit() else ""
        if not digits:  # scientific notation typed or pasted as text: quote it as written
            shown[row], lost[row] = text, "号码的后几位已经无法恢复"
            continue
        # A General cell shows 11 characters (4.30382E+17); the formula bar the 15 digits kept, then zeros.
        mantissa, exponent = f"{float(digits[:15] + '0' * max(0, len(digits) - 15)):.5E}".split("E")
        bar = digits[:15] + "0" * max(0, len(digits) - 15)
        shown[row] = f"{mantissa.rstrip('0').rstrip('.')}E{exponent}，编辑栏里是 {bar}"
        gone = len(digits) - 15
        lost[row] = (f"只保留了前 15 位“{digits[:15]}”，后 {gone} 位变成了“{digits[15:]}”" if gone > 0
                     else f"号码只有 {len(digits)} 位")
    return shown, lost


def _fullmatch_where(texts: pd.Series, pattern: str, where: pd.Series) -> pd.Series:
    """``texts.str.fullmatch(pattern)`` asked only of the rows ``where`` holds (False elsewhere)."""
    out = pd.Series(False, index=texts.index)
    if where.any():
        out[where] = texts[where].astype(object).str.fullmatch(pattern).fillna(False).astype(bool)
    return out


def _id_findings(table: Table, ids: pd.Series, mask: pd.Series, today_year: int) -> list[FindingBlock]:
    inspected = inspect_ids(ids[mask], today_year)
    out = []
    for code, group in inspected.groupby("code"):
        sub = pd.Series(ids.index.isin(group.index), index=ids.index)
        out += cell_findings(table, "id_number", sub, code or "C03", ids, detail=group["detail"])
    return out
