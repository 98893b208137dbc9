"""Faults and races at the ledger, with real processes on real files: a clear word, nothing lost, nothing
doubled. Each test is bounded (a few processes, seconds each)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from test_ledger import PAY_HEAD, ROSTER_HEAD, paid
from test_validate import COLUMNS, pid, row
from xlflow.app.imports import import_file
from xlflow.store.ledger import Ledger, LedgerError
from xlflow.store.ledger_guard import lock_path

XLFLOW = str(Path(sys.executable).parent / "xlflow")
ROOT_ONLY = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (mount, setpriv)")


def seqs(n: int, start: int = 0) -> list[str]:
    """n distinct valid IDs (birth dates vary so that sequence numbers repeat safely)."""
    out = []
    for i in range(start, start + n):
        day = 1 + i % 28
        out.append(pid(birth=f"1980{1 + (i // 28) % 12:02d}{day:02d}", seq=f"{(i // 336) % 1000:03d}"))
    return out


def big_declaration(path: Path, ids: list[str], unit: str) -> Path:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["批量缴费申报表"])
    ws.write_row(1, 0, ["申报单位*", None, unit, None, None, "经办人*", "刘敏"])
    ws.write_row(2, 0, ["申报日期*", None, "2026-11-20"])
    ws.write_row(4, 0, COLUMNS)
    text = wb.add_format({"num_format": "@"})
    for r, i in enumerate(ids, start=5):
        ws.write_row(r, 0, row(id_number=i))
        ws.write_string(r, 2, i, text)
    wb.close()
    return path


def payments_csv(path: Path, ids: list[str], year: int = 2024) -> Path:
    lines = [",".join(PAY_HEAD)] + [",".join(map(str, [i, *paid("101", year)[1:]])) for i in ids]
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    return path


def roster_csv(path: Path, ids: list[str]) -> Path:
    lines = [",".join(ROSTER_HEAD)] + [f"{i},张三,农业,正常缴费,051,,43030201" for i in ids]
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    return path


def start(*args, env=None, **kw):
    return subprocess.Popen([XLFLOW, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, **kw)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def test_two_townships_validated_at_once_do_not_both_pass_a_person_year(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    ids = seqs(6000)  # big enough that the two runs overlap: each reads its file before either records
    assert finish(start("ledger", "import", "roster", roster_csv(tmp_path / "r.csv", ids), "--ledger", ledger))[0] == 0
    a = big_declaration(tmp_path / "镇一.xlsx", ids, "镇一")
    b = big_declaration(tmp_path / "镇二.xlsx", ids, "镇二")
    runs = [start("validate", f, "--ledger", ledger, "--out", tmp_path / f.stem, "--json") for f in (a, b)]
    results = [finish(p) for p in runs]
    data = [json.loads(out) for _, out, _ in results]
    p05 = sorted(sum(f["code"] == "P05" for f in d["findings"]) for d in data)
    assert p05 == [0, 1000]  # --json lists 1,000 findings; every one of the second file's rows is P05
    assert sorted(d["error_rows"] for d in data) == [0, 6000]
    with Ledger(ledger) as store:
        assert [b["rows"] for b in store.batches()] == [6000]
        assert store.status()["pending_rows"] == 6000


def test_the_same_export_imported_twice_at_once_is_imported_once(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    pay = payments_csv(tmp_path / "缴费明细.csv", seqs(3000))
    runs = [start("ledger", "import", "payments", pay, "--ledger", ledger) for _ in range(2)]
    results = [finish(p) for p in runs]
    assert [rc for rc, _, _ in results] == [0, 0], results
    texts = " ".join(err for _, _, err in results)
    assert "Traceback" not in texts and "新增 3,000 人年" in texts and "已于" in texts
    with Ledger(ledger) as store:
        assert store.status()["payment_records"] == 3000 and len(store.status()["sources"]) == 1


def test_two_different_exports_imported_at_once_both_land(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    one = payments_csv(tmp_path / "缴费明细2023.csv", seqs(3000), 2023)
    two = payments_csv(tmp_path / "缴费明细2024.csv", seqs(3000), 2024)
    runs = [start("ledger", "import", "payments", f, "--ledger", ledger) for f in (one, two)]
    assert [finish(p, timeout=100)[0] for p in runs] == [0, 0]
    with Ledger(ledger) as store:
        assert store.status()["paid_person_years"] == {2023: 3000, 2024: 3000}


HOLD = """
import sys, time
from xlflow.io.oslock import FileLock
with FileLock(sys.argv[1], "测试占用"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_ledger_held_by_another_process_is_waited_for_with_a_word_then_refused(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    Ledger(ledger).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path(ledger)), "30"], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    try:
        began = time.monotonic()
        rc, _, err = finish(start("ledger", "import", "roster", roster_csv(tmp_path / "r.csv", seqs(5)), "--ledger",
                                  ledger, env={"XLFLOW_LEDGER_WAIT": "3"}))
        assert rc == 2 and time.monotonic() - began < 25
        assert f"正被进程 {holder.pid}（测试占用" in err and "已等待" in err and "台账未做改动" in err
        assert "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with Ledger(ledger) as store:
        assert store.status()["persons"] == 0
    # Freed by the OS when the holder dies: the same import now goes through.
    assert finish(start("ledger", "import", "roster", tmp_path / "r.csv", "--ledger", ledger))[0] == 0


SQLITE_HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(30)
"""


def test_a_write_lock_held_by_a_database_tool_is_a_plain_refusal(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    Ledger(ledger).close()
    tool = subprocess.Popen([sys.executable, "-c", SQLITE_HOLD, str(ledger)], stdout=subprocess.PIPE)
    assert tool.stdout.readline().strip() == b"held"
    try:
        rc, _, err = finish(start("ledger", "import", "roster", roster_csv(tmp_path / "r.csv", seqs(5)), "--ledger",
                                  ledger, env={"XLFLOW_LEDGER_WAIT": "2"}))
    finally:
        tool.kill()
        tool.wait()
        tool.stdout.close()
    assert rc == 2 and "正被其他程序占用" in err and "Traceback" not in err


def test_a_damaged_ledger_is_refused_by_validate_and_import(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    with Ledger(ledger) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", seqs(4000)), "roster")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(ledger.read_bytes())
    page = 4096
    for at in range(page * 3, len(data) - page, page * 5):  # scribble over a few pages of the tables
        data[at + 8:at + 200] = os.urandom(192)
    ledger.write_bytes(bytes(data))
    decl = big_declaration(tmp_path / "d.xlsx", seqs(3), "镇一")
    for args in (("validate", decl, "--out", tmp_path / "o"), ("ledger", "import", "roster", tmp_path / "r.csv")):
        rc, _, err = finish(start(*args, "--ledger", ledger))
        assert rc == 2 and "已损坏" in err and "Traceback" not in err, err
    # Refused before any output: no corrected or error workbook checked against a ledger it could not trust.
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.xlsx"))


def test_the_disk_filling_up_during_an_import_leaves_the_ledger_as_it_was(tmp_path):
    ledger = tmp_path / "台账.sqlite"
    with Ledger(ledger) as store:
        import_file(store, roster_csv(tmp_path / "r.csv", seqs(10)), "roster")
        before = store.status()
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages + 20}")  # sqlite's own "disk full" (SQLITE_FULL)
        with pytest.raises(LedgerError, match="磁盘已满.*台账未做改动"):
            import_file(store, payments_csv(tmp_path / "p.csv", seqs(20000)), "payments")
    with Ledger(ledger) as store:
        assert store.status() == before


@ROOT_ONLY
def test_a_real_full_disk_is_a_plain_refusal(tmp_path):
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        ledger = disk / "台账.sqlite"
        assert finish(start("ledger", "import", "roster", roster_csv(tmp_path / "r.csv", seqs(10)), "--ledger",
                            ledger))[0] == 0
        rc, _, err = finish(start("ledger", "import", "payments", payments_csv(tmp_path / "p.csv", seqs(20000)),
                                  "--ledger", ledger, "--out", tmp_path))
        assert rc == 2 and "磁盘已满" in err and "Traceback" not in err, err
        with Ledger(ledger) as store:
            assert store.status()["payment_records"] == 0 and store.status()["persons"] == 10
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def as_nobody(*args):
    return subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", XLFLOW,
                           *map(str, args)], capture_output=True, timeout=120, env={**os.environ, "HOME": "/tmp"})


@ROOT_ONLY
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_a_read_only_ledger_or_folder_and_an_unwritable_output_folder_are_plain_refusals(tmp_path):
    tmp_path = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own folders cannot be entered by another user
    tmp_path.chmod(0o755)
    ledger = tmp_path / "台账.sqlite"
    roster = roster_csv(tmp_path / "r.csv", seqs(5))
    with Ledger(ledger) as store:
        import_file(store, roster, "roster")
    for p in tmp_path.iterdir():
        p.chmod(0o644)
    roster.chmod(0o644)
    again = roster_csv(tmp_path / "r2.csv", seqs(8))
    again.chmod(0o644)
    done = as_nobody("ledger", "import", "roster", again, "--ledger", ledger)  # neither file nor folder writable
    err = done.stderr.decode()
    assert done.returncode == 2 and "不能写入" in err and "Traceback" not in err, err
    with Ledger(ledger) as store:
        assert store.status()["persons"] == 5
    out = tmp_path / "结果"
    out.mkdir(mode=0o555)
    decl = big_declaration(tmp_path / "d.xlsx", seqs(2) + ["4303211980"], "镇一")
    decl.chmod(0o644)
    done = as_nobody("validate", decl, "--out", out)
    err = done.stderr.decode()
    assert done.returncode == 2 and "无法写出结果文件" in err and "Traceback" not in err, err
    shutil.rmtree(tmp_path)
