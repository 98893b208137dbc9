"""Row checks per workbook kind, declared as pandera schemas built from the column specs.

The frame checked holds the fixed text of each column (None when empty) and, for amount columns,
``<key>:cents``, the parsed amount. Each check is named by the finding code it reports.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from xlflow.domain.idcard import inspect_ids
from xlflow.domain.kinds import KindSpec
from xlflow.domain.vocab import HAN_CHARS
from xlflow.paths import data_dir

NAME_PATTERN = re.compile(
    rf"^[{HAN_CHARS}][{HAN_CHARS}·]{{1,29}}$"
    r"|^[A-Za-z][A-Za-z .·'-]{1,49}$"
)


def _required(series: pd.Series) -> pd.Series:
    return series.notna()


def _member_of(values: list[str]):
    allowed = set(values)
    return lambda series: series.isin(allowed)


def _id_ok(today_year: int):
    return lambda series: inspect_ids(series.fillna(""), today_year=today_year)["code"] == ""


def _name_ok(series: pd.Series) -> pd.Series:
    return series.str.match(NAME_PATTERN).astype(bool)


# A name of the policy vocabulary (an identity of the rule table) goes into every template's dropdowns: never
# text a spreadsheet runs (=, +, -, @ first, or a space before them) nor control characters.
VOCABULARY_WORD = r"^(?![\s]*[=+\-@])[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]+$"


def _word_ok(series: pd.Series) -> pd.Series:
    return series.str.match(VOCABULARY_WORD).astype(bool)


# Each row check by its name in validators/row_checks.toml: (column spec, allowed values, year) → Check.
CHECKS = {
    "C01": lambda col, allowed, year: pa.Check(_required, name="C01", ignore_na=False),
    "C07": lambda col, allowed, year: pa.Check(_member_of(allowed[col.type]), name="C07"),
    "C10": lambda col, allowed, year: pa.Check(_name_ok, name="C10"),
    "C14": lambda col, allowed, year: pa.Check(_word_ok, name="C14"),
    "ID": lambda col, allowed, year: pa.Check(_id_ok(year), name="ID"),
}


@cache
def row_checks(kind: str) -> dict[str, list[str]]:
    """{column key: [check names]} of ``kind``, from validators/row_checks.toml."""
    with open(data_dir("validators") / "row_checks.toml", "rb") as fh:
        return tomllib.load(fh)[kind]


def row_schema(spec: KindSpec, allowed: dict[str, list[str]], today_year: int) -> pa.DataFrameSchema:
    """The row checks of ``spec`` as one pandera schema; ``allowed`` gives each coded type's values and
    ``today_year`` the latest possible birth year of an ID."""
    columns: dict[str, pa.Column] = {}
    for key, names in row_checks(spec.kind).items():
        col = spec.column(key)
        checks = []
        for name in names:
            if name == "R06":  # on the parsed amount, not the text
                columns[f"{key}:cents"] = pa.Column(checks=[pa.Check(lambda s: s >= 0, name="R06")],
                                                    nullable=True, required=False)
            elif name in CHECKS:
                checks.append(CHECKS[name](col, allowed, today_year))
            else:
                raise ValueError(f"unknown row check {name!r} for {spec.kind}.{key}")
        columns[key] = pa.Column(checks=checks, nullable=True, required=False)
    return pa.DataFrameSchema(columns, name=spec.kind)


_SLICE = 131_072  # distinct values checked at a time (pandera's working copies grow with them)


def schema_failures(schema: pa.DataFrameSchema, frame: pd.DataFrame,
                    given: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """Run ``schema`` lazily → DataFrame[row, key, code] of every failing cell.

    Every check looks at one cell, so each column's checks run on its distinct values and the failures
    are mapped back to the rows holding them: a full sheet's coded columns are a handful of values, and
    pandera's failure tables stay the size of the distinct failures (they were 400 MB for 1M rows).
    ``given`` may hold a column as (codes, values) already: column = values[codes] (``frame`` then need
    not hold it).
    """
    parts = []
    for key, column in schema.columns.items():
        if given and key in given:
            codes, uniques = given[key]
        elif key not in frame:
            continue
        else:
            codes, uniques = pd.factorize(frame[key], use_na_sentinel=False)
            uniques = np.asarray(uniques, dtype=frame[key].dtype)
        one = pa.DataFrameSchema({key: column}, name=schema.name)
        failed: dict[str, list[np.ndarray]] = {}
        for lo in range(0, len(uniques), _SLICE):  # an ID column is a million distinct values: in slices
            part = uniques[lo:lo + _SLICE]
            distinct = pd.DataFrame({key: part}, index=pd.RangeIndex(lo, lo + len(part)))
            try:
                one.validate(distinct, lazy=True)
            except SchemaErrors as exc:
                cases = exc.failure_cases
                cases = cases[cases["index"].notna()]
                for code, group in cases.groupby(cases["check"].astype(str), sort=False):
                    failed.setdefault(code, []).append(group["index"].astype(np.int64).unique())
        for code, at in failed.items():
            hit = np.isin(codes, np.concatenate(at))
            rows = frame.index[hit].to_numpy(dtype=np.int64)
            parts.append(pd.DataFrame({"row": rows, "key": key.replace(":cents", ""), "code": code}))
    if not parts:
        return pd.DataFrame({"row": pd.Series(dtype=np.int64), "key": pd.Series(dtype=object),
                             "code": pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)
