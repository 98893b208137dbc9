"""An HTML table, read by a tokenizer of our own: colspan / rowspan, x:num numbers, scripts never read."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlflow.io.refusal import MAX_CELL_CHARS, Limits, TooManyRows, UnreadableWorkbook
from xlflow.io.webexports.sniff import _CHARSET, MAX_SPAN, MAX_TAG_BYTES, SNIFF_BYTES, _Counter, decoded, text_encoding

MAX_MERGES = 100_000  # rowspans past that are not given to the rows they cover

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "caption", "center"}


_SKIPPED = {"script", "style", "title", "head", "noscript", "template"}


_SPACES = re.compile(r"[ \t\r\n\f]+")


_BREAK = "\x1f"



def _span(attrs: dict, name: str) -> int:
    try:
        return max(1, min(int(str(attrs.get(name) or "1").strip().strip('"') or 1), MAX_SPAN))
    except ValueError:
        return 1



def _tidy(pieces: list[str]) -> str:
    """Cell text as a browser (and Excel) shows it: runs of spaces one space, <br> a line break."""
    text = _SPACES.sub(" ", "".join(pieces))
    text = "\n".join(part.strip(" ") for part in text.split(_BREAK)).strip("\n")
    return text if text.strip() else ""  # <td>&nbsp;</td>, a system's empty cell, is empty



def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


_TAG = re.compile(r"""<(/?)([A-Za-z][A-Za-z0-9:_\-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""")


_OTHER = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[!?][^>]*>", re.S)


_ATTR = re.compile(r"""([A-Za-z_:][\w:.\-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")


_RAW_END = {"script": re.compile(r"</script\s*>", re.I), "style": re.compile(r"</style\s*>", re.I)}



def _attrs(text: str) -> dict:
    out = {}
    for m in _ATTR.finditer(text):
        value = m.group(2)
        if value and value[0] in "\"'":
            value = value[1:-1]
        out[m.group(1).lower()] = html.unescape(value) if value and "&" in value else value
    return out



class _Tables:
    """Every <tr> of the page's tables as a row (colspan and rowspan as merged cells: the value in the
    first, the others empty), text outside the tables as one-cell rows, <script>/<style> ignored.

    A tokenizer of its own (tags, comments, text; entities as a browser reads them): the standard library's
    HTMLParser spent 35 of 48 seconds of a 100,000-row export in its own bookkeeping."""

    def __init__(self):
        self.rawdata = ""  # the unread end of what was fed: an unfinished tag or entity
        self.raw_end: re.Pattern | None = None  # inside <script> or <style>: where their text ends
        self.done: list[list[Any]] = []
        self.depth = 0
        self.skip = 0
        self.row: list[Any] | None = None
        self.cell: list[str] | None = None
        self.cell_chars = 0
        self.cell_attrs: dict = {}
        self.loose: list[str] = []
        self.spans: dict[int, int] = {}  # column → rows below still covered by a rowspan
        self.active: set[int] = set()
        self.rows_done = 0  # rows given so far (the Excel row of the row being read is one more)
        self.merged: list[tuple[int, int, int, int]] = []  # rowspan in one column: (Excel row, column, last row)

    # rows and cells
    def _start_row(self) -> None:
        self._end_row()
        self.row = []
        self.active = {c for c, n in self.spans.items() if n > 0}

    def _end_row(self) -> None:
        self._end_cell()
        if self.row is None:
            return
        self.done.append(self.row)
        self.rows_done += 1
        for c in self.active:
            self.spans[c] -= 1
            if self.spans[c] <= 0:
                del self.spans[c]
        self.row = None
        self.active = set()

    def _start_cell(self, attrs: dict) -> None:
        if self.row is None:
            self._start_row()
        self._end_cell()
        self.cell = []
        self.cell_chars = 0
        self.cell_attrs = attrs

    def _end_cell(self) -> None:
        if self.cell is None or self.row is None:
            self.cell = None
            return
        attrs, text = self.cell_attrs, _tidy(self.cell)
        self.cell = None
        col = len(self.row)
        while col in self.active:
            self.row.append("")
            col += 1
        value: Any = text
        if "x:num" in attrs:  # what Excel wrote as a number: digits past the 15th are lost, as in Excel
            number = _number(attrs["x:num"] if attrs["x:num"] not in (None, "") else text)
            if number is not None:
                value = number
        across, down = _span(attrs, "colspan"), _span(attrs, "rowspan")
        self.row.append(value)
        self.row.extend([""] * (across - 1))
        if down > 1:
            for c in range(col, col + across):
                self.spans[c] = max(self.spans.get(c, 0), down - 1)
            if across == 1 and len(self.merged) < MAX_MERGES:
                self.merged.append((self.rows_done + 1, col, self.rows_done + down, col))

    def _flush_loose(self) -> None:
        text = _tidy(self.loose)
        self.loose = []
        for line in text.split("\n"):
            if line.strip():
                self.done.append([line.strip()])
                self.rows_done += 1

    # the parser's events
    def feed(self, text: str, final: bool = False) -> None:
        data = self.rawdata + text
        pos, end = 0, len(data)
        while pos < end:
            if self.raw_end is not None:  # the text of a script or style is never read
                m = self.raw_end.search(data, pos)
                if m is None:
                    pos = max(pos, end - 16)
                    break
                self.raw_end = None
                self.handle_endtag(m.group().strip("</> \t\r\n").lower())
                pos = m.end()
                continue
            lt = data.find("<", pos)
            if lt == -1:
                cut = end if final else _entity_cut(data, pos, end)
                self.handle_data(data, pos, cut)
                pos = cut
                break
            if lt > pos:
                self.handle_data(data, pos, lt)
            following = data[lt + 1 : lt + 2]
            if following.isalpha() or following == "/":
                m = _TAG.match(data, lt)
                if m is None:
                    if ">" in data[lt:] or final:  # "<b" with a quote never closed: read as text
                        self.handle_data(data, lt, lt + 1)
                        pos = lt + 1
                        continue
                    pos = lt
                    break
                tag = m.group(2).lower()
                if m.group(1):
                    self.handle_endtag(tag)
                else:
                    attrs = m.group(3)
                    self.handle_starttag(tag, attrs)
                    if attrs.rstrip().endswith("/"):
                        self.handle_startendtag_end(tag)
                    elif tag in _RAW_END:
                        self.raw_end = _RAW_END[tag]
                pos = m.end()
            elif following in ("!", "?"):
                m = _OTHER.match(data, lt)
                if m is None:
                    if final:
                        pos = end
                    else:
                        pos = lt
                    break
                pos = m.end()
            elif following == "" and not final:
                pos = lt
                break
            else:  # "<" followed by a space or a digit is text
                self.handle_data(data, lt, lt + 1)
                pos = lt + 1
        self.rawdata = data[pos:]

    def close(self) -> None:
        self.feed("", final=True)

    def handle_starttag(self, tag, attr_text: str):
        if tag in _SKIPPED:
            self.skip += 1
            return
        if self.skip:
            return
        attrs = _attrs(attr_text) if tag in ("td", "th") and attr_text.strip() else {}
        if tag == "table":
            if self.depth == 0:
                self._flush_loose()
            elif self.cell is not None:
                self.cell.append(" ")
            self.depth += 1
        elif self.depth > 1:  # a table inside a cell: its text belongs to the cell
            if tag in ("td", "th", "br") and self.cell is not None:
                self.cell.append(" ")
        elif tag == "tr" and self.depth == 1:
            self._start_row()
        elif tag in ("td", "th") and self.depth == 1:
            self._start_cell(attrs)
        elif tag == "br":
            (self.cell if self.cell is not None else self.loose).append(_BREAK)
        elif tag in _BLOCKS and self.depth == 0:
            self._flush_loose()

    def handle_startendtag_end(self, tag):
        if tag in _SKIPPED:
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in _SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif self.skip:
            return
        elif tag == "table" and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self._end_row()
                self.spans = {}
        elif self.depth == 1 and tag in ("td", "th"):
            self._end_cell()
        elif self.depth == 1 and tag == "tr":
            self._end_row()
        elif tag in _BLOCKS and self.depth == 0:
            self._flush_loose()

    def handle_data(self, data: str, start: int, stop: int) -> None:
        if self.skip or start >= stop:
            return
        if self.cell is not None:
            if self.cell_chars <= MAX_CELL_CHARS:  # more is cut (C12): the rest is never kept
                stop = min(stop, start + MAX_CELL_CHARS + 1 - self.cell_chars)
                text = data[start:stop]
                self.cell.append(html.unescape(text) if "&" in text else text)
                self.cell_chars += stop - start
        elif self.depth == 0 and sum(map(len, self.loose)) <= MAX_CELL_CHARS:
            text = data[start : min(stop, start + MAX_CELL_CHARS)]
            self.loose.append(html.unescape(text) if "&" in text else text)

    def finish(self) -> None:
        self.close()
        self._end_row()
        self._flush_loose()



def _entity_cut(data: str, start: int, end: int) -> int:
    """Where text at the end of a block may be read to: before an entity the next block may finish."""
    amp = data.rfind("&", max(start, end - 32), end)
    return amp if amp != -1 and ";" not in data[amp:end] else end



def html_encoding(path: Path) -> tuple[str, int]:
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    found = _CHARSET.search(head)
    return text_encoding(path, found.group(1).decode("ascii") if found else None)



def html_rows(path: Path, limits: Limits, merged: list | None = None) -> Iterator[list[Any]]:
    """The page's table rows, streamed; ``merged`` is given the rowspans of one column as they are read."""
    encoding, skip = html_encoding(path)
    parser = _Tables()
    if merged is not None:
        merged.clear()
        parser.merged = merged
    counter = _Counter(limits)
    for piece in decoded(path, encoding, skip):
        parser.feed(piece)
        if len(parser.rawdata) > MAX_TAG_BYTES:  # a tag or comment that never ends would be re-read each time
            raise UnreadableWorkbook("网页格式的表格中有一个异常长的标签或注释，不像系统导出的表格，已拒绝读取")
        rows, parser.done = parser.done, []
        for row in rows:
            counter.add(row)
            if counter.over:
                raise TooManyRows(counter.rows, limits.max_rows)
            yield row
    parser.finish()
    for row in parser.done:
        counter.add(row)
        yield row
