"""Every workbook our streaming writer makes opens in readers we did not write (issue 18, part 1): no ZIP64
header on a small part, every required part there (the theme included), and SheetJS — the reader most
upload pages use — reads them (when node and the package are installed: `.ci/run` installs them)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import ROOT
from test_compare import YEAR, lists, payment_rows, roster_rows  # noqa: F401
from test_ledger import payments_xls, roster_csv
from test_validate import TODAY, declaration, pid, row
from xlflow.app.comparing import run_comparison
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.store.ledger import Ledger

SHEETJS = ROOT / "tests" / ".sheetjs" / "node_modules" / "xlsx"
REQUIRED = ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml",
            "xl/theme/theme1.xml")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, book) -> list[Path]:
    """One of each kind of output the streaming writer makes: 更正, 错误数据, 比对台账, 预填_… (with the
    registration list), 导入错误 and the three templates."""
    tmp = tmp_path_factory.mktemp("outs")
    result = process_workbook(declaration(tmp, [row(), row(id_number=pid(seq="777"), tier="九档")]), book,
                              tmp / "out", today=TODAY)
    made = [Path(result.outputs["corrected"]), Path(result.outputs["errors"])]
    with Ledger(tmp / "台账.sqlite") as store:
        bad = ["123", "坏号", "农业", "正常缴费", "", "", ""]
        bad_roster = roster_csv(tmp / "参保人员信息.csv", [*roster_rows(), bad])
        imported = import_file(store, bad_roster, "roster", out_dir=tmp / "out")
        made.append(Path(imported.errors_file))
        import_file(store, payments_xls(tmp / "p.xls", [payment_rows()[1]]), "payments")
        for kind, f in lists(tmp).items():
            import_file(store, f, "list", kind)
        run = run_comparison(store, book, YEAR, tmp / "out")
        again = run_comparison(store, book, YEAR, tmp / "again")  # with the 变化 sheet of the remembering 台账
    made += [Path(run.outputs["ledger"][0]), *map(Path, run.outputs["declaration"] + run.outputs["adjustment"]
                                                  + run.outputs["declaration_waiting"] + run.outputs["registration"]
                                                  + run.outputs["identity"] + again.outputs["ledger"])]
    from xlflow.templates.build import build_template

    when = dt.datetime(2026, 11, 29, 9, 30)
    made += [build_template(kind, tmp / f"{kind}.xlsx", book, when)
             for kind in ("declaration", "adjustment", "identity", "rules")]
    return made


def local_headers(path: Path):
    """(name, compressed size, size, has a ZIP64 extra field) of each local file header, as a strict reader
    sees them."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            at = info.header_offset
            assert data[at:at + 4] == b"PK\x03\x04"
            csize, size, name_len, extra_len = struct.unpack_from("<IIHH", data, at + 18)
            extra = data[at + 30 + name_len:at + 30 + name_len + extra_len]
            ids = []
            while len(extra) >= 4:
                hid, ln = struct.unpack_from("<HH", extra)
                ids.append(hid)
                extra = extra[4 + ln:]
            yield info.filename, csize, size, 0x0001 in ids


def test_no_zip64_header_on_a_small_part_and_every_required_part_is_there(outputs):
    assert len(outputs) == 14
    for path in outputs:
        for name, csize, size, zip64 in local_headers(path):
            assert not zip64 and csize != 0xFFFFFFFF and size != 0xFFFFFFFF, (path.name, name)
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            assert set(REQUIRED) <= names, (path.name, set(REQUIRED) - names)
            rels = zf.read("xl/_rels/workbook.xml.rels").decode()
            assert "relationships/theme" in rels and "relationships/styles" in rels
        load_workbook(path)  # and openpyxl opens it


def test_the_ooxml_checker_finds_no_error_in_any_output(outputs):
    """openxml-audit in strict mode: 0 errors in every kind (its one warning, inline strings, is our choice:
    shared strings measured 1.17x slower and 458 MiB more on a full sheet of errors; see README)."""
    validator = pytest.importorskip("openxml_audit").OpenXmlValidator(strict=True)
    for path in outputs:
        result = validator.validate(path)
        assert result.error_count == 0, (path.name, [str(e) for e in getattr(result, "errors", [])][:3])


@pytest.mark.skipif(shutil.which("node") is None or not SHEETJS.exists(), reason="node or SheetJS not installed")
def test_sheetjs_reads_every_output(outputs):
    script = ("const X = require(process.argv[1]); const out = {};"
              "for (const f of process.argv.slice(2)) { const wb = X.readFile(f);"
              " out[f] = [wb.SheetNames, X.utils.sheet_to_json(wb.Sheets[wb.SheetNames[0]], {header: 1}).length]; }"
              "console.log(JSON.stringify(out));")
    done = subprocess.run(["node", "-e", script, str(SHEETJS), *map(str, outputs)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    for path in outputs:
        names, rows = read[str(path)]
        assert names == load_workbook(path).sheetnames and rows >= 2


def test_every_data_sheet_prints_landscape_one_page_wide_with_its_header_rows_repeated(outputs):
    for path in outputs:
        ws = load_workbook(path).worksheets[0]
        setup = ws.page_setup
        assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == ("landscape", 9, 1, 0)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_options.gridLines
        assert ws.print_title_rows and ws.print_title_rows.startswith("$1:"), path.name
        assert "&P" in ws.oddFooter.right.text and "&F" in ws.oddFooter.left.text


def test_the_summary_charts_problems_apart_from_fixes_with_axis_titles(tmp_path, book):
    result = process_workbook(declaration(tmp_path, [row(amounts=(None,) * 6), row(id_number=pid(seq="777"),
                                                                                  tier="九档")]),
                              book, tmp_path / "out", today=TODAY)
    wb = load_workbook(result.outputs["summary"])
    charts = wb["问题分类"]._charts
    assert len(charts) == 2  # errors and warnings; fixes (X06) apart
    assert wb["概况"].page_setup.orientation == "landscape" and wb["概况"].column_dimensions["B"].width < 50


def test_each_offending_cell_of_the_error_workbook_carries_its_message_as_a_note(tmp_path, book):
    rows = [row(), row(id_number=pid(seq="777"), tier="九档"), row(id_number=pid(seq="778"), name="王五5", year="20x5")]
    result = process_workbook(declaration(tmp_path, rows), book, tmp_path / "out", today=TODAY)
    ws = load_workbook(result.outputs["errors"]).worksheets[0]
    notes = {c.coordinate: c.comment.text for r in ws.iter_rows() for c in r if c.comment}
    # the error rows start at row 6 here, as in the input; no 九档 rule (P03), 王五5 a bad name (C10)
    assert set(notes) == {"G6", "B7", "F7"}
    assert notes["G6"].startswith("[P03]") and notes["B7"].startswith("[C10]") and notes["F7"].startswith("[C09]")
    feedback = ws.cell(7, [c.value for c in ws[5]].index("反馈信息") + 1).value
    assert notes["B7"].split("] ", 1)[1] in feedback


def _cells(ws, last_row: int) -> dict:
    """Every cell above ``last_row`` as a clerk sees it: value, bold, font colour, fill, borders, format."""
    out = {}
    for r in range(1, last_row + 1):
        for c in range(1, 16):
            cell = ws.cell(r, c)
            out[cell.coordinate] = (cell.value, cell.font.b, cell.font.color.rgb if cell.font.color else None,
                                    cell.fill.fgColor.rgb, cell.border.bottom.style, cell.number_format,
                                    cell.alignment.horizontal)
    return out


def test_the_error_workbook_is_the_template_cell_for_cell_above_its_rows(tmp_path, book):
    """A clerk's own layout (columns moved, one column of the clerk's own, 经办人 in another place, a title
    of their own): the error workbook is still the template, with the clerk's header values in the template's
    value cells, the clerk's values under the template's headers and the clerk's column after them."""
    from xlflow.templates.build import build_template

    template = build_template("declaration", tmp_path / "t.xlsx", book, dt.datetime(2026, 11, 29, 9, 30))
    headers = ["姓名", "序号", "身份证号码", "缴费身份", "户口性质", "缴费年度", "缴费档次", "村组", "备注"]
    good = ["张三", 1, pid(seq="101"), "贫困人口一级", "农业户籍", 2025, "一档", "一组", ""]
    bad = ["李四", 2, pid(seq="777"), "贫困人口一级", "农业户籍", 2025, "九档", "二组", "补报"]
    path = tmp_path / "某镇自己的表.xlsx"
    from conftest import write_workbook

    write_workbook(path, [["某镇2025年代缴申报（自制）"], ["经办人", "刘敏", None, "申报单位", "某镇人民政府"],
                          ["申报日期", "2026-11-20"], headers, good, bad])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert result.error_rows == {6}
    made = load_workbook(result.outputs["errors"]).worksheets[0]
    blank = load_workbook(template).worksheets[0]
    ours, theirs = _cells(made, 5), _cells(blank, 5)
    differ = {k for k in theirs if ours[k] != theirs[k]}
    assert differ == {"C2", "I2", "C3", "O5"}, differ  # the header values, and 反馈信息 after the table
    assert made["C2"].value == "某镇人民政府" and made["I2"].value == "刘敏" and made["C3"].value == "2026-11-20"
    assert [str(r) for r in made.merged_cells.ranges] == [str(r) for r in blank.merged_cells.ranges]
    assert made.freeze_panes == blank.freeze_panes == "D6" and made.print_title_rows == "$1:$5"
    assert blank["A2"].value == "申报单位*" and made["B5"].value == "姓名*"
    with zipfile.ZipFile(result.outputs["errors"]) as zf:  # each * in red: 3 header fields and 6 columns
        assert zf.read("xl/worksheets/sheet1.xml").decode().count('<color rgb="FFFF0000"/>') == 9
    body = [c.value for c in made[6]]
    assert body[:7] == [2, "李四", pid(seq="777"), "农业户籍", "贫困人口一级", 2025, "九档"]
    assert body[13] == "补报" and made["O5"].value == "村组" and body[14] == "二组"
    assert made["P5"].value == "反馈信息" and "[P03]" in body[15]
    assert made["G6"].comment and made["G6"].comment.text.startswith("[P03]")  # the note moved with the cell
    assert made["G6"].fill.fgColor.rgb == "FFFFC7CE" and made["G6"].border.left.style == "thin"
    again = process_workbook(Path(result.outputs["errors"]), book, tmp_path / "again", today=TODAY)
    assert [(f.code, f.row) for f in again.findings if f.severity == "error"] == [("P03", 6)]


def test_the_instructions_are_wrapped_plain_text_and_the_feedback_rows_tall_enough(tmp_path, book):
    rows = [row(id_number=pid(seq="778"), name="王五5", year="20x5", tier="九档")]
    result = process_workbook(declaration(tmp_path, rows), book, tmp_path / "out", today=TODAY)
    wb = load_workbook(result.outputs["errors"])
    notes = wb["填写说明"]
    line = next(c for c in notes["B"] if c.value and "标红色 * 号" in str(c.value))
    assert line.alignment.wrap_text and (line.font.color is None or line.font.color.rgb in (None, "FF000000"))
    assert notes.row_dimensions[line.row].height >= 14
    example = [c.value for c in list(notes.iter_rows())[-1]]
    assert example[1:3] == ["张三", "430102199001011238"]
    ws = wb.worksheets[0]
    feedback = ws.cell(6, [(c.value or "") for c in ws[5]].index("反馈信息") + 1)
    lines = feedback.value.count("\n") + 1
    assert lines >= 2 and feedback.alignment.wrap_text and ws.row_dimensions[6].height >= 14 * lines
