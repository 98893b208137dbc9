"""What the messages promise is true, and the small holes on the road between the steps (issue 17, 3–4)."""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import RULE_HEADERS, good_rules, rule, write_workbook
from test_adjustment import adj, check
from test_ledger import ledger_with_people, person
from test_validate import COLUMNS, TODAY, declaration, found, pid, row, run
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.store.ledger import Ledger
from xlflow.validation.rules import load_rulebook

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def message(result, code):
    return next(f.message for f in result.findings if f.code == code)


# ---------------------------------------------------------------- adjustments: lists that exist


def test_a03_on_a_listed_row_says_listed_and_on_a_row_with_another_error_says_what_will_happen(tmp_path, book):
    result = check(tmp_path, book, [adj(amounts=(-100, 0, 0, 0, 100)), adj(seq="109", amounts=(-100, 0, 0, 0, 100))])
    listed, other = (f.message for f in result.findings if f.code == "A03")
    assert "已列入汇总表的“个人缴费负调整”清单，请从本表删除此行" in listed
    assert "已列入" not in other and "改正后再检查，即列入" in other
    assert len(result.lists["个人缴费负调整（单个办理）"]) == 1


def test_a06_and_a09_say_listed_only_when_the_row_is_on_the_list(tmp_path, book):
    rows = [adj(identity="普通参保人员", amounts=(0, 5, 0, 0, 0)),
            adj(seq="109", identity="普通参保人员", amounts=(0, 5, 0, 0, 0))]  # 109: not in the ledger (A08)
    result = check(tmp_path, book, rows, people=[person("101")])
    assert found(result, "A08") == [(7, "C7")]
    good, bad = (f.message for f in result.findings if f.code == "A06")
    assert "已列入汇总表的“0到款登记”清单" in good and "已列入" not in bad
    (tmp_path / "w").mkdir()
    waived = check(tmp_path / "w", book, [adj(), adj(seq="102", year=2031)], people=[person("101"), person("102")])
    assert "已列入汇总表的“个人缴费负调整”清单" in message(waived, "A09")


def test_p05_and_p06_in_an_adjustment_speak_of_adjustments(tmp_path, book):
    result = check(tmp_path, book, [adj(), adj()])
    assert "重复调整" in message(result, "P05") and "申报" not in message(result, "P05")
    (tmp_path / "o").mkdir()
    overlap = check(tmp_path / "o", book, [adj(), adj(identity="低保对象一级")])
    assert "以多种代缴身份调整" in message(overlap, "P06") and "申报" not in message(overlap, "P06")


def test_p10_when_the_system_has_no_identity_flag_for_a_daijiao_identity(tmp_path, book):
    path = ledger_with_people(tmp_path)
    with Ledger(path) as store:
        from test_ledger import roster_csv
        from xlflow.app.imports import import_file
        import_file(store, roster_csv(tmp_path / "r2.csv", [person("108", flag="")]), "roster")
        result = process_workbook(declaration(tmp_path, [row(id_number=pid(seq="108")),
                                                         row(id_number=pid(seq="108"), identity="普通参保人员",
                                                             amounts=(100, 12, 9.9, 8.1, 0, 130), year=2024)]),
                                  book, tmp_path / "out", today=TODAY, ledger=store)
    assert found(result, "P10") == [(6, "E6")]
    assert "“未设置”" in message(result, "P10")


# ---------------------------------------------------------------- small holes


@pytest.mark.parametrize("year", [2024.5, "2024.5", "2024.05"])
def test_a_year_with_a_fraction_is_c09_never_a_fix(tmp_path, book, year):
    result = run(tmp_path, book, [row(year=year)])
    assert found(result, "C09") == [(6, "F6")] and found(result, "X07") == []


def test_a_year_written_with_its_month_is_still_fixed(tmp_path, book):
    result = run(tmp_path, book, [row(year="2025年"), row(year="2025-01", id_number=pid(seq="222"))])
    assert found(result, "X07") == [(6, "F6"), (7, "F7")] and result.error_rows == set()


def test_a_csv_copy_with_its_header_block_is_checked_for_f04(tmp_path, book):
    path = tmp_path / "decl.csv"
    grid = [["批量缴费申报表"], ["申报单位*", "", "某镇", "", "", "经办人*", ""], ["申报日期*", "", "2026-11-20"], [],
            COLUMNS, row()]
    with open(path, "w", encoding="gb18030", newline="") as fh:
        csv.writer(fh).writerows([["" if v is None else v for v in r] for r in grid])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert [(f.code, f.column) for f in result.findings if f.code == "F04"] == [("F04", "经办人")]
    bare = tmp_path / "bare.csv"  # a CSV with no header block at all is not asked for one
    with open(bare, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([COLUMNS, ["" if v is None else v for v in row()]])
    assert found(process_workbook(bare, book, tmp_path / "out", today=TODAY), "F04") == []


def test_c02_quotes_what_excel_shows_and_the_digits_lost(tmp_path, book):
    result = run(tmp_path, book, [row(id_number=430382197005061234)])
    text = message(result, "C02")
    assert "单元格显示为 4.30382E+17，编辑栏里是 430382197005061000）" in text  # a General cell: 11 characters
    assert "只保留了前 15 位“430382197005061”，后 3 位变成了“000”" in text


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("form", ["xls", "ods"])
def test_f07_survives_a_resave_as_xls_or_ods(tmp_path, book, form):
    other = write_workbook(tmp_path / "other.xlsx", [["另一县"], RULE_HEADERS, *good_rules(),
                                                     rule("三档", "普通参保人员", "农业户籍", 300, 12, 9.9, 8.1, 0),
                                                     rule("三档", "普通参保人员", "城镇户籍", 300, 12, 9.9, 8.1, 0)])
    template = tmp_path / "模板.xlsx"
    made = CliRunner().invoke(main, ["template", "declaration", "-o", str(template), "--rules", str(other)])
    assert made.exit_code == 0
    wb = load_workbook(template)
    ws = wb.worksheets[0]
    head = next(r for r in range(1, 10) if ws.cell(r, 1).value == "序号")
    for c, v in enumerate(row(), start=1):
        ws.cell(head + 1, c).value = v
    wb.save(template)
    assert load_rulebook(other).fingerprint != book.fingerprint
    subprocess.run([SOFFICE, "--headless", "--convert-to", form, "--outdir", str(tmp_path / "lo"), str(template)],
                   check=True, capture_output=True, timeout=120)
    result = process_workbook(tmp_path / "lo" / f"模板.{form}", book, tmp_path / "out", today=TODAY)
    assert [f.code for f in result.findings if f.code == "F07"] == ["F07"]
