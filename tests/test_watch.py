"""xlflow watch: drop files into a workspace inbox, process, and assert the folders a clerk sees.

The loop body (``Watcher.process_pending``) is called directly, with file ages set rather than slept
for; one fault test runs the real command and kills it with SIGKILL at random moments."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import EXAMPLES, RULE_HEADERS, good_rules, write_workbook
from test_ledger import paid, payments_xls, person, roster_csv
from test_validate import declaration, pid, row
from xlflow.app.workspace import init_workspace
from xlflow.cli import main
from xlflow.watch import Watcher, WatchError, mask_ids


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "工作 目录"
    init_workspace(root)
    return root


def inbox(ws: Path) -> Path:
    return ws / "待处理"


def age(path: Path, seconds: float = 100) -> Path:
    """Make a file look as if it was last written ``seconds`` ago (a completed copy)."""
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def drop(ws: Path, source: Path, name: str | None = None, sub: str = "") -> Path:
    target = inbox(ws) / sub / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return age(target)


def results(ws: Path) -> list[Path]:
    return sorted(p for p in (ws / "处理结果").iterdir())


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_dropped_declaration_gets_a_result_folder_and_moves_to_the_archive(ws, tmp_path):
    source = declaration(tmp_path, [row(), row(id_number="123")], name="某镇 申报表（第1批）.xlsx")
    drop(ws, source)
    with Watcher(ws, settle=0) as watcher:
        [outcome] = watcher.process_pending()
    assert outcome.state == "done" and outcome.rows == 2 and outcome.errors == 1
    [folder] = results(ws)
    assert folder.name.startswith("某镇 申报表（第1批）_")
    assert names(folder) == ["某镇 申报表（第1批）_更正.xlsx", "某镇 申报表（第1批）_汇总.xlsx",
                             "某镇 申报表（第1批）_错误数据.xlsx", "结果.txt"]  # fmt: skip
    text = (folder / "结果.txt").read_text(encoding="utf-8-sig")
    assert "共 2 条：通过 1 条，错误 1 条" in text and "[C03]" in text
    assert names(ws / "已处理") == ["某镇 申报表（第1批）.xlsx"]
    assert [p.name for p in inbox(ws).iterdir() if p.is_file()] == []
    log = (ws / "xlflow.log").read_text(encoding="utf-8")
    assert "某镇 申报表（第1批）.xlsx\t申报表\t2 行\t错误 1 行\t已处理" in log


def test_a_file_that_cannot_be_used_goes_to_failed_with_the_reason(ws, tmp_path):
    bad = inbox(ws) / "坏文件.xlsx"
    bad.write_bytes(b"PK\x03\x04 not a workbook")
    age(bad, 600)  # a zip that never opens is processed once it is old enough: F01
    other = write_workbook(tmp_path / "通讯录.xlsx", [["电话", "地址"], ["123", "某村"]])
    drop(ws, other)
    with Watcher(ws, settle=0) as watcher:
        outcomes = watcher.process_pending()
    assert {o.name: o.state for o in outcomes} == {"坏文件.xlsx": "failed", "通讯录.xlsx": "failed"}
    assert names(ws / "无法处理") == ["坏文件.xlsx", "坏文件_原因.txt", "通讯录.xlsx", "通讯录_原因.txt"]
    reason = (ws / "无法处理" / "坏文件_原因.txt").read_text(encoding="utf-8-sig")
    assert "[F01]" in reason and "另存为 .xlsx" in reason
    assert "子文件夹" in (ws / "无法处理" / "通讯录_原因.txt").read_text(encoding="utf-8-sig")  # F02: where exports go
    assert results(ws) == []


def test_lock_temporary_and_hidden_files_are_ignored(ws, tmp_path):
    source = declaration(tmp_path, [row()])
    for name in ("~$decl.xlsx", ".~lock.decl.xlsx#", "decl.tmp", ".hidden.xlsx", "Thumbs.db", "desktop.ini"):
        drop(ws, source, name)
    drop(ws, source, "decl.xlsx", sub=".隐藏")
    with Watcher(ws, settle=0) as watcher:
        assert watcher.process_pending() == []
    assert results(ws) == [] and names(ws / "已处理") == []
    assert not (ws / "无法处理").exists() or names(ws / "无法处理") == []


def test_a_file_still_being_copied_is_not_touched_until_it_is_complete(ws, tmp_path):
    whole = declaration(tmp_path, [row()]).read_bytes()
    target = inbox(ws) / "decl.xlsx"
    target.write_bytes(whole[: len(whole) // 2])  # the first half of a copy
    with Watcher(ws, settle=1.0) as watcher:
        assert watcher.process_pending() == []  # just written
        age(target, 5)
        assert watcher.process_pending() == []  # old enough, but the zip does not open yet
        with open(target, "ab") as fh:
            fh.write(whole[len(whole) // 2:])
        age(target, 5)  # a copy that keeps the source's time: old, and the zip opens, but it grew
        assert watcher.process_pending() == []
        [outcome] = watcher.process_pending()  # unchanged since the last look
    assert outcome.state == "done" and outcome.rows == 1


def test_the_same_name_dropped_again_is_processed_again_and_nothing_is_overwritten(ws, tmp_path):
    with Watcher(ws, settle=0) as watcher:
        drop(ws, declaration(tmp_path, [row()]))
        first = watcher.process_pending()
        drop(ws, declaration(tmp_path, [row(), row(id_number=pid(seq="124"))]))
        second = watcher.process_pending()
    assert [o.rows for o in first + second] == [1, 2]
    assert len(results(ws)) == 2 and first[0].folder != second[0].folder
    assert len(names(ws / "已处理")) == 2 and "decl.xlsx" in names(ws / "已处理")


def test_ledger_exports_from_their_sub_folders_come_first(ws, tmp_path):
    drop(ws, declaration(tmp_path, [row(id_number=pid(seq="101"), year=2024)]))
    drop(ws, roster_csv(tmp_path / "r.csv", [person("101")]), "参保人员信息.csv", sub="参保人员信息")
    drop(ws, payments_xls(tmp_path / "p.xls", [paid("101", 2024)]), "缴费明细.xls", sub="缴费明细")
    lists = write_workbook(tmp_path / "l.xlsx", [["身份证号码", "姓名"], [pid(seq="101"), "张三"]])
    drop(ws, lists, "名单.xlsx", sub="名单/低保对象")
    with Watcher(ws, settle=0) as watcher:
        outcomes = watcher.process_pending()
    assert [o.kind for o in outcomes] == ["roster", "payments", "list", "declaration"]
    assert outcomes[-1].errors == 1  # P08: 2024 is already paid, known from the payments just imported
    assert "P08" in (outcomes[-1].folder / "结果.txt").read_text(encoding="utf-8-sig")



def test_an_export_with_refused_rows_names_them_in_its_result_text(ws, tmp_path):
    rows = [paid(f"{n:03d}") for n in range(101, 126)]
    for r in rows[1:]:  # 24 of 25 with a wrong check digit: C04, refused
        r[0] = r[0][:-1] + ("0" if r[0][-1] != "0" else "1")
    rows[1][2] = ""  # and no 费款所属期: two problems in one row, told as one sentence list
    drop(ws, payments_xls(tmp_path / "p.xls", rows), "缴费明细.xls", sub="缴费明细")
    with Watcher(ws, settle=0) as watcher:
        (outcome,) = watcher.process_pending()
    text = (outcome.folder / "结果.txt").read_text(encoding="utf-8-sig")
    assert "未导入的行及原因见 缴费明细_导入错误.xlsx" in text
    assert "请对照身份证原件核对；[C01]" in text and "。；" not in text
    assert "第 4 行：[C04]" in text and "第 23 行：" in text and "第 24 行：" not in text  # the first 20
    assert "……共 24 行未导入，其余见导入错误表。" in text


def test_a_list_of_two_sheets_dropped_in_is_imported_whole_and_its_refused_rows_name_their_sheet(ws, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "城市低保"
    wb.active.append(["身份证号码", "姓名"])
    wb.active.append([pid(seq="101"), "张三"])
    rural = wb.create_sheet("农村低保")
    for line in (["身份证号码", "姓名"], [pid(seq="102"), "李四"], ["4303", "王五"]):
        rural.append(line)
    wb.save(tmp_path / "l.xlsx")
    drop(ws, tmp_path / "l.xlsx", "名单.xlsx", sub="名单/低保对象")
    with Watcher(ws, settle=0) as watcher:
        (outcome,) = watcher.process_pending()
    text = (outcome.folder / "结果.txt").read_text(encoding="utf-8-sig")
    assert "新增 2 人" in text and "读取了 2 张工作表：城市低保、农村低保" in text
    assert "未导入的行及原因见 名单_农村低保_导入错误.xlsx" in text and "工作表“农村低保”第 3 行：[C03]" in text
    assert (outcome.folder / "名单_农村低保_导入错误.xlsx").exists()


def test_a_workbook_of_two_townships_dropped_in_gets_a_set_of_results_per_sheet(ws, tmp_path):
    from test_validate import townships

    drop(ws, townships(tmp_path / "两镇.xlsx", second=[row(name="赵六", id_number=pid(seq="556")),
                                                      row(name="钱七", id_number="123")]))
    with Watcher(ws, settle=0) as watcher:
        (outcome,) = watcher.process_pending()
    assert outcome.rows == 4 and outcome.errors == 1
    made = sorted(p.name for p in outcome.folder.iterdir() if p.suffix == ".xlsx")
    assert made == ["两镇_镇一_更正.xlsx", "两镇_镇一_汇总.xlsx", "两镇_镇二_更正.xlsx", "两镇_镇二_汇总.xlsx",
                    "两镇_镇二_错误数据.xlsx"]
    text = (outcome.folder / "结果.txt").read_text(encoding="utf-8-sig")
    assert "2 张工作表各自检查" in text and "工作表“镇二”共 2 条：通过 1 条，错误 1 条" in text
    assert "工作表“镇二”：C7 [C03]" in text and "工作表“镇一”：" in text


def test_a_clean_rule_table_is_adopted_and_a_bad_one_is_not(ws, tmp_path, rules_file):
    old = (ws / "征缴规则表.xlsx").read_bytes()
    bad = rules_file([*good_rules(), good_rules()[0]], name="坏规则.xlsx")  # R01: the same rule twice
    drop(ws, bad)
    with Watcher(ws, settle=0) as watcher:
        [outcome] = watcher.process_pending()
        assert outcome.kind == "rules" and "未启用" in outcome.line
        assert (ws / "征缴规则表.xlsx").read_bytes() == old
        drop(ws, rules_file(good_rules(), name="新规则.xlsx"))
        [outcome] = watcher.process_pending()
        assert "已启用" in outcome.line
        assert len(watcher.book.frame) == len(good_rules())
    kept = [p for p in ws.iterdir() if p.name.startswith("征缴规则表_停用_")]
    assert len(kept) == 1 and kept[0].read_bytes() == old
    assert RULE_HEADERS  # the table was built from the shared headers


def test_a_second_watcher_on_the_same_workspace_refuses_to_start(ws):
    with Watcher(ws, settle=0):
        with pytest.raises(WatchError, match="已有一个 xlflow watch 在运行"):
            Watcher(ws).__enter__()
        result = CliRunner().invoke(main, ["watch", str(ws), "--once"])
        assert result.exit_code == 2 and "只能运行一个" in result.output


def test_ids_are_masked_in_the_log(ws, tmp_path):
    drop(ws, declaration(tmp_path, [row()]), f"{pid()}.xlsx")
    with Watcher(ws, settle=0) as watcher:
        watcher.process_pending()
    log = (ws / "xlflow.log").read_text(encoding="utf-8")
    assert pid() not in log and mask_ids(pid()) in log and mask_ids(pid()) == pid()[:6] + "********" + pid()[-4:]


def test_recovery_finishes_a_committed_file_and_redoes_an_uncommitted_one(ws, tmp_path, monkeypatch):
    import xlflow.watch.watcher as w

    drop(ws, declaration(tmp_path, [row()], name="a.xlsx"))
    drop(ws, declaration(tmp_path, [row()], name="b.xlsx"))
    calls = []
    real_move = w._move

    def crash_on_first_move(source, target):  # killed between the commit and moving the input
        calls.append(source.name)
        raise KeyboardInterrupt

    with Watcher(ws, settle=0) as watcher:
        monkeypatch.setattr(w, "_move", crash_on_first_move)
        with pytest.raises(KeyboardInterrupt):
            watcher.process_pending()
    leftover = tmp_path / "leftover.partial"  # and a half-written result of the other file
    (ws / "处理结果" / ".b_x.partial").mkdir()
    monkeypatch.setattr(w, "_move", real_move)
    with Watcher(ws, settle=0) as watcher:
        outcomes = watcher.process_pending()
    assert calls == ["a.xlsx"]
    assert [(o.name, o.recovered) for o in outcomes] == [("a.xlsx", True), ("b.xlsx", False)]
    assert names(ws / "已处理") == ["a.xlsx", "b.xlsx"]
    assert [p.name.split("_")[0] for p in results(ws)] == ["a", "b"]  # one complete folder each, no partial
    assert not leftover.exists()


def _watch(ws: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xlflow", "watch", str(ws), "--poll", "0.1", "--settle", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (its workers and theirs), read from /proc: only this test's own."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        one = todo.pop()
        kids = [p for p, parent in parents.items() if parent == one]
        found.update(kids)
        todo.extend(kids)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _journal_in_works(ledger: Path) -> bool:
    """Whether the journal says a file was being processed (a watcher killed before it made the journal
    has none: nothing was in the works)."""
    import sqlite3

    if not ledger.exists():
        return False
    with sqlite3.connect(ledger) as db:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal'").fetchone() is None:
            return False
        return bool(db.execute("SELECT COUNT(*) > 0 FROM journal WHERE state = 'processing'").fetchone()[0])


def test_killed_at_random_moments_nothing_is_lost_or_done_twice(ws, tmp_path):
    """The watcher as a real process, SIGKILLed again and again while it works (bounded: 15 kills or 90 s)."""
    rng = random.Random(38)
    inputs = []
    for i in range(12):
        rows = [row(id_number=pid(seq=f"{j % 1000:03d}", birth=f"19{50 + j // 1000}0101"))
                for j in range(rng.randint(200, 3000))]
        if i % 3 == 0:
            rows.append(row(id_number="bad"))
        inputs.append(drop(ws, declaration(tmp_path, rows, name=f"申报 {i}.xlsx")).name)
    broken = inbox(ws) / "坏.xlsx"
    broken.write_bytes(b"PK\x03\x04 broken")
    age(broken, 600)
    inputs.append(broken.name)
    workers: set[int] = set()
    kills, mid_file, started = 0, 0, time.monotonic()
    while kills < 15 and time.monotonic() - started < 90 and any(inbox(ws).glob("*.xlsx")):
        proc = _watch(ws)
        time.sleep(rng.uniform(1.0, 3.0))
        workers |= _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        mid_file += _journal_in_works(ws / "台账.sqlite")  # killed while a file was in the works?
    final = subprocess.run([sys.executable, "-m", "xlflow", "watch", str(ws), "--once", "--settle", "0"],
                           capture_output=True, timeout=120)
    assert final.returncode == 0, final.stderr.decode()
    archived, failed = names(ws / "已处理"), [n for n in names(ws / "无法处理") if not n.endswith("_原因.txt")]
    assert sorted(archived + failed) == sorted(inputs)  # each input in exactly one place
    assert (ws / "无法处理" / "坏_原因.txt").exists()
    for name in set(failed) - {"坏.xlsx"}:  # only a file that was in the works at 10 kills in a row
        assert "次中断" in (ws / "无法处理" / f"{Path(name).stem}_原因.txt").read_text(encoding="utf-8-sig")
    folders = results(ws)
    assert sorted(p.name.rsplit("_", 1)[0] for p in folders) == sorted(Path(n).stem for n in archived)
    for folder in folders:  # each complete
        assert (folder / "结果.txt").exists() and any(folder.glob("*_汇总.xlsx"))
    assert not list((ws / "处理结果").glob(".*"))
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers and not any(map(_alive, workers))  # the worker processes died with the watcher
    print(f"survived {kills} kills, {mid_file} of them while a file was being processed")
    assert mid_file >= 1


def test_ctrl_c_stops_after_the_current_file(ws, tmp_path):
    drop(ws, declaration(tmp_path, [row()]))
    proc = _watch(ws)
    deadline = time.monotonic() + 60
    while not list((ws / "已处理").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert names(ws / "已处理") == ["decl.xlsx"] and len(results(ws)) == 1
    assert EXAMPLES.exists()


def test_once_waits_for_files_just_dropped_and_a_broken_one_still_ends_in_failed(ws, tmp_path):
    target = inbox(ws) / "decl.xlsx"
    target.write_bytes(declaration(tmp_path, [row()]).read_bytes())  # just now: younger than settle
    (inbox(ws) / "坏.xlsx").write_bytes(b"PK\x03\x04 never a whole zip")
    seen = []
    with Watcher(ws, settle=0.3, broken_after=1.0) as watcher:
        watcher.run(once=True, echo=seen.append)
    assert sorted((o.name, o.state) for o in seen) == [("decl.xlsx", "done"), ("坏.xlsx", "failed")]


def test_the_journal_follows_each_file_from_seen_to_done(ws, tmp_path):
    import sqlite3

    target = inbox(ws) / "decl.xlsx"
    target.write_bytes(declaration(tmp_path, [row()]).read_bytes())
    journal = lambda: sqlite3.connect(ws / "台账.sqlite").execute(  # noqa: E731
        "SELECT state, sha256 IS NOT NULL, result_dir FROM journal WHERE name = 'decl.xlsx'").fetchall()
    with Watcher(ws, settle=1.0) as watcher:
        assert watcher.process_pending() == []
        assert journal() == [("seen", 0, None)]  # noticed while it may still be copied
        age(target, 5)
        [outcome] = watcher.process_pending()
    assert journal() == [("done", 1, str(outcome.folder))]
    status = CliRunner().invoke(main, ["ledger", "status", "--ledger", str(ws / "台账.sqlite")])
    assert "xlflow watch 处理记录：已处理 1 个" in status.output


def test_file_events_wake_the_watcher(ws, tmp_path):
    import threading

    stop, seen = threading.Event(), []

    def watch() -> None:  # the watcher's own thread holds its ledger connection
        with Watcher(ws, settle=0.2) as watcher:
            watcher.run(stop=stop, echo=seen.append)

    loop = threading.Thread(target=watch)
    loop.start()
    try:
        time.sleep(2)  # the observer is running; the safety-net poll is 30 s away
        (inbox(ws) / "decl.xlsx").write_bytes(declaration(tmp_path, [row()]).read_bytes())
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert [o.name for o in seen] == ["decl.xlsx"] and not loop.is_alive()


def test_a_full_disk_stops_the_pass_with_a_message_and_the_file_is_done_once_later(ws, tmp_path, monkeypatch):
    import errno

    import xlflow.watch.watcher as w

    drop(ws, declaration(tmp_path, [row()]))
    real = w._write_text

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(w, "_write_text", full)
    monkeypatch.setattr(w, "MAX_ATTEMPTS", 2)
    for _ in range(3):  # more often than a file may kill the watcher: still not sent to failed
        with Watcher(ws, settle=0) as watcher:
            with pytest.raises(WatchError, match="处理中断：磁盘空间已满.*请检查磁盘空间"):
                watcher.run(once=True)
    monkeypatch.setattr(w, "_write_text", real)
    with Watcher(ws, settle=0) as watcher:
        watcher.run(once=True)
    assert names(ws / "已处理") == ["decl.xlsx"] and len(results(ws)) == 1
    assert "处理中断" in (ws / "xlflow.log").read_text(encoding="utf-8")


def test_two_inputs_of_the_same_stem_at_once_get_two_plain_result_folders(ws, tmp_path):
    drop(ws, declaration(tmp_path, [row()]), "decl.xlsx")
    drop(ws, declaration(tmp_path, [row()]), "decl.xls.xlsx")
    (inbox(ws) / "decl.xls.xlsx").rename(inbox(ws) / "decl.csv")  # the same stem, another extension
    with Watcher(ws, settle=0, clock=lambda: dt.datetime(2026, 11, 29, 9, 0, 0)) as watcher:
        watcher.process_pending()
    assert [p.name for p in results(ws)] == ["decl_20261129-090000", "decl_20261129-090000_2"]



def test_the_ledger_records_the_watchers_clock(ws, tmp_path):
    """The clock is read at the entry point and passed down: an import and a batch by the watcher carry its time."""
    import sqlite3

    from test_ledger import roster_csv

    drop(ws, roster_csv(tmp_path / "参保人员信息.csv", [[pid(seq="101"), "张三", "农业", "正常缴费", "061", "",
                                                        "43030201"]]), sub="参保人员信息")
    drop(ws, declaration(tmp_path, [row(id_number=pid(seq="101"))]))
    with Watcher(ws, settle=0, clock=lambda: dt.datetime(2026, 11, 29, 9, 0, 0)) as watcher:
        watcher.process_pending()
    with sqlite3.connect(ws / "台账.sqlite") as db:
        assert db.execute("SELECT imported_at FROM sources").fetchall() == [("2026-11-29 09:00:00",)]
        assert db.execute("SELECT created_at FROM batches").fetchall() == [("2026-11-29 09:00:00",)]


def test_a_wps_et_file_is_read_when_it_is_an_xls_inside_and_told_how_to_save_it_when_not(ws, tmp_path):
    """WPS saves as .et by default on some county PCs: most such files are an .xls inside and are checked
    like one; one that is not goes to 无法处理 with how to save it as .xlsx in WPS (it was refused by name)."""
    drop(ws, EXAMPLES / "other-formats" / "批量缴费申报表.xls", "某镇申报.et")
    bad = inbox(ws) / "某村申报.et"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    age(bad, 600)
    with Watcher(ws, settle=0) as watcher:
        outcomes = {o.name: o.state for o in watcher.process_pending()}
    assert outcomes == {"某镇申报.et": "done", "某村申报.et": "failed"}
    [folder] = results(ws)
    assert "某镇申报_错误数据.xlsx" in names(folder) and names(ws / "已处理") == ["某镇申报.et"]
    reason = (ws / "无法处理" / "某村申报_原因.txt").read_text(encoding="utf-8-sig")
    assert "[F01]" in reason and "WPS 中点“文件 → 另存为”" in reason
