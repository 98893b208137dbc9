"""A big worksheet is scanned by a helper process while it is read (zipscan.ScanBeside): the same findings
and the same refusals as when the scan comes first, and no row read before the scan has passed it."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from openpyxl import load_workbook

import test_hostile
import test_validate
from test_validate import TODAY, declaration, pid, row
from xlflow.app.pipeline import process_workbook
from xlflow.io import opening, zipscan
from xlflow.io.opening import DEFAULT_LIMITS, open_sheets
from xlflow.io.reading import read_table
from xlflow.io.settings import Settings
from xlflow.io.zipscan import ScanBeside, SheetScan

BESIDE = dataclasses.replace(DEFAULT_LIMITS, scan_beside_bytes=0)  # every worksheet, however small
FIRST = dataclasses.replace(DEFAULT_LIMITS, scan_beside_bytes=2**62)


@pytest.fixture
def beside(monkeypatch):
    """Every run of the pipeline or the CLI scans its worksheets beside the reading."""
    limits = Settings.limits
    monkeypatch.setattr(Settings, "limits", lambda self: dataclasses.replace(limits(self), scan_beside_bytes=0))


def messy(tmp_path):
    """Blank rows, an Excel error value, a formula saved without its value (one alone on its row), a
    number-typed ID: everything the scan tells the reading about."""
    rows = [row(), [], row(id_number=pid(seq="222")), row(id_number=int(pid(seq="333"))), [None] * 14]
    rows[2][13] = "#N/A"
    path = declaration(tmp_path, rows)
    wb = load_workbook(path)
    wb.active["L6"] = "=50+50"  # openpyxl saves formulas without their results
    wb.active["B10"] = '="张"&"三"'
    wb.save(path)
    return path


def test_a_sheet_read_beside_its_scan_is_read_as_when_scanned_first(tmp_path):
    path = messy(tmp_path)
    assert isinstance(zipscan._check_zip(path, BESIDE)["xl/worksheets/sheet1.xml"], ScanBeside)
    first, beside = read_table(path, limits=FIRST), read_table(path, limits=BESIDE)
    assert beside.frame.equals(first.frame) and beside.numeric.equals(first.numeric)
    assert list(beside.frame.index) == [6, 8, 9, 10]  # row 7 blank; row 10 holds only a formula
    assert beside.formula_blank == first.formula_blank == frozenset({(6, 11), (10, 1)})
    assert beside.error_cells == first.error_cells == {(8, 13): "#N/A"}


EXPECTED = [("C11", "L6"), ("X06", "L6"), ("C13", "N8"), ("C02", "C9"), ("C11", "B10")]


def findings(tmp_path, name):
    path = messy(tmp_path)
    result = process_workbook(path, test_hostile._book(), tmp_path / name, today=TODAY)
    return [(f.code, f.cell, f.message) for f in result.findings], result


def test_findings_are_the_same_beside(tmp_path, monkeypatch):
    first, _ = findings(tmp_path, "first")
    limits = Settings.limits
    monkeypatch.setattr(Settings, "limits", lambda self: dataclasses.replace(limits(self), scan_beside_bytes=0))
    beside, result = findings(tmp_path, "beside")
    assert beside == first and result.rows == 4
    assert [(code, cell) for code, cell, _ in beside][:5] == EXPECTED


HOSTILE = [
    test_hostile.test_xml_entity_declaration_is_refused,
    test_hostile.test_zip_bomb_is_refused,
    test_hostile.test_a_zip_bomb_under_the_size_and_ratio_limits_is_refused,
    test_hostile.test_a_near_cell_outside_the_table_is_read,
    test_hostile.test_blank_rows_above_the_table_keep_rows_right,
    test_hostile.test_header_far_below_blank_rows_is_found,
    test_hostile.test_excel_error_values_are_their_own_finding,
    test_hostile.test_a_hidden_sheet_is_never_chosen_silently,
    test_hostile.test_a_sheet_that_claims_every_column_is_read_as_wide_as_its_cells,
]


@pytest.mark.parametrize("test", HOSTILE, ids=lambda t: t.__name__)
def test_hostile_files_end_the_same_beside(tmp_path, beside, test):
    test(tmp_path)


@pytest.mark.parametrize("cell", ["XFD1048576", "CV1048576"])
def test_a_far_corner_cell_is_refused_beside(tmp_path, beside, cell):
    test_hostile.test_a_far_corner_cell_is_refused_before_reading(tmp_path, cell)


@pytest.mark.parametrize("tail", [
    b'<row r="30"><c r="A30"><v>1</v></row>',
    b'<row r="30"><c r="A30" t="s"><v>99999</v></c></row>',
])
def test_a_sheet_broken_below_its_rows_is_f01_beside(tmp_path, beside, tail):
    test_hostile.test_a_sheet_broken_below_its_rows_is_f01(tmp_path, tail)


def test_formula_rows_are_kept_beside(tmp_path, beside, book):
    test_validate.test_a_row_holding_only_a_formula_without_its_value_is_kept_in_xlsx_too(tmp_path, book)


class Stub:
    """A scan beside that passes one row at a time, and says how wide the sheet is in the end."""

    def __init__(self, width: int, final: SheetScan):
        self.first_width, self.final, self.asked = width, final, []

    def width(self, part):
        return self.first_width

    def allowed(self, part, row):
        self.asked.append(row)
        return min(row + 1, max(self.final.max_row, self.final.rows))

    def result(self, part):
        return self.final


def test_no_row_is_read_before_the_scan_has_passed_it(tmp_path):
    path = declaration(tmp_path, [row(), row(id_number=pid(seq="222"))])
    book = opening.calamine_stream.CalamineWorkbook.from_path(str(path))
    name = book.sheet_names[0]
    stub = Stub(14, SheetScan(cells=80, rows=7, max_row=7, max_col=14))
    rows = opening._rows_beside(book, name, "xl/worksheets/sheet1.xml", stub)
    for n in range(7):
        next(rows)
        assert stub.asked[-1] == n  # row n was asked for before it was read
    assert next(rows, None) is None and len(stub.asked) == 8
    assert [r[:3] for r in open_sheets(path, FIRST)[0].rows()][5:] == [[1, "张三", pid()],
                                                                        [1, "张三", pid(seq="222")]]


def test_a_sheet_wider_than_its_first_rows_is_read_again(tmp_path):
    path = declaration(tmp_path, [row()])
    book = opening.calamine_stream.CalamineWorkbook.from_path(str(path))
    stub = Stub(3, SheetScan(cells=80, rows=6, max_row=6, max_col=14))
    rows = opening._rows_beside(book, book.sheet_names[0], "xl/worksheets/sheet1.xml", stub)
    with pytest.raises(opening.Reread):
        list(rows)


def test_a_reading_found_too_narrow_in_the_end_is_read_again_whole(tmp_path, beside, monkeypatch):
    monkeypatch.setattr(ScanBeside, "width", lambda self, part: 3)  # as if the first rows were narrower
    test_validate.test_c11_formula_without_cached_value(tmp_path, test_hostile._book())


@pytest.mark.parametrize("helper", [
    "import sys; sys.exit(9)",  # ends without a word
    "import os, signal; print('{\"part\": \"xl/worksheets/sheet1.xml\", \"rows\": 3, \"max_col\": 14}', "
    "flush=True); os.kill(os.getpid(), signal.SIGKILL)",  # killed after passing three rows
    "print('garbled', flush=True)",
], ids=["exits", "killed", "garbled"])
def test_a_helper_that_dies_leaves_the_file_read_in_full(tmp_path, beside, monkeypatch, helper):
    if "signal" in helper and sys.platform == "win32":
        pytest.skip("no SIGKILL")
    monkeypatch.setattr(ScanBeside, "command", staticmethod(lambda *args: [sys.executable, "-c", helper]))
    found, result = findings(tmp_path, "out")
    assert [(code, cell) for code, cell, _ in found][:5] == EXPECTED and result.rows == 4


def test_the_scan_refuses_a_bomb_before_passing_its_rows():
    """Bytes per cell are judged block by block: rows past the point where the XML outgrew its cells are
    never reported as passed, so a reading that follows the scan never reaches them."""
    import io

    big = b"x" * 2**20
    rows = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c></row>' % (r, r, big)
                    for r in range(1, 81))
    xml = b'<?xml version="1.0"?><worksheet><sheetData>' + rows + b"</sheetData></worksheet>"
    passed = []
    with pytest.raises(opening.UnreadableWorkbook, match="压缩炸弹"):
        zipscan._scan_sheet(io.BytesIO(xml), DEFAULT_LIMITS, 2**31, lambda scan: passed.append(scan.max_row))
    assert passed and max(passed) < 72  # 64 MiB of slack: refused well before the last of 80 rows


def test_a_cell_below_the_last_row_is_refused_alike_beside(tmp_path):
    """A cell whose reference lies below the last row element (a hand-edited file) would be left out by a
    reading bounded by the row elements: the file is refused instead, beside its scan as when scanned first."""
    good = declaration(tmp_path, [row()])
    odd = tmp_path / "odd.xlsx"
    test_hostile.rewrite_member(good, odd, "xl/worksheets/sheet1.xml", lambda d: d.replace(
        b"</sheetData>", '<row r="8"><c r="B12" t="inlineStr"><is><t>李四</t></is></c></row></sheetData>'.encode()))
    for limits in (FIRST, BESIDE):
        with pytest.raises(opening.UnreadableWorkbook, match="第 8 行以下还有单元格"):
            read_table(odd, limits=limits)
    moved = tmp_path / "moved.xlsx"  # the same cell where it belongs is read
    test_hostile.rewrite_member(good, moved, "xl/worksheets/sheet1.xml", lambda d: d.replace(
        b"</sheetData>", '<row r="12"><c r="B12" t="inlineStr"><is><t>李四</t></is></c></row></sheetData>'.encode()))
    first, beside = read_table(moved, limits=FIRST), read_table(moved, limits=BESIDE)
    assert beside.frame.equals(first.frame) and list(first.frame.index) == [6, 12]


def test_no_helper_process_to_be_had_means_scanning_first(tmp_path, beside, monkeypatch):
    monkeypatch.setattr(ScanBeside, "command", staticmethod(lambda *args: [str(tmp_path / "no-such-python")]))
    found, result = findings(tmp_path, "out")
    assert [(code, cell) for code, cell, _ in found][:5] == EXPECTED and result.rows == 4
