"""The rule book: the valid rules of a rule table (征缴规则表), one row each with amounts in cents and periods
as yyyymm, and the rule in force for any identity × 户口性质 × tier × year. Checking a rule table (R01–R07)
and loading it are the rule-table kind's work, in ``xlflow.validation.rules``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.values import cents_text
from xlflow.domain.vocab import AMOUNT_KEYS, FUNDING_ITEMS

# The short words of a rule's generated name (个人缴费100省补贴12…): the items' words, 级 left out.
ITEM_LABELS = {k: v.replace("级补贴", "补贴") for k, v in FUNDING_ITEMS.items()}
KEY_COLUMNS = ["identity", "hukou", "tier"]


@dataclass
class RuleBook:
    """Valid rules: one row each, amounts in cents, periods as yyyymm."""

    frame: pd.DataFrame  # identity hukou tier personal..daijiao start end name row
    source: str
    fingerprint: str

    @property
    def identities(self) -> list[str]:
        return list(dict.fromkeys(self.frame["identity"]))

    @property
    def tiers(self) -> list[str]:
        present = set(self.frame["tier"])
        return [t for t in vocab.TIERS if t in present]

    def lookup(
        self, identity: pd.Series, hukou: pd.Series, tier: pd.Series, year: pd.Series
    ) -> pd.DataFrame:
        """The rule in force for each row → DataFrame aligned to the inputs' index with ``rule``
        (the rule's Excel row, NaN when none) and the five amounts in cents. Where a period starts
        within the year, the later rule wins. Each distinct identity × 户口性质 × tier × year is looked up
        once (a full sheet has a few hundred), then spread to its rows."""
        year = pd.to_numeric(pd.Series(year.to_numpy()), errors="coerce")
        combo = np.zeros(len(identity), dtype=np.int64)
        for column in (identity.to_numpy(), hukou.to_numpy(), tier.to_numpy(), year.to_numpy()):
            codes, uniques = pd.factorize(column)
            combo = pd.factorize(combo * (len(uniques) + 1) + (codes + 1))[0]  # stays below the row count
        _, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
        keys = pd.DataFrame(
            {"identity": identity.to_numpy()[first], "hukou": hukou.to_numpy()[first],
             "tier": tier.to_numpy()[first], "year": year.to_numpy()[first], "pos": np.arange(len(first))}
        )  # fmt: skip
        keys = keys[keys["year"].notna() & keys["identity"].notna()]
        merged = keys.merge(self.frame, on=KEY_COLUMNS, how="inner")
        ym = merged["year"] * 100
        merged = merged[(merged["start"] <= ym + 12) & (merged["end"] >= ym + 1)]
        merged = merged.sort_values("start").drop_duplicates("pos", keep="last")
        distinct = merged.set_index("pos")[["row", *AMOUNT_KEYS]].reindex(range(len(first)))
        out = pd.DataFrame({c: distinct[c].to_numpy()[inverse.ravel()] for c in distinct.columns}, index=identity.index)
        return out.rename(columns={"row": "rule"})


def rule_name(amounts: dict[str, float]) -> str:
    """As the guide writes it: 个人缴费0省补贴10市补贴10县补贴10政府代缴100."""
    if any(pd.isna(v) for v in amounts.values()):
        return ""
    return "".join(f"{ITEM_LABELS[k]}{cents_text(amounts[k])}" for k in AMOUNT_KEYS)


def fingerprint(rules: pd.DataFrame) -> str:
    """A short hash of the rules' content, stored in templates to notice a changed rule table."""
    cols = [*KEY_COLUMNS, *AMOUNT_KEYS, "start", "end"]
    text = rules[cols].sort_values(cols).to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
