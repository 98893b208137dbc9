"""Compare decides right (issue 22): each identity at its own tiers, the levels as the lists write them,
no silent upgrade, the larger of two levels, recipients without negative items, and the estimate equal
to the sum of the pre-filled rows. Small built cases, one reading each."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from conftest import RULE_HEADERS, rule, write_workbook
from test_compare import TODAY
from test_ledger import paid, payments_xls, roster_csv
from test_validate import pid
from xlflow.app.comparing import run_comparison
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.domain.kinds import AMOUNT_KEYS
from xlflow.store.ledger import Ledger
from xlflow.validation.compare import list_identity
from xlflow.validation.rules import load_rulebook

YEAR = 2025


def county_rules(tmp_path):
    """特困人员 only at 二档 (代缴 200); 贫困人口 stops at 二级; 残疾人 一 … 三级; 普通 一、二、五档."""
    rows = []
    for h in ("农业户籍", "城镇户籍"):
        rows += [rule("一档", "普通参保人员", h, 100, 12, 9.9, 8.1, 0),
                 rule("二档", "普通参保人员", h, 200, 12, 9.9, 8.1, 0),
                 rule("五档", "普通参保人员", h, 500, 24, 19.8, 16.2, 0),
                 rule("二档", "特困人员", h, 0, 12, 9.9, 8.1, 200)]
        for personal, daijiao, level in ((0, 100, "一级"), (30, 70, "二级"), (50, 50, "三级")):
            for name in ("低保对象", "贫困人口", "残"):
                if not (name == "贫困人口" and level == "三级"):
                    rows.append(rule("一档", f"{name}{level}", h, personal, 12, 9.9, 8.1, daijiao))
    return load_rulebook(write_workbook(tmp_path / "规则.xlsx", [["某县"], RULE_HEADERS, *rows]))


def person(seq, status="正常缴费", flag="011", township="城正街街道"):
    return [pid(seq=seq), "张三", "农业", status, flag, "", "43030201", township]


ROSTER_HEAD = ["公民身份号码", "姓名", "户籍性质", "人员状态", "特殊参保群体", "脱贫年度", "行政区划", "参保地"]


def compare_with(tmp_path, book, people, lists, payments=(), per_township=False):
    from test_ledger import ROSTER_HEAD as _  # noqa: F401  (the same export, with 参保地 by name)

    path = tmp_path / "台账.sqlite"
    roster = tmp_path / "roster.csv"
    roster.write_bytes("\r\n".join([",".join(ROSTER_HEAD)] + [",".join(map(str, r)) for r in people])
                       .encode("gb18030"))
    with Ledger(path) as store:
        import_file(store, roster, "roster")
        if payments:
            import_file(store, payments_xls(tmp_path / "p.xls", list(payments)), "payments")
        for n, (kind, head, rows) in enumerate(lists):
            f = write_workbook(tmp_path / f"{kind}名单{n}.xlsx", [head, *rows])
            import_file(store, f, "list", kind)
        run = run_comparison(store, book, YEAR, tmp_path / "out", per_township=per_township)
    return run, {r["身份证号码"][14:17]: r for r in run.comparison.people.to_dict("records")}, path


def test_an_identity_whose_rules_start_at_its_second_tier_is_declared_there(tmp_path):
    book = county_rules(tmp_path)
    run, rows, _ = compare_with(tmp_path, book, [person("101", flag="031"), person("102", flag="031")], [
        ("特困人员", ["身份证号码", "姓名"], [[pid(seq="101"), "张三"], [pid(seq="102"), "张三"]]),
        ("低保对象", ["身份证号码", "姓名", "级别"], [[pid(seq="102"), "张三", "一级"]])])
    assert rows["101"]["需办理事项"] == "政府代缴申报" and rows["101"]["代缴身份"] == "特困人员"
    # the overlap goes to the larger 代缴 at each identity's own tier: 特困 200 at 二档 over 低保一级 100
    assert rows["102"]["代缴身份"] == "特困人员" and "特困人员（200 元）" in rows["102"]["原因"]
    assert "身份标识" not in rows["102"]["原因"]  # the correct 特困 flag is not told to change
    ws = load_workbook(run.outputs["declaration"][0]).worksheets[0]
    line = dict(zip([str(c.value).rstrip("*") for c in ws[5]], [c.value for c in ws[6]], strict=True))
    assert (line["缴费档次"], line["政府代缴"], line["个人缴费"]) == ("二档", 200, 0)


@pytest.mark.parametrize("header", ["级别", "保障级别", "贫困人口级别", "残疾等级", "等级"])
@pytest.mark.parametrize("written", ["二级", "2", "2级", "B类", "二类"])
def test_levels_are_read_from_the_headers_and_in_the_forms_offices_write(tmp_path, header, written):
    book = county_rules(tmp_path)
    _, rows, _ = compare_with(tmp_path, book, [person("101", flag="062")],
                              [("低保对象", ["身份证号码", "姓名", header], [[pid(seq="101"), "张三", written]])])
    assert rows["101"]["代缴身份"] == "低保对象二级" and "没有写明级别" not in rows["101"]["原因"]


@pytest.mark.parametrize("level,identity", [("一级", "残一级"), ("二级", "残二级"), ("3", "残三级"),
                                            ("三级", "残三级")])
def test_a_disabled_persons_level_is_applied(book, level, identity):
    assert list_identity("残疾人", level, load_identities()) == (identity, "")


def load_identities():
    return ["普通参保人员", "残一级", "残二级", "残三级", "贫困人口一级", "贫困人口二级", "特困人员"]


def test_a_level_the_rule_table_lacks_is_never_upgraded(tmp_path):
    book = county_rules(tmp_path)
    _, rows, _ = compare_with(tmp_path, book, [person("101"), person("102")], [
        ("贫困人口", ["身份证号码", "姓名", "级别"], [[pid(seq="101"), "张三", "三级"]]),
        ("残疾人", ["身份证号码", "姓名", "残疾等级"], [[pid(seq="102"), "张三", "四级"]])])
    for seq, named in (("101", "贫困人口三级"), ("102", "残疾人四级")):
        assert rows[seq]["需办理事项"] == "不符合条件" and rows[seq]["代缴身份"] == ""
        assert f"征缴规则表中没有{named}的代缴规则" in rows[seq]["原因"]


def test_a_person_twice_on_a_list_with_two_levels_gets_the_larger_daijiao(tmp_path):
    book = county_rules(tmp_path)
    run, rows, _ = compare_with(tmp_path, book, [person("101", flag="061")], [
        ("低保对象", ["身份证号码", "姓名", "级别"], [[pid(seq="101"), "张三", "一级"],
                                                [pid(seq="101"), "张三", "三级"]])])
    assert rows["101"]["代缴身份"] == "低保对象一级"
    unmatched = run.comparison.unmatched
    assert unmatched["行"].tolist() == [3] and "与本名单第 2 行是同一人" in unmatched["原因"].iloc[0]


def test_a_recipients_prefilled_adjustment_has_no_negative_item_and_validates(tmp_path):
    book = county_rules(tmp_path)
    paid_five = [pid(seq="101"), "张三", f"{YEAR}01", "普通参保人员", "五档", "农业户籍", 500, 24, 19.8, 16.2, 0]
    run, rows, ledger = compare_with(tmp_path, book, [person("101", status="正常待遇", flag="051")],
                                     [("贫困人口", ["身份证号码", "姓名", "级别"], [[pid(seq="101"), "张三", "一级"]])],
                                     payments=[paid_five])
    assert rows["101"]["需办理事项"] == "缴费调整"
    [adjustment] = run.outputs["adjustment"]
    ws = load_workbook(adjustment).worksheets[0]
    line = dict(zip([str(c.value).rstrip("*") for c in ws[5]], [c.value for c in ws[6]], strict=True))
    items = ("个人缴费调整", "省级补贴调整", "市级补贴调整", "县级补贴调整", "政府代缴调整")
    assert [line[i] for i in items] == [0, 0, 0, 0, 100]
    with Ledger(ledger) as store:
        result = process_workbook(adjustment, book, tmp_path / "v", today=TODAY, ledger=store)
    assert {f.code for f in result.findings if f.severity == "error"} == {"F04"}


def test_the_estimate_is_the_sum_of_the_prefilled_rows_to_the_cent(tmp_path):
    book = county_rules(tmp_path)
    people = [person("101", flag="031"), person("102", flag="011"), person("103", flag="062"),
              person("104", status="正常待遇", flag="051")]
    lists = [("特困人员", ["身份证号码", "姓名"], [[pid(seq="101"), "张三"]]),
             ("低保对象", ["身份证号码", "姓名", "保障级别"], [[pid(seq="102"), "张三", "二级"],
                                                         [pid(seq="103"), "张三", "B类"],
                                                         [pid(seq="105"), "李四", "一级"]]),
             ("贫困人口", ["身份证号码", "姓名", "级别"], [[pid(seq="104"), "张三", "一级"]])]
    run, rows, _ = compare_with(tmp_path, book, people, lists, payments=[paid("104", YEAR)])
    assert [rows[s]["需办理事项"] for s in ("101", "102", "103", "104", "105")] == \
        ["政府代缴申报", "身份标识变更", "政府代缴申报", "缴费调整", "参保登记"]
    summed = dict.fromkeys(AMOUNT_KEYS, 0.0)
    heads = {"declaration": ("个人缴费", "省级补贴", "市级补贴", "县级补贴", "政府代缴"),
             "adjustment": ("个人缴费调整", "省级补贴调整", "市级补贴调整", "县级补贴调整", "政府代缴调整")}
    for kind in ("declaration", "adjustment"):
        for path in run.outputs[kind] + run.outputs[f"{kind}_waiting"]:
            ws = load_workbook(path).worksheets[0]
            head = [str(c.value).rstrip("*") for c in ws[5]]
            for r in ws.iter_rows(min_row=6, values_only=True):
                line = dict(zip(head, r, strict=True))
                for key, h in zip(AMOUNT_KEYS, heads[kind], strict=True):
                    summed[key] += float(line[h] or 0)
    total = {r[0]: r[1] for r in load_workbook(run.outputs["statistics"][0])["全年合计"].iter_rows(min_row=2,
                                                                                                   values_only=True)}
    names = dict(zip(AMOUNT_KEYS, heads["declaration"], strict=True))
    for key in AMOUNT_KEYS:
        assert round(summed[key], 2) == round(total[names[key]], 2), key
    # by hand: 101 特困 二档 200; 102 and 103 低保二级 70 each (personal 30); 105 低保一级 100; 104 +100
    assert round(summed["daijiao"], 2) == 200 + 70 + 70 + 100 + 100 and round(summed["personal"], 2) == 60


def test_townships_by_name_the_uninsured_apart_numbers_as_numbers_and_filters(tmp_path):
    book = county_rules(tmp_path)
    run, rows, _ = compare_with(tmp_path, book, [person("101", flag="061", township="雨湖区/城正街街道")],
                                [("低保对象", ["身份证号码", "姓名", "级别"], [[pid(seq="101"), "张三", "一级"],
                                                                        [pid(seq="109"), "李四", "一级"]])],
                                per_township=True)
    assert rows["101"]["乡镇"] == "雨湖区/城正街街道" and rows["109"]["乡镇"] == "未参保（身份证地区 430321）"
    assert any(p.endswith("预填_批量缴费申报表_2025_雨湖区_城正街街道.xlsx") for p in run.outputs["declaration"])
    wb = load_workbook(run.outputs["ledger"][0])
    ws = wb["管理台账"]
    head = [c.value for c in ws[1]]
    age = ws.cell(2, head.index(f"{YEAR}年龄") + 1)
    assert isinstance(age.value, int) and ws.auto_filter.ref.startswith("A1:")
    assert all(isinstance(c.value, int) for c in wb["按乡镇统计"][2][1:])


def test_a_payments_export_with_no_rows_is_a_new_county_not_a_refusal(tmp_path, book):
    from click.testing import CliRunner

    from xlflow.cli import main

    roster = roster_csv(tmp_path / "r.csv", [[pid(seq="101"), "张三", "农业", "正常缴费", "061", "", "43030201"]])
    payments = payments_xls(tmp_path / "p.xls", [])
    dibao = write_workbook(tmp_path / "低保.xlsx", [["身份证号码", "姓名", "级别"], [pid(seq="101"), "张三", "一级"]])
    out = CliRunner().invoke(main, ["compare", "--year", str(YEAR), "--roster", str(roster), "--payments",
                                    str(payments), "--list", f"低保对象={dibao}", "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "政府代缴申报 1 人" in out.output


def test_compare_reads_the_workspace_settings(tmp_path, monkeypatch):
    """A county that sets min_age = 18 in xlflow.toml: a 17-year-old on a list is not to be declared, whether
    the settings are given with --settings or compare runs in the workspace (it read only the defaults)."""
    import json

    from click.testing import CliRunner

    from xlflow.cli import main

    young = pid(birth=f"{YEAR - 17}0101", seq="101")
    roster = roster_csv(tmp_path / "r.csv", [[young, "张三", "农业", "正常缴费", "061", "", "43030201"]])
    payments = payments_xls(tmp_path / "p.xls", [])
    dibao = write_workbook(tmp_path / "低保.xlsx", [["身份证号码", "姓名", "级别"], [young, "张三", "一级"]])
    args = ["compare", "--year", str(YEAR), "--roster", str(roster), "--payments", str(payments), "--list",
            f"低保对象={dibao}", "--out", str(tmp_path / "o"), "--json"]
    declared = lambda out: json.loads(out.stdout)["actions"].get("政府代缴申报", 0)  # noqa: E731
    default = CliRunner().invoke(main, args)
    assert default.exit_code == 0, default.output
    assert declared(default) == 1
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "xlflow.toml").write_text("min_age = 18\n", encoding="utf-8")
    given = CliRunner().invoke(main, [*args, "--settings", str(ws)])
    monkeypatch.chdir(ws)
    inside = CliRunner().invoke(main, args)
    assert given.exit_code == inside.exit_code == 0, given.output + inside.output
    assert declared(given) == declared(inside) == 0
