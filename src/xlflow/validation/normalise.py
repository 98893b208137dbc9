"""The X fixes (X01–X05, X07, X09–X14): each change is returned, with row, column, before, after and code.

Work is done once per distinct value of a column (few for coded columns), then mapped back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xlflow.domain.idcard import DISABILITY_CERT, id_shape, upgrade_15
from xlflow.domain.vocab import HAN_CHARS
from xlflow.io.reading import Table

# Invisible characters, control characters (NUL, BEL, an ANSI colour sequence whole) and the bidirectional
# overrides (U+202E shows "xlsx.exe" as "exe.xslx"): never part of a value, removed by X01 before anything
# reaches the ledger, an output or a log.
_INVISIBLE = re.compile("\x1b\\[[0-9;]*[A-Za-z]|[\u200b\u200c\u200d\u2060\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
                        "\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_EDGE_SPACE = re.compile(r"^[\s\u3000\xa0]+|[\s\u3000\xa0]+$")
_ANY_SPACE = re.compile(r"[\s\u3000\xa0]+")
_FULLWIDTH = {chr(0xFF10 + i): chr(0x30 + i) for i in range(10)}
_FULLWIDTH |= {chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}
_FULLWIDTH |= {chr(0xFF41 + i): chr(0x61 + i) for i in range(26)}
_FULLWIDTH |= {"．": ".", "－": "-", "＋": "+", "−": "-"}  # and the minus sign Word and WPS type
_HALF = str.maketrans(_FULLWIDTH)
_FULL_CHARS = re.compile("[" + "".join(_FULLWIDTH) + "]")
# "2024年", "2024年度", and a period written as year and month ("202401", "2024-01", 费款所属期). Never
# "2024.5": a year with a fraction is a number typed wrong (C09), not a year-month to be cut short.
# A whole date (a year cell Excel turned into 2025/1/1, an export's 20250101) and a year CSV-written as
# "2025.0" are that year too.
_MONTH, _DAY = r"(?:0?[1-9]|1[0-2])", r"(?:0?[1-9]|[12][0-9]|3[01])"
_YEAR_TEXT = re.compile(r"^([0-9]{4})(?:\s*年度?|(?:0[1-9]|1[0-2])|[-/](?:0?[1-9]|1[0-2])月?|年(?:0?[1-9]|1[0-2])月"
                        rf"|\.0+|[-/.]{_MONTH}[-/.]{_DAY}(?:\s*00:00(?::00)?)?|年{_MONTH}月{_DAY}日"
                        r"|(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))$")

_PERIOD_CUT = re.compile(r"\s*(?:-|—|–|~|～|至|到)\s*")
_MONTH_ONLY = re.compile(rf"^{_MONTH}月?$")


def _period_within_a_year(text: str) -> re.Match | None:
    """A period of months within one year, as payment exports write 费款所属期 (202401-202412, 2024-01至2024-12,
    2024年1月-12月, 20240101-20241231): the match of its start, whose group 1 is the year. A period across
    years (202401-202512) is none: it stays C09."""
    for cut in _PERIOD_CUT.finditer(text):  # 2024-01至2024-12: the cut is the 至, not a dash of a side
        start, end = _YEAR_TEXT.match(text[: cut.start()]), text[cut.end():]
        if start and ((m := _YEAR_TEXT.match(end)) and m.group(1) == start.group(1) or _MONTH_ONLY.match(end)):
            return start
    return None


# An amount written with thousands separators, a currency sign or 元: only well-formed groups of three
# ("1,000.00"; never "100,50", which may be a decimal comma: that stays C08 for the clerk to decide).
_BRACKETED = re.compile(r"^[(（]([¥￥]?[0-9][0-9,，]*(?:\.[0-9]+)?元?)[)）]$")
_MONEY_TEXT = re.compile(r"^([+-]?)[¥￥]?([+-]?)([0-9]{1,3}(?:[,，][0-9]{3})+|[0-9]+)(\.[0-9]+)?元?$")

# An ID written in groups with separators, as on some forms and web pages: 430321-19800101-1233 (the groups
# of an ID: area, birth date, sequence and check). Only that shape: any other dash is a typo left to C03.
_ID_GROUPS = re.compile(r"^([0-9]{6})[-—_/.·]([0-9]{8})[-—_/.·]?([0-9]{3}[0-9Xx])$|"
                        r"^([0-9]{6})[-—_/.·]([0-9]{6})[-—_/.·]?([0-9]{3})$")
# What a clerk or a web export writes in an amount cell for "nothing", and in a roster's 参保身份 for "no
# identity set": read as not filled in.
NO_AMOUNT = frozenset({"-", "--", "—", "——", "–", "/", "\\", "无", "空"})
NO_FLAG = NO_AMOUNT | {"否", "0", "00", "000", "未设置", "未标识", "非特殊群体", "无特殊身份"}

# The dots typed between the parts of a minority name in place of the ID card's "·" (U+00B7): •, ・, ., ．, ‧ …
_NAME_DOT = re.compile(f"(?<=[{HAN_CHARS}])[•・.．‧∙⋅･。](?=[{HAN_CHARS}])")

# Types whose values never hold inner spaces, and types where full-width characters are made half-width.
COMPACT = {"id", "year", "tier", "hukou", "identity", "identity_name", "amount", "signed_amount",
           "month", "end_month", "person_class", "seq", "name", "disability_id"}  # fmt: skip
HALFWIDTH = COMPACT - {"name", "identity_name"}
# Values that no fix can change, by type: checked first because ID and name columns are mostly unique.
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_CLEAN = {"id": re.compile(r"[0-9]{17}[0-9X]"), "name": re.compile(r"[\u3400-\u9fff·]+"), "seq": _NUMBER,
          "year": re.compile(r"[0-9]{4}"), "amount": _NUMBER, "signed_amount": _NUMBER}
# A character outside these makes a value worth a closer look; a value with none of them is clean for sure.
_OUTSIDE = {"name": re.compile(r"[^\u3400-\u9fff·]"), "seq": re.compile(r"[^0-9]"), "amount": re.compile(r"[^0-9]"),
            "signed_amount": re.compile(r"[^0-9]")}


def _only(values: np.ndarray, outside: re.Pattern) -> np.ndarray:
    """Which values are text without a character ``outside`` matches (an empty one has nothing to fix): one
    search over all the values joined, each hit mapped back to its value by the running length."""
    try:
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        joined = "".join(values.tolist())
    except TypeError:  # not all text: none is clean for sure
        return np.zeros(len(values), dtype=bool)
    ok = np.ones(len(values), dtype=bool)
    hits = [m.start() for m in outside.finditer(joined)]
    if hits:
        ok[np.searchsorted(np.cumsum(lengths), hits, side="right")] = False
    return ok


def _dirty(col_type: str, uniques: np.ndarray) -> list[int]:
    """The distinct values a fix might change (a million IDs or names are not matched one by one)."""
    clean = _CLEAN.get(col_type)
    if clean is None:
        return list(range(len(uniques)))
    if col_type == "id":
        sure = id_shape(uniques)[0]
    elif col_type in _OUTSIDE:
        sure = _only(uniques, _OUTSIDE[col_type])
    else:
        sure = np.zeros(len(uniques), dtype=bool)
    match = clean.fullmatch
    return [i for i in np.flatnonzero(~sure).tolist() if not (isinstance(uniques[i], str) and match(uniques[i]))]


@dataclass(frozen=True)
class Vocabulary:
    """The accepted spellings of each coded type → its standard form (X05)."""

    maps: dict[str, dict[str, str]]


def fix_value(col_type: str, text: str, vocab: Vocabulary) -> tuple[str, list[tuple[str, str, str]]]:
    """One value through every fix of its column type; returns (final, [(code, before, after)])."""
    steps: list[tuple[str, str, str]] = []

    def step(code: str, new: str) -> None:
        nonlocal text
        if new != text:
            steps.append((code, text, new))
            text = new

    pattern = _ANY_SPACE if col_type in COMPACT else _EDGE_SPACE
    if col_type in ("amount", "signed_amount") and _ANY_SPACE.sub("", _INVISIBLE.sub("", text)).translate(_HALF) \
            in NO_AMOUNT:  # "-" (and what the accounting format shows for 0), " － ": nothing filled in, one fix
        step("X13", "")
    step("X01", pattern.sub("", _INVISIBLE.sub("", text)))
    if col_type in HALFWIDTH and _FULL_CHARS.search(text):
        step("X02", text.translate(_HALF))
    if col_type in ("id", "disability_id"):  # disability_id: an ID column headed 残疾人证号
        if text[:1] in "'‘’`" and len(text) > 1:  # a text marker typed or exported before the number
            step("X10", text[1:].lstrip())
        m = _ID_GROUPS.match(text)
        if m:
            step("X12", "".join(g for g in m.groups() if g))
        if col_type == "disability_id" and DISABILITY_CERT.fullmatch(text):
            step("X14", text[:18])  # the certificate's kind and level are the list's (see cells.py)
        if text.endswith("x"):
            step("X03", text[:-1] + "X")
        if len(text) == 15 and text.isdigit():
            step("X04", upgrade_15(text))
    elif col_type in ("amount", "signed_amount"):
        negative = _BRACKETED.match(text)  # "(1,000.00)": the accounting format's negative, exported as text
        m = _MONEY_TEXT.match("-" + negative.group(1) if negative else text)
        if m:  # "1,234.50", "¥100", "100元" (web and bank exports): the number they write
            step("X09", m.group(1) + m.group(2) + m.group(3).replace(",", "").replace("，", "") + (m.group(4) or ""))
    elif col_type == "name" and _NAME_DOT.search(text):  # 阿依古丽•买买提: the ID card's dot is "·"
        step("X05", _NAME_DOT.sub("·", text))
    elif col_type == "identity_name" and text in NO_FLAG:  # a roster's 特殊参保群体 "无": no identity set
        step("X13", "")
    elif col_type == "year":
        m = _YEAR_TEXT.match(text) or _period_within_a_year(text)
        if m:
            step("X07", m.group(1))
    mapping = vocab.maps.get(col_type)
    if mapping and text in mapping:
        step("X05", mapping[text])
    return text, steps


def normalise(table: Table, types: dict[str, str], vocab: Vocabulary, checked_keys=None):
    """Apply the fixes to the known columns of ``table``.

    Returns (frame of fixed text keyed by field key, fixes DataFrame[row, key, before, after, code],
    the same frame with None where a value is empty (only the columns ``checked_keys`` names, when given),
    and per key that frame's column as (codes, values): column = values[codes], for checks that look at
    each distinct value once).
    """
    keys = [key for key in types if key in table.keys]
    # Each result is one 2-D block filled column by column, which pandas keeps as it is (a dict of columns
    # is copied into one: a full sheet's two frames were 200 MB more at the peak).
    fixed = np.empty((len(keys), len(table.frame)), dtype=object)
    checked_keys = [key for key in keys if checked_keys is None or key in checked_keys]
    checked = np.empty((len(checked_keys), len(table.frame)), dtype=object)
    distinct = {}
    logs = []
    for j, key in enumerate(keys):
        col_type = types[key]
        column = table.text(key)
        codes, uniques = pd.factorize(column, sort=False)
        uniques = np.asarray(uniques, dtype=object)
        finals = np.append(uniques, "")
        steps = {}
        for i in _dirty(col_type, uniques):
            final, done = fix_value(col_type, uniques[i], vocab)
            if done:
                finals[i] = final
                steps[i] = done
        codes = codes.astype(np.int32)
        codes[codes < 0] = len(finals) - 1  # a missing value: the last, empty
        np.take(finals, codes, out=fixed[j])
        finals[finals == ""] = None  # per distinct value, not per cell
        if key in checked_keys:
            np.take(finals, codes, out=checked[checked_keys.index(key)])
        distinct[key] = (codes, finals)
        if steps:
            hit = np.isin(codes, list(steps))
            for row, code in zip(column.index[hit], codes[hit], strict=True):
                for fix, before, after in steps[int(code)]:
                    logs.append((int(row), key, before, after, fix))
    if table.merged_fills:  # a merged cell's value given to each row it covers: listed first, from empty
        columns = {table.keys[key]: key for key in keys}
        logs = [(row, columns[col], "", value, "X11") for (row, col), value in sorted(table.merged_fills.items())
                if col in columns] + logs
    index = table.frame.index
    frame = pd.DataFrame(fixed.T, index=index, columns=keys, dtype=object, copy=False)
    fixes = pd.DataFrame(logs, columns=["row", "key", "before", "after", "code"]).astype({"row": np.int64})
    return frame, fixes, pd.DataFrame(checked.T, index=index, columns=checked_keys, dtype=object, copy=False), distinct
