"""The watched folder's edges (issue 21): odd names, files that vanish or change while checked, copies not
yet complete, symlinks; ID numbers masked in the log however they are written; data never a formula."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import ROOT, RULE_HEADERS, good_rules, rule, write_workbook
from test_validate import COLUMNS, TODAY, declaration, pid, row
from test_watch import age, drop, inbox, names, results, ws  # noqa: F401  (the ws fixture)
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.watch import Watcher, mask_ids
from xlflow.watch.files import _whole_compound_file


def log_of(root: Path) -> str:
    return (root / "xlflow.log").read_text(encoding="utf-8")


FULL = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("written", [
    lambda i: f"{i[:6]} {i[6:14]} {i[14:]}", lambda i: i.translate(FULL), lambda i: i[:6] + i[8:17],
    lambda i: i[:6] + "\u3000" + i[6:]])
def test_ids_are_masked_in_the_log_however_they_are_written(ws, tmp_path, written):  # noqa: F811
    name = f"申报{written(pid())}.xlsx"
    drop(ws, declaration(tmp_path, [row()]), name)
    with Watcher(ws, settle=0) as watcher:
        watcher.process_pending()
    log = log_of(ws)
    assert "01011" not in log.replace(" ", "").replace("\u3000", "")  # the birth date and sequence are hidden
    assert "430321" in log and "已处理" in log


def test_a_line_break_in_a_name_cannot_forge_a_log_line(ws, tmp_path):  # noqa: F811
    drop(ws, declaration(tmp_path, [row()]), "a\n2026-01-01 00:00:00\t伪造.xlsx")
    with Watcher(ws, settle=0) as watcher:
        (outcome,) = watcher.process_pending()
    assert outcome.state == "done"
    lines = log_of(ws).splitlines()
    assert len(lines) == 1 and "\\x0a" in lines[0]


def test_a_name_of_250_bytes_is_processed_and_does_not_stop_the_others(ws, tmp_path):  # noqa: F811
    long = "申" * 80 + "x" * 6 + ".xlsx"  # 246 bytes
    assert 240 <= len(long.encode()) <= 255
    drop(ws, declaration(tmp_path, [row(), row(id_number="1")]), long)
    drop(ws, declaration(tmp_path, [row()], name="b.xlsx"))
    with Watcher(ws, settle=0) as watcher:
        outcomes = watcher.process_pending()
    assert sorted(o.state for o in outcomes) == ["done", "done"]
    assert names(inbox(ws)) == sorted(["参保人员信息", "缴费明细", "名单"])
    folder = next(o.folder for o in outcomes if o.name == long)
    assert len(folder.name.encode()) <= 255 and any(p.name.endswith("_错误数据.xlsx") for p in folder.iterdir())


def test_a_name_that_is_not_utf8_goes_to_failed_with_a_reason(ws, tmp_path):  # noqa: F811
    raw = os.fsencode(inbox(ws)) + b"/\xb8\xdf\xc9\xfd.xlsx"  # GBK bytes on a UTF-8 file system
    Path(os.fsdecode(raw)).write_bytes(declaration(tmp_path, [row()]).read_bytes())
    drop(ws, declaration(tmp_path, [row()], name="b.xlsx"))
    with Watcher(ws, settle=0) as watcher:
        outcomes = watcher.process_pending()
    assert sorted(o.state for o in outcomes) == ["done", "failed"]
    failed = names(ws / "无法处理")
    assert any(n.endswith("_原因.txt") for n in failed) and len(failed) == 2
    reason = next(p for p in (ws / "无法处理").iterdir() if p.name.endswith("_原因.txt"))
    assert "无法识别的字符" in reason.read_text(encoding="utf-8-sig")


def test_a_symlink_is_refused_with_a_reason_and_its_target_left_alone(ws, tmp_path):  # noqa: F811
    target = declaration(tmp_path, [row()], name="真文件.xlsx")
    (inbox(ws) / "快捷方式.xlsx").symlink_to(target)
    with Watcher(ws, settle=0) as watcher:
        (outcome,) = watcher.process_pending()
    assert outcome.state == "failed" and "符号链接" in outcome.line
    assert target.exists() and (ws / "无法处理" / "快捷方式.xlsx").is_symlink()
    assert (ws / "无法处理" / "快捷方式_原因.txt").exists()


def test_a_file_deleted_between_the_listing_and_its_work_is_skipped(ws, tmp_path, monkeypatch):  # noqa: F811
    gone = drop(ws, declaration(tmp_path, [row()], name="gone.xlsx"))
    drop(ws, declaration(tmp_path, [row()], name="kept.xlsx"))
    with Watcher(ws, settle=0) as watcher:
        listed = watcher.pending
        monkeypatch.setattr(watcher, "pending", lambda *a: [*listed(*a), gone.unlink()][:-1])
        outcomes = watcher.process_pending()
    assert [o.name for o in outcomes] == ["kept.xlsx"]


def test_a_file_changed_while_it_was_checked_is_not_archived_and_is_done_again(ws, tmp_path):  # noqa: F811
    path = drop(ws, declaration(tmp_path, [row()], name="a.xlsx"))
    with Watcher(ws, settle=0) as watcher:
        real = watcher._work

        def copy_still_running(p, out):
            work = real(p, out)
            with open(p, "ab") as fh:
                fh.write(b"more bytes")
            return work

        watcher._work = copy_still_running
        assert watcher.process_pending() == []
        assert path.exists() and names(ws / "已处理") == [] and names(ws / "处理结果") == []
        watcher._work = real
        path.write_bytes(declaration(tmp_path, [row()], name="a2.xlsx").read_bytes())
        age(path)
        (outcome,) = watcher.process_pending()
    assert outcome.state == "done" and names(ws / "已处理") == ["a.xlsx"]


def test_a_csv_must_look_the_same_twice_and_an_xls_be_whole(ws, tmp_path):  # noqa: F811
    csv = inbox(ws) / "a.csv"
    csv.write_bytes(",".join(COLUMNS).encode("gb18030") + b"\r\n")
    age(csv)
    with Watcher(ws, settle=0.01) as watcher:
        assert watcher.pending() == []  # first look
        assert watcher.pending() == [csv]  # unchanged at the second
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("a")
    for r in range(300):
        sheet.write(r, 0, f"第 {r} 行" * 20)
    whole = tmp_path / "a.xls"
    book.save(str(whole))
    half = tmp_path / "half.xls"
    half.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    assert _whole_compound_file(whole) and not _whole_compound_file(half)


def test_formula_like_names_in_a_rule_table_are_refused(tmp_path):
    bad = "=cmd|' /C calc'!A0"
    rows = good_rules() + [rule("一档", bad, h, 0, 12, 9.9, 8.1, 100) for h in ("农业户籍", "城镇户籍")]
    path = write_workbook(tmp_path / "r.xlsx", [["规则"], RULE_HEADERS, *rows])
    wb = load_workbook(path)
    for cell in wb.active["C"]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"  # text, as a clerk's cell would hold it
    wb.save(path)
    out = CliRunner().invoke(main, ["rules", "check", str(path), "--json"])
    assert out.exit_code == 1 and '"C14"' in out.output


def test_text_that_starts_like_a_formula_is_written_quote_prefixed(tmp_path, book):
    grid = [COLUMNS, ["" if v is None else v for v in row()], ["" if v is None else v for v in row(name="@王五")]]
    grid[1][-1] = "=1+2"
    csv = tmp_path / "d.csv"
    csv.write_text("\r\n".join(",".join(map(str, r)) for r in grid), encoding="utf-8")
    result = process_workbook(csv, book, tmp_path / "out", today=TODAY)
    corrected = load_workbook(result.outputs["corrected"]).active
    errors = load_workbook(result.outputs["errors"]).active
    note = next(c for r in corrected.iter_rows() for c in r if c.value == "=1+2")
    name = next(c for r in errors.iter_rows() for c in r if c.value == "@王五")
    assert note.data_type == "s" and note.quotePrefix and name.data_type == "s" and name.quotePrefix


def test_control_characters_are_removed_before_the_ledger(tmp_path):
    from test_faults import ROSTER_HEAD
    from xlflow.app.imports import import_file
    from xlflow.store.ledger import Ledger

    path = tmp_path / "r.csv"
    path.write_bytes((",".join(ROSTER_HEAD) + "\r\n" + f"{pid()},\x1b[31m张\x07三\u202e,农业,正常缴费,051,,4303\x0002")
                     .encode("utf-8"))
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "roster")
        assert result.counts["new"] == 1
        assert store.view([pid()]).persons.loc[pid(), ["name", "area"]].tolist() == ["张三", "430302"]
    x01 = [f.cell for f in result.check.findings if f.code == "X01"]
    assert len(x01) == 2 and not [f for f in result.check.findings if f.severity == "error"]


def test_mask_ids_reads_ids_as_the_cell_pass_does():
    assert mask_ids("430302 19780101 0008") == "430302********0008"
    assert mask_ids("43030219780101000x") == "430302********000X"
    assert mask_ids("430302780101000") == "430302*****1000"
    assert mask_ids("电话 13800138000，金额 123456") == "电话 13800138000，金额 123456"
    assert mask_ids("430302-19780101-0008，430302/19780101/0008") == "430302********0008，430302********0008"
    assert mask_ids("申报日期 2026.11.20") == "申报日期 2026.11.20"


def test_a_header_under_45_note_rows_is_found(tmp_path, book):
    notes = [[f"填表说明第 {n} 条：请按身份证填写。"] for n in range(1, 46)]
    path = write_workbook(tmp_path / "d.xlsx", [*notes, COLUMNS, row()])
    result = process_workbook(path, book, tmp_path / "out", today=TODAY)
    assert result.kind == "declaration" and result.rows == 1 and result.error_rows == set()


def test_a_pipe_given_as_the_file_is_said_to_be_no_regular_file(tmp_path):
    fifo = tmp_path / "d.xlsx"
    os.mkfifo(fifo)
    out = CliRunner().invoke(main, ["validate", str(fifo), "--out", str(tmp_path / "o")])
    assert out.exit_code == 2 and "不是一个普通文件" in out.output


def test_the_same_payment_record_repeated_in_one_export_is_a_warning_listed_in_the_error_workbook(tmp_path):
    from test_faults import payments_csv
    from xlflow.app.imports import import_file
    from xlflow.store.ledger import Ledger

    path = payments_csv(tmp_path / "缴费明细.csv", [pid()] * 1000 + [pid(seq="124")])
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "payments", out_dir=tmp_path / "out")
        paid = store.view([pid()]).paid
    p14 = [f for f in result.check.findings if f.code == "P14"]
    assert len(p14) == 999 and p14[0].severity == "warning" and "本表第 2 行" in p14[0].message
    assert result.exit_code == 0 and "完全相同的缴费记录 999 行" in result.summary_line()
    listed = load_workbook(result.errors_file).worksheets[0]
    assert listed.max_row - 1 == 999  # the header row and the 999 repeats
    assert int(paid.loc[0, "records"]) == 1000  # imported as the export says, and said so


ADOPT_KILLER = """
import os, signal, sys
sys.path.insert(0, {src!r})
from xlflow.io import adopting
from xlflow.watch import watcher as watch

where, calls = sys.argv[2], []

def dying(real, name):
    def run(*args):
        calls.append(name)
        if calls.count(name) == int(where.split(":")[1]) and where.startswith(name):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args)
    return run

adopting._copy_whole = dying(adopting._copy_whole, "copy")
watch._write_text = dying(watch._write_text, "result")
watch._move = dying(watch._move, "move")
with watch.Watcher(sys.argv[1], settle=0) as watcher:
    watcher.process_pending()
"""


@pytest.mark.parametrize("where", ["copy:1", "copy:2", "result:1", "move:1"])
def test_a_kill_during_a_rule_tables_adoption_is_finished_once(ws, tmp_path, rules_file, where):  # noqa: F811
    """SIGKILL before the old table is kept, before the new one is in place, before the result is committed
    and before the input is moved: the next watcher ends with one 停用 copy and says the table was adopted."""
    old = (ws / "征缴规则表.xlsx").read_bytes()
    new = rules_file(good_rules(), name="新规则.xlsx")
    drop(ws, new)
    killed = subprocess.run([sys.executable, "-c", ADOPT_KILLER.format(src=str(ROOT / "src")), str(ws), where],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with Watcher(ws, settle=0) as watcher:
        outcomes = watcher.process_pending()
        assert len(watcher.book.frame) == len(good_rules())
    [outcome] = outcomes
    assert outcome.kind == "rules" and "已启用" in outcome.line and "未做改动" not in outcome.line, outcome.line
    kept = [p for p in ws.iterdir() if "_停用_" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == old and kept[0].name in outcome.line
    assert (ws / "征缴规则表.xlsx").read_bytes() == new.read_bytes()
    assert not [p for p in ws.iterdir() if p.name.endswith((".adopting", ".tmp"))]
    assert names(ws / "已处理") == ["新规则.xlsx"] and len(results(ws)) == 1
    drop(ws, new, "再放一次.xlsx")  # the same table again, after the adoption: nothing to do, and said so
    with Watcher(ws, settle=0) as watcher:
        [again] = watcher.process_pending()
    assert "未做改动" in again.line and len([p for p in ws.iterdir() if "_停用_" in p.name]) == 1
