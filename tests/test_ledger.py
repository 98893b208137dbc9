"""The ledger: imports (idempotent, newer replaces older, all or nothing), batches, and the declaration
checks that need it (P05 across batches, P07–P12), each at its cell."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import ROOT, write_workbook
from test_validate import TODAY, declaration, found, pid, row
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.store.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger

ROSTER_HEAD = ["公民身份号码", "姓名", "户籍性质", "人员状态", "特殊参保群体", "脱贫年度", "行政区划"]
PAY_HEAD = ["证件号码", "姓名", "费款所属期", "缴费身份", "缴费档次", "户籍", "个人缴费金额", "省补", "市补", "县补",
            "政府代缴"]  # fmt: skip


def roster_csv(path, rows, encoding="gb18030"):
    lines = ["参保人员信息导出（2026-11-25）", ",".join(ROSTER_HEAD)] + [",".join(map(str, r)) for r in rows]
    path.write_bytes("\r\n".join(lines).encode(encoding))
    return path


def payments_xls(path, rows):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("缴费明细")
    ws.write(0, 0, "缴费明细导出")
    for c, h in enumerate(PAY_HEAD):
        ws.write(1, c, h)
    for r, values in enumerate(rows, start=2):
        for c, v in enumerate(values):
            ws.write(r, c, v)
    book.save(str(path))
    return path


def person(seq, name="张三", status="正常缴费", flag="051", exit_year=""):
    return [pid(seq=seq), name, "农业", status, flag, exit_year, "43030201"]


def paid(seq, year=2024, name="张三", personal=100):
    return [pid(seq=seq), name, f"{year}01", "普通参保人员", "一档", "农业户籍", personal, 12, 9.9, 8.1, 0]


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "台账.sqlite") as store:
        yield store


def test_gbk_csv_roster_and_xls_payments_with_title_rows_and_system_headers(tmp_path, ledger):
    roster = roster_csv(tmp_path / "roster.csv", [person("101"), person("102", name="李四"), ["123", "王五"]])
    result = import_file(ledger, roster, "roster", out_dir=tmp_path)
    assert result.counts == {"new": 2, "changed": 0, "unchanged": 0, "refused": 1} and result.exit_code == 1
    refused = load_workbook(result.errors_file).active
    assert refused["A3"].value == "123" and "C03" in refused.cell(3, 8).value
    pay = payments_xls(tmp_path / "pay.xls", [paid("101"), paid("101", personal=-10), paid("102", 2023)])
    result = import_file(ledger, pay, "payments")
    assert result.counts == {"new": 2, "changed": 0, "unchanged": 0, "refused": 0} and result.exit_code == 0
    status = ledger.status()
    assert status["persons"] == 2 and status["paid_person_years"] == {2023: 1, 2024: 1}
    view = ledger.view([pid(seq="101")])
    assert view.paid.loc[0, "personal"] == 9000 and view.paid.loc[0, "records"] == 2  # the sum of the records
    assert view.persons.loc[pid(seq="101"), "identity"] == "贫困人口一级"  # the code 051, normalised


def test_importing_the_same_file_twice_changes_nothing(tmp_path, ledger):
    roster = roster_csv(tmp_path / "roster.csv", [person("101")])
    import_file(ledger, roster, "roster")
    before = ledger.status()
    again = import_file(ledger, roster, "roster")
    assert again.already and "已于" in again.summary_line() and "未做任何改动" in again.summary_line()
    assert "未导入" not in again.summary_line() and again.already_refused == 0
    assert ledger.status() == before


def test_the_same_file_again_after_some_rows_were_refused_says_where_they_are(tmp_path, ledger):
    """A clerk who imports the same export again may think the refused rows went in this time: the line
    says how many were left out and which workbook holds them; JSON has the count too."""
    rows = [paid("101"), paid("102"), paid("103")]
    rows[1][0] = rows[1][0][:-1] + ("0" if rows[1][0][-1] != "0" else "1")  # C04: refused
    pay = payments_xls(tmp_path / "缴费明细.xls", rows)
    assert import_file(ledger, pay, "payments").counts["refused"] == 1
    again = import_file(ledger, pay, "payments")
    assert again.already and again.already_refused == 1 and again.as_json()["already_refused"] == 1
    assert "当时有 1 行因有错误未导入（见 缴费明细_导入错误.xlsx）" in again.summary_line()


def test_an_export_with_a_very_long_name_still_gets_its_error_workbook(tmp_path, ledger):
    """NAME_导入错误.xlsx of a 250-byte name was longer than the disk allows: the whole import stopped (exit 2)
    instead of importing the good rows and listing the bad one. The name is cut as validate's outputs are."""
    rows = [paid("101"), paid("102")]
    rows[1][0] = rows[1][0][:-1] + ("0" if rows[1][0][-1] != "0" else "1")  # C04: refused
    pay = payments_xls(tmp_path / ("缴费明细" + "长" * 78 + ".xls"), rows)
    result = import_file(ledger, pay, "payments")
    assert result.counts["new"] == 1 and result.counts["refused"] == 1 and result.exit_code == 1
    written = list(tmp_path.glob("*_导入错误.xlsx"))
    assert [p.name for p in written] == [Path(result.errors_file).name] and len(written[0].name.encode()) <= 255
    assert load_workbook(written[0]).active["A3"].value == rows[1][0]


def test_a_newer_export_replaces_the_older_one(tmp_path, ledger):
    import_file(ledger, roster_csv(tmp_path / "r1.csv", [person("101"), person("102", name="李四")]), "roster")
    newer = roster_csv(tmp_path / "r2.csv", [person("101", status="终止参保"), person("102", name="李四"),
                                             person("103", name="王五")])  # fmt: skip
    result = import_file(ledger, newer, "roster")
    assert result.counts == {"new": 1, "changed": 1, "unchanged": 1, "refused": 0}
    assert ledger.view([pid(seq="101")]).persons.loc[pid(seq="101"), "status"] == "终止参保"
    import_file(ledger, payments_xls(tmp_path / "p1.xls", [paid("101"), paid("102")]), "payments")
    result = import_file(ledger, payments_xls(tmp_path / "p2.xls", [paid("101", personal=200), paid("102")]),
                         "payments")  # fmt: skip
    assert result.counts == {"new": 0, "changed": 1, "unchanged": 1, "refused": 0}
    assert ledger.view([pid(seq="101")]).paid.loc[0, "personal"] == 20000


def test_records_keep_the_file_order_within_a_person_year_whatever_the_order_of_people(tmp_path, ledger):
    """The import writes in key order (for sqlite's B-trees); a person-year's records keep the file's order,
    and the same content in another file is 'unchanged'."""
    rows = [paid("109", personal=300), paid("101"), paid("109", personal=-50), paid("105", 2023),
            paid("101", personal=70), paid("109", personal=20)]  # fmt: skip
    result = import_file(ledger, payments_xls(tmp_path / "p.xls", rows), "payments")
    assert result.counts == {"new": 3, "changed": 0, "unchanged": 0, "refused": 0}
    got = ledger.db.execute("SELECT substr(id_number, 15, 3), year, seq, personal FROM payments").fetchall()
    assert got == [("101", 2024, 0, 10000), ("101", 2024, 1, 7000), ("105", 2023, 0, 10000),
                   ("109", 2024, 0, 30000), ("109", 2024, 1, -5000), ("109", 2024, 2, 2000)]  # fmt: skip
    again = import_file(ledger, payments_xls(tmp_path / "p_newer.xls", [*rows, paid("111")]), "payments")
    assert again.counts == {"new": 1, "changed": 0, "unchanged": 3, "refused": 0}
    swapped = [rows[2], *rows[:2], *rows[3:]]  # 109's records in another order: its year changed
    assert import_file(ledger, payments_xls(tmp_path / "p2.xls", swapped), "payments").counts["changed"] == 1


def test_a_person_written_twice_in_a_roster_keeps_the_later_row_whatever_the_form_of_the_id(tmp_path, ledger):
    """The 15-digit form, full-width digits and a lower-case x are one person with the 18-digit form (X
    fixes); the later row is what the ledger keeps, though the import writes in ID order."""
    ends_x = next(i for i in (pid(seq=f"{n:03d}") for n in range(400, 1000)) if i.endswith("X"))
    old = pid(birth="19800101", seq="201")
    fifteen = old[:6] + old[8:17]
    wide = "".join(chr(ord(c) + 0xFEE0) for c in pid(seq="300"))
    rows = [[fifteen, "王一", "农业", "正常缴费", "051", "", "43030201"], person("100", name="甲"),
            [wide, "王三", "农业", "正常缴费", "051", "", "43030201"], person("050", name="乙"),
            [old, "王一", "农业", "终止参保", "051", "", "43030201"],
            [pid(seq="300"), "王三", "农业", "正常待遇", "051", "", "43030201"],
            [ends_x, "王四", "农业", "正常缴费", "051", "", "43030201"],
            [ends_x[:-1] + "x", "王四", "农业", "暂停缴费", "051", "", "43030201"]]  # fmt: skip
    result = import_file(ledger, roster_csv(tmp_path / "r.csv", rows), "roster", out_dir=tmp_path)
    assert result.counts["new"] == 5 and len(result.duplicates) == 3
    persons = ledger.view([old, pid(seq="300"), ends_x]).persons
    assert persons.loc[old, "status"] == "终止参保" and persons.loc[pid(seq="300"), "status"] == "正常待遇"
    assert persons.loc[ends_x, "status"] == "暂停缴费"


def test_only_a_record_repeating_another_in_every_field_is_p14(tmp_path, ledger):
    rows = [paid("101"), paid("102"), paid("101", personal=50), paid("101", 2023), paid("101"),
            paid("102", name="李四"), paid("101")]  # fmt: skip
    result = import_file(ledger, payments_xls(tmp_path / "p.xls", rows), "payments", out_dir=tmp_path)
    p14 = sorted(f.row for f in result.check.findings if f.code == "P14")
    assert p14 == [7, 9] and result.repeated == 2  # the 5th and 7th records (a title and a header above)
    assert int(ledger.view([pid(seq="101")]).paid.set_index("year").loc[2024, "records"]) == 4


def on_a_terminal(args: list[str]) -> tuple[int, str]:
    """A real xlflow process whose stderr is a terminal (the IT person running it by hand), every file big
    enough for the progress bar: (exit code, what the terminal showed)."""
    import os
    import pty

    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r}); from xlflow.cli import common; "
              "common.PROGRESS_MIN_BYTES = 0; from xlflow.cli import main; main()")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stderr=secondary, stdout=subprocess.DEVNULL)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the process ended and closed its side
            break
        if not chunk:
            break
        seen += chunk
    code = proc.wait(timeout=120)
    os.close(primary)
    return code, seen.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_a_big_import_and_a_big_check_name_each_stage_as_it_runs(tmp_path):
    pay = payments_xls(tmp_path / "p.xls", [paid("101"), paid("102")])
    code, text = on_a_terminal(["ledger", "import", "payments", str(pay), "--ledger", str(tmp_path / "l.sqlite")])
    assert code == 0
    # Each stage is named with the bar at the stages done before it: "[####----]  检查" while checking.
    shown = [text.find(f"{'#' * 12}{'-' * 24}]  检查"), text.find(f"{'#' * 24}{'-' * 12}]  写入台账"),
             text.find("完成"), text.find("新增 2 人年")]
    assert -1 not in shown and shown == sorted(shown), text
    code, text = on_a_terminal(["validate", str(ROOT / "examples" / "批量缴费申报表.xlsx"), "--out",
                                str(tmp_path / "out")])
    shown = [text.find(word) for word in ("读取", "检查", "写更正表", "写错误表", "写汇总表", "完成")]
    assert code == 1 and -1 not in shown and shown == sorted(shown), text



def test_a_person_year_of_several_records_keeps_the_last_identity_and_any_change(tmp_path, ledger):
    """payment_years: the sum of the records, the identity and tier of the last one; its digest covers every
    record (a newer export changing only the second record of a person-year is 'changed'); a cell left
    empty (缴费方式 not exported) is stored as NULL, not as empty text."""
    low = [pid(seq="101"), "张三", "202401", "低保对象", "二档", "农业户籍", 50, 0, 0, 0, 100]
    rows = [paid("101"), paid("102"), paid("101", personal=30), low]
    import_file(ledger, payments_xls(tmp_path / "p1.xls", rows), "payments")
    got = ledger.db.execute("SELECT substr(id_number, 15, 3), records, personal, daijiao, identity, tier "
                            "FROM payment_years ORDER BY id_number").fetchall()
    assert got == [("101", 3, 18000, 10000, "低保对象", "二档"), ("102", 1, 10000, 0, "普通参保人员", "一档")]
    assert ledger.db.execute("SELECT COUNT(*) FROM payments WHERE method IS NULL AND arrived_at IS NULL").fetchone() \
        == (4,)
    newer = [*rows[:2], paid("101", personal=31), low]  # the second of 101's three records
    result = import_file(ledger, payments_xls(tmp_path / "p2.xls", newer), "payments")
    assert result.counts == {"new": 0, "changed": 1, "unchanged": 1, "refused": 0}
    assert ledger.db.execute("SELECT personal FROM payment_years WHERE id_number = ?", (pid(seq="101"),)).fetchone() \
        == (18100,)



def test_a_payments_export_whose_every_row_is_refused_imports_nothing_and_says_so(tmp_path, ledger):
    for name in ("p1.xls", "p2.xls"):  # into an empty ledger, then into one that holds payments
        wrong = [paid("101", name=name), paid("102", 2023)]
        for r in wrong:
            r[0] = r[0][:-1] + ("0" if r[0][-1] != "0" else "1")  # a wrong check digit: C04
        result = import_file(ledger, payments_xls(tmp_path / name, wrong), "payments", out_dir=tmp_path)
        assert result.counts == {"new": 0, "changed": 0, "unchanged": 0, "refused": 2} and result.exit_code == 1
        assert result.errors_file and ledger.status()["payment_records"] == (0 if name == "p1.xls" else 1)
        import_file(ledger, payments_xls(tmp_path / "ok.xls", [paid("103")]), "payments")


def test_digests_are_those_older_ledgers_hold():
    """A ledger written by an earlier xlflow holds digests of each row's text: an export imported again
    after an upgrade must still be 'unchanged', so the cheaper digest must give the same numbers."""
    import numpy as np
    import pandas as pd

    from xlflow.app.ledger_rows import _digest

    frame = pd.DataFrame({"name": ["张三", "", "李四", "张三"], "cents": np.array([100, -5, 100, 10**12]),
                          "none": [None] * 4, "exit": pd.array([2020, None, 2021, 2020], dtype="Int64"),
                          "mixed": ["1", None, "x", "y"]})
    expected = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy(dtype=np.uint64)
    assert (_digest(frame, list(frame)) == expected).all()


def test_a_failure_in_the_middle_of_an_import_leaves_the_ledger_as_it_was(tmp_path):
    """A real process on a real file; the failure is injected after the payments are written."""
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", [person("101")]), "roster")
        before = store.status()
    pay = payments_xls(tmp_path / "p.xls", [paid("101"), paid("101", 2023)])
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / 'src')!r})
from xlflow.app import imports, ledger_rows
from xlflow.store.ledger import Ledger
original = ledger_rows.import_payments
def failing(ledger, *args):
    original(ledger, *args)  # every row written inside the transaction ...
    raise RuntimeError("injected failure")  # ... then the process fails
ledger_rows.import_payments = failing
with Ledger({str(path)!r}) as store:
    imports.import_file(store, {str(pay)!r}, "payments")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "injected failure" in proc.stderr
    with Ledger(path) as store:
        assert store.status() == before
        assert store.db.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0


def test_a_ledger_of_the_first_schema_opens_after_a_migration(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO sources (kind, name, sha256, imported_at, rows) "
               "VALUES ('payments', 'p.xlsx', 'x', 'now', 2)")
    db.executemany("INSERT INTO payments (id_number, year, seq, identity, tier, personal, province, city, county, "
                   "daijiao, source_id) VALUES (?, 2024, ?, '普通参保人员', '一档', ?, 1200, 990, 810, 0, 1)",
                   [(pid(seq="101"), 0, 10000), (pid(seq="101"), 1, -1000)])  # fmt: skip
    db.execute("INSERT INTO batches (file_name, unit, sha256, created_at) VALUES ('镇一.xlsx', '某镇', 'y', 'now')")
    db.execute(f"INSERT INTO batch_rows (batch_id, id_number, year) VALUES (1, '{pid(seq='102')}', 2025)")
    db.commit()
    db.close()
    with Ledger(path) as store:
        assert store.version == SCHEMA_VERSION == 9
        assert all(store.db.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{t}' AND sql LIKE '%WITHOUT ROWID'")
                   .fetchone() for t in ("payments", "payment_years"))
        assert store.view([pid(seq="101")]).paid.loc[0, "personal"] == 9000
        # A batch of the old schema is a lineage of one member: the file it was recorded from.
        (batch,) = store.batches()
        assert len(batch["lineage"]) == 16 and batch["members"][0]["file"] == "镇一.xlsx"
        assert batch["members"][0]["rows"] == 1


def ledger_with_people(tmp_path):
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", [
            person("101"), person("102", status="终止参保"), person("103", name="张小三"),
            person("104", flag="011"), person("105", exit_year="2024"), person("106")]), "roster")  # fmt: skip
        import_file(store, payments_xls(tmp_path / "p.xls", [paid("106", 2025)]), "payments")
    return path


def test_each_ledger_code_at_its_cell(tmp_path, book):
    path = ledger_with_people(tmp_path)
    rows = [row(id_number=pid(seq="101")), row(id_number=pid(seq="102")), row(id_number=pid(seq="103")),
            row(id_number=pid(seq="104")), row(id_number=pid(seq="105")), row(id_number=pid(seq="106")),
            row(id_number=pid(seq="107"))]  # fmt: skip
    with Ledger(path) as store:
        result = process_workbook(declaration(tmp_path, rows), book, tmp_path / "out", today=TODAY, ledger=store)
    assert found(result, "P12") == [(7, "C7")]
    assert found(result, "P09") == [(8, "B8")]
    assert found(result, "P10") == [(9, "E9")]
    assert found(result, "P07") == [(10, "F10")]
    assert found(result, "P08") == [(11, "F11")]
    assert found(result, "P11") == [(12, "C12")]
    p08 = next(f for f in result.findings if f.code == "P08")
    assert "已缴 普通参保人员 一档" in p08.message and "调整" in p08.message
    assert {f.severity for f in result.findings if f.code in ("P09", "P10", "P11")} == {"warning"}
    assert result.error_rows == {7, 10, 11}
    assert {k: result.batch[k] for k in ("id", "status", "rows", "found_by")} == \
        {"id": 1, "status": "new", "rows": 4, "found_by": "new"}


def test_a_roster_that_writes_death_or_no_identity_in_words_is_read_so(tmp_path, book):
    """A roster export that writes 已死亡 for a person whose insurance ended is 终止参保 (P12 on a declaration,
    not C07 on the roster); 无 / 否 / 0 under 特殊参保群体 is no identity set: an ordinary person declared as
    such is fine (it used to be P10 "与系统中的身份标识“无”不一致"), a 代缴 identity is P10 "未设置"."""
    path = tmp_path / "台账.sqlite"
    with Ledger(path) as store:
        imported = import_file(store, roster_csv(tmp_path / "r.csv", [
            person("101", status="已死亡"), person("102", flag="无"), person("103", flag="否"),
            person("104", flag="0")]), "roster")  # fmt: skip
        assert imported.counts["new"] == 4 and imported.counts["refused"] == 0
        assert [(f.code, f.row) for f in imported.check.findings if f.code == "X13"] == [("X13", 4), ("X13", 5),
                                                                                          ("X13", 6)]
        rows = [row(id_number=pid(seq="101")), row(id_number=pid(seq="102"), identity="普通参保人员",
                                                    amounts=(None,) * 6),
                row(id_number=pid(seq="103"), identity="普通参保人员", amounts=(None,) * 6),
                row(id_number=pid(seq="104"))]
        result = process_workbook(declaration(tmp_path, rows), book, tmp_path / "out", today=TODAY, ledger=store)
    assert found(result, "P12") == [(6, "C6")]
    assert found(result, "P10") == [(9, "E9")]
    assert "身份标识“未设置”" in next(f.message for f in result.findings if f.code == "P10")


def test_batches_replace_clash_and_are_marked_paid(tmp_path, book):
    path = ledger_with_people(tmp_path)
    first = declaration(tmp_path, [row(id_number=pid(seq="101"))], name="镇一.xlsx")
    with Ledger(path) as store:
        one = process_workbook(first, book, tmp_path / "out", today=TODAY, ledger=store)
        assert one.batch["status"] == "new" and found(one, "P05") == []
        # The very same content again changes nothing.
        same = process_workbook(first, book, tmp_path / "out", today=TODAY, ledger=store)
        assert same.batch == {**one.batch, "status": "unchanged", "found_by": "properties"} or \
            same.batch == {**one.batch, "status": "unchanged", "found_by": "name"}
        # The same file fixed and validated again replaces its batch: no clash with itself.
        fixed = declaration(tmp_path, [row(id_number=pid(seq="101")), row(id_number=pid(seq="104"))], name="镇一.xlsx")
        again = process_workbook(fixed, book, tmp_path / "out", today=TODAY, ledger=store)
        assert again.batch["status"] == "replaced" and found(again, "P05") == []
        assert [b["rows"] for b in store.batches()] == [2]
        # Another township's file with the same person-year clashes.
        other = process_workbook(declaration(tmp_path, [row(id_number=pid(seq="101"))], name="镇二.xlsx",
                                             unit="另一镇"), book, tmp_path / "out", today=TODAY, ledger=store)
        assert found(other, "P05") == [(6, "C6")]
        message = next(f.message for f in other.findings if f.code == "P05")
        assert f"申报单位“某镇”待上传的申报批次 {again.batch['id']}（“镇一.xlsx”，2026-11-20 申报）" in message
        assert f"xlflow ledger withdraw {again.batch['id']}" in message
        # The payments export shows the batch went through.
        import_file(store, payments_xls(tmp_path / "p2.xls", [paid("101", 2025)]), "payments")
        assert [(b["id"], b["paid_rows"]) for b in store.batches()] == [(again.batch["id"], 1)]
    result = CliRunner().invoke(main, ["ledger", "withdraw", str(again.batch["id"]), "--ledger", str(path)])
    assert result.exit_code == 2 and "不能撤回" in result.output


def test_each_townships_sheet_is_a_batch_of_its_own_and_they_clash_with_each_other(tmp_path, book):
    """A workbook of one sheet per township, validated with the ledger (CLI, --json): a batch per sheet, named
    NAME_SHEET.xlsx with its sheet's 申报单位; a person-year on both sheets is P05 on the second; the same
    workbook validated again finds the same two batches."""
    from test_validate import townships

    path = ledger_with_people(tmp_path)
    both = townships(tmp_path / "两镇.xlsx", second=[row(id_number=pid(seq="101")), row(id_number=pid(seq="104"))])
    wb = load_workbook(both)
    wb["镇一"].delete_rows(6, 2)
    wb["镇一"].append(row(id_number=pid(seq="101")))
    wb.save(both)
    runner = CliRunner()
    for attempt in range(2):
        out = runner.invoke(main, ["validate", str(both), "--ledger", str(path), "--out", str(tmp_path / "o"),
                                   "--json"])
        assert out.exit_code == 1, (out.output, out.exception)
        one, two = (json.loads(line) for line in out.stdout.splitlines())
        assert (one["sheet"], two["sheet"]) == ("镇一", "镇二")
        assert [f["code"] for f in one["findings"] if f["severity"] == "error"] == []
        assert [(f["code"], f["cell"]) for f in two["findings"] if f["severity"] == "error"] == [("P05", "C6")]
        assert one["outputs"]["corrected"].endswith("两镇_镇一_更正.xlsx")
        with Ledger(path) as store:
            batches = store.batches()
        assert [(b["file"], b["unit"], b["rows"]) for b in batches] == [("两镇_镇一.xlsx", "镇一", 1),
                                                                                ("两镇_镇二.xlsx", "镇二", 1)]
        assert one["batch"]["status"] == ("new" if attempt == 0 else "unchanged")


def test_ledger_commands(tmp_path, book):
    path = ledger_with_people(tmp_path)
    runner = CliRunner()
    status = json.loads(runner.invoke(main, ["ledger", "status", "--ledger", str(path), "--json"]).stdout)
    assert status["persons"] == 6 and [s["kind"] for s in status["sources"]] == ["roster", "payments"]
    decl = declaration(tmp_path, [row(id_number=pid(seq="101"))])
    out = runner.invoke(main, ["validate", str(decl), "--ledger", str(path), "--out", str(tmp_path / "o"), "--json"])
    assert json.loads(out.stdout)["batch"]["id"] == 1
    listed = json.loads(runner.invoke(main, ["ledger", "batches", "--ledger", str(path), "--json"]).stdout)
    assert listed[0]["file"] == "decl.xlsx" and listed[0]["rows"] == 1
    gone = runner.invoke(main, ["ledger", "withdraw", "1", "--ledger", str(path)])
    assert gone.exit_code == 0 and "已撤回批次 1" in gone.output
    assert json.loads(runner.invoke(main, ["ledger", "batches", "--ledger", str(path), "--json"]).stdout) == []
    bad = runner.invoke(main, ["ledger", "import", "list", str(tmp_path / "r.csv"), "--ledger", str(path)])
    assert bad.exit_code == 2 and "--kind" in bad.output


def test_without_a_ledger_the_summary_says_the_checks_were_skipped(tmp_path, book):
    result = process_workbook(declaration(tmp_path, [row()]), book, tmp_path / "out", today=TODAY)
    overview = {r[0].value: r[1].value for r in load_workbook(result.outputs["summary"])["概况"].iter_rows(min_row=3)}
    assert overview["台账"].startswith("未使用台账")


def test_the_workspace_ledger_is_used_from_its_folder(tmp_path, book, monkeypatch):
    runner = CliRunner()
    runner.invoke(main, ["init", str(tmp_path / "ws")])
    monkeypatch.chdir(tmp_path / "ws")
    roster = roster_csv(tmp_path / "r.csv", [person("101")])
    assert runner.invoke(main, ["ledger", "import", "roster", str(roster)]).exit_code == 0
    assert (tmp_path / "ws" / "台账.sqlite").exists()
    decl = declaration(tmp_path, [row(id_number=pid(seq="109"))])
    out = runner.invoke(main, ["validate", str(decl), "--out", str(tmp_path / "o"), "--json"])
    assert out.exit_code == 0, (out.output, out.exception)
    data = json.loads(out.stdout)
    assert [f["code"] for f in data["findings"]] == ["P11"]


def test_office_lists_are_imported_by_kind_and_give_the_exit_year(tmp_path, book):
    path = tmp_path / "台账.sqlite"
    poor = tmp_path / "扶贫办贫困人口名单.csv"
    poor.write_bytes("身份证号,户主姓名,类别,脱贫年度\r\n".encode("gb18030")
                     + f"{pid(seq='201')},张三,贫困户,2024\r\n{pid(seq='202')},李四,贫困户,\r\n".encode("gb18030"))
    runner = CliRunner()
    out = runner.invoke(main, ["ledger", "import", "list", str(poor), "--ledger", str(path)])
    assert out.exit_code == 0 and "贫困人口" in out.output and "新增 2 人" in out.output
    status = json.loads(runner.invoke(main, ["ledger", "status", "--ledger", str(path), "--json"]).stdout)
    assert status["lists"] == {"贫困人口": 2}
    rows = [row(id_number=pid(seq="201"), year=2025), row(id_number=pid(seq="202"), year=2025),
            row(id_number=pid(seq="201"), year=2024)]  # fmt: skip
    with Ledger(path) as store:
        result = process_workbook(declaration(tmp_path, rows), book, tmp_path / "out", today=TODAY, ledger=store)
    assert found(result, "P07") == [(6, "F6")]  # 脱贫 in 2024: still 代缴 in 2024, not in 2025


HOUSEHOLD_HEADS = [["序号", "乡镇", "户主姓名", "户主身份证号码", "成员姓名", "身份证号码", "与户主关系",
                    "低保类别"],
                   ["序号", "乡镇", "户主姓名", "户主身份证号", "家庭成员姓名", "家庭成员身份证号",
                    "与户主关系", "类别"]]


@pytest.mark.parametrize("head", HOUSEHOLD_HEADS)
def test_a_household_list_gives_each_member_under_the_members_own_name(tmp_path, ledger, head):
    """民政's lists give a household per run of rows: the head's name and ID on every row beside each member's.
    Each member is listed under the member's own name and ID (the head's columns used to be read as the
    person's: every member got the head's name), with the list's 低保类别 as the category."""
    head_id, child = pid(seq="101"), pid(seq="102")
    rows = [[1, "某镇", "张父", head_id, "张父", head_id, "户主", "A类"],
            [2, "某镇", "张父", head_id, "张子", child, "子", "A类"]]
    path = tmp_path / "低保对象名单.xlsx"
    write_workbook(path, [["某县低保对象名单"], head, *rows])
    result = import_file(ledger, path, "list", "低保对象")
    assert result.counts["new"] == 2 and [f.code for f in result.check.findings] == []
    held = ledger.db.execute("SELECT id_number, name, category, area FROM lists ORDER BY 1").fetchall()
    assert held == [(head_id, "张父", "A类", "某镇"), (child, "张子", "A类", "某镇")]


def test_a_disability_list_that_gives_certificate_numbers_lists_each_holder_by_id_kind_and_level(tmp_path, ledger):
    """残联's lists give the 残疾人证号 (the ID, then the kind of disability and its level) in place of the ID: the
    ledger holds the ID, and the kind and level as the person's 类别 and 级别 unless the list gives its own."""
    rows = [[1, "张三", pid(seq="101") + "42", ""], [2, "李四", pid(seq="102") + "13", "一级"],
            [3, "王五", pid(seq="103"), ""], [4, "赵六", pid(seq="104") + "9", ""]]
    head = ["序号", "姓名", "残疾人证号", "残疾等级"]
    path = write_workbook(tmp_path / "残疾人名单.xlsx", [["残联名单"], head, *rows])
    result = import_file(ledger, path, "list", "残疾人")
    assert result.counts["new"] == 3 and result.refused["row"].tolist() == [6]  # 19 characters: C03
    assert [(f.code, f.cell) for f in result.check.findings if f.code == "X14"] == [("X14", "C3"), ("X14", "C4")]
    held = ledger.db.execute("SELECT id_number, category, level FROM lists ORDER BY 1").fetchall()
    assert held == [(pid(seq="101"), "肢体残疾", "二级"), (pid(seq="102"), "视力残疾", "一级"),
                    (pid(seq="103"), None, None)]


def test_an_id_refused_by_the_cell_checks_is_not_also_p11(tmp_path, book):
    path = ledger_with_people(tmp_path)
    with Ledger(path) as store:
        result = process_workbook(declaration(tmp_path, [row(id_number=pid(birth="19800231"))]), book,
                                  tmp_path / "out", today=TODAY, ledger=store)
    assert [f.code for f in result.findings if f.cell == "C6"] == ["C05"]


def test_a_totals_row_at_the_foot_of_an_export_is_refused_as_a_totals_row(tmp_path, ledger):
    """And an export paged by the system repeats its header row: that row is the head again (C16)."""
    rows = [paid("101"), PAY_HEAD, paid("102"), ["合计", "", "", "", "", "", 200, 24, 19.8, 16.2, 0]]
    result = import_file(ledger, payments_xls(tmp_path / "缴费明细.xls", rows), "payments")
    assert result.counts["new"] == 2 and result.counts["refused"] == 2
    assert result.refused["row"].tolist() == [4, 6] and [r[:5] for r in result.refused["reason"]] == ["[C16]", "[C15]"]
    assert result.refused["reason"].tolist()[1] == (
        "[C15] 这一行是合计行（“证件号码”写的是“合计”），不是某一个人的数据，不能申报或导入。"
        "请删除这一行：各项合计见汇总表。")


def test_the_sign_off_lines_at_the_foot_of_an_export_are_refused_as_such(tmp_path, ledger):
    rows = [paid("101"), paid("102"), ["打印时间：2026-11-25 10:30", "", "", "", "", "制表人：刘敏"],
            ["注：本表金额单位为元"], ["1、个人缴费含补缴。"]]
    result = import_file(ledger, payments_xls(tmp_path / "缴费明细.xls", rows), "payments")
    assert result.counts["new"] == 2 and result.counts["refused"] == 3
    assert [r[:5] for r in result.refused["reason"]] == ["[C17]"] * 3
    assert result.refused["reason"].tolist()[0].startswith(
        "[C17] 这一行是表格下方的签字、说明或翻页文字（“证件号码”写的是“打印时间：")


def test_money_text_of_a_web_export_is_imported_as_the_amount(tmp_path, ledger):
    rows = [paid("101"), paid("102")]
    rows[0][6], rows[1][6], rows[1][7] = "1,000.00", "¥100", "12元"
    result = import_file(ledger, payments_xls(tmp_path / "缴费明细.xls", rows), "payments")
    assert result.counts == {"new": 2, "changed": 0, "unchanged": 0, "refused": 0}
    view = ledger.view([pid(seq="101"), pid(seq="102")])
    assert sorted(view.paid["personal"].tolist()) == [10000, 100000] and view.paid["province"].tolist() == [1200] * 2


def test_an_unreadable_export_says_so_in_one_sentence(tmp_path, ledger):
    bad = tmp_path / "缴费明细.xlsx"
    bad.write_bytes(b"PK\x03\x04 not a workbook")
    result = import_file(ledger, bad, "payments")
    line = result.summary_line()
    assert result.exit_code == 2 and "[F01]" in line and line.endswith("后重新提交。台账未做任何改动。")
    assert "。。" not in line and ledger.status()["payment_records"] == 0


def payments_sheets(path, sheets, header_once=False):
    """An old system's .xls export split over sheets: each sheet its title row, the header and its rows (with
    ``header_once``, the sheets after the first hold the rows alone, from their first row)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for n, (name, rows) in enumerate(sheets.items()):
        ws = book.add_sheet(name)
        lines = rows if header_once and n else [["缴费明细导出"], PAY_HEAD, *rows]
        for r, values in enumerate(lines):
            for c, v in enumerate(values):
                ws.write(r, c, v)
    book.save(str(path))
    return path


def test_an_export_split_over_sheets_is_imported_whole_with_each_sheets_errors_named_by_sheet(tmp_path, ledger):
    """Old systems split a big .xls export over sheets of 65,536 rows: every sheet is imported, a person-year
    whose records fall on two sheets is summed whole, and the rows refused are listed per sheet."""
    bad = paid("102")
    bad[0] = "123"
    path = payments_sheets(tmp_path / "缴费明细.xls", {
        "Sheet1": [paid("101"), paid("102"), bad],
        "Sheet2": [paid("102", personal=-10), paid("099", 2023), ["", "", "", "", ""], bad]})
    result = import_file(ledger, path, "payments", out_dir=tmp_path / "out")
    assert result.counts == {"new": 3, "changed": 0, "unchanged": 0, "refused": 2} and result.exit_code == 1
    assert result.sheets == ["Sheet1", "Sheet2"] and "读取了 2 张工作表：Sheet1、Sheet2" in result.summary_line()
    data = result.as_json()
    assert data["sheets"] == ["Sheet1", "Sheet2"] and "sheet" not in data and len(data["outputs"]["errors_all"]) == 2
    assert "F10" not in result.summary_line()
    view = ledger.view([pid(seq="102")])
    assert view.paid.loc[0, "personal"] == 9000 and view.paid.loc[0, "records"] == 2  # both sheets' records
    assert ledger.db.execute("SELECT sheet, rows FROM sources").fetchall() == [("Sheet1、Sheet2", 4)]
    names = ["缴费明细_Sheet1_导入错误.xlsx", "缴费明细_Sheet2_导入错误.xlsx"]
    assert [Path(f).name for f in result.errors_files] == names
    for name in names:
        sheet = load_workbook(tmp_path / "out" / name).active
        rows = [r for r in sheet.iter_rows(values_only=True) if r[0] == "123"]
        assert len(rows) == 1 and "C03" in rows[0][-1]
    assert result.refused[["sheet", "row"]].values.tolist() == [["Sheet1", 5], ["Sheet2", 6]]
    assert [result.where(r.row, r.sheet) for r in result.refused.itertuples()] == ["工作表“Sheet1”第 5 行",
                                                                                     "工作表“Sheet2”第 6 行"]
    again = import_file(ledger, path, "payments", out_dir=tmp_path / "out")
    assert again.already and again.already_refused == 2


def test_a_sheet_without_a_header_that_goes_on_with_the_first_is_read_under_its_header(tmp_path, ledger):
    """The header on the first sheet only: the next sheet's rows (an ID in the ID column, no wider than the
    table) are read under it, at their own rows, and the line says so; a sheet of notes is not."""
    bad = paid("104")
    bad[0] = "4303"
    path = payments_sheets(tmp_path / "缴费明细.xls", {"Sheet1": [paid("101"), paid("102")],
                                                      "Sheet2": [paid("102", personal=-10), paid("103"), bad],
                                                      "说明": [["本表由系统导出"], ["如有疑问请联系信息中心"]],
                                                      "宽表": [[*paid("105"), "", "备注"]]},  # wider: another table
                           header_once=True)
    result = import_file(ledger, path, "payments", out_dir=tmp_path / "out")
    assert result.sheets == ["Sheet1", "Sheet2"] and result.counts["new"] == 3 and result.counts["refused"] == 1
    assert "（工作表“Sheet2”没有表头，按工作表“Sheet1”的表头读取）" in result.summary_line()
    assert result.refused[["sheet", "row"]].values.tolist() == [["Sheet2", 3]]  # its own row in Sheet2
    assert int(ledger.view([pid(seq="102")]).paid.loc[0, "records"]) == 2


def test_a_record_written_again_at_the_top_of_the_next_sheet_is_p14_naming_the_first_sheet(tmp_path, ledger):
    """An old system that split its export over sheets and wrote a sheet's last record again at the top of
    the next: the repeat is P14 (a warning; imported as exported, listed), naming where the first one is."""
    path = payments_sheets(tmp_path / "缴费明细.xls", {"Sheet1": [paid("101"), paid("102"), paid("101", 2023)],
                                                      "Sheet2": [paid("102"), paid("103"), paid("103"), paid("102")]})
    result = import_file(ledger, path, "payments", out_dir=tmp_path / "out")
    p14 = sorted((f.row, f.message) for f in result.check.findings if f.code == "P14")
    assert [(row, message.split("（")[0]) for row, message in p14] == [
        (3, "这条缴费记录与本表工作表“Sheet1”第 4 行完全相同"), (5, "这条缴费记录与本表第 4 行完全相同"),
        (6, "这条缴费记录与本表第 3 行完全相同")]  # once each: a repeat within its sheet names that sheet's first
    assert result.repeated == 3 and result.exit_code == 0
    assert [Path(f).name for f in result.errors_files] == ["缴费明细_Sheet2_导入错误.xlsx"]
    assert int(ledger.view([pid(seq="102")]).paid.loc[0, "records"]) == 3  # imported as the export says


def test_two_files_of_one_name_keep_their_own_error_workbooks_and_the_first_is_told_where_its_are(tmp_path, ledger):
    """明细.xls and then 明细.csv (another export of the same name) imported into one --out, each with a row
    refused: the second's error workbook does not replace the first's, and importing the first again names
    the workbook that lists its rows (it named NAME_导入错误.xlsx, by then the second file's)."""
    bad = paid("103")
    bad[0] = "123"
    first = payments_xls(tmp_path / "明细.xls", [paid("101"), bad])
    second = tmp_path / "明细.csv"
    second.write_bytes(("\r\n".join([",".join(PAY_HEAD), ",".join(map(str, paid("102"))), "456,李四"]) + "\r\n")
                       .encode("gb18030"))
    out = tmp_path / "out"
    one = import_file(ledger, first, "payments", out_dir=out)
    two = import_file(ledger, second, "payments", out_dir=out)
    assert [Path(one.errors_file).name, Path(two.errors_file).name] == ["明细_导入错误.xlsx", "明细_导入错误_2.xlsx"]
    assert load_workbook(out / "明细_导入错误.xlsx").active["A3"].value == "123"
    assert load_workbook(out / "明细_导入错误_2.xlsx").active["A2"].value == "456"
    again = import_file(ledger, first, "payments", out_dir=out)
    assert "当时有 1 行因有错误未导入（见 明细_导入错误.xlsx）" in again.summary_line()
    (out / "明细_导入错误.xlsx").rename(out / "明细_导入错误_已改.xlsx")  # the clerk renames it: still found
    assert "（见 明细_导入错误_已改.xlsx）" in import_file(ledger, first, "payments", out_dir=out).summary_line()
    repeat = import_file(ledger, second, "payments", out_dir=out)
    assert "（见 明细_导入错误_2.xlsx）" in repeat.summary_line()


def test_a_sheet_of_another_kind_or_without_a_needed_column_is_named_not_read(tmp_path, ledger):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "明细"
    for line in (PAY_HEAD, paid("101"), paid("102")):
        wb.active.append(line)
    roster, more = wb.create_sheet("花名册"), wb.create_sheet("补充")
    for line in (ROSTER_HEAD, person("103")):
        roster.append(line)
    for line in ([h for h in PAY_HEAD if h != "费款所属期"], paid("104")[:2] + paid("104")[3:]):
        more.append(line)
    wb.save(tmp_path / "缴费明细.xlsx")
    result = import_file(ledger, tmp_path / "缴费明细.xlsx", "payments")
    assert result.counts["new"] == 2 and result.sheets == ["明细"] and result.exit_code == 1
    line = result.summary_line()
    assert "工作表“补充”也有一张表格（缴费明细，1 行，缺少“缴费年度”列），这次只处理了工作表“明细”" in line
    assert "工作表“花名册”也有一张表格" in line and "读取了" not in line and "。；" not in line
    assert ledger.status()["payment_records"] == 2


def test_an_export_of_more_sheets_than_the_limit_imports_the_first_and_names_the_rest(tmp_path):
    from xlflow.io.settings import Settings

    path = payments_sheets(tmp_path / "缴费明细.xls", {f"S{n}": [paid(f"{100 + n}")] for n in range(4)})
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "payments", settings=Settings(max_sheets=2))
        assert result.sheets == ["S0", "S1"] and result.counts["new"] == 2 and result.exit_code == 1
        assert "工作表“S3”也有一张表格（缴费明细，1 行），这次只处理了前 2 张工作表" in result.summary_line()
