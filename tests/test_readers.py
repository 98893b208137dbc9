"""Every workbook our streaming writer makes opens in readers we did not write (issue 18, part 1): no ZIP64
header on a small part, every required part there (the theme included), and SheetJS — the reader most
upload pages use — reads them (when node and the package are installed: `.ci/run` installs them)."""

from __future__ import annotations

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
from xlflow.compare import run_comparison
from xlflow.imports import import_file
from xlflow.ledger import Ledger
from xlflow.pipeline import process_workbook

SHEETJS = ROOT / "tests" / ".sheetjs" / "node_modules" / "xlsx"
REQUIRED = ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml",
            "xl/theme/theme1.xml")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, book) -> list[Path]:
    """One of each kind of output the streaming writer makes: 更正, 错误数据, 比对台账, 预填_…, 导入错误."""
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
    made += [Path(run.outputs["ledger"][0]), *map(Path, run.outputs["declaration"] + run.outputs["adjustment"]
                                                  + run.outputs["declaration_waiting"])]
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
    assert len(outputs) == 7
    for path in outputs:
        for name, csize, size, zip64 in local_headers(path):
            assert not zip64 and csize != 0xFFFFFFFF and size != 0xFFFFFFFF, (path.name, name)
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            assert set(REQUIRED) <= names, (path.name, set(REQUIRED) - names)
            rels = zf.read("xl/_rels/workbook.xml.rels").decode()
            assert "relationships/theme" in rels and "relationships/styles" in rels
        load_workbook(path)  # and openpyxl opens it


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
