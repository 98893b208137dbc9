"""Parsing one text value: amounts (to cents), years, year-months. Each returns (value, problem)."""

from __future__ import annotations

import re

_AMOUNT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_MONTH_FORMS = (
    re.compile(r"^([0-9]{4})([0-9]{2})$"),
    re.compile(r"^([0-9]{4})[-/.年]([0-9]{1,2})月?$"),
    re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$"),
    re.compile(r"^([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?(?:\s+00:00(?::00)?)?$"),
)


def parse_amount(text: str, signed: bool = False) -> tuple[int | None, str | None]:
    """'9.9' → (990, None) in cents; a problem is a Chinese phrase for the C08 message."""
    if not _AMOUNT.match(text):
        return None, "不是数字"
    whole, _, frac = text.lstrip("+-").partition(".")
    if len(whole.lstrip("0")) > 12:  # more than a hundred billion yuan: also past int() limits for huge texts
        return None, "数值过大"
    frac = frac.rstrip("0")
    if len(frac) > 2:
        return None, "超过两位小数"
    cents = int(whole or "0") * 100 + int((frac + "00")[:2])
    if text.startswith("-"):
        cents = -cents
    if cents < 0 and not signed:
        return None, "是负数"
    return cents, None


_YEAR_RANGE = re.compile(r"([0-9]{4})年?(?:-|—|–|~|～|至|到)([0-9]{4})年?度?")
_YEAR_LIST = re.compile(r"[0-9]{4}年?(?:[、,，;；/]+[0-9]{4}年?)+度?")


def parse_year(text: str, first: int, last: int) -> tuple[int | None, str | None]:
    if not re.fullmatch(r"[0-9]{4}", text):
        return None, _several_years(text)
    year = int(text)
    if not first <= year <= last:
        return None, f"年度应在 {first} 至 {last} 之间。"
    return year, None


def _several_years(text: str) -> str:
    """The advice for several years in one cell (2023-2025, 2024、2025): one row per person-year."""
    if m := _YEAR_RANGE.fullmatch(text):
        years = list(range(int(m.group(1)), int(m.group(2)) + 1))
    elif _YEAR_LIST.fullmatch(text):
        years = [int(y) for y in re.findall(r"[0-9]{4}", text)]
    else:
        return ""
    if not 2 <= len(years) <= 30:
        return ""
    shown = "、".join(map(str, years))
    return f"一行只能填一个年度：要申报 {shown} 年，请把这一行复制成 {len(years)} 行，每行填一个年度。"


def parse_month(text: str) -> tuple[int | None, str | None]:
    """'201701', '2017-01', '20170101', '2017-01-01' (or an Excel date) → 201701."""
    for form in _MONTH_FORMS:
        m = form.match(text)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            if 1900 <= year <= 2100 and 1 <= month <= 12:
                return year * 100 + month, None
            break
    return None, f"“{text}”不是有效的年月"


def cents_text(cents: int | None) -> str:
    """990 → '9.9', 10000 → '100' (how amounts are shown in messages)."""
    if cents is None or cents != cents:  # None or NaN
        return ""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}" + (f".{frac:02d}".rstrip("0") if frac else "")
