"""Row checks per workbook kind, declared as pandera schemas built from the column specs.

The frame checked holds the fixed text of each column (None when empty) and, for amount columns,
``<key>:cents``, the parsed amount. Each check is named by the finding code it reports.
"""

from __future__ import annotations

import re

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from xlflow.domain.idcard import inspect_ids
from xlflow.kinds import KindSpec

NAME_PATTERN = re.compile(
    r"^[\u3400-\u9fff\uf900-\ufaff][\u3400-\u9fff\uf900-\ufaff·•・.]{1,29}$"
    r"|^[A-Za-z][A-Za-z .·'-]{1,49}$"
)
CODED_TYPES = ("hukou", "tier", "identity", "person_class")


def _required(series: pd.Series) -> pd.Series:
    return series.notna()


def _member_of(values: list[str]):
    allowed = set(values)
    return lambda series: series.isin(allowed)


def _id_ok(series: pd.Series) -> pd.Series:
    return inspect_ids(series.fillna(""), today_year=pd.Timestamp.now().year)["code"] == ""


def _name_ok(series: pd.Series) -> pd.Series:
    return series.str.match(NAME_PATTERN).astype(bool)


def row_schema(spec: KindSpec, allowed: dict[str, list[str]]) -> pa.DataFrameSchema:
    """The row checks of ``spec``; ``allowed`` gives the permitted values of each coded type."""
    columns: dict[str, pa.Column] = {}
    for col in spec.columns:
        checks = []
        if col.required:
            checks.append(pa.Check(_required, name="C01", ignore_na=False))
        if col.type in CODED_TYPES and col.type in allowed:
            checks.append(pa.Check(_member_of(allowed[col.type]), name="C07"))
        if col.type == "id":
            checks.append(pa.Check(_id_ok, name="ID"))
        if col.type == "name":
            checks.append(pa.Check(_name_ok, name="C10"))
        columns[col.key] = pa.Column(checks=checks, nullable=True, required=False)
        if col.type == "amount" and spec.kind == "rules":
            columns[f"{col.key}:cents"] = pa.Column(
                checks=[pa.Check(lambda s: s >= 0, name="R06")], nullable=True, required=False
            )
    return pa.DataFrameSchema(columns, name=spec.kind)


def schema_failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Run ``schema`` lazily → DataFrame[row, key, code] of every failing cell."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna()]
        out = pd.DataFrame(
            {
                "row": cases["index"].astype(int),
                "key": cases["column"].str.replace(":cents", "", regex=False),
                "code": cases["check"].astype(str),
            }
        )
        return out.drop_duplicates().reset_index(drop=True)
    return pd.DataFrame({"row": [], "key": [], "code": []})
