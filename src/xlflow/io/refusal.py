"""The limits a file is read within and the refusal every reader raises (no pandas, no readers here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 200 * 2**20
    max_expanded_bytes: int = 2 * 2**30  # everything in the zip, unpacked
    max_ratio: int = 250  # a member this many times its compressed size is a zip bomb
    max_rows: int = 1_048_576
    max_cells: int = 16 * 2**20  # rows × columns a sheet may span: a full sheet of 16 columns
    max_strings_bytes: int = 256 * 2**20  # the shared strings, unpacked
    max_bytes_per_cell: int = 400  # a worksheet's XML per cell it holds (a real one needs < 100)
    header_scan_rows: int = 200  # non-blank rows searched for the header row (notes above it: 45 seen)
    chunk_rows: int = 65_536
    max_sheets: int = 100  # sheets of one workbook checked one by one (one per township or village); more: F10
    scan_beside_bytes: int = 32 * 2**20  # a worksheet this big unpacked is scanned in a helper process as it is read


DEFAULT_LIMITS = Limits()
MAX_CELL_CHARS = 32_767  # Excel's limit for the text of one cell


class UnreadableWorkbook(Exception):
    """The file cannot be read as a spreadsheet; ``detail`` is Chinese, for the F01 message."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class TooManyRows(UnreadableWorkbook):
    """A text or web export with more rows than the limit, refused while it is streamed (F06)."""

    def __init__(self, rows: int, limit: int):
        super().__init__(f"文件共有约 {rows:,} 行，超过上限 {limit:,} 行")
        self.rows = rows
        self.limit = limit


ENTITY = "文件中含有 XML 实体声明，出于安全考虑已拒绝读取"
BROKEN = "文件已损坏，不是有效的 Excel 文件"
BOMB = "文件解压后的内容远大于表格所需，可能是压缩炸弹，已拒绝读取"


def too_wide(rows: int, cols: int, limits: Limits) -> UnreadableWorkbook:
    """The refusal of a sheet spanning more cells than the limit."""
    from_cell = f"{column_letter_of(cols)}{rows}"
    return UnreadableWorkbook(
        f"工作表的内容一直延伸到 {from_cell} 单元格（约 {rows * cols:,} 个单元格），超出上限 "
        f"{limits.max_cells:,}。请删除表格以外的内容（或把表格复制到新文件）后再提交")


def column_letter_of(number: int) -> str:
    """1-based column number → letters (1 → A)."""
    letters = ""
    while number > 0:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters or "A"
