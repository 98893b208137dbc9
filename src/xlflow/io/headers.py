"""The head of a table as a clerk writes it: header cells as column names (spaces, a *, a note in brackets
left out) and the header block above the table (申报单位 / 经办人 / 申报日期, beside their labels or in one cell
with them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from xlflow.domain.findings import column_letter
from xlflow.domain.kinds import KindSpec, all_specs
from xlflow.io.cellvalues import cell_text
from xlflow.io.opening import RawSheet


@dataclass
class HeaderValue:
    label: str
    value: str
    cell: str | None


def header_text(value: Any) -> str:
    """Header cell → the name used to match columns: spaces, line breaks and a * before or after removed."""
    text = re.sub(r"[\s\u3000\u200b\ufeff]+", "", cell_text(value))
    return text.strip("*＊").strip()


_NOTE = re.compile(r"[（(][^（）()]*[)）]$")  # a note after a column name: （元）, (18位), （如2025）


@cache
def _known_names() -> frozenset[str]:
    return frozenset(name for spec in all_specs() for col in spec.columns for name in col.names)


def column_text(value: Any) -> str:
    """A header cell as a column name: :func:`header_text`, and a note in brackets after it left out when
    the name with the note is no kind's (“个人缴费（元）” is 个人缴费, “乡镇（街道）” stays itself). A column a
    clerk filled under such a header was ignored, and a required one was F03."""
    text = header_text(value)
    if not text.endswith((")", "）")) or text in _known_names():
        return text
    bare = _NOTE.sub("", text).strip("*＊")
    return bare or text


def header_values(spec: KindSpec, rows: list[list[Any]], sheet: RawSheet) -> dict:
    labels = {f.label: f.key for f in spec.header_fields}
    found: dict[str, HeaderValue] = {}
    for r, row in enumerate(rows):
        texts = [cell_text(v).strip() for v in row]
        for c, text in enumerate(texts):
            bare = header_text(text).rstrip(":：")
            inline = re.match(r"^(.+?)[*＊]?\s*[:：]\s*(.+)$", text)
            if bare in labels:  # an empty value is looked for in the cell right of the label
                value, cell = "", f"{column_letter(c + 1 + sheet.first_col)}{r + sheet.first_row + 1}"
                for c2 in range(c + 1, len(texts)):
                    if header_text(texts[c2]).rstrip(":：") in labels:
                        break
                    if texts[c2]:
                        value = texts[c2]
                        cell = f"{column_letter(c2 + sheet.first_col)}{r + sheet.first_row + 1}"
                        break
                found.setdefault(labels[bare], HeaderValue(bare, value, cell))
            elif inline and header_text(inline.group(1)) in labels:
                cell = f"{column_letter(c + sheet.first_col)}{r + sheet.first_row + 1}"
                for label, value in _inline_values(header_text(inline.group(1)), inline.group(2), labels):
                    found.setdefault(labels[label], HeaderValue(label, value, cell))
    return found


@cache
def _label_marks(labels: frozenset[str]) -> re.Pattern:
    """Where a label of the header block starts inside a cell's text: the label, then a colon."""
    words = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"({words})[*＊]?\s*[:：]")


def _inline_values(label: str, rest: str, labels: dict[str, str]) -> list[tuple[str, str]]:
    """The labels and values of one cell that holds them: "申报单位：某镇   经办人：刘敏   申报日期：2026.11.20"
    (spaces between them or not) → each label with the text up to the next one (a colon in a value, as in
    10:30, is kept)."""
    pairs, start = [], 0
    for mark in _label_marks(frozenset(labels)).finditer(rest):
        pairs.append((label, rest[start: mark.start()].strip()))
        label, start = mark.group(1), mark.end()
    return [*pairs, (label, rest[start:].strip())]
