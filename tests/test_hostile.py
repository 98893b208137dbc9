"""Malformed, hostile and huge inputs end in a clear F finding and exit 2, never a traceback."""

from __future__ import annotations

import zipfile

import pytest
from click.testing import CliRunner

from test_validate import TODAY, declaration, row
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.io.settings import Settings


def validate(path, tmp_path):
    return CliRunner().invoke(main, ["validate", str(path), "--out", str(tmp_path / "out")])


def rewrite_member(src, dst, name, transform):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, transform(data) if info.filename == name else data)


def test_xml_entity_declaration_is_refused(tmp_path):
    good = declaration(tmp_path, [row()])
    evil = tmp_path / "evil.xlsx"
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    rewrite_member(good, evil, "xl/worksheets/sheet1.xml", lambda d: entity + d)
    result = validate(evil, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "实体" in result.output
    assert "Traceback" not in result.output


def test_zip_bomb_is_refused(tmp_path):
    good = declaration(tmp_path, [row()])
    bomb = tmp_path / "bomb.xlsx"
    rewrite_member(good, bomb, "docProps/app.xml", lambda d: d + b" " * (50 * 2**20))
    result = validate(bomb, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "压缩炸弹" in result.output


def test_truncated_workbook(tmp_path):
    good = declaration(tmp_path, [row()])
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[:2000])
    result = validate(cut, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output


def test_missing_file_is_a_finding(tmp_path):
    result = validate(tmp_path / "没有这个文件.xlsx", tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "找不到这个文件" in result.output
    assert "另存为" not in result.output


def test_f06_too_many_rows(tmp_path):
    from xlflow.paths import example_rules
    from xlflow.validation.rules import load_rulebook

    path = declaration(tmp_path, [row(id_number=None) for _ in range(3)])
    result = process_workbook(path, load_rulebook(example_rules()), tmp_path, Settings(max_rows=2), today=TODAY)
    assert [(f.code, f.value) for f in result.findings] == [("F06", "3")]
    assert result.exit_code == 2


@pytest.mark.parametrize("name", ["x.ods", "x.xls"])
def test_fake_legacy_formats_give_f01(tmp_path, name):
    """A file whose extension says .ods/.xls but that is not one gives F01, not a crash."""
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    result = validate(path, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output


def far_corner(tmp_path, cell, name="far.xlsx"):
    from openpyxl import load_workbook

    path = declaration(tmp_path, [row()], name=name)
    wb = load_workbook(path)
    wb.active[cell] = "x"
    wb.save(path)
    return path


@pytest.mark.parametrize("cell", ["XFD1048576", "CV1048576"])
def test_a_far_corner_cell_is_refused_before_reading(tmp_path, cell):
    result = validate(far_corner(tmp_path, cell), tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and cell in result.output
    rules = CliRunner().invoke(main, ["rules", "check", str(far_corner(tmp_path, cell, "rules.xlsx"))])
    assert rules.exit_code == 2 and cell in rules.output


def test_a_near_cell_outside_the_table_is_read(tmp_path):
    result = validate(far_corner(tmp_path, "P200"), tmp_path)
    assert result.exit_code == 1 and "共 2 条" in result.output  # a stray cell is a row the clerk sees


def test_a_zip_bomb_under_the_size_and_ratio_limits_is_refused(tmp_path):
    """Few cells but megabytes of XML (text Excel could not hold in a cell): refused by bytes per cell."""
    import random

    good = declaration(tmp_path, [row()])
    bomb = tmp_path / "bomb2.xlsx"
    rng = random.Random(1)
    filler = "".join(rng.choice("abcdefghij") for _ in range(3 * 2**20)).encode()
    rewrite_member(good, bomb, "xl/worksheets/sheet1.xml",
                   lambda d: d.replace(b"</sheetData>", b"</sheetData><!--" + filler + b"-->"))
    info = zipfile.ZipFile(bomb).getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size < 250 * info.compress_size  # under the ratio limit
    result = validate(bomb, tmp_path)
    assert result.exit_code == 2 and "压缩炸弹" in result.output


def test_blank_rows_above_the_table_keep_rows_right(tmp_path):
    from conftest import write_workbook
    from test_validate import COLUMNS

    rows = [[], [], ["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
            ["申报日期*", None, "2026-11-20"], [], COLUMNS, row(), row(id_number="123")]  # fmt: skip
    path = write_workbook(tmp_path / "d.xlsx", rows)
    result = process_workbook(path, _book(), tmp_path / "out", today=TODAY)
    assert [(f.code, f.row, f.cell) for f in result.findings] == [("C03", 9, "C9")]


def test_header_far_below_blank_rows_is_found(tmp_path):
    from conftest import write_workbook
    from test_validate import COLUMNS

    path = write_workbook(tmp_path / "d.xlsx", [[] for _ in range(49)] + [COLUMNS, row(id_number="123")])
    result = process_workbook(path, _book(), tmp_path / "out", today=TODAY)
    assert [(f.code, f.cell) for f in result.findings if f.code != "F04"] == [("C03", "C51")]


def _book():
    from xlflow.paths import example_rules
    from xlflow.validation.rules import load_rulebook

    return load_rulebook(example_rules())


def test_thirty_thousand_identical_rules_are_checked_in_linear_memory(tmp_path, rules_file):
    import resource

    from conftest import good_rules, rule
    from xlflow.validation.rules import check_rules

    path = rules_file(good_rules() + [rule("一档", "贫困人口一级", "农业户籍", 0, 12, 9.9, 8.1, 100)] * 3000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result, _ = check_rules(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert sum(1 for f in result.findings if f.code == "R01") == 3000  # every copy but the first
    assert grown_mib < 400  # the pairwise merge needed 2.4 GB here


def test_a_five_thousand_digit_amount_is_a_finding(tmp_path):
    from test_validate import found, run

    result = run(tmp_path, _book(), [row(amounts=("9" * 5000, 12, 9.9, 8.1, 100, 130))])
    assert found(result, "C08") == [(6, "H6")] and "数值过大" in result.findings[0].message


def test_text_past_the_cell_limit_is_cut_with_a_finding(tmp_path):
    from openpyxl import load_workbook

    from test_validate import found, run

    long_row = row()
    long_row[13] = "长" * 40_000
    result = run(tmp_path, _book(), [long_row])
    assert found(result, "C12") == [(6, "N6")]
    assert "32767" in result.findings[0].message and len(result.findings[0].message) < 300
    ws = load_workbook(result.outputs["errors"]).active
    assert len(ws["N6"].value) <= 32_767 and ws["N6"].value.endswith("已截断）")
    assert len(ws["O6"].value) <= 32_767


def test_csv_with_a_huge_field_is_read(tmp_path):
    from test_validate import COLUMNS, pid

    path = tmp_path / "long.csv"
    cells = ["1", "张三", pid(), "农业户籍", "贫困人口一级", "2025", "一档", "", "", "", "", "", "", "x" * 140_000]
    path.write_text(",".join(COLUMNS) + "\n" + ",".join(cells) + "\n", encoding="utf-8")
    result = process_workbook(path, _book(), tmp_path / "out", today=TODAY)
    assert [f.code for f in result.findings if f.severity == "error"] == ["C12"]


def test_excel_error_values_are_their_own_finding(tmp_path):
    from test_validate import pid, run

    r1, r2, r3 = row(), row(id_number=pid(seq="222")), row(id_number=pid(seq="333"))
    r1[13], r2[7], r3[4] = "#N/A", "#NUM!", "#REF!"  # openpyxl stores these as error cells
    result = run(tmp_path, _book(), [r1, r2, r3])
    assert [(f.code, f.cell) for f in result.findings] == [("C13", "N6"), ("C13", "H7"), ("C13", "E8")]
    assert "#NUM!" in result.findings[1].message
    from openpyxl import load_workbook

    ws = load_workbook(result.outputs["errors"]).active
    assert (ws["N6"].value, ws["H7"].value) == ("#N/A", "#NUM!")  # never replaced silently


def test_a_hidden_sheet_is_never_chosen_silently(tmp_path):
    from openpyxl import Workbook

    from test_validate import COLUMNS, pid

    wb = Workbook()
    ws = wb.active
    ws.title = "申报"
    for r in [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
              ["申报日期*", None, "2026-11-20"], [], COLUMNS[:7], row()[:7]]:  # fmt: skip
        ws.append(r)
    hidden = wb.create_sheet("旧数据")
    hidden.sheet_state = "veryHidden"
    for r in [COLUMNS + ["村组"], row(id_number=pid(seq="999"))]:
        hidden.append(r)
    wb.save(tmp_path / "h.xlsx")
    result = process_workbook(tmp_path / "h.xlsx", _book(), tmp_path / "out", today=TODAY)
    assert result.rows == 1 and [(f.code, f.severity) for f in result.findings] == [("F08", "warning")]
    assert "旧数据" in result.findings[0].message
    from openpyxl import load_workbook

    assert load_workbook(result.outputs["corrected"]).active["C6"].value == row()[2]


def test_a_two_row_merged_header_is_one_header(tmp_path):
    from conftest import write_workbook
    from test_validate import COLUMNS

    top = COLUMNS[:7] + ["缴费金额", None, None, None, None, None, "备注"]
    sub = [None] * 7 + COLUMNS[7:13] + [None]
    block = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"]]
    path = write_workbook(tmp_path / "m.xlsx", [*block, [], top, sub, row()])
    result = process_workbook(path, _book(), tmp_path / "out", today=TODAY)
    assert result.rows == 1 and result.findings == [] and result.exit_code == 0


def test_out_pointing_at_a_file_and_a_folder_as_file_are_chinese(tmp_path):
    path = declaration(tmp_path, [row()])
    result = CliRunner().invoke(main, ["validate", str(path), "--out", str(path)])
    assert result.exit_code == 2 and "应当是一个文件夹" in result.output
    result = CliRunner().invoke(main, ["validate", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "文件夹" in result.output and "F01" in result.output


def ods_with_far_cell(path, rows: int, cols: int):
    """A minimal OpenDocument sheet: a header, ``rows`` empty rows by repetition, then one cell after
    ``cols`` empty ones (how a far-corner cell is stored in .ods)."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')  # fmt: skip
    cell = '<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>'
    header = "".join(cell.format(h) for h in ["姓名", "身份证号码", "户口性质", "缴费身份", "缴费年度", "缴费档次"])
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}><office:body>'
               '<office:spreadsheet><table:table table:name="S">'
               f"<table:table-row>{header}</table:table-row>"
               f'<table:table-row table:number-rows-repeated="{rows}"><table:table-cell/></table:table-row>'
               f'<table:table-row><table:table-cell table:number-columns-repeated="{cols}"/>{cell.format("x")}'
               "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", content)
        zf.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                    '<manifest:file-entry manifest:full-path="/" '
                    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                    "</manifest:manifest>")
    return path


def test_a_far_corner_cell_in_an_ods_is_refused(tmp_path):
    result = validate(ods_with_far_cell(tmp_path / "far.ods", 1_048_000, 16_000), tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "WQK1048002" in result.output
    near = validate(ods_with_far_cell(tmp_path / "near.ods", 3, 20), tmp_path)
    assert "F01" not in near.output


@pytest.mark.parametrize("tail", [
    b'<row r="30"><c r="A30"><v>1</v></row>',  # a cell never closed
    b'<row r="30"><c r="A30"><v>1</v></c></row><row r="31"><c r="A31"><v>1</c></row>',
    b'<row r="30"><c r="A30" t="s"><v>99999</v></c></row>',  # a shared string that does not exist
])
def test_a_sheet_broken_below_its_rows_is_f01(tmp_path, tail):
    """.xlsx sheets are streamed: XML broken below rows already read is found while reading, and is
    still a clear F01, not a traceback or a table cut short."""
    good = declaration(tmp_path, [row(), row(id_number="430321195003031235")])
    broken = tmp_path / "broken.xlsx"
    rewrite_member(good, broken, "xl/worksheets/sheet1.xml",
                   lambda d: d.replace(b"</sheetData>", tail + b"</sheetData>"))
    result = validate(broken, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "已损坏" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out" / "broken_更正.xlsx").exists()


def test_a_sheet_that_claims_every_column_is_read_as_wide_as_its_cells(tmp_path):
    """A sheet's <dimension> may claim A1:XFD1048576 over a small table: rows are streamed as wide as the
    cells the sheet holds (found by the scan), not 16,384 cells each."""
    import re

    from xlflow.io.opening import open_sheets

    good = declaration(tmp_path, [row(), row()])
    wide = tmp_path / "wide.xlsx"
    rewrite_member(good, wide, "xl/worksheets/sheet1.xml",
                   lambda d: re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', d))
    assert b"XFD1048576" in zipfile.ZipFile(wide).read("xl/worksheets/sheet1.xml")
    rows = list(open_sheets(wide)[0].rows())
    assert max(map(len, rows)) < 20
    result = validate(wide, tmp_path)
    assert "F01" not in result.output and "共 2 条" in result.output
