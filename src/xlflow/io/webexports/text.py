"""Tab-separated text (Excel's "Unicode 文本" in UTF-16, or GBK) and CSV, streamed line by line."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlflow.io.refusal import Limits, UnreadableWorkbook
from xlflow.io.webexports.sniff import _Counter, _too_many, decoded, text_encoding


@dataclass
class TextTable:
    encoding: str
    skip: int
    dialect: Any
    delimiter: str



def open_text(path: Path) -> TextTable:
    encoding, skip = text_encoding(path)
    sample = ""
    for piece in decoded(path, encoding, skip):
        sample += piece
        if len(sample) >= 4096:
            break
    try:
        dialect = csv.Sniffer().sniff(sample[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = "excel-tab" if sample.count("\t") > sample.count(",") else csv.excel
    delimiter = csv.get_dialect(dialect).delimiter if isinstance(dialect, str) else dialect.delimiter
    return TextTable(encoding, skip, dialect, delimiter)



class _Lines:
    """A decoded text stream as lines for the csv module (which keeps no more than one record). Lines end at
    "\n" only, as io.StringIO splits them: a "\r\n" cut between two blocks stays one line end."""

    def __init__(self, pieces: Iterator[str]):
        self.pieces = pieces

    def __iter__(self):
        rest = ""
        for piece in self.pieces:
            if not piece:
                continue
            lines = (rest + piece).split("\n")
            rest = lines.pop()
            for line in lines:
                yield line + "\n"
        if rest:
            yield rest



_TEXT_FORMULA = re.compile(r'="((?:[^"]|"")*)"')


def _shown(cell: str) -> str:
    """What Excel shows for a CSV cell: ``="430302197801010008"`` (how many systems export an ID so that it
    stays text) is the text inside; any other formula stays as written, never evaluated."""
    m = _TEXT_FORMULA.fullmatch(cell)
    return m.group(1).replace('""', '"') if m else cell


def text_rows(path: Path, table: TextTable, limits: Limits) -> Iterator[list[Any]]:
    """The rows of a CSV or tab-separated file, streamed; refused (F06) past the row limit, counted to the end."""
    csv.field_size_limit(max(csv.field_size_limit(), 16 * 2**20))  # long cells become C12, not a crash
    counter = _Counter(limits)
    reader = csv.reader(_Lines(decoded(path, table.encoding, table.skip)), table.dialect)
    try:
        for row in reader:
            counter.add(row)
            if counter.over:
                raise _too_many(lambda: sum(1 for _ in reader), counter.rows, limits)
            if '="' in "".join(row):
                row = [_shown(c) for c in row]
            yield row
    except csv.Error as exc:
        raise UnreadableWorkbook("文本文件格式有误（引号不配对或单元格过长），请用 Excel 打开后另存为 .xlsx") from exc
