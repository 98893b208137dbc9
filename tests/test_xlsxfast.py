"""The streaming writer: what goes in as text comes back as the same text, numbers as numbers."""

from __future__ import annotations

import itertools

import numpy as np
import python_calamine
from openpyxl import load_workbook

from xlflow.outputs.xlsxbook import Sheet, write_workbook
from xlflow.outputs.xlsxfast import Column, Style, cell_row, render_rows

TEXTS = ["张三", "a & b", "<tag>", " 前后空格 ", "=SUM(A1:A9)", "_x0041_", "", "O'Brien \"q\"", "行1\n行2"]
NUMBERS = ["9.9", "0.10", "100", "430102199001011000", "12.123456789", "-5", ""]


def write(tmp_path, columns, n):
    path = tmp_path / "t.xlsx"
    head = cell_row(1, [("文本", Style.HEADER), ("数字", Style.HEADER)])
    write_workbook(path, [Sheet("表", itertools.chain([head], render_rows(2, columns, n)), n + 1, 1,
                                widths=[12, 12], freeze_rows=1)])
    return path


def test_text_and_numbers_round_trip(tmp_path):
    n = max(len(TEXTS), len(NUMBERS))
    texts = np.array(TEXTS + [""] * (n - len(TEXTS)), dtype=object)
    numbers = np.array(NUMBERS + [""] * (n - len(NUMBERS)), dtype=object)
    path = write(tmp_path, [Column(texts), Column(numbers, True, Style.MONEY)], n)
    ws = load_workbook(path)["表"]
    assert ws.freeze_panes == "A2" and ws["A1"].value == "文本"
    got = [ws.cell(r, 1).value for r in range(2, n + 2)]
    plain = [t if t else None for t in TEXTS]
    assert got[:5] + got[6:len(TEXTS)] == plain[:5] + plain[6:]  # openpyxl does not decode _x005F_
    assert ws["A6"].data_type == "s"  # text that looks like a formula stays text
    values = [ws.cell(r, 2).value for r in range(2, len(NUMBERS) + 2)]
    assert values == [9.9, 0.1, 100, float("430102199001011000"), 12.123456789, -5, None]
    assert ws["B2"].number_format == "0.00"
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("表").to_python()
    assert rows[2][0] == "a & b" and rows[4][0] == " 前后空格 "
    assert rows[6][0] == "_x0041_"  # Excel and calamine show a literal _x0041_ as typed


def test_marked_cells_get_their_style_and_number_mask(tmp_path):
    values = np.array(["1", "2", "x"], dtype=object)
    col = Column(values, np.array([True, False, False]), Style.NONE, np.array([False, True, False]), Style.BAD)
    path = write(tmp_path, [col, Column(np.array(["", "", ""], dtype=object))], 3)
    ws = load_workbook(path)["表"]
    assert ws["A2"].value == 1 and ws["A3"].value == "2" and ws["A4"].value == "x"
    assert ws["A3"].fill.fgColor.rgb == "FFFFC7CE" and ws["A2"].fill.fgColor.rgb != "FFFFC7CE"


def test_control_characters_are_escaped_not_lost(tmp_path):
    path = write(tmp_path, [Column(np.array(["a\x01b"], dtype=object)), Column(np.array([""], dtype=object))], 1)
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("表").to_python()
    assert rows[1][0] in ("a\x01b", "a_x0001_b")


def test_rows_past_a_band_keep_their_row_numbers():
    """Rows are laid out a band at a time: the row after a band boundary is numbered on, and each cell
    names its own row (a workbook whose row numbers restart is read by Excel as overwritten rows)."""
    import re

    from xlflow.outputs import xlsxfast

    n = xlsxfast.CHUNK_ROWS + 3
    columns = [xlsxfast.Column(np.array([f"v{i}" for i in range(n)], dtype=object)),
               xlsxfast.Column(np.array([str(i) for i in range(n)], dtype=object), True)]
    xml = "".join(xlsxfast.render_rows(7, columns, n))
    rows = [int(r) for r in re.findall(r'<row r="([0-9]+)">', xml)]
    assert rows == list(range(7, 7 + n))
    cells = re.findall(r'<c r="([A-Z]+)([0-9]+)"', xml)
    assert cells[-2:] == [("A", str(6 + n)), ("B", str(6 + n))]
    assert all(int(num) == 7 + i // 2 for i, (_, num) in enumerate(cells))
    assert f"<v>{n - 1}</v>" in xml.rsplit("<row", 1)[1] and f"<t>v{n - 1}</t>" in xml.rsplit("<row", 1)[1]


def test_one_odd_value_among_plain_ones_is_still_written_safely(tmp_path):
    """Plain values are vouched for all at once; a single value that needs care among them (a literal
    _xHHHH_, an edge space, text in a number column) must still be written the careful way."""
    import zipfile

    odd = ["_x0041_", "王五 ", " 赵六", "x"]
    columns = [Column(np.array(["1", "2", value] if value == "x" else ["张三", "李四", value], dtype=object),
                      value == "x") for value in odd]
    path = tmp_path / "t.xlsx"
    write_workbook(path, [Sheet("表", render_rows(1, columns, 3), 3, len(odd) - 1)])
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="A3" t="inlineStr"><is><t>_x005F_x0041_</t></is></c>' in xml
    assert '<c r="B3" t="inlineStr"><is><t xml:space="preserve">王五 </t></is></c>' in xml
    assert '<c r="C3" t="inlineStr"><is><t xml:space="preserve"> 赵六</t></is></c>' in xml
    assert '<c r="D3" t="inlineStr"><is><t>x</t></is></c>' in xml  # text in a number column stays text
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("表").to_python()
    assert rows[1] == ["李四", "李四", "李四", 2] and rows[2] == ["_x0041_", "王五 ", " 赵六", "x"]
