"""Legacy .xls: the formula cells saved without a value (C11), which calamine reads as empty cells.

A .xls is a compound file (OLE / CFB) holding a BIFF record stream ("Workbook", or "Book" for BIFF5).
Each FORMULA record carries its cached result; a writer that does not compute (xlwt and the tools built on
it) stores "empty string" there, which every reader shows as an empty cell. This module reads just enough
of both formats to list those cells per sheet: the compound file's sector chains and directory, and the
BIFF records BOUNDSHEET (names and offsets), BOF (which sheet we are in), FORMULA and STRING. Every chain
and loop is bounded by the file's own size, so a malformed file ends the scan, never the process.
"""

from __future__ import annotations

import struct

_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_END = 0xFFFFFFFE
_FREE = 0xFFFFFFFF
BOUNDSHEET, BOF, FORMULA, STRING = 0x0085, 0x0809, 0x0006, 0x0207


class _Bad(Exception):
    pass


def _chain(fat: list[int], start: int, limit: int) -> list[int]:
    out, seen = [], set()
    n = start
    while n not in (_END, _FREE) and n < len(fat):
        if n in seen or len(out) > limit:
            raise _Bad("a sector chain loops")
        seen.add(n)
        out.append(n)
        n = fat[n]
    return out


def _stream(data: bytes, name: str) -> bytes | None:
    """The named stream of a compound file, or None."""
    if len(data) < 512 or not data.startswith(_SIGNATURE):
        return None
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if shift not in (9, 12) or mini_shift != 6:
        raise _Bad("sector size")
    size = 1 << shift
    sectors = (len(data) - size) // size + 1

    def sector(n: int) -> bytes:
        at = (n + 1) * size
        return data[at:at + size]

    n_fat, first_dir, _, cutoff, first_mini, n_mini, first_difat, n_difat = struct.unpack_from("<8I", data, 0x2C)
    difat = list(struct.unpack_from("<109I", data, 0x4C))
    n = first_difat
    for _ in range(min(n_difat, sectors)):
        if n in (_END, _FREE) or n >= sectors:
            break
        block = struct.unpack(f"<{size // 4}I", sector(n))
        difat += block[:-1]
        n = block[-1]
    fat: list[int] = []
    for s in difat[:n_fat]:
        if s >= sectors:
            raise _Bad("FAT sector out of range")
        fat += struct.unpack(f"<{size // 4}I", sector(s))
    directory = b"".join(sector(s) for s in _chain(fat, first_dir, sectors))
    entries = [directory[i:i + 128] for i in range(0, len(directory) - 127, 128)]
    if not entries:
        return None
    root_start, root_size = struct.unpack_from("<II", entries[0], 0x74)
    for entry in entries:
        length = struct.unpack_from("<H", entry, 0x40)[0]
        if entry[0x42] != 2 or not 2 <= length <= 64:
            continue
        if entry[:length - 2].decode("utf-16-le", "replace") != name:
            continue
        start, stream_size = struct.unpack_from("<II", entry, 0x74)
        if stream_size >= cutoff:
            return b"".join(sector(s) for s in _chain(fat, start, sectors))[:stream_size]
        mini_fat: list[int] = []
        for s in _chain(fat, first_mini, sectors)[:n_mini]:
            mini_fat += struct.unpack(f"<{size // 4}I", sector(s))
        mini = b"".join(sector(s) for s in _chain(fat, root_start, sectors))[:root_size]
        parts = [mini[m * 64:(m + 1) * 64] for m in _chain(mini_fat, start, len(mini) // 64 + 1)]
        return b"".join(parts)[:stream_size]
    return None


def formula_blanks(data: bytes) -> dict[str, set[tuple[int, int]]]:
    """{sheet name: {(Excel row, 0-based column)}} of formula cells whose saved result is empty."""
    try:
        book = _stream(data, "Workbook") or _stream(data, "Book")
    except (_Bad, struct.error, IndexError):
        return {}
    if not book:
        return {}
    names: dict[int, str] = {}
    out: dict[str, set[tuple[int, int]]] = {}
    biff8 = len(book) >= 6 and struct.unpack_from("<HH", book, 0)[0] == BOF and book[4:6] == b"\x00\x06"
    current: str | None = None
    pending: tuple[int, int] | None = None  # a string formula whose STRING record follows
    at, end = 0, len(book)
    head = struct.Struct("<HH").unpack_from
    while at + 4 <= end:  # ~900,000 records in a full .xls: nothing but the header is read from most
        rid, length = head(book, at)
        if rid == FORMULA and current is not None and length >= 14:
            row, col = head(book, at + 4)
            pending = None
            if book[at + 16:at + 18] == b"\xff\xff":
                if book[at + 10] == 3:  # the empty string: what a writer that does not calculate stores
                    out.setdefault(current, set()).add((row + 1, col))
                elif book[at + 10] == 0:
                    pending = (row + 1, col)
        elif rid == STRING and pending is not None:
            if length >= 2 and head(book, at + 4)[0] == 0:
                out.setdefault(current, set()).add(pending)
            pending = None
        elif rid == BOUNDSHEET and length >= 8:
            offset = struct.unpack_from("<I", book, at + 4)[0]
            names[offset] = _sheet_name(book[at + 10:at + 4 + length], biff8)
        elif rid == BOF:
            current = names.get(at)
        at += 4 + length
    return out


def _sheet_name(raw: bytes, biff8: bool) -> str:
    if not raw:
        return ""
    count = raw[0]
    if biff8 and len(raw) >= 2:  # a count, a flag (1: UTF-16), the characters
        wide = raw[1] & 1
        return raw[2:2 + count * (2 if wide else 1)].decode("utf-16-le" if wide else "latin-1", "replace")
    return raw[1:1 + count].decode("gbk", "replace")  # BIFF5: the ANSI code page of a Chinese Windows
