"""The money of a checked workbook: its valid rows' amounts by identity × 户口性质 × tier (the fiscal estimate)
and the totals the result carries (the summary and `--json` show them; an adjustment's before / after too)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.kinds import kind
from xlflow.domain.vocab import FUNDING_ITEMS
from xlflow.validation.adjustment import money_change
from xlflow.validation.result import Checked

ITEM_HEADERS = {**FUNDING_ITEMS, "total": "合计"}


def money_table(checked: Checked, identities: list[str] | None = None) -> pd.DataFrame:
    """Valid rows' amounts in yuan, by identity × 户口性质 × tier (the fiscal estimate), in the natural
    order: identities as the rule table lists them (一级, 二级, 三级), then 户口性质, then tiers.

    Summed per group with bincount over the rows' group numbers (a full sheet's amounts copied into a
    grouped frame cost 150 MB, twice: for the totals and for the summary)."""
    ok = ~checked.values.index.isin(checked.error_rows)
    orders = {"identity": identities or [], "hukou": list(vocab.HUKOU), "tier": list(vocab.TIERS)}
    combo = np.zeros(int(ok.sum()), dtype=np.int64)
    levels = {}
    for col, order in orders.items():
        values = checked.values[col].to_numpy(dtype=object)[ok]
        seen = set(pd.unique(values))
        present = list(dict.fromkeys([*[v for v in order if v in seen], *sorted(seen)]))
        codes = pd.Categorical(values, categories=present).codes.astype(np.int64)
        combo = combo * len(present) + codes
        levels[col] = present
    groups, inverse = np.unique(combo, return_inverse=True)
    inverse = inverse.ravel()
    table = {}
    rest = groups
    for col in reversed(orders):  # the group number back into its three codes
        n = len(levels[col])
        table[col] = np.array(levels[col], dtype=object)[rest % n] if n else np.array([], dtype=object)
        rest = rest // max(n, 1)
    out = pd.DataFrame({"identity": table["identity"], "hukou": table["hukou"], "tier": table["tier"]})
    out["persons"] = np.bincount(inverse, minlength=len(groups))
    for key in ITEM_HEADERS:
        cents = np.nan_to_num(checked.amounts[key].to_numpy(dtype=float)[ok])
        out[key] = (np.bincount(inverse, weights=cents, minlength=len(groups)) / 100).round(2)
    return out


def totals(checked: Checked) -> dict:
    if not kind(checked.table.spec.kind).pays:  # an identity change moves no money: its people only
        return {"persons": int((~checked.values.index.isin(checked.error_rows)).sum())}
    money = money_table(checked)
    out = {k: round(float(money[k].sum()), 2) for k in ITEM_HEADERS}
    out["persons"] = int(money["persons"].sum())
    if kind(checked.table.spec.kind).adjusts:  # the fiscal effect: paid before, after, the difference
        change = money_change(checked).set_index("item")
        out["before"] = {k: _number(change.loc[k, "before"]) for k in ITEM_HEADERS}
        out["after"] = {k: _number(change.loc[k, "after"]) for k in ITEM_HEADERS}
        out["difference"] = {k: _number(change.loc[k, "difference"]) for k in ITEM_HEADERS}
    return out


def _number(value) -> float | None:
    return None if pd.isna(value) else float(value)
