"""Tests written to catch small deliberate mistakes that once went unnoticed (mutation testing)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import good_rules, rule
from test_validate import TODAY, declaration, pid, row
from xlflow.app.pipeline import process_workbook
from xlflow.domain.idcard import inspect_ids
from xlflow.io.settings import Settings
from xlflow.validation.rules import load_rulebook


@pytest.mark.parametrize(
    "birth,code",
    [("20000229", ""), ("20040229", ""), ("19000229", "C05"), ("20230229", "C05"), ("19990229", "C05"),
     ("19800230", "C05"), ("19801231", ""), ("19801301", "C05"), ("19800100", "C05")],
)  # fmt: skip
def test_birth_dates_follow_the_leap_year_rule(birth, code):
    assert inspect_ids(pd.Series([pid(birth=birth)]), today_year=2026)["code"].iloc[0] == code


def test_a_birth_year_after_this_year_is_impossible():
    assert inspect_ids(pd.Series([pid(birth="20270101")]), today_year=2026)["code"].iloc[0] == "C05"
    assert inspect_ids(pd.Series([pid(birth="20270101")]), today_year=2027)["code"].iloc[0] == ""


def test_the_later_rule_wins_within_a_year(rules_file):
    rows = good_rules()
    rows[2] = rule("一档", "贫困人口一级", "农业户籍", 0, 12, 9.9, 8.1, 100, end="202406")
    rows.append(rule("一档", "贫困人口一级", "农业户籍", 0, 13, 9.9, 8.1, 100, start="202407"))
    book = load_rulebook(rules_file(rows))
    found = book.lookup(pd.Series(["贫困人口一级"] * 3), pd.Series(["农业户籍"] * 3), pd.Series(["一档"] * 3),
                        pd.Series([2023, 2024, 2025]))  # fmt: skip
    assert found["province"].tolist() == [1200, 1300, 1300]


@pytest.mark.parametrize(
    "order,kept",
    [(["特困人员", "低保对象", "贫困人口", "残疾人"], "低保对象一级"),
     (["贫困人口", "低保对象", "特困人员", "残疾人"], "贫困人口一级")],
)  # fmt: skip
def test_p06_tie_break_follows_the_configured_order(tmp_path, rules_file, order, kept):
    book = load_rulebook(rules_file(good_rules()))
    rows = [row(identity="贫困人口一级"), row(identity="低保对象一级")]
    path = declaration(tmp_path, rows)
    result = process_workbook(path, book, tmp_path / "out", Settings(group_order=order), today=TODAY)
    p06 = [f for f in result.findings if f.code == "P06"]
    assert len(p06) == 1 and f"建议保留“{kept}”" in p06[0].message and "按优先顺序" in p06[0].message
    assert p06[0].row == (6 if kept == "低保对象一级" else 7)


def test_p06_larger_daijiao_wins_over_the_order(tmp_path, rules_file):
    rows = [r for r in good_rules() if r[2] != "低保对象一级"]
    rows += [rule("一档", "低保对象一级", h, 50, 12, 9.9, 8.1, 50) for h in ("农业户籍", "城镇户籍")]
    book = load_rulebook(rules_file(rows))
    order = ["低保对象", "特困人员", "贫困人口", "残疾人"]  # the order alone would keep 低保对象
    path = declaration(tmp_path, [row(identity="特困人员", amounts=(None,) * 6),
                                  row(identity="低保对象一级", amounts=(None,) * 6)])  # fmt: skip
    result = process_workbook(path, book, tmp_path / "out", Settings(group_order=order), today=TODAY)
    p06 = [f for f in result.findings if f.code == "P06"]
    assert [f.row for f in p06] == [7]
    assert "建议保留“特困人员”" in p06[0].message and "代缴金额较高：100 元" in p06[0].message
