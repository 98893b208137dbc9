"""Declarations a clerk can trust: duplicates across the round trip, file errors seen, row numbers
that match the file open, one clock, the summary a county reads."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import write_workbook
from test_validate import COLUMNS, TODAY, declaration, found, pid, row, run
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main


def test_a_duplicate_dropped_back_alone_is_still_p05(tmp_path, book):
    twin = row(name="李四", id_number=pid(seq="555"))
    result = run(tmp_path, book, [row(), twin, twin])
    assert found(result, "P05") == [(8, "C8")]
    message = next(f.message for f in result.findings if f.code == "P05")
    assert "原表第 7 行已写入“decl_更正.xlsx”第 7 行，本行请直接删除" in message
    # The clerk drops the error workbook back unchanged: the row is still a duplicate.
    again = process_workbook(result.outputs["errors"], book, tmp_path / "again", today=TODAY)
    assert found(again, "P05") == [(6, "C6")]
    assert "已在“decl_更正.xlsx”第 7 行通过检查" in again.findings[0].message
    assert "已通过记录" in load_workbook(result.outputs["errors"]).sheetnames


def test_the_round_trip_ends_clean_when_the_clerk_fixes_the_rows(tmp_path, book):
    bad = row(name="李四", id_number=pid(seq="555")[:-1] + "0" if not pid(seq="555").endswith("0") else "1")
    result = run(tmp_path, book, [row(), bad])
    assert result.error_rows == {7}
    wb = load_workbook(result.outputs["errors"])
    ws = wb["批量缴费申报表"]
    assert ws["C6"].number_format == "@"
    ws["C6"] = pid(seq="555")  # re-typed into the marked cell, which kept its text format
    fixed = tmp_path / "fixed.xlsx"
    wb.save(fixed)
    again = process_workbook(fixed, book, tmp_path / "again", today=TODAY)
    assert again.exit_code == 0 and again.valid_rows == 1 and again.outputs["errors"] is None


def test_a_missing_header_field_is_in_the_line_the_summary_and_the_cell(tmp_path, book):
    block = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", None],
             ["申报日期*", None, "2026-11-20"]]
    path = write_workbook(tmp_path / "d.xlsx", [*block, [], COLUMNS, row()])
    result = CliRunner().invoke(main, ["validate", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "共 1 条：通过 1 条，错误 0 条" in result.output  # the header block is not a data row
    assert "文件错误 1 处：表头“经办人”未填写" in result.output
    summary = load_workbook(tmp_path / "out" / "d_汇总.xlsx")["概况"]
    assert (summary["A3"].value, summary["B3"].value) == ("文件错误", "1 处：表头“经办人”未填写")
    ws = load_workbook(tmp_path / "out" / "d_更正.xlsx").active
    assert ws["G2"].fill.fgColor.rgb.endswith("FFC7CE")  # the empty value cell right of 经办人*


def test_no_error_workbook_without_error_rows(tmp_path, book):
    path = declaration(tmp_path, [row()])
    out = tmp_path / "out"
    (out).mkdir()
    (out / "decl_错误数据.xlsx").write_bytes(b"old")
    result = CliRunner().invoke(main, ["validate", str(path), "--out", str(out), "--json"])
    data = json.loads(result.stdout)
    assert data["outputs"]["errors"] is None and not (out / "decl_错误数据.xlsx").exists()
    human = CliRunner().invoke(main, ["validate", str(path), "--out", str(out)])
    assert "没有错误行，未生成错误数据表" in human.output


def test_amount_fills_are_counted_apart_from_corrections(tmp_path, book):
    result = run(tmp_path, book, [row(name=" 张三", amounts=(None,) * 6)])
    line = result.summary_line()
    assert "自动更正 1 处，补全金额 6 处" in line


def test_one_clock_an_id_born_this_year_is_valid(tmp_path, book):
    path = declaration(tmp_path, [row(id_number=pid(birth="20270101"), year=2027)])
    result = process_workbook(path, book, tmp_path / "out", today=dt.date(2027, 6, 1))
    assert [f.code for f in result.findings] == ["P01"]
    summary = load_workbook(result.outputs["summary"])["概况"]
    assert any(str(c.value).startswith("2027-06-01") for c in summary["B"])


def test_summary_orders_identities_counts_whole_persons_and_names_the_header(tmp_path, book):
    rows = [row(identity="低保对象三级", id_number=pid(seq="301"), amounts=(None,) * 6),
            row(identity="低保对象一级", id_number=pid(seq="302"), amounts=(None,) * 6),
            row(identity="低保对象二级", id_number=pid(seq="303"), amounts=(None,) * 6),
            row(id_number="123")]  # fmt: skip
    result = run(tmp_path, book, rows)
    wb = load_workbook(result.outputs["summary"])
    money = wb["金额汇总"]
    names = [money.cell(r, 1).value for r in range(2, 5)]
    assert names == ["低保对象一级", "低保对象二级", "低保对象三级"]
    assert money.cell(2, 4).number_format == "#,##0"
    assert any("有错误的 1 行不计入" in str(c.value) for c in money["A"])
    overview = {r[0].value: r[1].value for r in wb["概况"].iter_rows(min_row=3) if r[0].value}
    assert overview["申报单位"] == "某镇" and overview["经办人"] == "刘敏"


def test_change_log_names_cells_of_this_workbook(tmp_path, book):
    result = run(tmp_path, book, [row(id_number="1"), row(id_number=pid(seq="777"), hukou="农村")])
    log = list(load_workbook(result.outputs["corrected"])["修改记录"].iter_rows(min_row=2, values_only=True))
    assert log[0][:4] == (7, 6, "户口性质", "D6")  # 原表第 7 行 is 本表第 6 行


def test_the_error_workbook_is_a_working_template(tmp_path, book):
    result = run(tmp_path, book, [row(), row(id_number="123")])
    wb = load_workbook(result.outputs["errors"])
    assert wb.sheetnames[:3] == ["批量缴费申报表", "填写说明", "代码表"] and wb["代码表"].sheet_state == "hidden"
    ws = wb["批量缴费申报表"]
    assert ws.freeze_panes == "D6"  # 姓名 and 身份证号码 stay in view
    dv = {str(d.sqref).split(":")[0]: d for d in ws.data_validations.dataValidation}
    assert dv["E6"].type == "list" and "代码表" in dv["E6"].formula1 and dv["E6"].promptTitle == "缴费身份"
    assert dv["C6"].formula1 == "OR(LEN(C6)=15,LEN(C6)=18)"
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props["xlflow_kind"] == "declaration" and props["xlflow_rules_fingerprint"] == book.fingerprint
    corrected = load_workbook(result.outputs["corrected"])
    assert {p.name: p.value for p in corrected.custom_doc_props.props}["xlflow_rules_fingerprint"] == book.fingerprint


def test_the_error_workbook_from_another_rule_table_warns_f07(tmp_path, book, rules_file):
    from conftest import good_rules
    from xlflow.validation.rules import load_rulebook

    result = run(tmp_path, book, [row(), row(id_number="123")])
    other = load_rulebook(rules_file(good_rules()))
    again = process_workbook(result.outputs["errors"], other, tmp_path / "again", today=TODAY)
    assert "F07" in {f.code for f in again.findings}


def test_template_instructions_and_prompts(tmp_path, book):
    out = tmp_path / "t.xlsx"
    CliRunner().invoke(main, ["template", "declaration", "-o", str(out)])
    wb = load_workbook(out)
    text = " ".join(str(c.value) for r in wb["填写说明"].iter_rows() for c in r if c.value)
    assert "不满 16 周岁" in text and "只代缴一次" in text and "脱贫" in text
    assert "贫困人口一级" in text and "一档、二档" in text  # which tiers each identity has
    assert [c.value for c in wb["代码表"][1]] == ["户口性质", "缴费身份", "缴费档次"]
    dv = {str(d.sqref).split(":")[0]: d for d in wb["批量缴费申报表"].data_validations.dataValidation}
    assert "LEN(C6)=18" in dv["C6"].formula1 and "一档、二档" in dv["G6"].prompt
    rules = tmp_path / "r.xlsx"
    CliRunner().invoke(main, ["template", "rules", "-o", str(rules)])
    text = " ".join(str(c.value) for r in load_workbook(rules)["填写说明"].iter_rows() for c in r if c.value)
    assert "一人一年一行" not in text and "可以不填" not in text and "一条规则一行" in text


def test_feedback_rendered_in_bulk_equals_each_finding_message(tmp_path, book):
    from conftest import EXAMPLES

    result = process_workbook(EXAMPLES / "批量缴费申报表.xlsx", book, tmp_path / "out", today=TODAY)
    one_by_one: dict[int, list[str]] = {}
    for f in result.findings:
        if f.row is not None:
            one_by_one.setdefault(f.row, []).append(f"[{f.code}] {f.message}")
    bulk = result.findings.feedback_by_row(result.findings.rows_of(), skip_severity="none")
    assert bulk == one_by_one and len(bulk) > 20


def test_money_by_identity_hukou_and_tier_keeps_each_group_with_its_own_people(tmp_path, book):
    """The 金额汇总 rows name the identity × 户口性质 × tier their people and money belong to: groups that
    differ in all three keep their own counts (1, 2 and 3 people here)."""
    combos = [("贫困人口一级", "农业户籍", "一档", 1), ("贫困人口一级", "城镇户籍", "二档", 2),
              ("低保对象一级", "农业户籍", "二档", 3)]  # fmt: skip
    rows, seq = [], 400
    for identity, hukou, tier, people in combos:
        for _ in range(people):
            seq += 1
            rows.append(row(identity=identity, hukou=hukou, tier=tier, id_number=pid(seq=str(seq)),
                            amounts=(None,) * 6))
    result = run(tmp_path, book, rows)
    assert result.error_rows == set()
    money = load_workbook(result.outputs["summary"])["金额汇总"]
    got = {(money.cell(r, 1).value, money.cell(r, 2).value, money.cell(r, 3).value, money.cell(r, 4).value)
           for r in range(2, 5)}
    assert got == set(combos)
    assert result.totals["persons"] == 6


def test_a_duplicate_names_the_part_and_row_where_its_twin_passed(tmp_path, book):
    """With the corrected rows split into parts, the hidden record of passed rows gives each its own part
    and row there, round after round."""
    a, c = row(id_number=pid(seq="111")), row(id_number=pid(seq="333"))
    rows = [a, row(id_number=pid(seq="222")), c, row(id_number=pid(seq="444")), a, c]
    first = process_workbook(declaration(tmp_path, rows), book, tmp_path / "r1", today=TODAY, split_rows=2)
    assert found(first, "P05") == [(10, "C10"), (11, "C11")]
    again = process_workbook(first.outputs["errors"], book, tmp_path / "r2", today=TODAY)
    messages = [f.message for f in again.findings if f.code == "P05"]
    assert "已在“decl_更正_1.xlsx”第 6 行通过检查" in messages[0]
    assert "已在“decl_更正_2.xlsx”第 6 行通过检查" in messages[1]
    third = process_workbook(again.outputs["errors"], book, tmp_path / "r3", today=TODAY)
    assert [f.message for f in third.findings if f.code == "P05"] == messages
