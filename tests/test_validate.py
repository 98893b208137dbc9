"""Declaration validation: the code at the cell, the outputs a clerk opens, exit codes and JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.utils.exceptions import IllegalCharacterError

from conftest import EXAMPLES, examples, write_workbook
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.domain.idcard import check_char
from xlflow.validation.rules import load_rulebook

COLUMNS = ["序号", "姓名", "身份证号码", "户口性质", "缴费身份", "缴费年度", "缴费档次",
           "个人缴费", "省级补贴", "市级补贴", "县级补贴", "政府代缴", "合计", "备注"]  # fmt: skip
TODAY = dt.date(2026, 11, 29)


def pid(birth: str = "19800101", area: str = "430321", seq: str = "123") -> str:
    body = area + birth + seq
    return body + check_char(body)


def row(name="张三", id_number=None, hukou="农业户籍", identity="贫困人口一级", year=2025, tier="一档",
        amounts=(0, 12, 9.9, 8.1, 100, 130)):  # fmt: skip
    return [1, name, id_number or pid(), hukou, identity, year, tier, *amounts, None]


def declaration(tmp_path, rows, head=True, name="decl.xlsx", unit="某镇"):
    block = [["批量缴费申报表"], ["申报单位*", None, unit, None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"], []] if head else []  # fmt: skip
    return write_workbook(tmp_path / name, [*block, COLUMNS, *rows])


def run(tmp_path, book, rows, **kw):
    path = declaration(tmp_path, rows, **kw)
    return process_workbook(path, book, tmp_path / "out", today=TODAY)


def found(result, code):
    return [(f.row, f.cell) for f in result.findings if f.code == code]


def test_clean_row_passes(tmp_path, book):
    result = run(tmp_path, book, [row()])
    assert result.findings == [] and result.exit_code == 0 and result.valid_rows == 1


@pytest.mark.parametrize(
    "change,code,cell",
    [
        ({"id_number": 430321198001011230}, "C02", "C6"),
        ({"id_number": "43032119800101123"}, "C03", "C6"),
        ({"id_number": pid()[:-1] + ("0" if pid()[-1] != "0" else "1")}, "C04", "C6"),
        ({"id_number": pid(birth="19800231")}, "C05", "C6"),
        ({"id_number": pid(area="990321")}, "C06", "C6"),
        ({"hukou": "外星户籍"}, "C07", "D6"),
        ({"identity": ""}, "C01", "E6"),
        ({"amounts": ("八十", 12, 9.9, 8.1, 100, 130)}, "C08", "H6"),
        ({"amounts": (0, 12.123, 9.9, 8.1, 100, 130)}, "C08", "I6"),
        ({"year": "20x5"}, "C09", "F6"),
        ({"name": "王五5"}, "C10", "B6"),
        ({"id_number": pid(birth="20120101")}, "P01", "F6"),
        ({"id_number": pid(birth="19600101")}, "P02", "F6"),
        ({"tier": "三档"}, "P03", "G6"),
        ({"amounts": (80, 12, 9.9, 8.1, 100, 130)}, "P04", "H6"),
    ],
)
def test_error_code_at_the_cell(tmp_path, book, change, code, cell):
    result = run(tmp_path, book, [row(**change)])
    assert found(result, code) == [(6, cell)]
    finding = next(f for f in result.findings if f.code == code)
    assert finding.severity == "error" and "请" in finding.message
    assert result.exit_code == 1 and result.error_rows == {6}


def test_c11_formula_without_cached_value(tmp_path, book):
    path = declaration(tmp_path, [row(amounts=(0, 12, 9.9, 8.1, "=50+50", 130)), row(id_number=pid(seq="777"))])
    wb = load_workbook(path)
    wb.active["E7"] = '="特困人员"'  # openpyxl saves formulas without their results
    wb.save(path)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert found(result, "C11") == [(6, "L6"), (7, "E7")]
    assert found(result, "C01") == []
    assert "F9" in next(f.message for f in result.findings if f.code == "C11")


def test_p05_duplicate_person_and_year(tmp_path, book):
    result = run(tmp_path, book, [row(), row()])
    assert found(result, "P05") == [(7, "C7")]
    message = next(f.message for f in result.findings if f.code == "P05")
    assert "原表第 6 行已写入“decl_更正.xlsx”第 6 行，本行请直接删除" in message


def test_p06_overlap_keeps_larger_daijiao(tmp_path, book):
    rows = [row(identity="贫困人口三级", amounts=(50, 12, 9.9, 8.1, 50, 130)), row(identity="低保对象一级")]
    result = run(tmp_path, book, rows)
    assert found(result, "P06") == [(6, "E6")]
    message = next(f.message for f in result.findings if f.code == "P06")
    assert "建议保留“低保对象一级”" in message and "代缴金额较高" in message


def test_f04_missing_header_field(tmp_path, book):
    path = write_workbook(tmp_path / "d.xlsx", [["批量缴费申报表"], ["申报单位*", None, "某镇"], [],
                                                COLUMNS, row()])  # fmt: skip
    result = process_workbook(path, book, tmp_path, today=TODAY)
    assert {f.column for f in result.findings if f.code == "F04"} == {"经办人", "申报日期"}


@pytest.mark.parametrize(
    "rows,code",
    [([], "F05"), ([["姓名", "年龄"], ["张三", 3]], "F02")],
)
def test_unusable_files_exit_2(tmp_path, book, rows, code):
    path = write_workbook(tmp_path / "d.xlsx", rows or [COLUMNS])
    result = CliRunner().invoke(main, ["validate", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and code in result.output


def test_f03_missing_required_column(tmp_path, book):
    path = write_workbook(tmp_path / "d.xlsx", [[c for c in COLUMNS if c != "缴费年度"], row()[:5]])
    result = process_workbook(path, book, tmp_path, today=TODAY)
    assert [(f.code, f.column) for f in result.findings] == [("F03", "缴费年度")]
    assert result.exit_code == 2


def test_f07_template_from_another_rule_table(tmp_path, book, rules_file):
    from conftest import good_rules

    other = rules_file(good_rules())
    template = tmp_path / "t.xlsx"
    CliRunner().invoke(main, ["template", "declaration", "-o", str(template), "--rules", str(other)])
    wb = load_workbook(template)
    wb["批量缴费申报表"].append(row())
    wb.save(template)
    result = process_workbook(template, book, tmp_path, today=TODAY)
    assert [f.severity for f in result.findings if f.code == "F07"] == ["warning"]


@pytest.mark.parametrize(
    "change,code,before,after",
    [
        ({"name": " 张三\u3000"}, "X01", " 张三\u3000", "张三"),
        ({"id_number": pid().translate(str.maketrans("0123456789", "０１２３４５６７８９"))}, "X02", None, pid()),
        ({"hukou": "农村户籍"}, "X05", "农村户籍", "农业户籍"),
        ({"tier": "第1档"}, "X05", "第1档", "一档"),
        ({"tier": "壹档"}, "X05", "壹档", "一档"),
        ({"tier": "一档次"}, "X05", "一档次", "一档"),
        ({"tier": "100元档"}, "X05", "100元档", "一档"),  # the ordinary person's amount of the tier
        ({"tier": "一档（100元）"}, "X05", "一档（100元）", "一档"),
        ({"hukou": "农业户"}, "X05", "农业户", "农业户籍"),
        ({"identity": "一级贫困人口"}, "X05", "一级贫困人口", "贫困人口一级"),
        ({"identity": "贫困人口（一级）"}, "X05", "贫困人口（一级）", "贫困人口一级"),
        ({"identity": "051"}, "X05", "051", "贫困人口一级"),
        ({"year": "2025年"}, "X07", "2025年", "2025"),
        ({"amounts": (None, 12, 9.9, 8.1, 100, 130)}, "X06", "", "0"),
    ],
)
def test_fix_applied_and_logged(tmp_path, book, change, code, before, after):
    result = run(tmp_path, book, [row(**change)])
    assert [f.code for f in result.findings] == [code] and result.exit_code == 0
    log = list(load_workbook(result.outputs["corrected"])["修改记录"].iter_rows(min_row=2, values_only=True))
    assert log[0][6] == code and log[0][5] == after
    if before is not None:
        assert (log[0][4] or "") == before  # an empty cell reads back as None


def test_x03_and_x04_id_fixes(tmp_path, book):
    lower = pid(seq="124")
    lower = lower if lower.endswith("X") else None
    fifteen = pid()[:6] + pid()[8:17]
    result = run(tmp_path, book, [row(id_number=fifteen)])
    assert [f.code for f in result.findings] == ["X04"]
    ws = load_workbook(result.outputs["corrected"]).active
    assert ws["C6"].value == pid() and ws["C6"].fill.fgColor.rgb.endswith("FFF2CC")
    x_id = next(pid(seq=f"{n:03d}") for n in range(200) if pid(seq=f"{n:03d}").endswith("X"))
    result = run(tmp_path, book, [row(id_number=x_id[:-1] + "x")])
    assert [f.code for f in result.findings] == ["X03"]


def test_example_end_to_end(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["validate", str(EXAMPLES / "批量缴费申报表.xlsx"), "--out", str(out), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["kind"] == "declaration" and data["rows"] == 36
    assert data["valid_rows"] + data["error_rows"] == 36
    codes = {f["code"] for f in data["findings"]}
    assert {"C02", "C04", "C10", "C01", "C03", "C08", "P01", "P02", "P03", "P04", "P05", "P06"} <= codes
    assert {"X01", "X02", "X03", "X04", "X05", "X06", "X07"} <= codes
    corrected = load_workbook(data["outputs"]["corrected"])
    errors = load_workbook(data["outputs"]["errors"])
    summary = load_workbook(data["outputs"]["summary"])
    ws_ok, ws_err = corrected["批量缴费申报表"], errors["批量缴费申报表"]
    assert ws_ok["C2"].value == "某某镇人民政府"  # the header block is kept
    assert ws_ok.max_row - 5 == data["valid_rows"] and ws_err.max_row - 5 == data["error_rows"]
    ids_ok = {ws_ok.cell(r, 3).value for r in range(6, ws_ok.max_row + 1)}
    ids_err = [ws_err.cell(r, 3).value for r in range(6, ws_err.max_row + 1)]
    assert len(ids_ok) + len(ids_err) == 36  # every row in exactly one output
    assert ws_err.cell(5, 15).value == "反馈信息"
    feedback = [ws_err.cell(r, 15).value for r in range(6, ws_err.max_row + 1)]
    assert all(f and f.startswith("[") for f in feedback)
    assert any("校验码" in f for f in feedback)
    assert ws_err["C6"].fill.fgColor.rgb.endswith("FFC7CE")
    assert summary.sheetnames == ["概况", "问题分类", "金额汇总", "待办清单"]
    assert summary["金额汇总"]._charts and summary["问题分类"]._charts
    money = summary["金额汇总"]
    total_row = next(r for r in range(2, money.max_row + 1) if money.cell(r, 1).value == "合计")
    assert money.cell(total_row, 4).value == data["valid_rows"] == data["totals"]["persons"]
    assert money.cell(total_row, 9).value == data["totals"]["daijiao"]
    # Re-validating the corrected workbook: no error and no fix.
    again = CliRunner().invoke(main, ["validate", data["outputs"]["corrected"], "--out", str(tmp_path / "again"),
                                      "--json"])  # fmt: skip
    assert again.exit_code == 0
    assert json.loads(again.stdout)["findings"] == []


def test_errors_workbook_round_trip(tmp_path, book):
    result = run(tmp_path, book, [row(), row(name="李四", id_number=pid(seq="555"), tier="1档",
                                             amounts=(80, 12, 9.9, 8.1, 100, 130))])  # fmt: skip
    assert result.error_rows == {7}
    wb = load_workbook(result.outputs["errors"])
    ws = wb.active
    assert ws["B6"].value == "李四" and ws["G6"].value == "1档"  # as the user wrote it
    ws["H6"] = None  # the clerk clears the wrong amount
    fixed = tmp_path / "fixed.xlsx"
    wb.save(fixed)
    again = process_workbook(fixed, book, tmp_path / "again", today=TODAY)
    assert again.exit_code == 0 and again.valid_rows == 1


def test_formula_text_is_written_as_text(tmp_path, book):
    path = declaration(tmp_path, [row()])
    wb = load_workbook(path)
    wb.active["B6"].value = '=HYPERLINK("http://x")'
    wb.active["B6"].data_type = "s"  # text that looks like a formula
    wb.save(path)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert found(result, "C10") == [(6, "B6")]
    ws = load_workbook(result.outputs["errors"]).active
    assert ws["B6"].data_type == "s" and ws["B6"].value.startswith("=HYPERLINK")


def test_csv_in_gbk(tmp_path, book):
    lines = [",".join(COLUMNS), ",".join(str(v) for v in row()[:7]) + ",,,,,,,"]
    path = tmp_path / "d.csv"
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    result = process_workbook(path, book, tmp_path, today=TODAY)
    assert result.exit_code == 0 and result.valid_rows == 1
    assert {f.code for f in result.findings} == {"X06"}  # a CSV has no header block: no F04


TOKENS = ["一档", "1档", "第十四档", "农村户籍", "城镇", "贫困人口一级", "051", "特困人员", "2025年", "2025",
          "１９８０", " ", "\u3000张三", "=1+1", "x", "0", "-1", "9.999", "八十", pid(), pid()[:15], pid()[:-1] + "x",
          "430321198001011230", "<b>&amp;</b>", "_x0041_"]  # fmt: skip
cell_values = st.one_of(st.none(), st.text(max_size=20), st.integers(-10**18, 10**18),
                        st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                        st.sampled_from(TOKENS), st.sampled_from(TOKENS))  # fmt: skip


PROPERTY = examples(40)


@PROPERTY
@given(st.lists(st.lists(cell_values, min_size=14, max_size=14), min_size=1, max_size=6))
def test_random_cells_never_crash_and_rows_are_conserved(tmp_path_factory, book, rows):
    tmp = tmp_path_factory.mktemp("h")
    try:
        path = declaration(tmp, rows)
    except IllegalCharacterError:  # openpyxl refuses some control characters: such a file cannot be made
        assume(False)
    result = process_workbook(path, book, tmp / "out", today=TODAY)
    if result.unusable:
        assert {f.code for f in result.findings} <= {"F05"}
        return
    ok = load_workbook(result.outputs["corrected"]).active.max_row - 5
    errors = result.outputs["errors"]
    bad = load_workbook(errors).active.max_row - 5 if errors else 0
    assert ok + bad == result.rows
    assert bad == len(result.error_rows)
    if ok:  # the corrected workbook validates with no error and no fix
        again = process_workbook(result.outputs["corrected"], book, tmp / "again", today=TODAY)
        assert [f for f in again.findings if f.severity != "warning"] == []


def test_split_rows_writes_complete_parts(tmp_path):
    rows = [row(name="张三", id_number=pid(seq=f"{n:03d}")) for n in range(5)]
    path = declaration(tmp_path, rows)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["validate", str(path), "--out", str(out), "--split-rows", "2", "--json"])
    assert result.exit_code == 0, result.output
    parts = json.loads(result.stdout)["outputs"]["corrected"]
    assert [p.rsplit("/", 1)[-1] for p in parts] == ["decl_更正_1.xlsx", "decl_更正_2.xlsx", "decl_更正_3.xlsx"]
    sizes = []
    for part in parts:
        ws = load_workbook(part)["批量缴费申报表"]
        assert ws["A2"].value == "申报单位*" and ws["B5"].value == "姓名"
        sizes.append(ws.max_row - 5)
    assert sizes == [2, 2, 1]
    assert not (out / "decl_更正.xlsx").exists()
    again = CliRunner().invoke(main, ["validate", str(path), "--out", str(out)])
    assert again.exit_code == 0
    assert sorted(p.name for p in out.glob("decl_更正*")) == ["decl_更正.xlsx"]  # stale parts removed


def test_progress_reports_each_stage(tmp_path, book):
    from xlflow.app.pipeline import STAGES

    seen = []
    process_workbook(declaration(tmp_path, [row()]), book, tmp_path / "out", today=TODAY, progress=seen.append)
    assert seen == list(STAGES)


@pytest.mark.parametrize("name", ["批量缴费申报表.xls", "批量缴费申报表.ods"])
def test_legacy_xls_and_ods_give_the_same_result(tmp_path, book, name):
    reference = process_workbook(EXAMPLES / "批量缴费申报表.xlsx", book, tmp_path / "a", today=TODAY)
    other = process_workbook(EXAMPLES / "other-formats" / name, book, tmp_path / "b", today=TODAY)
    assert other.rows == reference.rows and other.error_rows == reference.error_rows
    assert [(f.row, f.code) for f in other.findings] == [(f.row, f.code) for f in reference.findings]


def test_table_on_another_sheet_in_another_order_with_blank_rows(tmp_path, book):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["这是说明页"])
    ws = wb.create_sheet("数据")
    order = ["备注", "缴费档次", " 姓名 *", "身份证号", "缴费年度", "户籍", "缴费身份", "村组"]
    ws.append(["某镇 2025 年批量缴费申报表"])
    ws.append(["申报单位：某镇", None, "经办人：刘敏", None, "申报日期：2026-11-20"])
    ws.append(order)
    ws.append(["", "一档", "张三", pid(), 2025, "农业户籍", "贫困人口一级", "一组"])
    ws.append([])
    ws.append([None, "一档", "李四", pid(seq="456"), 2025, "农业户籍", "外星人", "二组"])
    ws.append([])
    ws.append([])
    path = tmp_path / "other.xlsx"
    wb.save(path)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert result.rows == 2 and result.error_rows == {6}
    assert found(result, "C07") == [(6, "G6")]
    assert not [f for f in result.findings if f.code == "F04"]  # "标签：值" in one cell is read
    ws_ok = load_workbook(result.outputs["corrected"])["批量缴费申报表"]
    headers = [c.value for c in ws_ok[3]]
    assert headers[:8] == order  # the clerk's own columns, order and extra 村组 kept
    assert [c.value for c in ws_ok[4]][7] == "一组"


def mutated_rows(changes) -> list[list]:
    """Valid rows (distinct IDs by ``seq``) with the given cells replaced: [(seq, {column: value})]."""
    rows = []
    for seq, edits in changes:
        values = row(id_number=pid(seq=f"{seq:03d}"))
        for col, value in edits.items():
            values[col] = value
        rows.append(values)
    return rows


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 999), st.dictionaries(st.integers(1, 13), cell_values, max_size=2)),
                min_size=1, max_size=6))  # fmt: skip
def test_mutated_valid_rows_keep_the_invariants(tmp_path_factory, book, changes):
    tmp = tmp_path_factory.mktemp("m")
    rows = mutated_rows(changes)
    try:
        path = declaration(tmp, rows)
    except IllegalCharacterError:  # openpyxl refuses some control characters: such a file cannot be made
        assume(False)
    result = process_workbook(path, book, tmp / "out", today=TODAY)
    if result.unusable:  # only a file with no row left to read
        assert {f.code for f in result.findings} <= {"F05"}
        return
    ok = load_workbook(result.outputs["corrected"]).active.max_row - 5
    assert ok + len(result.error_rows) == result.rows
    if ok:
        again = process_workbook(result.outputs["corrected"], book, tmp / "again", today=TODAY)
        assert [(f.code, f.value) for f in again.findings if f.severity != "warning"] == []
        assert again.valid_rows == ok


def test_identity_names_with_xml_characters_survive(tmp_path, rules_file):
    from conftest import rule

    rows = []
    for hukou in ("农业户籍", "城镇户籍"):
        rows += [rule("一档", "普通参保人员", hukou, 100, 12, 9.9, 8.1, 0),
                 rule("一档", "低保<A>&一级", hukou, 0, 12, 9.9, 8.1, 100)]  # fmt: skip
    own = load_rulebook(rules_file(rows))
    result = run(tmp_path, own, [row(identity="低保<A>&一级")])
    assert result.exit_code == 0
    assert load_workbook(result.outputs["corrected"]).active["E6"].value == "低保<A>&一级"


def test_c11_in_a_legacy_xls_and_a_row_holding_only_such_a_formula_is_kept(tmp_path, book):
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("申报", cell_overwrite_ok=True)
    for c, head in enumerate(COLUMNS):
        ws.write(0, c, head)
    for c, value in enumerate(row()):
        if value is not None:
            ws.write(1, c, value)
    ws.write(1, 4, xlwt.Formula('"贫困人口"&"一级"'))  # xlwt stores no result: every reader sees ''
    ws.write(2, 1, xlwt.Formula('"张"&"三"'))  # the only content of its row
    path = tmp_path / "decl.xls"
    wb.save(str(path))
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert found(result, "C11") == [(2, "E2"), (3, "B3")]
    assert result.rows == 2 and result.error_rows == {2, 3}


def test_a_row_holding_only_a_formula_without_its_value_is_kept_in_xlsx_too(tmp_path, book):
    path = declaration(tmp_path, [row()])
    wb = load_workbook(path)
    wb.active["B7"] = '="张"&"三"'  # openpyxl saves formulas without their results
    wb.save(path)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert found(result, "C11") == [(7, "B7")] and result.rows == 2


def test_the_first_findings_of_a_big_check_are_the_first_in_reading_order():
    """--json and the console list the first findings of millions without sorting them all: the list is
    the same as the head of the full order (row, then column, then code), repeated rows and all."""
    import numpy as np

    from xlflow.domain.findings import FindingBlock, Findings

    rng = np.random.default_rng(3)
    blocks = []
    for code, letter in [("C04", "C"), ("X06", "H"), ("X06", "I"), ("P05", "C"), ("C01", "B"), ("X01", "AA")]:
        n = int(rng.integers(1, 5000))
        rows = rng.integers(6, 20000, n) if code == "P05" else np.sort(rng.choice(np.arange(6, 20000), n, False))
        blocks.append(FindingBlock(code, "列", letter, rows.astype(np.int64), np.array(["v"] * n, dtype=object), {}))
    full = Findings(blocks)
    _, src, off = full._sorted()
    for k in (1, 7, 200, 1000):
        head = Findings(blocks)[:k]
        expected = [full._finding(s, o) for s, o in zip(src[:k].tolist(), off[:k].tolist(), strict=True)]
        assert [(f.row, f.column, f.code) for f in head] == [(f.row, f.column, f.code) for f in expected]
        assert head == expected


def test_the_cycle_collector_is_paused_for_a_workbook_and_resumed_after(tmp_path, book, monkeypatch):
    """It is paused while a workbook is read, checked and written (it walked every row list for nothing),
    and resumed afterwards, also when the run fails."""
    import gc

    import xlflow.app.pipeline as pipeline

    seen = []
    real = pipeline.read_for_check
    monkeypatch.setattr(pipeline, "read_for_check", lambda *a: (seen.append(gc.isenabled()), real(*a))[1])
    assert gc.isenabled()
    run(tmp_path, book, [row()])
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(pipeline, "read_for_check", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(tmp_path, book, [row()])
    assert gc.isenabled()


@pytest.mark.parametrize("where,word", [(0, "合计"), (1, "合  计"), (2, "本页小计："), (0, "总计(元)"),
                                        (1, "合计：1,234 人"), (0, "共计 56 户")])
def test_a_totals_row_is_named_as_one_and_not_as_a_person_with_everything_missing(tmp_path, book, where, word):
    """Clerks add a 合计 row under the table. It used to get six C01 ("姓名是必填项" …) or a C03 ("共 2 位"),
    as if it were a person with everything missing: now it is one C15 at the cell that says 合计, and the
    row goes to the error workbook as written, its other cells unchanged."""
    total = [None] * 14
    total[where] = word
    total[7], total[12] = 12345, "=SUM(M6:M7)"
    result = run(tmp_path, book, [row(), row(name="李四", id_number=pid(seq="555")), total])
    letter = "ABC"[where]
    assert [(f.row, f.cell, f.code) for f in result.findings if f.row == 8] == [(8, f"{letter}8", "C15")]
    assert result.error_rows == {8} and result.valid_rows == 2
    ws = load_workbook(result.outputs["errors"]).active
    assert ws[f"{letter}6"].value == word and ws["H6"].value == 12345
    assert ws.cell(6, 15).value.startswith("[C15] 这一行是合计行") and "C01" not in ws.cell(6, 15).value


def test_a_row_with_a_real_id_is_never_a_totals_row(tmp_path, book):
    result = run(tmp_path, book, [row(name="合计", identity="")])  # the ID is a person's: a person (C01 only)
    assert [(f.cell, f.code) for f in result.findings] == [("E6", "C01")]


def test_amounts_written_as_money_text_are_read_as_the_number_and_listed(tmp_path, book):
    """Web and bank exports write money as "1,000.00", "¥12" or "9.9元": X09 reads the number (listed in
    修改记录, the corrected cell a number); a comma that is not a thousands separator stays C08."""
    other = pid(seq="555")
    result = run(tmp_path, book, [row(amounts=("0", "¥12", "9.9元", "8.10", "1,00", "130")),
                                  row(name="李四", id_number=other, amounts=("0", "12", "9.9", "8.1", "1,00", "130"))])
    assert found(result, "X09") == [(6, "I6"), (6, "J6")]
    assert found(result, "C08") == [(6, "L6"), (7, "L7")]
    result = run(tmp_path, book, [row(amounts=("0", "¥12", "9.9元", "8.10", "1,00".replace(",", ""), "1,30"))])
    assert found(result, "C08") == [(6, "M6")]
    result = run(tmp_path, book, [row(amounts=("0", "￥12", "9.9元", "8.1", "100", "130"))])
    assert result.exit_code == 0 and found(result, "X09") == [(6, "I6"), (6, "J6")]
    ws = load_workbook(result.outputs["corrected"]).active
    assert ws["I6"].value == 12 and ws["J6"].value == 9.9
    log = [r for r in load_workbook(result.outputs["corrected"])["修改记录"].iter_rows(values_only=True) if "X09" in r]
    assert len(log) == 2


def test_a_row_cleared_with_the_space_bar_is_a_blank_row(tmp_path, book):
    """A clerk who clears a row by typing spaces over it sees an empty row: it is one (no six C01 and an X01),
    inside the table and under it, with 序号 left or not; a real row's cell holding a space is still fixed."""
    spaces = [None] * 14
    spaces[1], spaces[2], spaces[3] = " ", "\u3000", "  \u200b"
    numbered = [7, "  "] + [None] * 12
    result = run(tmp_path, book, [row(), spaces, row(name="李四 ", id_number=pid(seq="555")), numbered, spaces])
    assert result.rows == 2 and result.error_rows == set() and result.valid_rows == 2
    assert [(f.cell, f.code) for f in result.findings if not f.code.startswith("X06")] == [("B8", "X01")]


def test_the_head_pasted_again_inside_the_table_is_named_as_the_head(tmp_path, book):
    """Two townships' sheets pasted one under the other: the second one's title is a blank row (only its 序号
    cell is filled), its 申报单位 / 申报日期 rows and its header row are C16 at the ID cell, alone (not C03 for
    "某镇" or C15 for the header 合计), and every person on both sides is checked as usual."""
    head = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
            ["申报日期*", None, "2026-11-20"]]
    result = run(tmp_path, book, [row(), *head, COLUMNS, row(name="李四", id_number=pid(seq="555"))])
    assert [(f.row, f.cell, f.code) for f in result.findings if not f.code.startswith("X")] == [
        (8, "C8", "C16"), (9, "C9", "C16"), (10, "C10", "C16")]
    assert result.valid_rows == 2 and result.error_rows == {8, 9, 10}
    ws = load_workbook(result.outputs["errors"]).active
    assert [ws.cell(r, 3).value for r in (6, 7, 8)] == ["某镇", "2026-11-20", COLUMNS[2]]  # as written


@pytest.mark.parametrize("content", ["姓名,身份证号码\n张三,1\n".encode(), None])  # text named .xlsx; a folder
def test_an_unreadable_file_is_told_what_to_do_once(tmp_path, book, content):
    """F01's reason often says what to do already ("请把扩展名改为 .xls …", "请给出要检查的表格文件"): the
    general advice ("请用 Excel 或 WPS 打开确认…") no longer follows it with something else to do."""
    path = tmp_path / "申报.xlsx"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    (f01,) = [f for f in result.findings if f.code == "F01"]
    assert result.exit_code == 2 and f01.message.count("请") == 1 and f01.message.endswith("。")
    assert "打开确认内容完好" not in f01.message


@pytest.mark.parametrize("how,says", [("missing", "找不到这个文件。请检查文件名"),
                                      ("denied", "没有读取这个文件的权限")])
def test_a_file_that_is_not_there_or_cannot_be_read_is_told_so_and_not_to_resave_it(tmp_path, book, monkeypatch,
                                                                                      how, says):
    from xlflow.io import opening

    path = tmp_path / "申报.xlsx"
    if how == "denied":  # root reads any file: the refusal the share gives is made here
        path.write_bytes(b"PK\x03\x04")

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(opening, "open", refuse, raising=False)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    (f01,) = [f for f in result.findings if f.code == "F01"]
    assert result.exit_code == 2 and says in f01.message and "另存为" not in f01.message


ODS_NS = {"office": "office:1.0", "table": "table:1.0", "text": "text:1.0"}


def write_ods(path, rows, merges=()):
    """An .ods as LibreOffice writes one: ``merges`` {(row, column): rows} (0-based) merged down, the cells
    under them covered."""
    merges = dict(merges)
    covered = {(r + k, c) for (r, c), n in merges.items() for k in range(1, n)}
    out = []
    for r, values in enumerate(rows):
        cells = []
        for c, v in enumerate(values):
            if (r, c) in covered:
                cells.append("<table:covered-table-cell/>")
                continue
            span = f' table:number-rows-spanned="{merges[(r, c)]}"' if (r, c) in merges else ""
            if v is None or v == "":
                cells.append(f"<table:table-cell{span}/>")
            elif isinstance(v, int | float):
                cells.append(f'<table:table-cell{span} office:value-type="float" office:value="{v}">'
                             f"<text:p>{v}</text:p></table:table-cell>")
            else:
                cells.append(f'<table:table-cell{span} office:value-type="string">'
                             f"<text:p>{html.escape(str(v))}</text:p></table:table-cell>")
        out.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
    spaces = " ".join(f'xmlns:{k}="urn:oasis:names:tc:opendocument:xmlns:{v}"' for k, v in ODS_NS.items())
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {spaces} office:version="1.2">'
               '<office:body><office:spreadsheet><table:table table:name="批量缴费申报表">' + "".join(out)
               + "</table:table></office:spreadsheet></office:body></office:document-content>")
    kind = "application/vnd.oasis.opendocument.spreadsheet"
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{kind}"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), kind)
        zf.writestr("META-INF/manifest.xml", manifest)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def merged_declaration(tmp_path, form: str):
    """Three people of one household, 户口性质 merged down over their rows (D6:D8)."""
    rows = [row(), row(name="李四", id_number=pid(seq="555")), row(name="王五", id_number=pid(seq="666"))]
    for r in rows[1:]:
        r[3] = None
    if form == "xls":
        import xlwt

        path = tmp_path / "decl.xls"
        book = xlwt.Workbook(encoding="utf-8")
        ws = book.add_sheet("批量缴费申报表")
        for r, values in enumerate([["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
                                    ["申报日期*", None, "2026-11-20"], [], COLUMNS]):
            for c, v in enumerate(values):
                if v is not None:
                    ws.write(r, c, v)
        for r, values in enumerate(rows, start=5):
            for c, v in enumerate(values):
                if v is not None and c != 3:
                    ws.write(r, c, v)
        ws.write_merge(5, 7, 3, 3, rows[0][3])
        book.save(str(path))
        return path
    if form == "ods":  # as LibreOffice writes it: the merged cell spans three rows, the two below are covered
        head = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
                ["申报日期*", None, "2026-11-20"], [], COLUMNS]
        return write_ods(tmp_path / "decl.ods", [*head, *rows], {(5, 3): 3})
    path = declaration(tmp_path, rows)
    wb = load_workbook(path)
    wb.active.merge_cells("D6:D8")
    wb.active["N6"] = "同一户"
    wb.active.merge_cells("N6:N7")  # 备注, shown on both rows: given to both
    wb.active.merge_cells("H8:I8")  # across columns: never copied into the next column (I8 is filled by the rule)
    wb.save(path)
    return path


@pytest.mark.parametrize("form", ["xlsx", "xls", "ods", "beside"])
def test_a_cell_merged_down_over_a_household_is_given_to_each_row(tmp_path, book, form, monkeypatch):
    """Clerks merge 户口性质 over the rows of one household: the sheet shows it on every row, the file holds it
    in the first. Each row now gets it (X11, listed), not C01 "户口性质是必填项" for the second and third
    person; the corrected workbook holds it on every row and validates clean."""
    if form == "beside":  # the scan that finds the merged ranges runs beside the reading
        from xlflow.io.settings import Settings

        limits = Settings.limits
        monkeypatch.setattr(Settings, "limits", lambda self: dataclasses.replace(limits(self), scan_beside_bytes=0))
    path = merged_declaration(tmp_path, "xlsx" if form == "beside" else form)
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    merged = [(7, "D7"), (8, "D8")] if form in ("xls", "ods") else [(7, "D7"), (7, "N7"), (8, "D8")]
    assert found(result, "X11") == merged and not found(result, "C01")
    assert result.exit_code == 0 and result.valid_rows == 3
    ws = load_workbook(result.outputs["corrected"]).active
    assert [ws.cell(r, 4).value for r in (6, 7, 8)] == ["农业户籍"] * 3 and ws["H8"].value == 0
    assert ws["I8"].value == 12
    again = process_workbook(result.outputs["corrected"], book, tmp_path / "again", today=TODAY)
    assert again.exit_code == 0 and [f.code for f in again.findings] == []


def test_headers_with_a_note_in_brackets_are_the_columns_they_name(tmp_path, book):
    """Clerks write 个人缴费（元）, 身份证号码（18位）*, *姓名, 缴费年度(如2025), 公民身份证号码: each is its column.
    The amount a clerk typed under 个人缴费（元） used to be ignored (the column was not known), and a required
    column under such a header was F03."""
    written = {"姓名": "*姓名", "身份证号码": "公民身份证号码（18位）*", "缴费年度": "缴费年度(如2025)",
               "个人缴费": "个人缴费（元）", "政府代缴": "政府代缴（元）"}
    head = [written.get(h.rstrip("*"), h) for h in COLUMNS]
    rows = [row(), row(name="李四", id_number=pid(seq="555"), amounts=(999, 12, 9.9, 8.1, 100, 130))]
    (tmp_path / "a").mkdir()
    clean = run(tmp_path / "a", book, rows)
    block = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"], []]
    path = write_workbook(tmp_path / "b.xlsx", [*block, head, *rows])
    noted = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert [(f.cell, f.code) for f in noted.findings] == [(f.cell, f.code) for f in clean.findings]
    assert found(noted, "P04") == [(7, "H7")] and noted.valid_rows == 1


def test_a_filled_column_under_a_header_that_only_looks_like_one_is_named(tmp_path, book):
    """个人应缴 is no column of the declaration, but it looks like the 个人缴费 the table lacks: the amounts typed
    there are not checked and the clerk is told so at the header (F09, a warning); a column of its own (村组)
    is kept without a word, and both are kept in the corrected workbook as written."""
    head = [("个人应缴" if h == "个人缴费" else h) for h in COLUMNS] + ["村组"]
    rows = [[*row(amounts=(999, 12, 9.9, 8.1, 100, 130)), "一组"]]
    block = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"], []]
    result = process_workbook(write_workbook(tmp_path / "d.xlsx", [*block, head, *rows]), book, tmp_path / "out",
                              today=TODAY)
    (f09,) = [f for f in result.findings if f.code == "F09"]
    assert (f09.cell, f09.severity) == ("H5", "warning") and "请把表头改为“个人缴费”" in f09.message
    assert result.exit_code == 0
    ws = load_workbook(result.outputs["corrected"]).active
    assert (ws["H5"].value, ws["H6"].value, ws["O5"].value, ws["O6"].value) == ("个人应缴", 999, "村组", "一组")


@pytest.mark.parametrize("written", [dt.datetime(2025, 1, 1), "2025/1/1", "2025年1月1日", "2025.0", "20250101",
                                     "202501-202512", "2025-01至2025-12", "2025年1月-12月", "20250101-20251231"])
def test_a_year_written_as_a_date_or_a_whole_number_is_that_year(tmp_path, book, written):
    """Excel turns 2025/1/1 typed in 缴费年度 into a date; CSV writers give "2025.0"; exports "20250101" and a
    费款所属期 of the months of one year (202501-202512): X07 makes each the year 2025 (listed); a year with a
    fraction, a month that does not exist or a period across years stays C09."""
    result = run(tmp_path, book, [row(year=written), row(name="李四", id_number=pid(seq="555"), year="2025.5"),
                                  row(name="王五", id_number=pid(seq="666"), year="20251301"),
                                  row(name="赵六", id_number=pid(seq="667"), year="202401-202512")])
    assert found(result, "X07") == [(6, "F6")] and found(result, "C09") == [(7, "F7"), (8, "F8"), (9, "F9")]
    ws = load_workbook(result.outputs["corrected"]).active
    assert ws["F6"].value == 2025


def test_a_header_block_written_in_one_cell_gives_each_of_its_values(tmp_path, book):
    block = [["批量缴费申报表"], ["申报单位：某镇人社站      经办人: 刘敏     申报日期：2026.11.20"], []]
    path = write_workbook(tmp_path / "decl.xlsx", [*block, COLUMNS, row()])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert [f.code for f in result.findings] == []
    summary = load_workbook(tmp_path / "out" / "decl_汇总.xlsx")["概况"]
    fields = {summary.cell(r, 1).value: summary.cell(r, 2).value for r in range(1, summary.max_row + 1)}
    assert (fields["申报单位"], fields["经办人"], fields["申报日期"]) == ("某镇人社站", "刘敏", "2026.11.20")
    # A cell of thousands of labels (a hostile file) is read, not a RecursionError.
    path = write_workbook(tmp_path / "many.xlsx", [["申报单位：某镇 " + "经办人：刘敏 " * 3000], COLUMNS, row()])
    assert process_workbook(path, book, tmp_path / "out", today=TODAY).rows == 1
    # Without spaces between them too.
    path = write_workbook(tmp_path / "tight.xlsx", [["申报单位：某镇经办人：刘敏申报日期：2026-11-20"], COLUMNS, row()])
    assert process_workbook(path, book, tmp_path / "out", today=TODAY).findings == []


@pytest.mark.parametrize("written", [f"{pid()[:6]}-{pid()[6:14]}-{pid()[14:]}",
                                     f"{pid()[:6]}/{pid()[6:14]}/{pid()[14:]}",
                                     f"{pid()[:6]}-{pid()[6:14]}{pid()[14:]}"])
def test_an_id_written_in_groups_with_separators_is_the_id(tmp_path, book, written):
    result = run(tmp_path, book, [row(id_number=written)])
    assert [(f.code, f.cell) for f in result.findings] == [("X12", "C6")]
    ws = load_workbook(result.outputs["corrected"]).active
    assert ws["C6"].value == pid()


def test_a_dash_in_another_place_of_an_id_is_not_taken_for_a_separator(tmp_path, book):
    result = run(tmp_path, book, [row(id_number=f"{pid()[:4]}-{pid()[4:]}")])
    assert [f.code for f in result.findings] == ["C03"]


@pytest.mark.parametrize("dash", ["-", "—", "－", "/", "无", " - "])
def test_an_amount_written_as_a_dash_is_not_filled_in(tmp_path, book, dash):
    """What a clerk (or Excel's accounting format) writes for "none" is read as an empty cell: the
    declaration's amount is then filled from the rule (X06), not refused as "不是数字" (C08)."""
    result = run(tmp_path, book, [row(amounts=(dash, 12, 9.9, 8.1, 100, 130))])
    assert sorted(f.code for f in result.findings) == ["X06", "X13"] and result.exit_code == 0
    ws = load_workbook(result.outputs["corrected"]).active
    assert ws["H6"].value == 0


SPREAD_SIGN_OFF = ["制表人：", None, "刘敏", None, "审核人：", "王五", None, None, None, "制表日期：", "2026-11-20"]


@pytest.mark.parametrize("line", [["制表人：刘敏"], SPREAD_SIGN_OFF, ["单位（盖章）"], ["注：金额单位为元"],
                                  ["单位负责人（签字）：", None, "王五"], ["打印时间：2026-11-20 10:30"],
                                  ["显示 1 - 20 条，共 1,000 条"], ["首页", "上一页", "下一页", "尾页"],
                                  ["第 1 页 / 共 50 页"]])
def test_a_sign_off_line_under_the_table_is_named_as_one(tmp_path, book, line):
    """Forms end in 制表人：… 审核人：… lines and notes. Such a row used to get C01 for every required column
    (and C07, C08 … for what stood in them): now it is one C17 at the cell that says so, and the numbered
    lines of a note below it are C17 too; the row goes to the error workbook as written."""
    sign = [None] + line + [None] * (13 - len(line))
    note = [None, "1、本表一式两份。"] + [None] * 12
    result = run(tmp_path, book, [row(), row(name="李四", id_number=pid(seq="555")), sign, note])
    assert [(f.row, f.cell, f.code) for f in result.findings if f.row >= 8] == [(8, "B8", "C17"), (9, "B9", "C17")]
    assert result.error_rows == {8, 9} and result.valid_rows == 2
    ws = load_workbook(result.outputs["errors"]).active
    assert ws["B6"].value == line[0] and ws.cell(6, 15).value.startswith("[C17] 这一行是表格下方的签字、说明或翻页文字")


def test_a_persons_row_without_its_id_is_not_a_sign_off_line(tmp_path, book):
    """A person's row whose ID is missing stays that person's, whatever its 备注 says; a numbered line with no
    sign-off above it is not taken for a note either."""
    person = row()
    person[2], person[13] = None, "说明：身份证待补"
    result = run(tmp_path, book, [person, [None, "1、本表一式两份。"] + [None] * 12])
    assert {(f.row, f.code) for f in result.findings if f.code in ("C01", "C17")} == {(6, "C01"), (7, "C01")}
    assert found(result, "C01")[0] == (6, "C6")  # 身份证号码是必填项


@pytest.mark.parametrize("written", ["阿依古丽•买买提", "阿依古丽.买买提", "阿依古丽．买买提", "阿依古丽・买买提"])
def test_the_dot_of_a_minority_name_is_the_id_cards(tmp_path, book, written):
    result = run(tmp_path, book, [row(name=written)])
    assert [(f.code, f.cell) for f in result.findings] == [("X05", "B6")]
    assert load_workbook(result.outputs["corrected"]).active["B6"].value == "阿依古丽·买买提"


@pytest.mark.parametrize("name", ["𠀀三", "王𪚥", "李〇", "欧阳娜娜"])
def test_a_name_with_a_rare_character_is_a_name(tmp_path, book, name):
    """Names in the countryside hold characters of the supplementary planes (CJK Extension B and later): they
    used to be C10 "含有数字、符号", a row refused for a name written right."""
    result = run(tmp_path, book, [row(name=name)])
    assert result.findings == [] and result.exit_code == 0
    assert load_workbook(result.outputs["corrected"]).active["B6"].value == name


def test_a_tier_written_as_an_amount_is_read_only_when_the_amount_is_one_tiers(tmp_path, book):
    """200元 is 二档 in the example rule table; an amount no tier has, or a tier whose note says another
    amount, stays C07 for the clerk to decide."""
    result = run(tmp_path, book, [row(tier="200元", identity="普通参保人员", amounts=(None,) * 6),
                                  row(name="李四", id_number=pid(seq="555"), tier="150元"),
                                  row(name="王五", id_number=pid(seq="556"), tier="一档（200元）")])
    assert found(result, "X05") == [(6, "G6")] and found(result, "C07") == [(7, "G7"), (8, "G8")]
    assert load_workbook(result.outputs["corrected"]).active["G6"].value == "二档"


@pytest.mark.parametrize("written,years", [("2023-2025", "2023、2024、2025"), ("2024、2025", "2024、2025"),
                                           ("2023年至2024年", "2023、2024"), ("2022，2024", "2022、2024")])
def test_several_years_in_one_cell_are_told_to_be_one_row_each(tmp_path, book, written, years):
    result = run(tmp_path, book, [row(year=written)])
    (c09,) = [f for f in result.findings if f.code == "C09"]
    assert c09.cell == "F6" and f"要申报 {years} 年，请把这一行复制成 {years.count('、') + 1} 行" in c09.message


def test_an_amount_two_tiers_share_is_not_read_as_a_tier(rules_file):
    """In this table 200 is 二档 for 农业户籍 and 一档 for 城镇户籍: 200元 names no one tier."""
    from conftest import rule
    from xlflow.validation.declaration import vocabulary

    rules = [rule("一档", "普通参保人员", "农业户籍", 100, 12, 9.9, 8.1, 0),
             rule("二档", "普通参保人员", "农业户籍", 200, 12, 9.9, 8.1, 0),
             rule("一档", "普通参保人员", "城镇户籍", 200, 12, 9.9, 8.1, 0)]
    tiers = vocabulary(load_rulebook(rules_file(rules))).maps["tier"]
    assert tiers["100元"] == "一档" and "200元" not in tiers and "200元档" not in tiers


def test_a_declaration_under_the_names_clerks_give_its_columns_is_read_whole(tmp_path, book):
    """Headers as counties write them (参保人姓名, 社会保障号码 for the ID, 缴费年份, 人员身份, 个人缴费金额, 省补贴,
    代缴金额 …): every column is read and checked, none is F03 missing or F09 unknown."""
    names = ["序号", "参保人姓名", "社会保障号码", "户籍", "人员身份", "缴费年份", "档次", "个人缴费金额", "省补贴",
             "市补贴", "县补贴", "代缴金额", "合计金额", "备注"]
    path = write_workbook(tmp_path / "decl.xlsx", [["批量缴费申报表"], ["申报单位", "某镇", "经办人", "刘敏",
                                                                         "申报日期", "2026-11-20"], names,
                                                   row(), row(name="李四", id_number=pid(seq="555"), year="2025年",
                                                              amounts=(0, 12, 9.9, 8.1, 90, 130))])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert result.kind == "declaration" and result.rows == 2
    assert [(f.code, f.cell) for f in result.findings] == [("X07", "F5"), ("P04", "L5")]


def test_two_inputs_of_one_name_checked_together_keep_their_own_outputs(tmp_path):
    """明细.xlsx and a .csv copy of it, and a 明细.xlsx from another folder, checked in one call into one
    folder: each gets its own three workbooks (the second's named after its extension, the third numbered),
    where the later used to overwrite the earlier without a word."""
    first = tmp_path / "明细.xlsx"
    first.write_bytes((EXAMPLES / "批量缴费申报表.xlsx").read_bytes())
    ws = load_workbook(first).worksheets[0]
    rows = [["" if v is None else v for v in r] for r in ws.iter_rows(min_row=5, max_row=8, values_only=True)]
    copy = tmp_path / "明细.csv"
    copy.write_text("\n".join(",".join(map(str, r)) for r in rows), encoding="utf-8-sig")
    other = tmp_path / "镇二" / "明细.xlsx"
    other.parent.mkdir()
    other.write_bytes(first.read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["validate", str(first), str(copy), str(other), "--out", str(out), "--json"])
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["outputs"]["summary"]).name for r in reports] == ["明细_汇总.xlsx", "明细_csv_汇总.xlsx",
                                                                     "明细_2_汇总.xlsx"]
    assert [r["rows"] for r in reports] == [36, 3, 36]
    assert len(list(out.glob("*.xlsx"))) == 9
    assert load_workbook(out / "明细_csv_汇总.xlsx")["概况"]["B3"].value == "明细.csv"


@pytest.mark.parametrize("payers", [["省级", "市级", "县级"], ["省", "市", "县"], ["省级补贴", "市级补贴", "县级补贴"]])
def test_a_two_row_header_naming_the_payers_under_a_merged_subsidy_cell_is_one_header(tmp_path, book, payers):
    """财政补贴 merged over three cells, 省级 / 市级 / 县级 under it (every other header merged down over both
    rows): the two rows are one header and the amounts under 省级 … are the subsidies. The row of payers used to
    be read as a person with everything missing, and the subsidies as nobody's."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    block = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"]]
    for line in (*block, COLUMNS[:8] + ["财政补贴", None, None] + COLUMNS[11:], [None] * 8 + payers + [None] * 3):
        ws.append(line)
    for column in [*range(1, 9), 12, 13, 14]:
        ws.merge_cells(start_row=4, start_column=column, end_row=5, end_column=column)
    ws.merge_cells(start_row=4, start_column=9, end_row=4, end_column=11)
    ws.append(row(amounts=(0, 12, 9.9, 8.1, 100, 130)))
    ws.append(row(name="李四", id_number=pid(seq="555"), amounts=(0, 11, 9.9, 8.1, 100, 130)))
    wb.save(tmp_path / "decl.xlsx")
    result = process_workbook(tmp_path / "decl.xlsx", book, tmp_path / "out", today=TODAY)
    assert result.rows == 2 and [(f.code, f.cell) for f in result.findings] == [("P04", "I7")]


def townships(path, second_unit="镇二", second=None):
    """A workbook of two townships' declarations, one sheet each, each with its own header block."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "镇一"
    for line in (["批量缴费申报表"], ["申报单位*", None, "镇一", None, None, "经办人*", "刘敏"],
                 ["申报日期*", None, "2026-11-20"], [], COLUMNS, row(), row(name="李四", id_number=pid(seq="555"))):
        ws.append(line)
    other = wb.create_sheet("镇二")
    for line in (["批量缴费申报表"], ["申报单位*", None, second_unit, None, None, "经办人*", "王五"],
                 ["申报日期*", None, "2026-11-20"], [], COLUMNS,
                 *(second or [row(name="赵六", id_number=pid(seq=f"{n}")) for n in range(556, 559)])):
        other.append(line)
    wb.save(path)
    return path


def test_a_workbook_of_one_sheet_per_township_checks_each_sheet_with_its_own_workbooks(tmp_path, book):
    """Two townships' tables on two sheets: each is checked alone and has its own three workbooks, named by
    its sheet; no one on the second sheet is left out (it used to be F10, named and not checked)."""
    from xlflow.app.pipeline import process_sheets

    bad = row(name="钱七", id_number="123")
    results = process_sheets(townships(tmp_path / "两镇.xlsx", second=[row(name="赵六"), bad]), book,
                             tmp_path / "out", today=TODAY)
    assert [(r.sheet, r.rows, r.valid_rows, r.exit_code) for r in results] == [("镇一", 2, 2, 0), ("镇二", 2, 1, 1)]
    assert "F10" not in {f.code for r in results for f in r.findings}
    assert found(results[1], "C03") == [(7, "C7")]
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["两镇_镇一_更正.xlsx", "两镇_镇一_汇总.xlsx", "两镇_镇二_更正.xlsx", "两镇_镇二_汇总.xlsx",
                     "两镇_镇二_错误数据.xlsx"]
    second = load_workbook(tmp_path / "out" / "两镇_镇二_更正.xlsx").active
    assert second["C2"].value == "镇二" and [r[1] for r in second.iter_rows(min_row=6, values_only=True)] == ["赵六"]
    errors = load_workbook(tmp_path / "out" / "两镇_镇二_错误数据.xlsx").active
    assert [r[1] for r in errors.iter_rows(min_row=6, values_only=True)] == ["钱七"]


def test_a_declaration_and_an_adjustment_on_two_sheets_are_each_checked_as_their_kind(tmp_path):
    """validate (CLI) of a workbook holding a 申报表 sheet and a 调整登记表 sheet: two result lines, each sheet
    named, each checked by its own kind's rules; the exit code is the worse of the two."""
    from openpyxl import Workbook

    from test_adjustment import COLUMNS as ADJ_COLUMNS
    from test_adjustment import adj

    wb = Workbook()
    wb.active.title = "申报"
    for line in (["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
                 ["申报日期*", None, "2026-11-20"], [], COLUMNS, row()):
        wb.active.append(line)
    other = wb.create_sheet("调整")
    for line in (["批量缴费调整登记表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
                 ["申报日期*", None, "2026-11-20"], [], ADJ_COLUMNS, adj(reason=None)):
        other.append(line)
    wb.save(tmp_path / "两表.xlsx")
    out = CliRunner().invoke(main, ["validate", str(tmp_path / "两表.xlsx"), "--out", str(tmp_path / "o")])
    assert out.exit_code == 1, (out.output, out.exception)
    lines = [line for line in out.stderr.splitlines() if line.startswith("两表.xlsx")]
    assert [line.split("：")[0] for line in lines] == ["两表.xlsx（工作表“申报”）", "两表.xlsx（工作表“调整”）"]
    assert "错误 0 条" in lines[0] and "错误 1 条" in lines[1]  # 调整原因 left empty: C01 in the adjustment
    assert (tmp_path / "o" / "两表_调整_错误数据.xlsx").exists() and (tmp_path / "o" / "两表_申报_更正.xlsx").exists()


@pytest.mark.parametrize("empty_first", [False, True])
def test_an_empty_copy_of_the_template_on_another_sheet_is_not_a_table_of_people(tmp_path, book, empty_first):
    """A header with no one under it (an empty copy of the template left on Sheet2, or before the data) is
    neither F10 nor a sheet to check: the filled sheet is checked alone, under the input's own name."""
    from openpyxl import Workbook

    from xlflow.app.pipeline import process_sheets

    wb = Workbook()
    empty, filled = (wb.active, wb.create_sheet("镇一")) if empty_first else (wb.create_sheet("Sheet2"), wb.active)
    if empty_first:
        empty.title = "Sheet1"
    else:
        filled.title = "镇一"
    for line in (["批量缴费申报表"], ["申报单位*", None, "镇一", None, None, "经办人*", "刘敏"],
                 ["申报日期*", None, "2026-11-20"], [], COLUMNS, row()):
        filled.append(line)
    for line in (["批量缴费申报表"], ["申报单位*"], ["申报日期*"], [], COLUMNS):
        empty.append(line)
    wb.save(tmp_path / "申报.xlsx")
    (result,) = process_sheets(tmp_path / "申报.xlsx", book, tmp_path / "out", today=TODAY)
    assert result.rows == 1 and result.exit_code == 0 and result.sheet is None
    assert "F10" not in {f.code for f in result.findings}
    assert (tmp_path / "out" / "申报_更正.xlsx").exists()


def test_a_workbook_of_more_sheets_than_the_limit_checks_the_first_and_names_the_rest(tmp_path, book):
    """A hostile (or huge) workbook of many sheets is not many thousand workbooks: past `max_sheets` the
    sheets are named (F10) on the first result, not checked."""
    from openpyxl import Workbook

    from xlflow.app.pipeline import process_sheets
    from xlflow.io.settings import Settings

    wb = Workbook()
    for n in range(5):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = f"村{n + 1}"
        for line in (["批量缴费申报表"], ["申报单位*", None, f"村{n + 1}", None, None, "经办人*", "刘敏"],
                     ["申报日期*", None, "2026-11-20"], [], COLUMNS, row(id_number=pid(seq=f"{500 + n}"))):
            ws.append(line)
    wb.save(tmp_path / "五村.xlsx")
    results = process_sheets(tmp_path / "五村.xlsx", book, tmp_path / "out", Settings(max_sheets=3), today=TODAY)
    assert [r.sheet for r in results] == ["村1", "村2", "村3"]
    f10 = [f.message for f in results[0].findings if f.code == "F10"]
    assert [m.split("（")[0] for m in f10] == ["工作表“村4”也有一张表格", "工作表“村5”也有一张表格"]
    assert "这次只处理了前 3 张工作表：" in f10[0] and results[0].exit_code == 1
