"""The 批量参保身份变更表: its template, its checks (I01–I05, X08, P01/P06/P11/P12), compare's pre-filled one, watch."""

from __future__ import annotations

from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import write_workbook
from test_compare import TODAY, YEAR, p
from test_compare import ledger as ledger  # noqa: F401  (the fixture: roster, payments and three lists)
from test_validate import found
from xlflow.app.comparing import run_comparison
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.io.lineage import read_properties
from xlflow.store.ledger import Ledger
from xlflow.validation.rules import load_rulebook

HEAD = ["序号", "姓名", "身份证号码", "原参保身份", "新参保身份", "身份依据", "生效年度", "备注"]


def identity_book(tmp_path, rows, unit="某镇", name="身份变更.xlsx"):
    block = [["批量参保身份变更表"], ["申报单位*", None, unit, None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"], []]  # fmt: skip
    return write_workbook(tmp_path / name, [*block, HEAD, *rows])


def line(seq, name, id_number, new, old=None, year=YEAR, basis="民政低保名单 一级"):
    return [seq, name, id_number, old, new, basis, year, None]


def codes_at(result):
    return {(f.row, f.code) for f in result.findings}


def test_the_template_is_made_like_the_others(tmp_path):
    out = tmp_path / "身份.xlsx"
    result = CliRunner().invoke(main, ["template", "identity", "-o", str(out)])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["批量参保身份变更表", "填写说明", "代码表"]
    ws = wb["批量参保身份变更表"]
    assert [c.value for c in ws[5]][:8] == ["序号", "姓名*", "身份证号码*", "原参保身份", "新参保身份*", "身份依据",
                                           "生效年度*", "备注"]
    lists = {wb["代码表"].cell(1, c).value: c for c in range(1, wb["代码表"].max_column + 1)}
    assert "新参保身份" in lists or "缴费身份" in lists
    validations = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    assert validations["E6"].type == "list"  # 新参保身份 from the rule table
    notes = " ".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    assert "必须先设置人员身份标识" in notes and "生效年度" in notes
    assert read_properties(out)["xlflow_kind"] == "identity"


def test_each_check_at_its_row(tmp_path, book, ledger):  # noqa: F811
    rows = [
        line(1, "张丙", p("103"), "低保对象一级"),  # flag 普通 → 低保一级: passes, 原参保身份 filled (X08)
        line(2, "张甲", p("101"), "低保对象一级", old="低保对象一级"),  # already set: I02
        line(3, "张乙", p("102"), "低保对象一级"),  # not registered: P11
        line(4, "张壬", p("109"), "贫困人口一级"),  # 终止参保: P12
        line(5, "张庚", p("107", "20150101"), "贫困人口一级"),  # 10 in 2025: P01
        line(6, "张辛", p("108"), "贫困人口一级"),  # 脱贫 2024: I04
        line(7, "张戊", p("105"), "特困人员"),  # on no 特困人员 list: I05
        line(8, "张子", p("111"), "特困人员", old="低保对象一级"),  # the roster says 特困人员 (031): I03 (and I02)
        line(9, "张癸", p("110"), "低保对象二级"),  # twice, 70 < 100: P06 on this row, keeps 贫困人口一级
        line(10, "张癸", p("110"), "贫困人口一级"),
        # full-width digits and a space: fixed, then a plain change back to 普通
        line(11, "张丁", p("104").replace("1", "１", 2) + " ", "普通参保人员"),
        line(12, "张丑", p("112"), "贫困人口一级"),  # 脱贫 2025: still 贫困人口 in 2025 (no I04); already set (I02)
    ]
    path = identity_book(tmp_path, rows)
    with Ledger(ledger) as store:
        result = process_workbook(path, book, tmp_path / "out", today=TODAY, ledger=store)
    assert result.kind == "identity"
    got = codes_at(result)
    first = 6
    at = lambda n: first + n - 1  # noqa: E731
    assert (at(1), "X08") in got and not any(r == at(1) and c[0] in "PI" for r, c in got)
    assert (at(2), "I02") in got
    assert (at(3), "P11") in got
    assert (at(4), "P12") in got
    assert (at(5), "P01") in got
    assert (at(6), "I04") in got
    assert (at(7), "I05") in got and (at(7), "I02") not in got
    assert (at(8), "I03") in got and (at(8), "I02") in got
    assert (at(9), "P06") in got and (at(10), "P06") not in got
    assert {c for r, c in got if r == at(11)} == {"X01", "X02", "X08"}
    assert {c for r, c in got if r == at(12)} == {"I02", "X08"}
    errors = sorted(r for r, c in got if c in ("P01", "P06", "P12"))
    assert result.error_row_count == 3 and errors == [at(4), at(5), at(9)]
    p06 = next(f for f in result.findings if f.code == "P06")
    assert "贫困人口一级" in p06.message and "代缴金额较高" in p06.message
    i05 = next(f for f in result.findings if f.code == "I05")
    assert "特困人员名单没有此人" in i05.message
    corrected = load_workbook(result.outputs["corrected"]).worksheets[0]
    heads = [c.value.rstrip("*") if c.value else c.value for c in corrected[5]]
    filled = dict(zip(heads, [c.value for c in corrected[6]], strict=False))
    assert filled["原参保身份"] == "普通参保人员" and filled["新参保身份"] == "低保对象一级"
    ids = [r[2] for r in corrected.iter_rows(min_row=6, values_only=True)]
    assert p("104") in ids  # the fixed ID, written as text
    summary = load_workbook(result.outputs["summary"])
    assert "按参保身份" in summary.sheetnames and "资金测算" not in summary.sheetnames
    assert result.totals == {"persons": result.valid_rows}


def test_a_new_identity_with_no_rule_for_the_year_or_the_hukou_is_an_error(tmp_path, rules_file, ledger):  # noqa: F811
    from conftest import rule

    rows = [rule("一档", "普通参保人员", h, 100, 12, 9.9, 8.1, 0) for h in ("农业户籍", "城镇户籍")]
    rows += [rule("一档", "低保对象一级", "农业户籍", 0, 12, 9.9, 8.1, 100, start="202001", end="202412"),
             rule("一档", "低保对象一级", "城镇户籍", 0, 12, 9.9, 8.1, 100),
             rule("一档", "特困人员", "城镇户籍", 0, 12, 9.9, 8.1, 100)]
    book = load_rulebook(rules_file(rows))
    path = identity_book(tmp_path, [
        line(1, "张丙", p("103"), "低保对象一级", year=2024),  # 农业, rule to 2024: fine
        line(2, "张丙", p("103"), "低保对象一级", year=2025),  # 农业, none in 2025: I01
        line(3, "张乙", p("102"), "特困人员"),  # not insured: any 户口性质 with a rule will do
        line(4, "张丁", p("104"), "特困人员"),  # 农业 on the roster, 特困 only for 城镇: I01
    ])
    with Ledger(ledger) as store:
        result = process_workbook(path, book, tmp_path / "out", today=TODAY, ledger=store)
    assert found(result, "I01") == [(7, "E7"), (9, "E9")]
    i01 = next(f for f in result.findings if f.code == "I01")
    assert "2025 年度（农业户籍）" in i01.message and "征缴规则表" in i01.message
    # Without the ledger the 户口性质 is not known: a rule for either will do (城镇 has both).
    without = process_workbook(path, book, tmp_path / "out2", today=TODAY)
    assert found(without, "I01") == []


def test_no_list_of_a_kind_in_the_ledger_says_nothing_either_way(tmp_path, book):
    from test_compare import lists, roster_rows
    from test_ledger import roster_csv
    from xlflow.app.imports import import_file

    with Ledger(tmp_path / "台账.sqlite") as store:
        import_file(store, roster_csv(tmp_path / "r.csv", roster_rows()), "roster")
        import_file(store, lists(tmp_path)["低保对象"], "list", "低保对象")
        path = identity_book(tmp_path, [line(1, "张戊", p("105"), "特困人员"),  # no 特困人员 list held: no I05
                                        line(2, "张戊", p("105"), "低保对象一级", year=YEAR - 1)])  # on none: I05
        result = process_workbook(path, book, tmp_path / "out", today=TODAY, ledger=store)
    assert found(result, "I05") == [(7, "E7")]


def test_compare_prefills_the_identity_changes_and_they_validate(tmp_path, book, ledger):  # noqa: F811
    with Ledger(ledger) as store:
        run = run_comparison(store, book, YEAR, tmp_path / "out", per_township=False)
        [ready] = run.outputs["identity"]
        [waiting] = run.outputs["identity_waiting"]
        assert ready.endswith(f"预填_批量参保身份变更表_{YEAR}.xlsx")
        assert waiting.endswith(f"预填_批量参保身份变更表_{YEAR}_先办参保登记.xlsx")
        for path, rows in ((ready, 1), (waiting, 1)):
            result = process_workbook(path, book, tmp_path / "v", today=TODAY, ledger=store)
            assert result.kind == "identity" and result.rows == rows
            assert {f.code for f in result.findings if f.severity == "error"} == {"F04"}
        assert found(result, "P11") == [(6, "C6")]  # the waiting one: register first
        # With the header block filled, the ready one passes with nothing to say.
        wb = load_workbook(ready)
        ws = wb.worksheets[0]
        ws["C2"], ws["I2"], ws["C3"] = "某镇", "刘敏", "2026-12-01"
        wb.save(tmp_path / "filled.xlsx")
        result = process_workbook(tmp_path / "filled.xlsx", book, tmp_path / "v2", today=TODAY, ledger=store)
        assert result.exit_code == 0 and result.error_row_count == 0, [f.message for f in result.findings]
        assert [f.code for f in result.findings if f.severity != "fixed"] == []
    ws = load_workbook(ready).worksheets[0]
    heads = [str(c.value).rstrip("*") for c in ws[5] if c.value]
    values = dict(zip(heads, [c.value for c in ws[6]], strict=False))
    assert values["身份证号码"] == p("103") and values["原参保身份"] == "普通参保人员"
    assert values["新参保身份"] == "低保对象一级" and values["生效年度"] == YEAR
    assert "低保对象" in values["身份依据"]


def test_per_township_writes_one_identity_workbook_per_township(tmp_path, book, ledger):  # noqa: F811
    with Ledger(ledger) as store:
        run = run_comparison(store, book, YEAR, tmp_path / "out", per_township=True)
    assert len(run.outputs["identity"]) == 1 and run.outputs["identity"][0].endswith("_43030201.xlsx")


def test_watch_checks_a_dropped_identity_workbook(tmp_path, book):
    from test_watch import drop, names, results
    from xlflow.app.workspace import init_workspace
    from xlflow.watch import Watcher

    ws = tmp_path / "ws"
    init_workspace(ws)
    rows = [line(1, "张丙", p("103"), "低保对象一级"), line(2, "张丙", "123", "低保对象一级")]
    source = identity_book(tmp_path, rows, name="某镇 身份变更.xlsx")
    drop(ws, source)
    with Watcher(ws, settle=0) as watcher:
        [outcome] = watcher.process_pending()
    assert outcome.state == "done" and outcome.rows == 2 and outcome.errors == 1
    [folder] = results(ws)
    assert names(folder) == ["某镇 身份变更_更正.xlsx", "某镇 身份变更_汇总.xlsx", "某镇 身份变更_错误数据.xlsx",
                             "结果.txt"]
    log = (ws / "xlflow.log").read_text(encoding="utf-8")
    assert "某镇 身份变更.xlsx\t身份变更表\t2 行\t错误 1 行\t已处理" in log


def test_the_same_changes_as_a_gbk_csv_with_clerks_spacing_find_the_same(tmp_path, book, ledger):  # noqa: F811
    rows = [line(1, "张丙", p("103"), "低保对象一级"), line(2, "张乙", p("102"), "低保对象一级"),
            line(3, "张辛", p("108"), "贫困人口一级"), line(4, "张壬", p("109"), "贫困人口一级")]
    clean = identity_book(tmp_path, rows)
    messy = tmp_path / "身份变更.csv"
    lines = [",".join(HEAD)]
    for r in rows:  # full-width digits, spaces around, 低保一级 for 低保对象一级, the year as 2025年
        r = [r[0], f" {r[1]} ", r[2].replace("0", "０"), "", r[4].replace("对象", ""), r[5], f"{r[6]}年", ""]
        lines.append(",".join(str(v) for v in r))
    messy.write_bytes("\r\n".join(lines).encode("gbk"))
    with Ledger(ledger) as store:
        a = process_workbook(clean, book, tmp_path / "a", today=TODAY, ledger=store)
        b = process_workbook(messy, book, tmp_path / "b", today=TODAY, ledger=store)
    problems = lambda r: sorted((f.code, f.cell[0]) for f in r.findings  # noqa: E731
                                if f.severity != "fixed" and f.code != "F04")
    assert problems(a) == problems(b) and b.error_row_count == a.error_row_count == 1
    fixes = {f.code for f in b.findings if f.severity == "fixed"}
    assert {"X01", "X02", "X05", "X07"} <= fixes
    assert b.kind == "identity"
