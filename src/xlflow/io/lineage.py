"""Where a workbook comes from: the custom properties our outputs carry, in whatever form it was re-saved.

An output of xlflow (a template, a corrected or an error workbook) names its kind, its rule table and,
when it belongs to a declared batch, that batch's lineage and the member it stands for. A clerk re-saves
files as .xls or .ods, and each keeps the properties in its own place: ``docProps/custom.xml`` in an
.xlsx, the user-defined section of ``DocumentSummaryInformation`` in an .xls, ``meta:user-defined`` in
an .ods. A .csv keeps none; its batch is found by its name or its person-years (:mod:`xlflow.store.ledger`).
"""

from __future__ import annotations

import html
import re
import struct
import zipfile
from pathlib import Path

from xlflow.io import xlsbiff

BATCH_PROPERTY = "xlflow_batch"  # the lineage of the batch the workbook's rows belong to
MEMBER_PROPERTY = "xlflow_batch_member"  # which of its files (the original, an error workbook of a round)
FINGERPRINT_PROPERTY = "xlflow_rules_fingerprint"
IMPORT_PROPERTY = "xlflow_import_source"  # an import's error workbook: the SHA-256 of the file it lists rows of

_MAX_PART = 1 << 20  # a properties part is a few hundred bytes; more is not read
_USER_DEFINED = bytes.fromhex("05d5cdd59c2e1b10939708002b2cf9ae")  # FMTID_UserDefinedProperties, as stored
_VT_I2, _VT_I4, _VT_LPSTR, _VT_LPWSTR = 2, 3, 0x1E, 0x1F


def read_properties(path: Path) -> dict[str, str]:
    """The custom document properties of ``path`` as text ({} when it has none or they cannot be read)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head.startswith(b"PK"):
                return _zip_properties(path)
            if head == xlsbiff._SIGNATURE:
                fh.seek(0)
                data = fh.read(200 * 1024 * 1024 + 1)
                return _ole_properties(data)
    except (OSError, zipfile.BadZipFile, ValueError, struct.error, IndexError, xlsbiff._Bad):
        return {}
    return {}


# A property's name and text value, however the writer spelt the element: any prefix, attributes in any
# order and quoting, the vt namespace declared on the value (openpyxl with lxml writes
# ``<vt:lpwstr xmlns:vt="…">``).
_CUSTOM = re.compile(r"""<(?:\w+:)?property\b[^>]*?\bname=["']([^"']+)["'][^>]*>\s*<(?:\w+:)?\w+\b[^>]*>([^<]*)<""")
_USER = re.compile(r"""<(?:\w+:)?user-defined\b[^>]*?\b(?:\w+:)?name=["']([^"']+)["'][^>]*>([^<]*)<""")


def _zip_properties(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "docProps/custom.xml" in names and zf.getinfo("docProps/custom.xml").file_size <= _MAX_PART:
            xml = zf.read("docProps/custom.xml").decode("utf-8", "replace")
            return {html.unescape(k): html.unescape(v).strip() for k, v in _CUSTOM.findall(xml)}
        if "meta.xml" in names and zf.getinfo("meta.xml").file_size <= _MAX_PART:
            xml = zf.read("meta.xml").decode("utf-8", "replace")
            return {html.unescape(k): html.unescape(v).strip() for k, v in _USER.findall(xml)}
    return {}


def _ole_properties(data: bytes) -> dict[str, str]:
    """The user-defined section of an .xls's DocumentSummaryInformation (MS-OLEPS)."""
    stream = xlsbiff._stream(data, "\x05DocumentSummaryInformation")
    if not stream or len(stream) < 28:
        return {}
    sets = struct.unpack_from("<I", stream, 24)[0]
    for n in range(min(sets, 4)):
        fmtid = stream[28 + 20 * n:44 + 20 * n]
        if fmtid == _USER_DEFINED:
            return _section(stream, struct.unpack_from("<I", stream, 44 + 20 * n)[0])
    return {}


def _section(stream: bytes, start: int) -> dict[str, str]:
    _, count = struct.unpack_from("<II", stream, start)
    offsets = dict(struct.unpack_from("<II", stream, start + 8 + 8 * i) for i in range(min(count, 256)))
    codepage = 1252
    if 1 in offsets and struct.unpack_from("<H", stream, start + offsets[1])[0] == _VT_I2:
        codepage = struct.unpack_from("<H", stream, start + offsets[1] + 4)[0]
    encoding = "utf-16-le" if codepage == 1200 else "utf-8" if codepage == 65001 else f"cp{codepage}"
    names: dict[int, str] = {}
    if 0 in offsets:  # the dictionary: property id → name
        at = start + offsets[0]
        entries = struct.unpack_from("<I", stream, at)[0]
        at += 4
        for _ in range(min(entries, 256)):
            pid, length = struct.unpack_from("<II", stream, at)
            at += 8
            size = length * 2 if codepage == 1200 else length
            names[pid] = stream[at:at + size].decode(encoding, "replace").rstrip("\x00")
            at += size
            if codepage == 1200 and size % 4:
                at += 4 - size % 4
    out = {}
    for pid, offset in offsets.items():
        if pid in (0, 1) or pid not in names:
            continue
        at = start + offset
        vtype = struct.unpack_from("<H", stream, at)[0]
        if vtype == _VT_LPSTR:
            size = struct.unpack_from("<I", stream, at + 4)[0]
            value = stream[at + 8:at + 8 + min(size, _MAX_PART)].decode(encoding, "replace")
        elif vtype == _VT_LPWSTR:
            size = struct.unpack_from("<I", stream, at + 4)[0]
            value = stream[at + 8:at + 8 + 2 * min(size, _MAX_PART)].decode("utf-16-le", "replace")
        elif vtype == _VT_I4:
            value = str(struct.unpack_from("<i", stream, at + 4)[0])
        else:
            continue
        out[names[pid]] = value.rstrip("\x00").strip()
    return out


# Copies as Windows, WPS, browsers and our own outputs name them: "NAME - 副本", "NAME(1)", "副本 NAME",
# "NAME_更正", "NAME_更正_2". An error workbook's name is kept: its rows are another member's.
_COPY_TAIL = re.compile(r"(\s*[-－—_]?\s*(副本|复件|拷贝|[Cc]opy)(\s*[(（]?\d+[)）]?)?|\s*[(（]\d+[)）]|_更正(_\d+)?)$")
_COPY_HEAD = re.compile(r"^(副本|复件|[Cc]opy of)\s*[-－_ ]?\s*")


def copy_stem(name: str) -> str:
    """The name a file had before it was copied, downloaded again or re-saved (no extension)."""
    stem = Path(name).stem.strip()
    for _ in range(8):
        shorter = _COPY_HEAD.sub("", _COPY_TAIL.sub("", stem)).strip()
        if shorter == stem or not shorter:
            break
        stem = shorter
    return stem
