"""Adjustments (《批量缴费调整登记表》): computed against what the ledger says was paid, A01–A10 at the
cell, the work lists, and the money before / after."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from conftest import examples, write_workbook
from test_ledger import paid, payments_xls, person, roster_csv
from test_validate import TODAY, found, pid
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.store.ledger import Ledger

COLUMNS = ["序号", "姓名", "身份证号码", "人员类别", "调整年度", "户口性质", "调整后缴费身份",
           "调整后缴费档次", "个人缴费调整", "省级补贴调整", "市级补贴调整", "县级补贴调整",
           "政府代缴调整", "调整原因", "备注"]  # fmt: skip
PRINTABLE = st.characters(exclude_categories=("Cc", "Cs"))  # what openpyxl can write into a test workbook
REASON = "已按普通人员缴费，现认定为贫困人口，补做政府代缴"


def adj(seq="101", name="张三", person_class="缴费人员", year=2024, identity="贫困人口一级", tier="一档",
        amounts=(None, None, None, None, None), reason=REASON):  # fmt: skip
    return [1, name, pid(seq=seq), person_class, year, "农业户籍", identity, tier, *amounts, reason, None]


def adjustment(tmp_path, rows, name="adj.xlsx"):
    block = [["批量缴费调整登记表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
             ["申报日期*", None, "2026-11-20"], []]  # fmt: skip
    return write_workbook(tmp_path / name, [*block, COLUMNS, *rows])


def build_ledger(tmp_path, people, payments):
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", people), "roster")
        if payments:
            import_file(store, payments_xls(tmp_path / "p.xls", payments), "payments")
    return path


def check(tmp_path, book, rows, people=None, payments=None, with_ledger=True):
    path = adjustment(tmp_path, rows)
    if not with_ledger:
        return process_workbook(path, book, tmp_path / "out", today=TODAY)
    ledger = build_ledger(tmp_path, people or [person("101")], payments if payments is not None else [paid("101")])
    with Ledger(ledger) as store:
        return process_workbook(path, book, tmp_path / "out", today=TODAY, ledger=store)


def sheet_rows(path, sheet=None):
    wb = load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_paid_as_normal_then_poor_is_a_daijiao_adjustment_and_a_single_refund_listing(tmp_path, book):
    """The notice's case: paid 2024 as 普通参保人员 一档 (100 personal), now 贫困人口一级 (代缴 100)."""
    ledger = build_ledger(tmp_path, [person("101")], [paid("101", 2024)])
    path = adjustment(tmp_path, [adj()])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["validate", str(path), "--ledger", str(ledger), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "adjustment" and data["error_rows"] == 0
    rows = sheet_rows(out / "adj_更正.xlsx")
    head = rows.index(next(r for r in rows if r[0] == "序号"))
    line = dict(zip(rows[head], rows[head + 1], strict=True))
    assert line["个人缴费调整"] == 0
    assert line["政府代缴调整"] == 100
    assert (line["省级补贴调整"], line["市级补贴调整"], line["县级补贴调整"]) == (0, 0, 0)
    single = data["lists"]["个人缴费负调整（单个办理）"]
    assert single["count"] == 1
    assert single["rows"][0]["身份证号码"] == pid(seq="101")
    assert single["rows"][0]["个人缴费负调整金额"] == -100.0
    assert [f["code"] for f in data["findings"] if f["severity"] == "warning"] == ["A09"]
    summary = load_workbook(out / "adj_汇总.xlsx")
    change = {r[0]: r[1:] for r in summary["资金变化"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert change["政府代缴"] == (0, 100, 100)
    assert change["个人缴费"] == (100, 100, 0)  # the personal part stays paid: the batch carries 0
    listed = [list(r) for r in summary["个人缴费负调整"].iter_rows(values_only=True)]
    assert listed[0][:3] == ["原表行号", "姓名", "身份证号码"] and "银行账号" in listed[0]
    assert listed[1][2] == pid(seq="101") and listed[1][listed[0].index("个人缴费负调整金额")] == -100
    account = summary["个人缴费负调整"].cell(row=2, column=listed[0].index("银行账号") + 1)
    assert account.number_format == "@"
    log = sheet_rows(out / "adj_更正.xlsx", "修改记录")
    assert any(r[6] == "X06" and "政府代缴调整 100" in str(r[5]) for r in log)
    assert "需单个负调整 1 人" in CliRunner().invoke(
        main, ["validate", str(path), "--ledger", str(ledger), "--out", str(out)]).output


@pytest.mark.parametrize("case,code,cell", [
    ({"year": 2025}, "A01", "E6"),  # a contributor adjusting an unpaid year: declare it instead
    ({"person_class": "待遇人员", "year": 2025}, "A02", "E6"),
    ({"amounts": (-100, 0, 0, 0, 100)}, "A03", "I6"),
    ({"identity": "普通参保人员", "amounts": (-100, 0, 0, 0, -10)}, "A04", "I6"),
    ({"person_class": "待遇人员", "amounts": (0, 0, 0, -5, 100)}, "A05", "L6"),
    ({"identity": "普通参保人员", "amounts": (0, 5, 0, 0, 0)}, "A06", "J6"),
    ({"amounts": (0, 0, 0, 0, 90)}, "A07", "M6"),
    ({"seq": "109"}, "A08", "C6"),
    ({}, "A09", "I6"),
    ({"identity": "贫困人口九级"}, "C07", "G6"),
    ({"person_class": "外来人员"}, "C07", "D6"),
])
def test_each_adjustment_code_at_its_cell(tmp_path, book, case, code, cell):
    result = check(tmp_path, book, [adj(**case)])
    assert found(result, code) == [(6, cell)], [(f.code, f.cell) for f in result.findings]


def test_a_recipients_unpaid_year_is_computed_from_zero_and_listed_for_zero_payment(tmp_path, book):
    result = check(tmp_path, book, [adj(person_class="待遇人员", year=2025)],
                   people=[person("101", status="正常待遇")])
    assert result.error_rows == set()
    zero = result.lists["零缴费（先做零缴费再调整）"]
    assert zero["身份证号码"].tolist() == [pid(seq="101")]
    rows = sheet_rows(tmp_path / "out" / "adj_更正.xlsx")
    line = dict(zip(rows[4], rows[5], strict=True))
    assert (line["个人缴费调整"], line["省级补贴调整"], line["政府代缴调整"]) == (0, 12, 100)


def test_a_typed_amount_that_differs_is_kept_with_a_warning(tmp_path, book):
    result = check(tmp_path, book, [adj(amounts=(0, 0, 0, 0, 90))])
    a07 = next(f for f in result.findings if f.code == "A07")
    assert "应为 100" in a07.message and a07.severity == "warning"
    rows = sheet_rows(tmp_path / "out" / "adj_更正.xlsx")
    assert dict(zip(rows[4], rows[5], strict=True))["政府代缴调整"] == 90


def test_a_recipients_negative_computed_amount_is_written_0_with_a_warning(tmp_path, book):
    # paid as 普通 一档 (personal 100), recipient now 贫困人口一级: the personal part would be −100, which a
    # recipient can never have (注意事项 4): the cell left empty is written 0 and the row stays valid.
    result = check(tmp_path, book, [adj(person_class="待遇人员")], people=[person("101", status="正常待遇")])
    assert found(result, "A11") == [(6, "I6")] and found(result, "A05") == [] and found(result, "A09") == []
    a11 = next(f for f in result.findings if f.code == "A11")
    assert a11.severity == "warning" and "计算为 -100" in a11.message and "按 0 办理" in a11.message
    assert "0（按新规则应为 -100，待遇人员不做负调整" in next(f.message for f in result.findings if f.code == "X06"
                                                 and f.cell == "I6")
    assert result.error_rows == set() and result.lists == {}
    rows = sheet_rows(tmp_path / "out" / "adj_更正.xlsx")
    line = dict(zip(rows[4], rows[5], strict=True))
    assert (line["个人缴费调整"], line["政府代缴调整"]) == (0, 100)


def test_a_recipients_typed_0_for_a_negative_computed_part_is_not_a07(tmp_path, book):
    result = check(tmp_path, book, [adj(person_class="待遇人员", amounts=(0, None, None, None, None))],
                   people=[person("101", status="正常待遇")])
    assert found(result, "A07") == [] and found(result, "A11") == [(6, "I6")] and result.error_rows == set()


def test_p13_when_the_class_differs_from_the_roster(tmp_path, book):
    result = check(tmp_path, book, [adj()], people=[person("101", status="正常待遇")])
    assert found(result, "P13") == [(6, "D6")]


def test_without_a_ledger_empty_amounts_are_an_error_and_typed_ones_are_checked_for_form(tmp_path, book):
    result = check(tmp_path, book, [adj(), adj(seq="102", amounts=(0, 0, 0, 0, 100))], with_ledger=False)
    assert found(result, "A10") == [(6, c) for c in ("I6", "J6", "K6", "L6", "M6")]
    assert result.error_rows == {6}
    assert result.ledger is None
    summary = load_workbook(tmp_path / "out" / "adj_汇总.xlsx")
    overview = {r[0]: r[1] for r in summary["概况"].iter_rows(values_only=True) if r[0]}
    assert "未使用台账" in overview["台账"]


def test_the_corrected_workbook_revalidates_with_no_error_and_no_fix(tmp_path, book):
    first = check(tmp_path, book, [adj(), adj(seq="102", year=2024)],
                  people=[person("101"), person("102")], payments=[paid("101"), paid("102")])
    assert first.error_rows == set() and first.count("fixed") == 10
    with Ledger(tmp_path / "台账.sqlite") as store:
        again = process_workbook(tmp_path / "out" / "adj_更正.xlsx", book, tmp_path / "again", today=TODAY,
                                 ledger=store)
    assert again.error_rows == set()
    assert [f.code for f in again.findings if f.severity == "fixed"] == []
    assert sorted({f.code for f in again.findings}) == ["A09"]


def test_the_error_workbook_round_trips(tmp_path, book):
    first = check(tmp_path, book, [adj(), adj(seq="102", year=2025)], people=[person("101"), person("102")],
                  payments=[paid("101"), paid("102")])
    assert first.error_rows == {7}
    errors = tmp_path / "out" / "adj_错误数据.xlsx"
    wb = load_workbook(errors)
    ws = wb.worksheets[0]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "序号")
    year_col = [(c.value or "").rstrip("*") for c in ws[header]].index("调整年度") + 1
    ws.cell(header + 1, year_col).value = 2024
    wb.save(errors)
    with Ledger(tmp_path / "台账.sqlite") as store:
        again = process_workbook(errors, book, tmp_path / "again", today=TODAY, ledger=store)
    assert again.kind == "adjustment" and again.error_rows == set() and again.rows == 1


@examples(25)
@given(column=st.integers(min_value=1, max_value=14),
       value=st.one_of(st.none(), st.text(PRINTABLE, max_size=12), st.integers(-10**6, 10**6),
                       st.floats(allow_nan=False, allow_infinity=False, width=32)))
def test_any_change_to_a_valid_row_never_crashes_and_keeps_every_row(tmp_path_factory, book, column, value):
    tmp = tmp_path_factory.mktemp("prop")
    good = adj()
    bad = list(good)
    bad[column] = value
    result = check(tmp, book, [good, bad, adj(seq="102")], people=[person("101"), person("102")],
                   payments=[paid("101"), paid("102")])
    kept = 0
    for key in ("corrected", "errors"):
        if result.outputs.get(key):
            rows = sheet_rows(result.outputs[key])
            start = next(i for i, r in enumerate(rows) if r[0] == "序号")
            kept += sum(1 for r in rows[start + 1:] if any(v not in (None, "") for v in r))
    assert kept == result.rows


def test_the_same_person_year_twice_is_p05(tmp_path, book):
    result = check(tmp_path, book, [adj(), adj()])
    assert found(result, "P05") == [(7, "C7")]


def test_the_summary_lists_the_work_and_the_one_line_names_the_lists(tmp_path, book):
    result = check(tmp_path, book, [adj(), adj(seq="102", person_class="待遇人员", year=2025),
                                    adj(seq="103", identity="普通参保人员", amounts=(0, 5, 0, 0, 0))],
                   people=[person("101"), person("102", status="正常待遇"), person("103")],
                   payments=[paid("101"), paid("103")])
    assert "；需单个负调整 1 人，零缴费 1 人，0到款登记 1 人；" in result.summary_line()
    summary = load_workbook(tmp_path / "out" / "adj_汇总.xlsx")
    assert [ws.title for ws in summary.worksheets][-3:] == ["个人缴费负调整", "零缴费", "0到款登记"]
    todo = [r[0] for r in summary["待办清单"].iter_rows(values_only=True)]
    assert "零缴费（先做零缴费再调整）：1 人，见工作表“零缴费”" in todo
    arrival = [list(r) for r in summary["0到款登记"].iter_rows(values_only=True)]
    assert arrival[1][arrival[0].index("省级补贴调整")] == 5


def test_a_recipients_typed_negative_is_a05_only(tmp_path, book):
    result = check(tmp_path, book, [adj(person_class="待遇人员", amounts=(0, 0, 0, -5, 100))],
                   people=[person("101", status="正常待遇")])
    assert [f.code for f in result.findings if f.cell == "L6"] == ["A05"]


def test_an_adjustment_that_changes_nothing_is_not_a_subsidy_only_one(tmp_path, book):
    result = check(tmp_path, book, [adj(identity="普通参保人员", amounts=(0, 0, 0, 0, 0))])
    assert found(result, "A06") == [] and result.lists == {}


def test_a_row_with_another_error_is_on_no_list(tmp_path, book):
    result = check(tmp_path, book, [adj(seq="109", amounts=(-100, 0, 0, 0, 100))])  # A08 and A03
    assert {f.code for f in result.findings} >= {"A08", "A03"}
    assert result.lists == {}


def test_a_negative_personal_amount_typed_into_the_batch_is_an_error_and_listed(tmp_path, book):
    result = check(tmp_path, book, [adj(amounts=(-100, 0, 0, 0, 100))])
    assert result.error_rows == {6}
    single = result.lists["个人缴费负调整（单个办理）"]
    assert single["个人缴费负调整金额"].tolist() == [-100.0]
    assert single["来源"].tolist() == ["表中填写（请从批量表中删除本行）"]


def test_an_adjustment_missing_its_reason_column_is_an_adjustment_with_f03(tmp_path, book):
    head = [h for h in COLUMNS if h != "调整原因"]
    # the words a declaration uses
    plain = {"调整年度": "缴费年度", "调整后缴费身份": "缴费身份", "调整后缴费档次": "缴费档次"}
    head = [plain.get(h, h) for h in head]
    path = write_workbook(tmp_path / "adj.xlsx", [head, [v for h, v in zip(COLUMNS, adj(), strict=True)
                                                         if h != "调整原因"]])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert result.kind == "adjustment" and [f.code for f in result.findings] == ["F03"]
    assert result.findings[0].column == "调整原因"


def test_a_declaration_with_an_extra_class_column_stays_a_declaration(tmp_path, book):
    from test_validate import COLUMNS as DECL
    from test_validate import row

    path = write_workbook(tmp_path / "decl.xlsx", [[*DECL, "人员类别"], [*row(), "缴费人员"]])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert result.kind == "declaration" and {f.code for f in result.findings} == {"F04"}  # no header block


def test_a_minus_sign_typed_in_word_or_wps_is_a_minus(tmp_path, book):
    result = check(tmp_path, book, [adj(amounts=("−100", 0, 0, 0, 100))])
    assert sorted(f.code for f in result.findings if f.cell == "I6") == ["A03", "X02"]


def test_a_waived_personal_part_does_not_change_the_other_fills_messages(tmp_path, book):
    result = check(tmp_path, book, [adj()])
    fills = {f.cell: f.message for f in result.findings if f.code == "X06"}
    assert "按新规则应为 -100" in fills["I6"]
    assert fills["M6"].endswith("填写为 100（新规则 100 − 已缴 0）。")


def test_an_id_with_a_bad_birth_date_is_reported_for_that_not_as_missing_from_the_ledger(tmp_path, book):
    result = check(tmp_path, book, [adj(seq="101")[:2] + [pid(birth="19800231")] + adj()[3:]])
    assert [f.code for f in result.findings if f.cell == "C6"] == ["C05"]


@pytest.mark.parametrize("written", ["(100)", "（100.00）", "(¥100.00)"])
def test_a_negative_in_brackets_as_the_accounting_format_writes_it_is_a_minus(tmp_path, book, written):
    result = check(tmp_path, book, [adj(amounts=(written, 0, 0, 0, 100))])
    assert sorted(f.code for f in result.findings if f.cell == "I6") == ["A03", "X09"]
    assert result.lists["个人缴费负调整（单个办理）"]["个人缴费负调整金额"].tolist() == [-100.0]


def test_a_two_row_header_of_an_adjustment_names_each_part_under_a_merged_amount_cell(tmp_path, book):
    """调整金额 merged over five cells with 个人 / 省级 / 市级 / 县级 / 政府代缴 under it: the parts are read as the
    five adjustment columns (the typed 90 of 政府代缴 is checked against the ledger, not ignored)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for line in (["批量缴费调整登记表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
                 ["申报日期*", None, "2026-11-20"], COLUMNS[:8] + ["调整金额", None, None, None, None] + COLUMNS[13:],
                 [None] * 8 + ["个人", "省级", "市级", "县级", "政府代缴"] + [None, None]):
        ws.append(line)
    for column in [*range(1, 9), 14, 15]:
        ws.merge_cells(start_row=4, start_column=column, end_row=5, end_column=column)
    ws.merge_cells(start_row=4, start_column=9, end_row=4, end_column=13)
    ws.append(adj(amounts=(0, 0, 0, 0, 90)))
    wb.save(tmp_path / "adj.xlsx")
    with Ledger(build_ledger(tmp_path, [person("101")], [paid("101")])) as store:
        result = process_workbook(tmp_path / "adj.xlsx", book, tmp_path / "out", today=TODAY, ledger=store)
    a07 = next(f for f in result.findings if f.code == "A07")  # the typed 90, where the ledger says 100
    assert result.rows == 1 and a07.cell == "M6" and "应为 100" in a07.message
