"""Generated templates, opened as a clerk's Excel would: sheets, dropdowns, formats, texts, properties."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import good_rules
from xlflow.cli import main
from xlflow.validation.rules import load_rulebook


def make_template(tmp_path, kind, rules=None):
    out = tmp_path / f"{kind}.xlsx"
    args = ["template", kind, "-o", str(out)] + (["--rules", str(rules)] if rules else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return load_workbook(out)


def lists_by_type(wb) -> dict[str, list[str]]:
    sheet = wb["代码表"]
    return {
        sheet.cell(1, c).value: [sheet.cell(r, c).value for r in range(2, sheet.max_row + 1)
                                 if sheet.cell(r, c).value]
        for c in range(1, sheet.max_column + 1)
    }


def validations(ws):
    """{top-left cell of each range: validation}"""
    return {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}


def test_declaration_template_as_a_clerk_sees_it(tmp_path):
    wb = make_template(tmp_path, "declaration")
    assert wb.sheetnames == ["批量缴费申报表", "填写说明", "代码表"]
    assert wb["代码表"].sheet_state == "hidden"
    ws = wb["批量缴费申报表"]
    assert ws["A1"].value == "批量缴费申报表"
    assert ws["A2"].value == "申报单位*" and ws["G2"].value == "经办人*"
    assert ws["A3"].value == "申报日期*" and ws["G3"].value == "联系电话"
    headers = [c.value for c in ws[5]]
    assert headers[:7] == ["序号", "姓名*", "身份证号码*", "户口性质*", "缴费身份*", "缴费年度*", "缴费档次*"]
    assert headers[7:] == ["个人缴费", "省级补贴", "市级补贴", "县级补贴", "政府代缴", "合计", "备注"]
    assert ws.freeze_panes == "D6"
    assert ws.column_dimensions["C"].width > 20
    dv = validations(ws)
    assert dv["E6"].type == "list" and "代码表" in dv["E6"].formula1
    identities = lists_by_type(wb)["缴费身份"]
    assert identities[:2] == ["普通参保人员", "贫困人口一级"] and "特困人员" in identities
    assert dv["D6"].formula1 and dv["G6"].type == "list"
    assert str(dv["E6"].sqref) == "E6:E10005"
    assert dv["E6"].promptTitle == "缴费身份" and "贫困人口一级" in dv["E6"].prompt
    assert all(len(v.prompt or "") <= 255 and len(v.promptTitle or "") <= 32 for v in dv.values())


def test_id_column_is_text_formatted(tmp_path):
    wb = make_template(tmp_path, "declaration")
    ws = wb["批量缴费申报表"]
    ws_xml_format = ws.column_dimensions["C"].number_format if hasattr(
        ws.column_dimensions["C"], "number_format") else None
    style = wb._cell_styles[ws.column_dimensions["C"].style_id] if ws_xml_format is None else None
    number_format = ws_xml_format or wb._number_formats[style.numFmtId - 164]
    assert number_format == "@"


def test_instructions_sheet(tmp_path):
    wb = make_template(tmp_path, "declaration")
    text = "\n".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    assert "“身份证号码”（必填）" in text and "“备注”（选填）" in text
    assert "可选值：农业户籍、城镇户籍" in text
    assert "金额列可以不填" in text
    assert "征缴规则表.xlsx" in text and "指纹" in text
    rows = [[c.value for c in r] for r in wb["填写说明"].iter_rows()]
    example = rows[-1]
    assert example[1:7] == ["张三", "430102199001011238", "农业户籍", "贫困人口一级", "2024", "一档"]
    assert example[7:13] == ["0", "12", "9.9", "8.1", "100", "130"]


def test_custom_properties_name_kind_version_and_rule_table(tmp_path):
    wb = make_template(tmp_path, "adjustment")
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    book = load_rulebook(__import__("conftest").EXAMPLES / "征缴规则表.xlsx")
    assert props["xlflow_kind"] == "adjustment"
    assert props["xlflow_template_version"] == "1"
    assert props["xlflow_rules_fingerprint"] == book.fingerprint


def test_adjustment_template_lists_person_classes(tmp_path):
    wb = make_template(tmp_path, "adjustment")
    ws = wb["批量缴费调整登记表"]
    assert [c.value for c in ws[5]][3] == "人员类别*"
    assert lists_by_type(wb)["人员类别"] == ["缴费人员", "待遇人员"]


def test_template_dropdowns_follow_the_given_rule_table(tmp_path, rules_file):
    wb = make_template(tmp_path, "declaration", rules=rules_file(good_rules()))
    lists = lists_by_type(wb)
    assert lists["缴费身份"] == ["普通参保人员", "贫困人口一级", "低保对象一级", "特困人员"]
    assert lists["缴费档次"] == ["一档", "二档"]
    assert lists["户口性质"] == ["农业户籍", "城镇户籍"]


def test_rules_template_round_trips_through_rules_check(tmp_path):
    wb = make_template(tmp_path, "rules")
    ws = wb["征缴规则表"]
    assert [c.value for c in ws[2]][:3] == ["规则名称", "缴费档次*", "缴费身份*"]
    ws.append(["", "一档", "普通参保人员", "农业户籍", 100, 12, 9.9, 8.1, 0, "202001", "209912"])
    ws.append(["", "一档", "普通参保人员", "城镇户籍", 100, 12, 9.9, 8.1, 0, "202001", "209912"])
    path = tmp_path / "filled.xlsx"
    wb.save(path)
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("kind", ["declaration", "adjustment", "rules"])
def test_every_required_column_has_its_help(kind):
    from xlflow.domain.kinds import kind_spec

    for col in kind_spec(kind).columns:
        assert col.instruction and col.prompt, col.header
        if col.required:
            assert col.hint, col.header
