"""Rule table checks: every R code at its row, header forms, date forms, lookups."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import EXAMPLES, RULE_HEADERS, good_rules, rule, write_workbook
from xlflow.cli import main
from xlflow.validation.rules import check_rules, load_rulebook


def codes_at(result, code):
    return [(f.row, f.column) for f in result.findings if f.code == code]


def test_example_rule_table_is_clean():
    result, book = check_rules(EXAMPLES / "征缴规则表.xlsx")
    assert [f.code for f in result.findings if f.severity != "fixed"] == []
    assert len(book.frame) == result.rows == 112


def test_clean_table_gives_no_findings(rules_file):
    result, book = check_rules(rules_file(good_rules()))
    assert result.findings == []
    assert len(book.frame) == 10


def test_r01_overlapping_periods(rules_file):
    rows = good_rules() + [rule("一档", "普通参保人员", "农业户籍", 100, 12, 9.9, 8.1, 0, "202301")]
    result, _ = check_rules(rules_file(rows))
    assert codes_at(result, "R01") == [(13, "开始年月")]
    assert "第 3 行" in next(f.message for f in result.findings if f.code == "R01")


def test_r02_personal_not_standard_minus_daijiao(rules_file):
    rows = good_rules()
    rows[2] = rule("一档", "贫困人口一级", "农业户籍", 10, 12, 9.9, 8.1, 100)
    result, book = check_rules(rules_file(rows))
    assert codes_at(result, "R02") == [(5, "个人缴费")]
    message = next(f.message for f in result.findings if f.code == "R02")
    assert "100 − 政府代缴 100 = 0" in message
    assert 5 not in set(book.frame["row"])


def test_r03_funding_item_twice(rules_file):
    headers = [*RULE_HEADERS_WITH_EXTRA]
    rows = [[*r, 50] for r in good_rules()]
    result, _ = check_rules(rules_file(rows, headers=headers))
    assert [f.code for f in result.findings if f.code == "R03"] == ["R03"]
    assert "政府代缴" in next(f.message for f in result.findings if f.code == "R03")


RULE_HEADERS_WITH_EXTRA = ["规则名称", "档次", "身份", "户籍", "个人", "省补", "市补", "县补",
                           "代缴", "开始年月", "截止年月", "政府代缴"]  # fmt: skip


@pytest.mark.parametrize("start,end", [("202013", "209912"), ("202401", "202001"), ("明年", "")])
def test_r04_bad_or_backwards_dates(rules_file, start, end):
    rows = good_rules()
    rows[0] = rule("一档", "普通参保人员", "农业户籍", 100, 12, 9.9, 8.1, 0, start, end)
    result, _ = check_rules(rules_file(rows))
    assert (3, "开始年月") in codes_at(result, "R04") or (3, "终止年月") in codes_at(result, "C01")


def test_r05_missing_hukou_counterpart_is_a_warning(rules_file):
    rows = [r for r in good_rules() if not (r[2] == "特困人员" and r[3] == "城镇户籍")]
    result, _ = check_rules(rules_file(rows))
    assert codes_at(result, "R05") == [(7, "户口性质")]
    assert {f.severity for f in result.findings} == {"warning"}
    assert result.exit_code == 0


def test_r06_negative_amount(rules_file):
    rows = good_rules()
    rows[1] = rule("二档", "普通参保人员", "农业户籍", 200, -12, 9.9, 8.1, 0)
    result, _ = check_rules(rules_file(rows))
    assert codes_at(result, "R06") == [(4, "省级补贴")]


def test_r07_daijiao_tier_without_normal_rule(rules_file):
    rows = good_rules() + [rule("三档", "贫困人口一级", h, 200, 16, 13.2, 10.8, 100)
                           for h in ("农业户籍", "城镇户籍")]  # fmt: skip
    result, _ = check_rules(rules_file(rows))
    assert codes_at(result, "R07") == [(13, "缴费档次"), (14, "缴费档次")]


def test_short_headers_synonyms_and_every_date_form(tmp_path):
    forms = ["202001", "2020-01", "20200101", "2020-01-01", dt.datetime(2020, 1, 1)]
    rows = []
    for i, start in enumerate(forms):
        tier = ["一档", "二档", "三档", "四档", "五档"][i]
        for hukou in ("农村户籍", "城镇"):
            rows.append([tier, "普通参保人员", hukou, 100 * (i + 1), 12, 9.9, 8.1, 0, start, "209912"])
    headers = ["档次", "身份", "户籍", "个人", "省补", "市补", "县补", "代缴", "开始年月 *", "截止年月"]
    path = write_workbook(tmp_path / "short.xlsx", [headers, *rows])
    result, book = check_rules(path)
    assert [f.code for f in result.findings if f.severity != "fixed"] == []
    assert set(book.frame["start"]) == {202001}
    assert set(book.frame["hukou"]) == {"农业户籍", "城镇户籍"}
    assert {f.code for f in result.findings} == {"X05"}


def test_lookup_whole_column_picks_the_period_in_force():
    book = load_rulebook(EXAMPLES / "征缴规则表.xlsx")
    found = book.lookup(
        pd.Series(["贫困人口二级", "贫困人口二级", "普通参保人员", "贫困人口一级"]),
        pd.Series(["农业户籍", "农业户籍", "城镇户籍", "农业户籍"]),
        pd.Series(["一档", "一档", "五档", "九档"]),
        pd.Series([2018, 2024, 2024, 2024]),
    )
    assert found["daijiao"].tolist()[:2] == [5000, 7000]
    assert found["personal"].tolist()[:3] == [5000, 3000, 50000]
    assert found["city"].iloc[2] == 1980  # 19.8 yuan in cents
    assert pd.isna(found["rule"].iloc[3])


def test_cli_rules_check_exit_codes_and_json(rules_file, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["rules", "check", str(rules_file(good_rules()))])
    assert ok.exit_code == 0
    rows = good_rules()
    rows[1][5] = -1
    bad = runner.invoke(main, ["rules", "check", "--json", str(rules_file(rows, "bad.xlsx"))])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["kind"] == "rules" and data["rows"] == 10
    assert [(f["row"], f["code"], f["severity"]) for f in data["findings"]] == [(4, "R06", "error")]


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "空的"),
        (b"hello, this is not a spreadsheet", "不是电子表格"),
        (b"PK\x03\x04garbage", "损坏"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "密码"),
    ],
)
def test_unreadable_files_exit_2_with_chinese_message(tmp_path, content, expected):
    path = tmp_path / "rules.xlsx"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert "F01" in result.output and expected in result.output
    assert "Traceback" not in result.output


def test_typo_in_header_is_a_missing_column(rules_file):
    headers = [*RULE_HEADERS[:-1], "终至年月"]
    result = CliRunner().invoke(main, ["rules", "check", str(rules_file(good_rules(), headers=headers))])
    assert result.exit_code == 2
    assert "缺少必填列“终止年月”" in result.output


def test_not_a_rule_table_at_all(tmp_path):
    path = write_workbook(tmp_path / "x.xlsx", [["甲", "乙"], [1, 2]])
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 2 and "F02" in result.output


@pytest.mark.parametrize("end", ["长期", "长期有效", "至今", "9999", "999912"])
def test_a_rule_without_an_end_written_in_words_is_in_force_to_209912(rules_file, end):
    """Counties write 长期 or 9999 for a rule that has no end: it is 209912 (X05, listed), the rule in force;
    长期 as a start is still R04."""
    rows = good_rules()
    rows[0] = rule("一档", "普通参保人员", "农业户籍", 100, 12, 9.9, 8.1, 0, "202001", end)
    result, book = check_rules(rules_file(rows))
    assert [(f.code, f.cell) for f in result.findings] == [("X05", "K3")]
    assert book.frame.loc[book.frame["row"] == 3, "end"].tolist() == [209912]
    rows[0] = rule("一档", "普通参保人员", "农业户籍", 100, 12, 9.9, 8.1, 0, end, "209912")
    result, _ = check_rules(rules_file(rows))
    assert [(f.code, f.cell) for f in result.findings if f.code in ("R04", "X05")] == [("R04", "J3")]
