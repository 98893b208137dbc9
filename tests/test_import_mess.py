"""An export imported as the office's system wrote it, and again as it arrives after a clerk had it open —
IDs with spaces, full-width digits, a lower-case x or the 15-digit form, names with spaces around them,
amounts typed as text, a GBK .csv, an .xls or an .xlsx copy, the sheet renamed — gives the same ledger:
every person, record and person-year, to the cent. Only the X fixes (listed as findings) differ."""

from __future__ import annotations

import csv
import sqlite3
from collections import Counter

import pytest
from openpyxl import Workbook

from test_ledger import PAY_HEAD, ROSTER_HEAD, paid, payments_xls, person, roster_csv
from test_one_key import ID_MESS, X_SEQ
from xlflow.app.imports import import_file
from xlflow.store.ledger import Ledger

SEQS = ["101", "102", "103", "104", "105", "106", "107", X_SEQ]
MESS = list(ID_MESS.values())


def clean_roster() -> list[list]:
    return [person(s, name=f"张{n}") for n, s in enumerate(SEQS)]


def clean_payments() -> list[list]:
    rows = []
    for n, s in enumerate(SEQS):
        rows.append(paid(s, 2023, name=f"张{n}", personal=100 + n))
        rows.append(paid(s, 2024, name=f"张{n}", personal=200))
        if n % 3 == 0:  # a second record of the year: the sum is what the checks read
            rows.append(paid(s, 2024, name=f"张{n}", personal=-50))
    return rows


def messy(rows: list[list], amounts: range = range(0)) -> list[list]:
    """Each ID written one of the ways an X fix repairs (in turn), the name with spaces around it, and the
    amount columns ``amounts`` typed as text ("100.00")."""
    out = []
    for n, row in enumerate(rows):
        row = list(row)
        write, _code = MESS[n % len(MESS)]
        row[0] = ID_MESS["lower-case x"][0](row[0]) if row[0].endswith("X") else write(row[0])
        row[1] = f" {row[1]}\u3000"
        for c in amounts:
            row[c] = f"{row[c]:.2f}"
        out.append(row)
    return out


def xlsx(path, head, rows, title="Sheet1"):
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(["导出"])
    ws.append(head)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def gbk_csv(path, head, rows):
    with open(path, "w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows([["导出"], head, *rows])
    return path


def ledger_rows(path) -> dict[str, list]:
    """What the ledger holds about people and payments, without the source each row came from."""
    db = sqlite3.connect(path)
    out = {}
    for table, columns in (("persons", "id_number, name, hukou, status, identity, exit_year, area, digest"),
                           ("payments", "id_number, year, seq, name, identity, tier, hukou, personal, province, "
                                        "city, county, daijiao, method"),
                           ("payment_years", "id_number, year, records, personal, province, city, county, daijiao, "
                                             "identity, tier, digest")):  # fmt: skip
        out[table] = db.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2" + (", 3" if table == "payments"
                                                                                  else "")).fetchall()
    db.close()
    return out


def load(folder, roster, payments):
    path = folder / "台账.sqlite"
    with Ledger(path) as store:
        results = [import_file(store, roster, "roster", out_dir=folder),
                   import_file(store, payments, "payments", out_dir=folder)]
    return ledger_rows(path), results


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    held, results = load(folder, roster_csv(folder / "参保人员信息.csv", clean_roster()),
                         payments_xls(folder / "缴费明细.xls", clean_payments()))
    assert [r.counts for r in results] == [{"new": 8, "changed": 0, "unchanged": 0, "refused": 0},
                                           {"new": 16, "changed": 0, "unchanged": 0, "refused": 0}]
    assert len(held["payments"]) == 19 and {r[2] for r in held["payment_years"]} == {1, 2}
    return held, [r.counts for r in results]


@pytest.mark.parametrize("form", ["xlsx", "csv", "xls"])
def test_the_same_exports_written_as_clerks_write_them_give_the_same_ledger(tmp_path, clean, form):
    held, counts = clean
    roster, payments = messy(clean_roster()), messy(clean_payments(), amounts=range(6, 11))
    if form == "xlsx":
        files = (xlsx(tmp_path / "人员.xlsx", ROSTER_HEAD, roster, "导出数据"),
                 xlsx(tmp_path / "明细（第二次导出）.xlsx", PAY_HEAD, payments, "Sheet1"))
    elif form == "csv":
        files = (gbk_csv(tmp_path / "人员.csv", ROSTER_HEAD, roster),
                 gbk_csv(tmp_path / "明细.csv", PAY_HEAD, payments))
    else:
        files = (roster_csv(tmp_path / "人员.csv", roster), payments_xls(tmp_path / "明细.xls", payments))
    got, results = load(tmp_path, *files)
    assert [r.counts for r in results] == counts
    assert all(r.exit_code == 0 and r.errors_file is None for r in results)
    for table in held:
        assert got[table] == held[table], table
    fixes = Counter(f.code for r in results for f in r.check.findings if f.code.startswith("X"))
    assert {"X01", "X02", "X03", "X04"} <= set(fixes)
    assert not [f.code for r in results for f in r.check.findings if not f.code.startswith("X")]


def test_a_renamed_copy_of_an_imported_export_is_already_there(tmp_path, clean):
    """The same bytes under another name (a clerk's copy) change nothing: it is recognised by content."""
    folder = tmp_path
    pay = payments_xls(folder / "缴费明细.xls", clean_payments())
    with Ledger(folder / "台账.sqlite") as store:
        import_file(store, pay, "payments")
        copy = folder / "缴费明细 - 副本.xls"
        copy.write_bytes(pay.read_bytes())
        again = import_file(store, copy, "payments")
    assert again.already and again.counts == {} and "内容相同" in again.summary_line()
    assert ledger_rows(folder / "台账.sqlite")["payments"] == clean[0]["payments"]


def test_a_web_systems_csv_with_ids_as_text_formulas_and_money_text_gives_the_same_ledger(tmp_path, clean):
    """Systems export IDs as ="430302…" (Excel shows the text inside) or behind an apostrophe, and money as
    "¥1,100.00" or "100元": the same people and cents as the clean export. A formula that is not plain
    text stays as written (never evaluated) and is refused."""
    def web(rows, amounts=range(0)):
        out = []
        for n, row in enumerate(rows):
            row = list(row)
            row[0] = f'="{row[0]}"' if n % 2 == 0 else f"'{row[0]}"
            for c in amounts:
                row[c] = f"¥{row[c]:,.2f}" if n % 2 else f"{row[c]}元"
            if amounts and not row[10]:  # 政府代缴 none: as the accounting format and many clerks write it
                row[10] = "-" if n % 2 else "—"
            out.append(row)
        return out

    payments = clean_payments()
    for r in payments:  # amounts of a thousand and more, to have thousands separators
        r[6] *= 11
    clean_folder = tmp_path / "clean"
    clean_folder.mkdir()
    want, _ = load(clean_folder, roster_csv(clean_folder / "人员.csv", clean_roster()),
                   payments_xls(clean_folder / "明细.xls", payments))
    roster = web(clean_roster())
    roster.append(['=HYPERLINK("http://x","430302197801010008")', "李四", "农业", "正常缴费", "051", "", "43030201"])
    got, results = load(tmp_path, gbk_csv(tmp_path / "人员.csv", ROSTER_HEAD, roster),
                        gbk_csv(tmp_path / "明细.csv", PAY_HEAD, web(payments, amounts=[6])))
    assert [r.counts["refused"] for r in results] == [1, 0]
    assert results[0].refused["id_number"].tolist() == ['=HYPERLINK("http://x","430302197801010008")']
    for table in want:
        assert got[table] == want[table], table
    fixes = Counter(f.code for r in results for f in r.check.findings if f.code.startswith("X"))
    assert fixes["X10"] == 8 // 2 + len(payments) // 2 and fixes["X09"] == len(payments)
    assert fixes["X13"] == len(payments)
