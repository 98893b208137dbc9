"""The Finding record and the code catalogue (validators/findings.toml).

Run ``python -m xlflow.domain.findings`` to print the catalogue as Markdown (docs/findings.md).
"""

from __future__ import annotations

import string
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np

from xlflow.paths import data_dir

SEVERITIES = ("error", "warning", "fixed")
QUOTE_CHARS = 60  # the longest value quoted in a message


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: str
    name: str
    message: str
    description: str


@dataclass
class Finding:
    """One problem or fix. ``row`` is the Excel row number the user sees (None for the file)."""

    code: str
    severity: str
    message: str
    row: int | None = None
    column: str | None = None
    cell: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def catalogue() -> dict[str, CodeInfo]:
    with open(data_dir("validators") / "findings.toml", "rb") as fh:
        raw = tomllib.load(fh)
    return {code: CodeInfo(code=code, **entry) for code, entry in raw.items()}


def render(code: str, **params: Any) -> str:
    """The Chinese message of ``code`` with its placeholders filled (missing ones left empty)."""
    values = defaultdict(str, {k: "" if v is None else v for k, v in params.items()})
    return catalogue()[code].message.format_map(values).strip()


def make(
    code: str,
    *,
    row: int | None = None,
    column: str | None = None,
    cell: str | None = None,
    value: Any = None,
    **params: Any,
) -> Finding:
    """Build a finding of ``code``; ``params`` fill the message template."""
    info = catalogue()[code]
    shown = None if value is None else str(value)
    if shown is not None and len(shown) > QUOTE_CHARS:  # a 40,000-character cell is not quoted whole
        shown = shown[:QUOTE_CHARS] + "…"
    message = render(code, column=column, value=shown, **params)
    return Finding(code, info.severity, message, row, column, cell, shown)


@dataclass
class FindingBlock:
    """Findings of one code in one column for many rows, held as arrays (a full sheet can have millions).

    ``params`` fill the message; each is one value for the block or an array aligned with ``rows``.
    Messages are rendered only when a finding is looked at.
    """

    code: str
    column: str | None
    letter: str | None  # the column's letter; the cell is letter + row
    rows: np.ndarray  # int64 Excel row numbers
    values: np.ndarray  # object: the value quoted per row
    params: dict[str, Any]

    def __len__(self) -> int:
        return len(self.rows)

    def messages(self, offsets: np.ndarray) -> np.ndarray:
        """The messages of the findings at ``offsets``, rendered column-wise (a million in seconds)."""
        if "_message" in self.params:
            return np.full(len(offsets), self.params["_message"], dtype=object)
        out = np.full(len(offsets), "", dtype=object)
        hint = self.params.get("hint")
        for literal, name in _template_parts(self.code):
            if literal:
                out = out + literal
            if name is None:
                continue
            if name == "column":
                value = self.column or ""
            elif name == "value":
                value = _texts(np.asarray(self.values)[offsets], quote=True)
            elif name in self.params:
                v = self.params[name]
                value = _texts(v[offsets]) if isinstance(v, np.ndarray) else ("" if v is None else str(v))
            else:
                value = hint if name == "hint" and hint else ""
            out = out + value
        return np.array([m.strip() for m in out], dtype=object) if len(out) and (
            out[0][:1].isspace() or out[0][-1:].isspace()) else out

    def finding(self, i: int) -> Finding:
        row = int(self.rows[i])
        params = {k: (v[i] if isinstance(v, np.ndarray) else v) for k, v in self.params.items()}
        cell = f"{self.letter}{row}" if self.letter else None
        return make(self.code, row=row, column=self.column, cell=cell, value=self.values[i], **params)


@cache
def _template_parts(code: str) -> list[tuple[str, str | None]]:
    return [(literal, name) for literal, name, _, _ in string.Formatter().parse(catalogue()[code].message)]


def _texts(values: np.ndarray, quote: bool = False) -> np.ndarray:
    """Values as message text: None → '', long values cut as :func:`make` does."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        t = "" if v is None else str(v)
        out[i] = t[:QUOTE_CHARS] + "…" if quote and len(t) > QUOTE_CHARS else t
    return out


class Findings:
    """Every finding of a check, in the order the clerk reads them: by row, then cell, then code.

    Behaves as a list of :class:`Finding` (iterate, index, slice, compare, ``+=``), while counting,
    error rows and per-row messages work on the arrays without building a Finding for each row.
    """

    def __init__(self, items: Iterable[Finding | FindingBlock] = ()):
        self._blocks: list[FindingBlock] = []
        self._order: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._rows_cache: dict = {}
        self.extend(items)

    # ------------------------------------------------------------------ building
    def append(self, item: Finding | FindingBlock) -> None:
        if isinstance(item, Finding):
            params = {"_message": item.message, "_severity": item.severity}
            item = FindingBlock(item.code, item.column, None, np.array([-1 if item.row is None else item.row]),
                                np.array([item.value], dtype=object), {**params, "_cell": item.cell})
        if len(item):
            self._blocks.append(item)
            self.changed()

    def extend(self, items: Iterable[Finding | FindingBlock]) -> None:
        if isinstance(items, Findings):
            items = items._blocks
        for item in items:
            self.append(item)

    def __iadd__(self, items):
        self.extend(items if isinstance(items, (list, tuple, Findings)) else [items])
        return self

    def __add__(self, items):
        out = Findings(self._blocks)
        out += items
        return out

    def __radd__(self, items):
        out = Findings(items)
        out += self
        return out

    def drop_at(self, cells: set[tuple[int, str]], keep: tuple[str, ...]) -> None:
        """Remove findings at ``cells`` ((row, column letter)) except those of codes ``keep``: a cell
        already reported for what it is (an Excel error value) gets no second, misleading finding."""
        if not cells:
            return
        letters = {letter for _, letter in cells}
        self._drop(keep, lambda b: np.array([(int(r), b.letter) in cells for r in b.rows], dtype=bool)
                   if b.letter in letters else None)

    def drop_rows(self, rows: np.ndarray, keep: tuple[str, ...]) -> None:
        """Remove every finding at ``rows`` except those of codes ``keep`` (a totals row: C15 alone)."""
        if len(rows):
            self._drop(keep, lambda b: np.isin(b.rows, rows))

    def _drop(self, keep: tuple[str, ...], hits) -> None:
        """Each block without the findings ``hits(block)`` marks (None: none), blocks of ``keep`` untouched."""
        blocks = []
        for b in self._blocks:
            hit = None if b.code in keep else hits(b)
            if hit is not None and hit.any():
                params = {k: (v[~hit] if isinstance(v, np.ndarray) and v.shape == b.rows.shape else v)
                          for k, v in b.params.items()}
                b = FindingBlock(b.code, b.column, b.letter, b.rows[~hit], np.asarray(b.values)[~hit], params)
            if len(b):
                blocks.append(b)
        self._blocks = blocks
        self.changed()

    def blocks(self, codes: tuple[str, ...]) -> list[FindingBlock]:
        """The blocks of ``codes``, to amend their parameters (then call :meth:`changed`)."""
        return [b for b in self._blocks if b.code in codes]

    def changed(self) -> None:
        self._order = None
        self._rows_cache = {}

    def sort(self, key=None) -> None:
        """Kept for list compatibility: findings are always read in row, cell, code order."""

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return sum(len(b) for b in self._blocks)

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def _sorted(self, skip_severity: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, block index, offset) of every finding (but those of ``skip_severity``) in reading order."""
        cached = self._order if skip_severity is None else self._rows_cache.get(("_sorted", skip_severity))
        if cached is not None:
            return cached
        chosen = [(i, None) for i, b in enumerate(self._blocks)
                  if skip_severity is None or self.severity_of(b) != skip_severity]
        order = self._arrange(chosen)
        if skip_severity is None:
            self._order = order
        else:
            self._rows_cache[("_sorted", skip_severity)] = order
        return order

    def _arrange(self, chosen: list[tuple[int, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, block index, offset) of the findings ``chosen`` ((block, offsets or None for all)),
        in reading order: row, then column, then code, sorted by one int64 key per finding (a full sheet
        of amount fills is 6 million findings; three separate sort keys needed 400 MB)."""
        if not chosen:
            empty = np.array([], dtype=np.int64)
            return empty, empty, empty
        blocks = [self._blocks[i] for i, _ in chosen]
        offsets = [np.arange(len(b), dtype=np.int32) if at is None else at.astype(np.int32)
                   for b, (_, at) in zip(blocks, chosen, strict=True)]
        letters = sorted({(len(b.letter or ""), b.letter or "") for b in blocks})
        letter_rank = {v: i for i, (_, v) in enumerate(letters)}
        codes = {c: i for i, c in enumerate(sorted({b.code for b in blocks}))}
        pairs = sorted({(letter_rank[b.letter or ""], codes[b.code]) for b in blocks})
        pair_rank = {p: i for i, p in enumerate(pairs)}
        rows = np.concatenate([b.rows[at] for b, at in zip(blocks, offsets, strict=True)]).astype(np.int64)
        src = np.concatenate([np.full(len(at), i, dtype=np.int32) for (i, _), at in zip(chosen, offsets, strict=True)])
        off = np.concatenate(offsets)
        key = np.maximum(rows, 0) * len(pairs)
        start = 0
        for b, at in zip(blocks, offsets, strict=True):
            key[start:start + len(at)] += pair_rank[(letter_rank[b.letter or ""], codes[b.code])]
            start += len(at)
        sort = np.argsort(key, kind="stable")
        del key
        return rows[sort], src[sort], off[sort]

    def _head(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(block index, offset) of the first ``k`` findings in reading order, without sorting them all:
        only findings on rows up to the k-th smallest row can be among them."""
        if self._order is not None or k <= 0:
            _, src, off = self._sorted()
            return src[:k], off[:k]
        lowest = [np.partition(np.maximum(b.rows, 0), k - 1)[:k] if len(b) > k else np.maximum(b.rows, 0)
                  for b in self._blocks]
        pool = np.concatenate(lowest) if lowest else np.array([], dtype=np.int64)
        limit = np.partition(pool, k - 1)[k - 1] if len(pool) > k else (pool.max() if len(pool) else 0)
        chosen = [(i, np.flatnonzero(np.maximum(b.rows, 0) <= limit)) for i, b in enumerate(self._blocks)]
        _, src, off = self._arrange([(i, at) for i, at in chosen if len(at)])
        return src[:k], off[:k]

    def _finding(self, src: int, off: int) -> Finding:
        block = self._blocks[src]
        if "_message" in block.params:
            row = int(block.rows[off])
            return Finding(block.code, block.params["_severity"], block.params["_message"],
                           None if row < 0 else row, block.column, block.params["_cell"], block.values[off])
        return block.finding(off)

    def __iter__(self) -> Iterator[Finding]:
        _, src, off = self._sorted()
        for s, o in zip(src.tolist(), off.tolist(), strict=True):
            yield self._finding(s, o)

    def __getitem__(self, index):
        if isinstance(index, slice) and index.start in (None, 0) and index.step in (None, 1) \
                and index.stop is not None and 0 <= index.stop < len(self) // 4:
            src, off = self._head(index.stop)  # the first findings of a big check (--json, the console)
            return [self._finding(s, o) for s, o in zip(src.tolist(), off.tolist(), strict=True)]
        _, src, off = self._sorted()
        if isinstance(index, slice):
            return [self._finding(s, o) for s, o in zip(src[index].tolist(), off[index].tolist(), strict=True)]
        return self._finding(int(src[index]), int(off[index]))

    def __eq__(self, other) -> bool:
        if isinstance(other, (list, tuple, Findings)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Findings({len(self)} findings)"

    # ------------------------------------------------------------------ summaries
    def severity_of(self, block: FindingBlock) -> str:
        return block.params.get("_severity") or catalogue()[block.code].severity

    def count(self, severity: str) -> int:
        return sum(len(b) for b in self._blocks if self.severity_of(b) == severity)

    def code_counts(self) -> Counter:
        counts: Counter = Counter()
        for b in self._blocks:
            counts[b.code] += len(b)
        return counts

    def rows_of(self, *codes: str, severity: str | None = None) -> np.ndarray:
        """Sorted distinct rows (file-level findings left out) with a finding of ``codes`` / ``severity``."""
        key = (codes, severity)
        if key not in self._rows_cache:
            parts = [b.rows for b in self._blocks
                     if (not codes or b.code in codes) and (severity is None or self.severity_of(b) == severity)]
            rows = np.unique(np.concatenate(parts).astype(np.int64)) if parts else np.array([], dtype=np.int64)
            self._rows_cache[key] = rows[rows >= 0]
        return self._rows_cache[key]

    def first(self, k: int, skip_severity: str | None = None) -> list[Finding]:
        """The first ``k`` findings in reading order but those of ``skip_severity`` (a result's listing: a full
        sheet's million fixes are skipped as arrays, not built as a Finding each)."""
        _, src, off = self._sorted(skip_severity)
        return [self._finding(s, o) for s, o in zip(src[:k].tolist(), off[:k].tolist(), strict=True)]

    def file_level(self) -> list[Finding]:
        """The findings about the file or its header block (no data row)."""
        return [self._finding(i, 0) for i, b in enumerate(self._blocks) if "_message" in b.params and b.rows[0] < 0]

    def cells_of(self, severity: str) -> dict[str, np.ndarray]:
        """{column letter: rows} of the cells that have a finding of ``severity``."""
        parts: dict[str, list[np.ndarray]] = {}
        for b in self._blocks:
            if self.severity_of(b) != severity:
                continue
            if b.letter:
                parts.setdefault(b.letter, []).append(b.rows)
            elif b.params.get("_cell"):
                cell = b.params["_cell"]
                letter = cell.rstrip("0123456789")
                parts.setdefault(letter, []).append(np.array([int(cell[len(letter):])]))
        return {k: np.unique(np.concatenate(v).astype(np.int64)) for k, v in parts.items()}

    def notes(self, severity: str = "error", limit: int = 5_000) -> list[tuple[int, str, str]]:
        """(row, column letter, text) for the first ``limit`` cells with findings of ``severity``, each
        cell's messages joined: the notes an error workbook shows at its cells."""
        rows = self.rows_of(severity=severity)
        if not len(rows):
            return []
        cutoff = rows[min(limit, len(rows)) - 1]  # every row has a cell: the first cells lie in these rows
        cells: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for s, b in enumerate(self._blocks):
            if self.severity_of(b) != severity or not b.letter:
                continue
            for off in np.flatnonzero(b.rows <= cutoff).tolist():  # a full sheet of errors is not walked whole
                cells.setdefault((int(b.rows[off]), b.letter), []).append((s, off))
        out = []
        for (row, letter) in sorted(cells, key=lambda k: (k[0], len(k[1]), k[1]))[:limit]:
            texts = [f"[{self._blocks[s].code}] " + self._blocks[s].messages(np.array([off]))[0]
                     for s, off in cells[(row, letter)]]
            out.append((row, letter, "\n".join(texts)))
        return out

    def feedback_by_row(self, rows: np.ndarray, skip_severity: str = "fixed") -> dict[int, list[str]]:
        """{row: ["[code] message", ...]} for ``rows`` (sorted), in reading order; rendered per block."""
        srows, src, off = self._sorted(skip_severity)
        if not len(rows):
            return {}
        lo, hi = np.searchsorted(srows, rows[0], "left"), np.searchsorted(srows, rows[-1], "right")
        pick = np.flatnonzero(np.isin(srows[lo:hi], rows)) + lo
        texts = np.empty(len(pick), dtype=object)
        for s in np.unique(src[pick]).tolist():
            at = np.flatnonzero(src[pick] == s)
            block = self._blocks[s]
            texts[at] = f"[{block.code}] " + block.messages(off[pick][at])
        out: dict[int, list[str]] = {}
        for r, t in zip(srows[pick].tolist(), texts.tolist(), strict=True):
            out.setdefault(r, []).append(t)
        return out



def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def markdown() -> str:
    lines = [
        "# Finding codes",
        "",
        "Generated from `validators/findings.toml` by `make docs`; a test keeps them equal.",
        "",
        "| code | severity | name | meaning | message shown to the clerk |",
        "|---|---|---|---|---|",
    ]
    for info in catalogue().values():
        message = info.message.replace("|", "\\|")
        lines.append(
            f"| {info.code} | {info.severity} | {info.name} | {info.description} | {message} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
