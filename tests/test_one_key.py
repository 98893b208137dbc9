"""One person, one key: every check after the cell pass reads the ID as the X fixes left it.

Metamorphic: a clean scenario (roster, payments, a declaration and an adjustment) is written again the way
clerks write it — spaces, full-width digits, a lower-case x, the 15-digit form, codes for names, "2025年",
numbers typed as text, .csv and .xls copies — and nothing but the X findings may change: every other
finding at its cell, every destination, every amount and every work list stays as in the clean run.
"""

from __future__ import annotations

import csv

import pytest
import xlwt
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from conftest import examples, write_workbook
from test_adjustment import COLUMNS as ADJ_COLUMNS
from test_adjustment import REASON
from test_ledger import paid, payments_xls, person, roster_csv
from test_validate import COLUMNS, TODAY, found, pid
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.domain.idcard import check_char
from xlflow.store.ledger import Ledger

X_SEQ = next(f"{n:03d}" for n in range(100, 999) if check_char("43032119800101" + f"{n:03d}") == "X")
FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

# Each way a clerk writes an ID that an X fix repairs (the fix code it gets).
ID_MESS = {
    "trailing space": (lambda i: i + " ", "X01"),
    "inner spaces": (lambda i: f"{i[:6]} {i[6:14]} {i[14:]}", "X01"),
    "ideographic space": (lambda i: "\u3000" + i, "X01"),
    "zero-width space": (lambda i: i + "\u200b", "X01"),
    "full-width digits": (lambda i: i.translate(FULL), "X02"),
    "lower-case x": (lambda i: i[:-1] + i[-1].lower(), "X03"),
    "15 digits": (lambda i: i[:6] + i[8:17], "X04"),
    "apostrophe": (lambda i: "'" + i, "X10"),
    "grouped with dashes": (lambda i: f"{i[:6]}-{i[6:14]}-{i[14:]}", "X12"),
}


def household(tmp_path):
    """A ledger: 101 paid 2024 as 普通; 102 终止参保; 105 贫困人口 脱贫 in 2024; 106 a recipient; X_SEQ fine."""
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", [
            person("101"), person("102", status="终止参保"), person("105", exit_year="2024"),
            person("106", status="正常待遇"), person(X_SEQ)]), "roster")  # fmt: skip
        import_file(store, payments_xls(tmp_path / "p.xls", [paid("101", 2024), paid("106", 2024),
                                                             paid(X_SEQ, 2024)]), "payments")
    return path


def decl_row(seq, year=2025, identity="贫困人口一级", id_number=None, **cells):
    values = {"序号": 1, "姓名": "张三", "身份证号码": id_number or pid(seq=seq), "户口性质": "农业户籍",
              "缴费身份": identity, "缴费年度": year, "缴费档次": "一档", "个人缴费": 0, "省级补贴": 12,
              "市级补贴": 9.9, "县级补贴": 8.1, "政府代缴": 100, "合计": 130, "备注": None}
    values.update(cells)
    return [values[c] for c in COLUMNS]


def clean_declaration():
    return [decl_row("101", 2024), decl_row("102"), decl_row("105"), decl_row(X_SEQ), decl_row(X_SEQ, 2024),
            decl_row("107")]


def adj_row(seq, person_class="缴费人员", year=2024, identity="贫困人口一级", id_number=None, **cells):
    values = {"序号": 1, "姓名": "张三", "身份证号码": id_number or pid(seq=seq), "人员类别": person_class,
              "调整年度": year, "户口性质": "农业户籍", "调整后缴费身份": identity, "调整后缴费档次": "一档",
              "调整原因": REASON, "备注": None}
    values.update(cells)
    return [values.get(c) for c in ADJ_COLUMNS]


def clean_adjustment():
    # 101: the notice's case (A09, listed); 106 a recipient (A11 on the personal part); 106 2023 unpaid (A02,
    # 零缴费); X_SEQ a subsidy-only change (A06, 0到款登记)
    return [adj_row("101"), adj_row("106", "待遇人员"), adj_row("106", "待遇人员", 2023),
            adj_row(X_SEQ, identity="普通参保人员", **{"省级补贴调整": 5})]


BLOCK = [["批量缴费申报表"], ["申报单位*", None, "某镇", None, None, "经办人*", "刘敏"],
         ["申报日期*", None, "2026-11-20"], []]


def write(tmp_path, name, columns, rows, form="xlsx"):
    block = [[BLOCK[0][0].replace("批量缴费申报表", "批量缴费调整登记表") if columns is ADJ_COLUMNS else BLOCK[0][0]],
             *BLOCK[1:]]
    grid = [*block, columns, *rows]
    path = tmp_path / f"{name}.{form}"
    if form == "xlsx":
        return write_workbook(path, grid)
    if form == "csv":
        with open(path, "w", encoding="gb18030", newline="") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in r] for r in grid])
        return path
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Sheet1")
    for r, values in enumerate(grid):
        for c, v in enumerate(values):
            if v is not None:
                ws.write(r, c, v)
    book.save(str(path))
    return path


def run(tmp_path, ledger, path):
    with Ledger(ledger) as store:
        return process_workbook(path, BOOK(), tmp_path / "out", today=TODAY, ledger=store)


def BOOK():  # noqa: N802  (the bundled example rule table)
    from xlflow.paths import example_rules
    from xlflow.validation.rules import load_rulebook

    return load_rulebook(example_rules())


def not_fixes(result):
    return sorted((f.code, f.row, f.cell) for f in result.findings if f.severity != "fixed")


def corrected_rows(result):
    path = result.outputs["corrected"]
    ws = load_workbook(path).worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    head = next(i for i, r in enumerate(rows) if r and r[0] == "序号")
    return [r for r in rows[head + 1:] if any(v not in (None, "") for v in r)]


def lists(result):
    return {name: frame.drop(columns=["原表行号"]).to_dict("records") for name, frame in result.lists.items()}


@pytest.mark.parametrize("mess", list(ID_MESS))
def test_a_fixed_id_is_the_persons_key_for_every_ledger_check(tmp_path, book, mess):
    ledger = household(tmp_path)
    change, code = ID_MESS[mess]
    rows = [decl_row(s, y, id_number=change(pid(seq=s))) for s, y in
            (("101", 2024), ("102", 2025), ("105", 2025), (X_SEQ, 2025))]
    if mess == "lower-case x":  # only an ID ending in X has an x to fix; the others stay clean
        rows = [decl_row(s, y) for s, y in (("101", 2024), ("102", 2025), ("105", 2025))] + [rows[3]]
    with Ledger(ledger) as store:
        result = process_workbook(write(tmp_path, "decl", COLUMNS, rows), book, tmp_path / "out", today=TODAY,
                                  ledger=store)
    assert found(result, "P08") == [(6, "F6")]  # already paid: the double payment the ledger stops
    assert found(result, "P12") == [(7, "C7")]  # 终止参保
    assert found(result, "P07") == [(8, "F8")]  # 贫困人口 after 脱贫
    assert found(result, "P11") == []  # every one of them is on the roster
    assert (9, "C9") in found(result, code)
    assert result.error_rows == {6, 7, 8}


def messy_id(draw, seq):
    kinds = [k for k in ID_MESS if k != "lower-case x" or seq == X_SEQ] + ["clean"]
    kind = draw(st.sampled_from(kinds))
    return pid(seq=seq) if kind == "clean" else ID_MESS[kind][0](pid(seq=seq))


@st.composite
def messy_declaration(draw):
    rows = []
    for r in clean_declaration():
        seq = r[2][14:17]
        cells = dict(zip(COLUMNS, r, strict=True))
        cells["身份证号码"] = messy_id(draw, seq)
        cells["姓名"] = draw(st.sampled_from(["张三", " 张三", "张 三", "张三\u3000"]))
        cells["户口性质"] = draw(st.sampled_from(["农业户籍", "农村户籍", "农业", "20"]))
        cells["缴费身份"] = draw(st.sampled_from([cells["缴费身份"], "051"]))
        cells["缴费档次"] = draw(st.sampled_from(["一档", "1档", "第一档", "001"]))
        year = cells["缴费年度"]
        cells["缴费年度"] = draw(st.sampled_from([year, str(year), f"{year}年", str(year).translate(FULL)]))
        cells["省级补贴"] = draw(st.sampled_from([12, "12", "１２"]))
        rows.append([cells[c] for c in COLUMNS])
    return rows


@st.composite
def messy_adjustment(draw):
    rows = []
    for r in clean_adjustment():
        cells = dict(zip(ADJ_COLUMNS, r, strict=True))
        cells["身份证号码"] = messy_id(draw, cells["身份证号码"][14:17])
        cells["户口性质"] = draw(st.sampled_from(["农业户籍", "农村户籍", "20"]))
        cells["调整后缴费档次"] = draw(st.sampled_from(["一档", "1档"]))
        year = cells["调整年度"]
        cells["调整年度"] = draw(st.sampled_from([year, f"{year}年", f" {year}"]))
        rows.append([cells[c] for c in ADJ_COLUMNS])
    return rows


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    ledger = household(tmp)
    decl = run(tmp, ledger, write(tmp, "decl", COLUMNS, clean_declaration()))
    adj = run(tmp, ledger, write(tmp, "adj", ADJ_COLUMNS, clean_adjustment()))
    # The clean run is what every ledger code of the scenario looks like: a test that cannot fail is no test.
    assert {"P08", "P12", "P07", "P11"} <= {f.code for f in decl.findings}
    assert {"A09", "A11", "A02", "A06"} <= {f.code for f in adj.findings}
    assert len(adj.lists) == 3
    return ledger, decl, adj


@examples(5)
@given(decl_rows=messy_declaration(), adj_rows=messy_adjustment())
def test_only_the_x_fixes_change_when_values_are_written_as_clerks_write_them(tmp_path_factory, clean_runs,
                                                                              decl_rows, adj_rows):
    ledger, clean_decl, clean_adj = clean_runs
    tmp = tmp_path_factory.mktemp("messy")
    # a ledger of its own, so that the messy declaration's batch is recorded the same way as the clean one's
    ledger = household(tmp)
    decl = run(tmp, ledger, write(tmp, "decl", COLUMNS, decl_rows))
    adj = run(tmp, ledger, write(tmp, "adj", ADJ_COLUMNS, adj_rows))
    for messy, clean in ((decl, clean_decl), (adj, clean_adj)):
        assert not_fixes(messy) == not_fixes(clean)
        assert messy.error_rows == clean.error_rows
        assert messy.totals == clean.totals
        assert corrected_rows(messy) == corrected_rows(clean)
    assert lists(adj) == lists(clean_adj)
    assert decl.batch["rows"] == clean_decl.batch["rows"]


@pytest.mark.parametrize("form", ["csv", "xls"])
def test_a_csv_or_xls_copy_gives_the_same_findings_destinations_and_amounts(tmp_path, clean_runs, form):
    _, clean_decl, clean_adj = clean_runs
    ledger = household(tmp_path)
    decl = run(tmp_path, ledger, write(tmp_path, "decl", COLUMNS, clean_declaration(), form))
    adj = run(tmp_path, ledger, write(tmp_path, "adj", ADJ_COLUMNS, clean_adjustment(), form))
    for copy, clean in ((decl, clean_decl), (adj, clean_adj)):
        assert not_fixes(copy) == not_fixes(clean)
        assert copy.error_rows == clean.error_rows and copy.totals == clean.totals
    assert lists(adj) == lists(clean_adj)
