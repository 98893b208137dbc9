"""Resident ID numbers after GB 11643-1999: check character, birth date, province; vectorised."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.array(list("10X98765432"))
PROVINCES = np.array(
    [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91]
)  # fmt: skip


def check_char(body17: str) -> str:
    """The 18th character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True))
    return str(CHECK_CHARS[total % 11])


def upgrade_15(id15: str) -> str:
    """A 15-digit first-generation ID → 18 digits (insert the century 19, add the check character)."""
    body = id15[:6] + "19" + id15[6:]
    return body + check_char(body)


def _lengths(values: np.ndarray) -> np.ndarray:
    """Characters in each value; -1 for one that is not text."""
    try:
        return np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    except TypeError:
        return np.array([len(v) if isinstance(v, str) else -1 for v in values], dtype=np.int64)


def id_shape(ids) -> tuple[np.ndarray, np.ndarray]:
    """(ok, digits): which values are 17 digits and a digit or X (what ``[0-9]{17}[0-9X]`` matches),
    and the bytes of those as rows of 18. Found on one byte array, not with a regex per value (a full
    sheet's IDs took 0.8 s a time, and three checks ask)."""
    values = np.asarray(ids, dtype=object)
    ok = np.zeros(len(values), dtype=bool)
    at = np.flatnonzero(_lengths(values) == 18)
    if len(at):
        raw = "".join(values[at].tolist()).encode("utf-8")
        if len(raw) != 18 * len(at):  # some hold characters beyond ASCII: never an ID
            at = at[np.fromiter((v.isascii() for v in values[at]), dtype=bool, count=len(at))]
            raw = "".join(values[at].tolist()).encode("ascii")
        digits = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
        good = ((digits[:, :17] - 48) < 10).all(axis=1) & (((digits[:, 17] - 48) < 10) | (digits[:, 17] == 88))
        ok[at[good]] = True
        return ok, digits if good.all() else digits[good]
    return ok, np.empty((0, 18), dtype=np.uint8)


def id_shaped(ids: pd.Series) -> pd.Series:
    """True where an ID has the shape of one (see :func:`id_shape`)."""
    return pd.Series(id_shape(ids.to_numpy(dtype=object))[0], index=ids.index)


def inspect_ids(ids: pd.Series, today_year: int) -> pd.DataFrame:
    """For each non-empty ID: ``code`` (C03..C06 or "") and ``detail`` for the message.

    Precedence per cell: shape (C03), province (C06), birth date (C05), check character (C04).
    """
    ids = ids.fillna("").astype(str)
    code = pd.Series("", index=ids.index, dtype=object)
    detail = pd.Series("", index=ids.index, dtype=object)
    present = ids != ""
    shape, digits = id_shape(ids.to_numpy(dtype=object))
    shape_ok = pd.Series(shape, index=ids.index)
    bad_shape = present & ~shape_ok
    if bad_shape.any():
        lengths = ids[bad_shape].str.len()
        code[bad_shape] = "C03"
        detail[bad_shape] = np.where(
            lengths != 18, "共 " + lengths.astype(str) + " 位", "含有不允许的字符"
        )
    good = ids[shape_ok]
    if good.empty:
        return pd.DataFrame({"code": code, "detail": detail})
    # int16 and a matrix product: a million IDs as int64 digits (and their weighted copy) took 270 MB.
    body = digits[:, :17].astype(np.int16) - 48
    expected = CHECK_CHARS[(body @ WEIGHTS.astype(np.int16)) % 11]
    actual = (digits[:, 17].view("S1")).astype(str)
    province = body[:, 0] * 10 + body[:, 1]
    checks = [
        ("C06", ~np.isin(province, PROVINCES), lambda hit: good[hit].str[:2]),
        ("C05", ~_valid_dates(body[:, 6:14], today_year), lambda hit: good[hit].str[6:14]),
        ("C04", expected != actual, lambda hit: expected[hit]),
    ]
    idx = good.index
    undecided = np.ones(len(good), dtype=bool)
    for name, failed, info in checks:
        hit = undecided & failed
        if hit.any():
            code[idx[hit]] = name
            detail[idx[hit]] = np.asarray(info(hit))
            undecided &= ~hit
    return pd.DataFrame({"code": code, "detail": detail})


def _valid_dates(digits: np.ndarray, today_year: int) -> np.ndarray:
    """YYYYMMDD digit rows → True where the date exists and the year is 1900..today_year."""
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    days = days + ((month == 2) & leap)
    return (year >= 1900) & (year <= today_year) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)


def birth_years(ids: pd.Series) -> pd.Series:
    """Birth year of 18-character IDs (NaN for anything else), read from the digits as one byte array
    (a million 4-character slices as new strings cost 50 MB and a second)."""
    ok, digits = id_shape(ids.to_numpy(dtype=object))
    years = np.full(len(ids), np.nan)
    if ok.any():
        years[ok] = (digits[:, 6:10].astype(np.int16) - 48) @ np.array([1000, 100, 10, 1], dtype=np.int16)
    return pd.Series(years, index=ids.index)


# ---------------------------------------------------------------- masking in text (logs, the console)

_FULL_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"ｘ": "x", "Ｘ": "X"})
# Groups of digits (an x may end one) with what a clerk types between them: spaces, ideographic and
# zero-width spaces, and the separators X12 removes (430321-19800101-1233, 430321/19800101/1233).
_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9]+[Xx]?(?:[ \t\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff\-—_/.·]+[0-9]+[Xx]?)*")
_GROUP = re.compile(r"[0-9]+[Xx]?")
_SHAPED = re.compile(r"[0-9]{15}|[0-9]{17}[0-9Xx]")


def mask_in_text(text: str) -> str:
    """ID numbers in free text masked as 430124********1234, read the way the cell pass reads them:
    spaces inside, full-width digits, a lower-case x and the 15-digit form are masked too."""
    text = text.translate(_FULL_DIGITS)
    return _RUN.sub(_mask_run, text)


def _mask_run(m: re.Match) -> str:
    run = m.group(0)
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    out, i, last = [], 0, 0
    while i < len(groups):
        found = None  # the consecutive groups from i that make an ID: 18 characters first, else 15 digits
        digits = ""
        for j in range(i, len(groups)):
            digits += run[groups[j][0]:groups[j][1]]
            if len(digits) > 18 or not digits[:-1].isdigit():
                break
            if _SHAPED.fullmatch(digits) and (len(digits) == 18 or digits.isdigit()):
                found = (j, digits)
                if len(digits) == 18:
                    break
        if found is None:
            i += 1
            continue
        j, digits = found
        out += [run[last:groups[i][0]], digits[:6] + "*" * (len(digits) - 10) + digits[-4:].upper()]
        last, i = groups[j][1], j + 1
    return "".join(out) + run[last:]


# ---------------------------------------------------------------- 残疾人证号 (残联's lists)

# The second-generation disability certificate number: the holder's 18-character ID, then the kind of
# disability (1 视力 … 7 多重) and its level (1–4). 残联's lists often give it in place of the ID.
DISABILITY_CERT_NAMES = ("残疾证号", "残疾人证号", "残疾证号码", "残疾人证号码", "残疾人证编号", "残疾证编号")
DISABILITY_CERT = re.compile(r"[0-9]{17}[0-9Xx][1-7][1-4]")
DISABILITY_KINDS = dict(zip("1234567", ("视力残疾", "听力残疾", "言语残疾", "肢体残疾", "智力残疾", "精神残疾",
                                         "多重残疾"), strict=True))
DISABILITY_LEVELS = dict(zip("1234", ("一级", "二级", "三级", "四级"), strict=True))
