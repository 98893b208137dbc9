"""数据比对: built lists and a built roster covering each action and each overlap case."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import write_workbook
from test_ledger import PAY_HEAD, paid, payments_xls, roster_csv
from test_validate import found, pid
from xlflow.app.comparing import run_comparison
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.store.ledger import Ledger

YEAR = 2025
TODAY = dt.date(2026, 11, 29)
LIST_HEAD = ["身份证号码", "姓名", "级别", "脱贫年度"]


def p(seq: str, birth: str = "19800101") -> str:
    return pid(birth=birth, seq=seq)


def roster_rows():
    return [
        [p("101"), "张甲", "农业", "正常缴费", "061", "", "43030201"],  # 低保一级, flag set: declare
        [p("103"), "张丙", "农业", "正常缴费", "011", "", "43030201"],  # flag still 普通: flag first
        [p("104"), "张丁", "农业", "正常缴费", "051", "", "43030202"],  # paid as 普通: adjust
        [p("105"), "张戊", "农业", "正常待遇", "051", "", "43030202"],  # recipient, unpaid: 零缴费 then adjust
        [p("106"), "张己", "农业", "正常缴费", "051", "", "43030202"],  # paid with 代缴: nothing
        [p("107", "20150101"), "张庚", "农业", "正常缴费", "051", "", "43030201"],  # under 16
        [p("108"), "张辛", "农业", "正常缴费", "051", "", "43030201"],  # 脱贫 2024: out
        [p("109"), "张壬", "农业", "终止参保", "051", "", "43030201"],
        [p("110"), "张癸", "农业", "正常缴费", "051", "", "43030201"],  # 低保二级 + 贫困一级: 贫困一级 (100 > 70)
        [p("111"), "张子", "农业", "正常缴费", "031", "", "43030201"],  # 特困 + 低保一级, both 100: 特困 (order)
        [p("112"), "张丑", "农业", "正常缴费", "051", "", "43030201"],  # 脱贫 2025: still 代缴 in 2025
    ]


def lists(tmp_path):
    dibao = write_workbook(tmp_path / "低保对象名单.xlsx", [LIST_HEAD,
        [p("101"), "张甲", "一级", None], [" " + p("102") + " ", "张乙 ", "一级", None],  # not registered
        [p("103"), "张丙", "1", None], [p("110"), "张癸", "二级", None], [p("111"), "张子", "一级", None],
        [p("101"), "张甲", "一级", None],  # listed twice
        ["43032119800101", "坏号", "一级", None]])  # fmt: skip
    poor = write_workbook(tmp_path / "贫困人口名单.xlsx", [LIST_HEAD,
        [p("104"), "张丁", "一级", None], [p("105"), "张戊", "一级", None], [p("106"), "张己", "一级", None],
        [p("107", "20150101"), "张庚", "一级", None], [p("108"), "张辛", "一级", 2024],
        [p("109"), "张壬", "一级", None],
        [p("110"), "张癸", "一级", None], [p("112"), "张丑", "一级", 2025]])  # fmt: skip
    special = write_workbook(tmp_path / "特困人员名单.xlsx", [LIST_HEAD, [p("111"), "张子", None, None]])
    return {"低保对象": dibao, "贫困人口": poor, "特困人员": special}


def payment_rows():
    with_daijiao = [p("106"), "张己", f"{YEAR}01", "贫困人口一级", "一档", "农业户籍", 0, 12, 9.9, 8.1, 100]
    return [paid("104", YEAR, name="张丁"), with_daijiao]


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", roster_rows()), "roster")
        import_file(store, payments_xls(tmp_path / "p.xls", [[p("104"), *paid("104", YEAR)[1:]],
                                                             payment_rows()[1]]), "payments")
        for kind, f in lists(tmp_path).items():
            import_file(store, f, "list", kind)
    return path


def by_id(comparison):
    return {r["身份证号码"]: r for r in comparison.people.to_dict("records")}


def test_each_action_and_overlap_in_the_ledger_rows(tmp_path, book, ledger):
    with Ledger(ledger) as store:
        run = run_comparison(store, book, YEAR, tmp_path / "out")
    rows = by_id(run.comparison)
    action = {k[-4:-1]: v["需办理事项"] for k, v in rows.items()}
    assert action == {"101": "政府代缴申报", "102": "参保登记", "103": "身份标识变更", "104": "缴费调整",
                      "105": "零缴费后调整", "106": "无需操作", "107": "不符合条件", "108": "不符合条件",
                      "109": "不符合条件", "110": "政府代缴申报", "111": "政府代缴申报", "112": "政府代缴申报"}
    assert "之后：身份标识变更" in rows[p("102")]["原因"] and "之后：政府代缴申报" in rows[p("102")]["原因"]
    assert rows[p("103")]["原因"].startswith("系统身份标识为“普通参保人员”，应为低保对象一级")
    assert rows[p("110")]["代缴身份"] == "贫困人口一级"
    assert "代缴金额较高的贫困人口一级（100 元）" in rows[p("110")]["原因"]
    assert rows[p("111")]["代缴身份"] == "特困人员"
    assert "已于 2024 年标注脱贫" in rows[p("108")]["原因"] and rows[p("112")]["代缴身份"] == "贫困人口一级"
    assert "未满 16 周岁" in rows[p("107", "20150101")]["原因"] and "终止参保" in rows[p("109")]["原因"]
    assert rows[p("110")]["所在名单"] == "低保对象、贫困人口"
    assert rows[p("110")]["类别级别"] == "低保对象：二级；贫困人口：一级"
    assert rows[p("111")]["类别级别"] == "低保对象：一级；特困人员" and rows[p("106")]["类别级别"] == "贫困人口：一级"
    assert rows[p("104")][f"{YEAR}年度缴费"] == "已缴（普通参保人员 一档）"
    unmatched = run.comparison.unmatched  # kept by the import: reported, not dropped
    assert sorted(unmatched["身份证号码"]) == sorted(["43032119800101", p("101")])
    assert "重复列出" in unmatched.set_index("身份证号码").loc[p("101"), "原因"]
    book_sheets = load_workbook(run.outputs["ledger"][0], read_only=True).sheetnames
    assert book_sheets[0] == "管理台账" and {"缴费调整", "零缴费后调整", "按乡镇统计", "按名单统计"} <= set(book_sheets)


def test_a_person_not_insured_on_two_lists_is_named_as_the_first_list_names_them(tmp_path, book, ledger):
    other = write_workbook(tmp_path / "残疾人名单.xlsx", [LIST_HEAD, [p("102"), "张乙乙", "一级", None]])
    with Ledger(ledger) as store:
        import_file(store, other, "list", "残疾人")
        rows = by_id(run_comparison(store, book, YEAR, tmp_path / "out").comparison)
    assert rows[p("102")]["姓名"] == "张乙" and rows[p("102")]["所在名单"] == "低保对象、残疾人"
    assert rows[p("102")]["是否参保"] == "否" and rows[p("102")]["乡镇"] == "未参保（身份证地区 430321）"


def test_the_estimate_equals_a_hand_computation(tmp_path, book, ledger):
    with Ledger(ledger) as store:
        run = run_comparison(store, book, YEAR, tmp_path / "out")
    wb = load_workbook(run.outputs["statistics"][0])
    total = {r[0]: r[1:] for r in wb["全年合计"].iter_rows(min_row=2, values_only=True)}
    # To declare: 101 低保一级, 102 and 103 (after registering / the flag) 低保一级, 110 贫困一级, 111 特困,
    # 112 贫困一级 (0/12/9.9/8.1/100 each); 105 贫困一级 after 零缴费 (the same);
    # 104 adjusted from 普通 一档 (100/12/9.9/8.1/0): 代缴 +100, subsidies 0, personal 0 (not −100).
    assert total["政府代缴"][0] == pytest.approx(8 * 100)
    assert total["省级补贴"][0] == pytest.approx(7 * 12)
    assert total["个人缴费"][0] == pytest.approx(0)
    # Already paid in the year: 104 (100/12/9.9/8.1/0) and 106 (0/12/9.9/8.1/100).
    assert total["政府代缴"][1] == pytest.approx(100) and total["个人缴费"][1] == pytest.approx(100)
    assert total["市级补贴"][2] == pytest.approx(7 * 9.9 + 2 * 9.9)


def test_the_prefilled_workbooks_validate_with_only_the_header_fields_to_fill(tmp_path, book, ledger):
    with Ledger(ledger) as store:
        run = run_comparison(store, book, YEAR, tmp_path / "out")
        [declaration] = run.outputs["declaration"]
        [adjustment] = run.outputs["adjustment"]
        [waiting] = run.outputs["declaration_waiting"]
        # Ready: 101, 110, 111, 112; waiting for the system first: 102 (register) and 103 (the flag).
        for path, rows in ((declaration, 4), (adjustment, 2), (waiting, 2)):
            result = process_workbook(path, book, tmp_path / "v", today=TODAY, ledger=store)
            assert result.rows == rows
            errors = {f.code for f in result.findings if f.severity == "error"}
            assert errors == {"F04"}, [(f.code, f.message) for f in result.findings]
        # The waiting rows say what to do first, and validate with the ledger warns of it.
        assert sorted(found(result, "P11") + found(result, "P10")) == [(6, "C6"), (7, "E7")]
    remarks = [r[-1] for r in load_workbook(waiting).worksheets[0].iter_rows(min_row=6, values_only=True)]
    assert remarks[0].startswith("数据比对生成；先在系统中参保登记")
    assert "先在系统中把身份标识设为低保对象一级" in remarks[1]
    assert run.outputs["adjustment_waiting"] == []
    adj = load_workbook(adjustment).worksheets[0]
    head = [str(c.value).rstrip("*") for c in adj[5]]
    line = dict(zip(head, [c.value for c in adj[6]], strict=True))
    assert line["身份证号码"] == p("104") and line["政府代缴调整"] == 100 and line["个人缴费调整"] == 0


def test_files_given_directly_report_unmatched_and_duplicate_list_rows(tmp_path, book):
    files = lists(tmp_path)
    roster = roster_csv(tmp_path / "r.csv", roster_rows())
    pay = payments_xls(tmp_path / "p.xls", payment_rows())
    args = ["compare", "--year", str(YEAR), "--roster", str(roster), "--payments", str(pay), "--out",
            str(tmp_path / "out"), "--per-township", "--json"]
    for kind, f in files.items():
        args += ["--list", f"{kind}={f}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["persons"] == 12 and data["unmatched"] == 2
    assert data["actions"]["参保登记"] == 1  # the ID with spaces was matched as the person it is
    assert [f.rsplit("_", 1)[1] for f in data["outputs"]["declaration"]] == ["43030201.xlsx"]  # per township
    assert [f.rsplit("_", 1)[1] for f in data["outputs"]["adjustment"]] == ["43030202.xlsx"]
    wb = load_workbook(data["outputs"]["ledger"][0], read_only=True)
    unmatched = [r for r in wb["未能比对"].iter_rows(min_row=2, values_only=True)]
    reasons = {r[4]: r[6] for r in unmatched}
    assert "[C03]" in reasons["43032119800101"] or "[C" in reasons["43032119800101"]
    assert "重复列出" in reasons[p("101")]
    assert PAY_HEAD


def test_a_bad_list_option_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["compare", "--year", "2025", "--list", "低保名单.xlsx"])
    assert result.exit_code == 2 and "类别=文件" in result.output


@pytest.mark.parametrize("level,identity,noted", [
    ("一级", "低保对象一级", False), ("2", "低保对象二级", False), ("B类", "低保对象二级", False),
    ("城市低保一类", "低保对象一级", False), ("C", "低保对象三级", False), ("农村低保", "低保对象一级", True),
])
def test_a_lists_level_or_category_names_the_identity(book, level, identity, noted):
    from xlflow.validation.compare import list_identity

    found, note = list_identity("低保对象", level, book.identities)
    assert found == identity and bool(note) == noted
    assert list_identity("残疾人", "一级", book.identities) == (None, "征缴规则表中没有残疾人的代缴规则")


def test_a_ledger_without_lists_is_a_clear_message(tmp_path):
    with Ledger(tmp_path / "台账.sqlite"):
        pass
    result = CliRunner().invoke(main, ["compare", "--year", "2025", "--ledger", str(tmp_path / "台账.sqlite")])
    assert result.exit_code == 2 and "没有部门名单" in result.output


def test_a_poor_person_flagged_out_without_a_year_is_kept_with_a_note(tmp_path, book, ledger):
    flagged = write_workbook(tmp_path / "贫困人口补充.xlsx", [["身份证号码", "姓名", "级别", "脱贫标志"],
                                                          [p("113"), "张寅", "一级", "是"]])
    with Ledger(ledger) as store:
        import_file(store, flagged, "list", "贫困人口")
        run = run_comparison(store, book, YEAR, tmp_path / "out")
    person = by_id(run.comparison)[p("113")]
    assert person["需办理事项"] == "参保登记" and person["代缴身份"] == "贫困人口一级"  # still 代缴
    assert "没有脱贫年度，请核对" in person["原因"]


def test_the_registration_list_names_everyone_to_register_with_what_registration_needs(tmp_path, book, ledger):
    """预填_参保登记名单_Y: the listed people who are 16+ and not insured (102 on the 低保 list; 120 and 121 on a
    list that knows 户口性质, 联系电话 and 行政区划, written the way clerks write them); not the insured, not the
    under-16; sex and birth date from the ID; what the lists do not give is marked and named in 需补填."""
    extra = write_workbook(tmp_path / "特困补充名单.xlsx", [
        ["身份证号码", "姓名", "户口性质", "联系电话", "所属乡镇"],
        [" " + p("121", "19700315") + " ", "张卯", "农业", "13807310000", "雨湖区城正街街道"],
        [p("120", "19750702"), "张寅", None, None, "湘潭县易俗河镇"],
        [p("122", "20150101"), "张辰", "城镇", None, None],  # under 16: not to register
    ])
    with Ledger(ledger) as store:
        import_file(store, extra, "list", "特困人员")
        run = run_comparison(store, book, YEAR, tmp_path / "out")
    (path,) = run.outputs["registration"]
    assert path.endswith(f"预填_参保登记名单_{YEAR}.xlsx")
    ws = load_workbook(path)["参保登记名单"]
    head = [c.value for c in ws[2]]
    assert head == ["序号", "姓名", "身份证号码", "性别", "出生日期", "户口性质", "参保身份", "行政区划", "联系电话",
                    "所在名单", "需补填", "备注"]
    rows = {r[2]: dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)}
    assert set(rows) == {p("102"), p("120", "19750702"), p("121", "19700315")}
    listed = rows[p("121", "19700315")]
    assert (listed["户口性质"], listed["联系电话"], listed["行政区划"], listed["需补填"]) == \
        ("农业户籍", "13807310000", "雨湖区城正街街道", None)
    assert listed["参保身份"] == "特困人员" and listed["所在名单"] == "特困人员"
    assert rows[p("120", "19750702")]["需补填"] == "户口性质、联系电话"
    plain = rows[p("102")]
    assert (plain["性别"], plain["出生日期"], plain["行政区划"]) == ("女", "1980-01-01", p("102")[:6])
    assert plain["参保身份"] == "低保对象一级" and plain["需补填"] == "户口性质、联系电话"
    assert rows[p("121", "19700315")]["性别"] == "男"
    # by 行政区划: the ID's area code (digits) before the names of townships
    assert [r[2] for r in ws.iter_rows(min_row=3, values_only=True)][0] == p("102")
    row_of = {ws.cell(r, 3).value: r for r in range(3, ws.max_row + 1)}
    to_fill = ws.cell(row_of[p("102")], 6)
    assert to_fill.fill.fgColor.rgb != ws.cell(row_of[p("121", "19700315")], 6).fill.fgColor.rgb  # marked
    assert ws.cell(row_of[p("102")], 3).data_type == "s"  # the ID stays text


def test_a_list_imported_again_without_the_new_columns_is_unchanged(tmp_path, ledger):
    """Lists can carry 户口性质 / 联系电话 / 行政区划 now; a list without them keeps its digests: imported again it
    is 'unchanged', not every person 'changed'."""
    with Ledger(ledger) as store:
        again = import_file(store, lists(tmp_path)["贫困人口"], "list", "贫困人口")
    assert again.already or again.counts.get("changed", 0) == 0


def test_a_list_of_two_sheets_is_compared_whole_and_a_person_on_both_is_named_with_the_sheets(tmp_path, book):
    """民政 keeps 城市低保 and 农村低保 on two sheets of one file: both are compared (the second used to be
    named and left out), and a person on both sheets is one person, listed as repeated with both places."""
    from openpyxl import Workbook

    wb = Workbook()
    city = wb.active
    city.title = "城市低保"
    rural = wb.create_sheet("农村低保")
    for line in (["城市低保对象名单"], LIST_HEAD, [p("101"), "张甲", "一级", None]):
        city.append(line)
    for line in (["农村低保对象名单"], LIST_HEAD, [p("110"), "张癸", "二级", None], [p("101"), "张甲", "一级", None],
                 ["4303211980", "坏号", "一级", None]):
        rural.append(line)
    wb.save(tmp_path / "低保对象名单.xlsx")
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", roster_rows()), "roster")
        result = import_file(store, tmp_path / "低保对象名单.xlsx", "list", "低保对象", out_dir=tmp_path / "err")
        assert result.counts == {"new": 2, "changed": 0, "unchanged": 0, "refused": 1}
        assert result.sheets == ["城市低保", "农村低保"] and result.exit_code == 1
        assert [Path(f).name for f in result.errors_files] == ["低保对象名单_农村低保_导入错误.xlsx"]
        assert result.duplicates[["sheet", "row", "first_sheet", "first_row"]].values.tolist() == [
            ["农村低保", 4, "城市低保", 3]]
        run = run_comparison(store, book, YEAR, tmp_path / "out")
    shown = CliRunner().invoke(main, ["ledger", "status", "--ledger", str(path)]).output
    assert "来源：低保对象名单.xlsx（list:低保对象，工作表 城市低保、农村低保，3 行" in shown
    rows = by_id(run.comparison)
    assert rows[p("110")]["所在名单"] == "低保对象" and rows[p("110")]["需办理事项"] == "身份标识变更"
    assert rows[p("101")]["需办理事项"] == "政府代缴申报"
    reasons = run.comparison.unmatched.set_index("身份证号码")["原因"]
    assert reasons[p("101")].startswith("工作表“农村低保”：与本名单工作表“城市低保”第 3 行是同一人")
    assert reasons["4303211980"].startswith("工作表“农村低保”：[C03]")
