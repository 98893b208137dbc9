"""`xlflow watch`: the workspace's inbox, processed file by file, and nothing ever lost.

A clerk copies a workbook into the inbox; the watcher waits until the copy is complete, processes it
like ``validate`` (or imports it into the ledger, or checks and adopts a rule table), writes the results
into a folder of their own and moves the input to the archive (or, when it cannot be used, to the
failed folder with the reason). :meth:`Watcher.process_pending` is the loop body; :meth:`Watcher.run`
only schedules it (file-system events through watchdog, or polling).

Crash safety. Each file goes through a journal in the ledger database (seen → processing → done or
failed; retry after a kill before the commit) with its content hash and the names chosen for its result
folder and archive place before any work starts. Results are written into a hidden
``.NAME.partial`` folder that is renamed into place in one step (the commit); only then is the input
moved. After a kill at any moment the next start looks at each unfinished journal entry: committed →
finish the move; not committed → throw the partial folder away and process the file again. So every
input ends in exactly one of archive / failed with exactly one complete result folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import re
import shutil
import signal
import sqlite3
import struct
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

from xlflow import adopting
from xlflow.domain.idcard import mask_in_text
from xlflow.errors import XlflowError
from xlflow.oslock import Busy, FileLock
from xlflow.paths import fit_stem
from xlflow.settings import SETTINGS_FILE, Settings, load_settings
from xlflow.workspace import IMPORT_FOLDERS

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".txt", ".tsv", ".htm", ".html", ".xml")
IGNORED_PREFIXES = ("~$", ".~lock", ".", "~")  # Excel/WPS and LibreOffice lock files, hidden files
IGNORED_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", "~", "#")
LOG_FILE = "xlflow.log"
LOCK_FILE = ".xlflow-watch.lock"
MAX_ATTEMPTS = 10  # a file that kills the watcher this often goes to the failed folder instead

log = logging.getLogger("xlflow.watch")


class WatchError(XlflowError):
    """The watcher cannot start (not a workspace, another watcher running, unusable rule table)."""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def mask_ids(text: str) -> str:
    """A log or console line: ID numbers masked (430124********1234) however they are written, and control
    characters shown as escapes, so a file name with a line break cannot forge a line of the log."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 256
                        else f"\\u{ord(m.group(0)):04x}", text)
    return mask_in_text(text)


_sha256 = adopting.sha256  # one way to hash a file


def _stamp(now: dt.datetime) -> str:
    return now.strftime("%Y%m%d-%H%M%S")


def _unique(path: Path, stamp: str, taken: set[Path] = frozenset(), folder: bool = False) -> Path:
    """``path`` itself if free, else NAME_时间(.ext), then NAME_时间_2 ... (a result folder, already named
    NAME_时间: NAME_时间_2 ...): nothing is ever overwritten."""
    if not path.exists() and path not in taken:
        return path
    stem, suffix = (path.name, "") if folder else (f"{path.stem}_{stamp}", path.suffix)
    for n in range(1 if not folder else 2, 10_000):
        candidate = path.with_name(f"{stem}{'' if n == 1 else f'_{n}'}{suffix}")
        if not candidate.exists() and candidate not in taken:
            return candidate
    raise WatchError(f"无法为 {path} 找到不重名的文件名")


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:  # another file system: copy, then remove
        shutil.copy2(source, target)
        source.unlink()


def _write_text(path: Path, text: str) -> None:
    """Write under a hidden temporary name, then rename: the file is whole or absent."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8-sig")  # with a BOM: Notepad on an old Windows reads it right
    os.replace(temp, path)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept by the OS as surrogates
        return False
    return True


def _container(path: Path) -> str | None:
    """'zip' or 'ole' for a file with an end to check for; None for text (HTML, XML, CSV: no end marker)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError:
        return None
    return {b"PK\x03\x04": "zip", b"\xd0\xcf\x11\xe0": "ole"}.get(magic)


def _whole_compound_file(path: Path) -> bool:
    """A legacy .xls whose sectors are all there: a partial copy ends before the sectors its FAT names."""
    from xlflow import xlsbiff

    try:
        data = path.read_bytes()
        if not data.startswith(xlsbiff._SIGNATURE):
            return True  # not a compound file at all: the reader says what it is
        return bool(xlsbiff._stream(data, "Workbook") or xlsbiff._stream(data, "Book"))
    except (OSError, xlsbiff._Bad, ValueError, IndexError, struct.error):
        return False


def ignored(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES) or name.lower().endswith(IGNORED_SUFFIXES)


def _hidden(path: Path) -> bool:
    attrs = getattr(os.stat(path), "st_file_attributes", 0)  # Windows: the hidden attribute
    return bool(attrs & 2)


@dataclass
class Workspace:
    root: Path
    settings: Settings
    inbox: Path = field(init=False)
    results: Path = field(init=False)
    archive: Path = field(init=False)
    failed: Path = field(init=False)
    rules: Path = field(init=False)
    ledger: Path = field(init=False)

    def __post_init__(self) -> None:
        for name in ("inbox", "results", "archive", "failed", "rules", "ledger"):  # named in the settings
            setattr(self, name, self.root / getattr(self.settings, name))

    @classmethod
    def load(cls, root: Path) -> Workspace:
        root = Path(root)
        if not (root / SETTINGS_FILE).exists():
            raise WatchError(f"{root} 不是 xlflow 工作目录（没有 {SETTINGS_FILE}）。请先运行 xlflow init {root}。")
        return cls(root, load_settings(root))

    def make_folders(self) -> None:
        for path in (self.inbox, self.results, self.archive, self.failed):
            path.mkdir(parents=True, exist_ok=True)
        for name in IMPORT_FOLDERS:
            (self.inbox / name).mkdir(exist_ok=True)


@dataclass
class Outcome:
    """What became of one input: the line a clerk reads and where everything went."""

    name: str
    state: str  # done | failed
    kind: str = ""
    rows: int = 0
    errors: int = 0
    line: str = ""
    folder: Path | None = None  # the result folder (done) or the failed file (failed)
    seconds: float = 0.0
    recovered: bool = False


@dataclass
class _Work:
    ok: bool
    kind: str = ""
    rows: int = 0
    errors: int = 0
    line: str = ""
    details: list[str] = field(default_factory=list)
    maybe_rules: bool = False


@dataclass
class _Plan:
    """What the journal records before the work: where each possible output of this input will go."""

    jid: int
    path: Path
    now: dt.datetime
    started: float
    result_dir: Path
    archive_to: Path
    failed_to: Path
    reason: Path
    work: _Work | None = None
    sha: str = ""  # the bytes that were checked: the input is archived only if it still is them

    @property
    def partial(self) -> Path:
        return _partial(self.result_dir)


KIND_WORDS = {"declaration": "申报表", "adjustment": "调整表", "rules": "规则表", "roster": "参保人员信息",
              "payments": "缴费明细", "list": "名单"}  # fmt: skip
# What a clerk should do, beyond each finding's own message, for a file dropped in the wrong place.
ADVICE = {
    "F02": "系统导出的参保人员信息、缴费明细和部门名单请放进“{inbox}”中对应的子文件夹"
           "（参保人员信息、缴费明细、名单）。",
}


class Watcher:
    """One workspace's watcher. Use as a context manager: it holds the workspace lock and the ledger."""

    def __init__(self, root: Path, settle: float = 2.0, broken_after: float = 10.0,
                 clock: Callable[[], dt.datetime] = dt.datetime.now, workers: int = 1):
        self.ws = Workspace.load(root)
        self.settle = settle  # seconds a file must be unchanged before it is touched
        # A zip that still does not open when unchanged this long is processed anyway (→ F01, failed folder).
        self.broken_after = broken_after
        self.clock = clock
        self.workers = workers  # processes checking workbooks at once
        self._pool = None
        self._planned: set[Path] = set()
        self._seen: dict[Path, tuple[int, float]] = {}  # path → (size, when first seen at that size)
        self._refusals: list[tuple[Path, str, str]] = []  # entries no work can be done on, with why
        self._lock_fh = None
        self.ledger = None
        self.book = None

    # ------------------------------------------------------------------ start and stop
    def __enter__(self) -> Watcher:
        self._lock()
        try:
            from xlflow.ledger import Ledger
            from xlflow.rules import load_rulebook

            self.ws.make_folders()
            self.ledger = Ledger(self.ws.ledger)
            self.book = load_rulebook(self.ws.rules, self.ws.settings.limits())
            self._logger()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        for handler in list(log.handlers):
            if getattr(handler, "_xlflow_root", None) == str(self.ws.root):
                log.removeHandler(handler)
                handler.close()
        if self._lock_fh is not None:
            self._lock_fh.__exit__(None, None, None)
            self._lock_fh = None

    def _lock(self) -> None:
        """One watcher per workspace: an OS lock on a file, released by the OS even after a kill -9."""
        lock = FileLock(self.ws.root / LOCK_FILE, "xlflow watch", wait=0)
        try:
            lock.__enter__()
        except Busy as exc:
            raise WatchError(f"工作目录 {self.ws.root} 已有一个 xlflow watch 在运行（{exc.holder}），"
                             "同一工作目录只能运行一个。请先停止那一个。") from exc
        self._lock_fh = lock

    def _logger(self) -> None:
        handler = logging.handlers.RotatingFileHandler(self.ws.root / LOG_FILE, maxBytes=1 << 20, backupCount=5,
                                                       encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s\t%(message)s", "%Y-%m-%d %H:%M:%S"))
        handler._xlflow_root = str(self.ws.root)  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    # ------------------------------------------------------------------ the journal
    def _journal(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.ledger.transaction() as db:
            return db.execute(sql, args).fetchall()

    def recover(self) -> list[Outcome]:
        """Finish or undo what a killed watcher left: see the module docstring."""
        out = []
        rows = self._journal("SELECT id, path, sha256, result_dir, archive_to, failed_to, reason_file, attempts, "
                             "kind, rows, errors, message FROM journal WHERE state = 'processing'")
        for jid, path, sha, result_dir, archive_to, failed_to, reason_file, _, kind, nrows, errs, msg in rows:
            source = Path(path)
            same = sha is not None and source.exists() and _sha256(source) == sha
            if result_dir and Path(result_dir).exists():  # committed: only the move was left
                if same:
                    _move(source, Path(archive_to))
                self._finish(jid, "done")
                if kind == "rules":
                    adopting.finished(self.ws.rules)
                out.append(Outcome(source.name, "done", kind or "", nrows or 0, errs or 0, msg or "",
                                   Path(result_dir), recovered=True))
            elif reason_file and Path(reason_file).exists():
                if same:
                    _move(source, Path(failed_to))
                self._finish(jid, "failed")
                out.append(Outcome(source.name, "failed", kind or "", line=msg or "", folder=Path(failed_to),
                                   recovered=True))
            else:  # not committed: throw the partial work away; the file is processed again
                if result_dir:
                    shutil.rmtree(_partial(Path(result_dir)), ignore_errors=True)
                self._journal("UPDATE journal SET state = 'retry' WHERE id = ?", (jid,))
        for jid, path in self._journal("SELECT id, path FROM journal WHERE state = 'seen'"):
            if not Path(path).exists():  # taken away again before it was processed
                self._journal("DELETE FROM journal WHERE id = ?", (jid,))
        for stray in self.ws.results.glob(".*.partial"):
            shutil.rmtree(stray, ignore_errors=True)
        for stray in self.ws.failed.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        for item in out:
            log.info(mask_ids(f"{item.name}\t{KIND_WORDS.get(item.kind, '')}\t—\t—\t"
                              f"{'已处理' if item.state == 'done' else '无法处理'}（中断后补完）\t—"))
        return out

    def _finish(self, jid: int, state: str) -> None:
        self._journal("UPDATE journal SET state = ?, finished_at = ? WHERE id = ?",
                      (state, self.clock().isoformat(sep=" ", timespec="seconds"), jid))

    # ------------------------------------------------------------------ what is waiting
    def pending(self, wait_for_stable: bool = True) -> list[Path]:
        """Inputs ready to process, ledger inputs first, then oldest first: complete (unchanged for
        ``settle`` seconds, a zip that opens, a file that can be opened for reading), not a lock, temporary
        or hidden file."""
        now, clock = time.time(), time.monotonic()
        ready = []
        current: dict[Path, tuple[int, float]] = {}
        for path in self._walk(self.ws.inbox):
            try:
                st = path.stat()
            except OSError:
                continue
            before = self._seen.get(path)
            if before is None:  # first sighting: journalled as seen (the copy may still be running)
                self._journal("INSERT INTO journal (name, path, state, seen_at) SELECT ?, ?, 'seen', ? WHERE NOT EXISTS"
                              " (SELECT 1 FROM journal WHERE path = ? AND state = 'seen')",
                              (path.name, str(path), self.clock().isoformat(sep=" ", timespec="seconds"), str(path)))
            current[path] = before if before and before[0] == st.st_size else (st.st_size, clock)
            age = now - st.st_mtime
            if age < self.settle:
                continue
            if wait_for_stable and before is not None and before[0] != st.st_size:
                continue  # grown since the last look: still being written
            unchanged = max(age, clock - current[path][1])
            if self.settle and before is None and _container(path) is None:
                continue  # text has no end marker: it must look the same twice, the settle time apart
            if not self._complete(path, unchanged):
                continue
            # The ledger's inputs first: a declaration dropped with them is checked against them.
            ready.append((self._import_kind(path) is None, st.st_mtime, str(path), path))
        self._seen = current
        return [p for *_, p in sorted(ready)]

    def _walk(self, folder: Path):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if ignored(entry.name):
                continue
            path = Path(entry.path)
            try:
                if _hidden(path):
                    continue
                if entry.is_symlink():
                    self._refusals.append((path, "是快捷方式（符号链接），不是文件本身",
                                           "请把文件本身复制进待处理文件夹，不要放快捷方式。"))
                elif not _utf8(entry.name):
                    self._refusals.append((path, "文件名中有无法识别的字符（不是 UTF-8 编码的文件名）",
                                           "请把文件改成普通的中文或英文名后重新放入。"))
                elif entry.is_dir(follow_symlinks=False):
                    yield from self._walk(path)
                elif entry.is_file(follow_symlinks=False):
                    yield path
                else:
                    self._refusals.append((path, "不是普通文件（可能是管道或设备）", "请放入表格文件本身。"))
            except OSError:
                continue

    def _complete(self, path: Path, unchanged: float) -> bool:
        try:
            with open(path, "rb"):
                pass  # Windows refuses while the copy still holds the file
        except OSError:
            return False
        container = _container(path)
        if container == "zip" and unchanged < self.broken_after:
            try:
                with zipfile.ZipFile(path):
                    pass  # the central directory comes last: a partial copy has none
            except (zipfile.BadZipFile, OSError):
                return False
        if container == "ole" and unchanged < self.broken_after:
            return _whole_compound_file(path)
        return True

    # ------------------------------------------------------------------ processing
    def process_pending(self, stop: threading.Event | None = None, wait_for_stable: bool = True) -> list[Outcome]:
        """Process every ready input once (the watcher's loop body); returns what became of each.

        The ledger's inputs and rule tables are handled here, one by one and first (what comes after
        depends on them); workbooks go to ``workers`` processes at once, so both cores are busy. The
        journal, the commits and the moves stay in this process.
        """
        outcomes = self.recover()
        queue = self.pending(wait_for_stable)
        outcomes += [self._refuse(*refusal) for refusal in self._refusals]
        self._refusals = []
        firsts = [p for p in queue if self._import_kind(p) is not None]
        books = [p for p in queue if self._import_kind(p) is None]
        for path in firsts:
            if stop is not None and stop.is_set():
                return outcomes
            outcomes.append(self.process_file(path))
        outcomes = [o for o in outcomes if o is not None]  # a file taken away before its work: nothing
        if self.workers > 1 and len(books) > 1:
            outcomes += self._in_parallel(books, stop)
        else:
            from xlflow import opening

            for i, path in enumerate(books):
                if stop is not None and stop.is_set():
                    break
                if i + 1 < len(books):  # read the next file while this one is checked
                    opening.prefetch(books[i + 1], self.ws.settings.limits())
                done = self.process_file(path)
                if done is not None:
                    outcomes.append(done)
        for path in queue:
            self._seen.pop(path, None)  # the same name dropped again later is a new file
        return outcomes

    def _in_parallel(self, paths: list[Path], stop: threading.Event | None) -> list[Outcome]:
        pool = self._workers()
        running: dict = {}
        out = []
        todo = list(paths)
        while todo or running:
            while todo and len(running) < self.workers and not (stop is not None and stop.is_set()):
                path = todo.pop(0)
                plan = self._begin(path)
                if plan is None:  # taken away since it was listed
                    continue
                if plan.work is not None:  # decided without reading (e.g. too many attempts)
                    out.append(self._end(plan))
                    continue
                future = pool.submit(_work_in_worker, str(self.ws.root), str(path), str(plan.partial),
                                     self.clock().date().isoformat())
                running[future] = plan
            if not running:
                break
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                plan = running.pop(future)
                try:
                    plan.work = future.result()
                except Exception as exc:  # the worker died (out of memory ...): the file goes to failed
                    plan.work = _Work(False, line=f"处理时发生程序内部错误（{type(exc).__name__}）",
                                      details=["请把此文件交给信息员。"])
                if plan.work.maybe_rules:
                    plan.work = self._rules(plan.path, plan.partial) or plan.work
                ended = self._end(plan)
                if ended is not None:
                    out.append(ended)
        return out

    def _workers(self):
        if self._pool is None:
            import multiprocessing

            self._pool = futures.ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                                     initializer=_worker_init, initargs=(os.getpid(),))
        return self._pool

    def _import_kind(self, path: Path) -> str | None:
        try:
            rel = path.relative_to(self.ws.inbox)
        except ValueError:
            return None
        return IMPORT_FOLDERS.get(rel.parts[0]) if len(rel.parts) > 1 else None

    def process_file(self, path: Path) -> Outcome | None:
        """One input end to end in this process: plan, work, commit, move (None: the file was taken away,
        or changed while it was checked, and is left for the next look)."""
        plan = self._begin(path)
        if plan is None:
            return None
        if plan.work is None:
            try:
                plan.work = self._work(path, plan.partial)
            except XlflowError as exc:
                plan.work = _Work(False, line=str(exc))
            except Exception as exc:  # a bug must not stop the watcher: the file goes to failed with the reason
                log.exception("internal error on %s", mask_ids(path.name))
                plan.work = _Work(False, line=f"处理时发生程序内部错误（{type(exc).__name__}）",
                                  details=["请把此文件交给信息员。"])
        return self._end(plan)

    def _begin(self, path: Path) -> _Plan:
        """Choose the names of everything this input will produce and record them before any work."""
        now = self.clock()
        stamp = _stamp(now)
        try:
            sha = _sha256(path)
        except FileNotFoundError:  # deleted between the listing and now: one file's business, not the pass's
            return None
        earlier = self._journal("SELECT id, attempts FROM journal WHERE path = ? AND sha256 = ? AND state = 'retry'",
                                (str(path), sha))
        attempts = (earlier[0][1] + 1) if earlier else 1
        if earlier:
            self._journal("DELETE FROM journal WHERE id = ?", (earlier[0][0],))
        seen = self._journal("DELETE FROM journal WHERE path = ? AND state = 'seen' RETURNING seen_at", (str(path),))
        seen_at = seen[0][0] if seen else now.isoformat(sep=" ", timespec="seconds")
        taken = set(self._planned)
        stem = fit_stem(path.stem)  # a name of 250 bytes plus what is added would be refused by the disk
        result_dir = _unique(self.ws.results / f"{stem}_{stamp}", stamp, taken, folder=True)
        archive_to = _unique(self.ws.archive / f"{stem}{path.suffix}", stamp, taken)
        failed_to = _unique(self.ws.failed / f"{stem}{path.suffix}", stamp, taken)
        reason = failed_to.with_name(f"{failed_to.stem}_原因.txt")
        self._planned |= {result_dir, archive_to, failed_to}
        jid = self._journal(
            "INSERT INTO journal (name, path, sha256, state, result_dir, archive_to, failed_to, reason_file, attempts, "
            "seen_at, started_at) VALUES (?,?,?,'processing',?,?,?,?,?,?,?) RETURNING id",
            (path.name, str(path), sha, str(result_dir), str(archive_to), str(failed_to), str(reason), attempts,
             seen_at, now.isoformat(sep=" ", timespec="seconds")))[0][0]
        plan = _Plan(jid, path, now, time.monotonic(), result_dir, archive_to, failed_to, reason, sha=sha)
        shutil.rmtree(plan.partial, ignore_errors=True)
        plan.partial.mkdir(parents=True)
        if path.suffix.lower() not in SUPPORTED:
            plan.work = _Work(False, line=f"不是可以处理的表格文件（{path.suffix or '没有扩展名'}）",
                              details=[f"只能处理 {'、'.join(SUPPORTED)} 文件。请另存为 .xlsx 后重新放入。"])
        elif attempts > MAX_ATTEMPTS:
            plan.work = _Work(False, line=f"处理此文件时程序已 {attempts - 1} 次中断（可能文件过大或内存不足）",
                              details=["请把此文件交给信息员检查；可以先分成几个较小的文件再放入。"])
        return plan

    def _refuse(self, path: Path, why: str, advice: str) -> Outcome:
        """An entry no work can be done on (a symlink, a name that is not text, a pipe): moved to the
        failed folder, under a name that is text, with the reason beside it."""
        now = self.clock()
        name = fit_stem(path.stem) + fit_stem(path.suffix, 20)
        target = _unique(self.ws.failed / name, _stamp(now))
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_text(target.with_name(f"{target.stem}_原因.txt"),
                    f"“{name}”无法处理（{now:%Y-%m-%d %H:%M:%S}）。\r\n\r\n原因：{why}。\r\n{advice}\r\n")
        try:
            os.replace(path, target)  # a symlink is moved as the link, never followed
        except OSError:
            pass
        log.info(mask_ids(f"{name}	—	—	—	无法处理 → {target.relative_to(self.ws.root)}	—	{why}"))
        return Outcome(name, "failed", line=why, folder=target)

    def _end(self, plan: _Plan) -> Outcome | None:
        """Commit (rename the result folder into place, or write the reason), then move the input."""
        work, path = plan.work, plan.path
        try:
            same = _sha256(path) == plan.sha
        except FileNotFoundError:
            same = False
        if not same:  # changed (a copy still running) or taken away while checked: the result is not of it
            shutil.rmtree(plan.partial, ignore_errors=True)
            self._journal("DELETE FROM journal WHERE id = ?", (plan.jid,))
            self._planned -= {plan.result_dir, plan.archive_to, plan.failed_to}
            self._seen.pop(path, None)
            log.info(mask_ids(f"{path.name}	—	—	—	检查期间文件被改动或移走，结果作废，稍后重新处理	—"))
            return None
        self._journal("UPDATE journal SET kind = ?, rows = ?, errors = ?, message = ? WHERE id = ?",
                      (work.kind, work.rows, work.errors, work.line, plan.jid))
        if work.ok:
            _write_text(plan.partial / "结果.txt", _result_text(path, work, plan.now))
            os.replace(plan.partial, plan.result_dir)  # the commit
            _move(path, plan.archive_to)
            self._finish(plan.jid, "done")
            if work.kind == "rules":
                adopting.finished(self.ws.rules)
            outcome = Outcome(path.name, "done", work.kind, work.rows, work.errors, work.line, plan.result_dir)
        else:
            shutil.rmtree(plan.partial, ignore_errors=True)
            plan.failed_to.parent.mkdir(parents=True, exist_ok=True)
            _write_text(plan.reason, _reason_text(path, work, plan.now))  # the commit
            _move(path, plan.failed_to)
            self._finish(plan.jid, "failed")
            outcome = Outcome(path.name, "failed", work.kind, work.rows, work.errors, work.line, plan.failed_to)
        self._planned -= {plan.result_dir, plan.archive_to, plan.failed_to}
        outcome.seconds = time.monotonic() - plan.started
        where = outcome.folder.relative_to(self.ws.root) if outcome.folder else ""
        log.info(mask_ids(f"{path.name}\t{KIND_WORDS.get(work.kind, '未识别')}\t{work.rows} 行\t错误 {work.errors} 行\t"
                          f"{'已处理' if work.ok else '无法处理'} → {where}\t{outcome.seconds:.1f} 秒\t{work.line}"))
        return outcome

    def _work(self, path: Path, out: Path) -> _Work:
        kind = self._import_kind(path)
        if kind is not None:
            return self._import(path, kind, out)
        work = check_workbook(path, out, self.book, self.ws.settings, self.ledger, self.clock().date())
        if work.maybe_rules:
            return self._rules(path, out) or work
        return work

    def _import(self, path: Path, kind: str, out: Path) -> _Work:
        from xlflow.imports import import_file, list_kind_for

        list_kind = None
        if kind == "list":
            rel = path.relative_to(self.ws.inbox)
            folder = rel.parts[1] if len(rel.parts) > 2 else None
            list_kind = list_kind_for(path, folder)
        result = import_file(self.ledger, path, kind, list_kind, out, self.ws.settings, self.clock().date())
        if result.check.unusable:
            details = [f"[{f.code}] {f.message}" for f in result.check.findings if f.severity == "error"][:20]
            return _Work(False, kind, result.check.rows, line=result.summary_line(), details=details)
        refused = result.counts.get("refused", 0)
        return _Work(True, kind, result.check.rows, refused, result.summary_line(),
                     ["未导入的行及原因见 " + Path(result.errors_file).name] if result.errors_file else [])

    def _rules(self, path: Path, out: Path) -> _Work | None:
        """A rule table dropped in: checked; a clean one becomes the workspace's, the old one kept."""
        from xlflow.rules import check_rules, load_rulebook

        result, book = check_rules(path, self.ws.settings.limits(), self.clock().date())
        if result.kind != "rules" or result.unusable:
            return None
        listing = _listing(result)
        if result.has_errors or book is None:
            line = f"征缴规则表有 {result.count('error')} 处错误，未启用；工作目录仍使用原来的征缴规则表。"
            return _Work(True, "rules", result.rows, result.error_row_count, line, listing)
        current = self.ws.rules
        if path.suffix.lower() != current.suffix.lower():
            line = (f"征缴规则表检查无误，但工作目录的规则表须是 {current.suffix} 文件："
                    f"请另存为 {current.suffix} 后重新放入。")
            return _Work(True, "rules", result.rows, 0, line, listing)
        kept_name = _unique(current.with_name(f"{current.stem}_停用_{_stamp(self.clock())}{current.suffix}"),
                            "x").name
        kept, adopted = adopting.adopt(path, current, kept_name)  # one journalled step: a kill resumes it
        if not adopted:
            line = "征缴规则表检查无误，与工作目录正在使用的规则表相同，未做改动。"
            return _Work(True, "rules", result.rows, 0, line, listing)
        self.book = load_rulebook(current, self.ws.settings.limits())
        line = (f"征缴规则表检查无误，已启用为工作目录的征缴规则表（{len(book.frame)} 条规则）"
                + (f"；原来的规则表另存为 {kept}" if kept else "") + "。请重新生成模板发给各乡镇。")
        return _Work(True, "rules", result.rows, 0, line, listing)

    # ------------------------------------------------------------------ the loop around it
    def _cycle(self, stop: threading.Event, echo: Callable[[Outcome], None]) -> str | None:
        """One pass over the inbox → None, or what stopped it (the disk is full, the share went away, the
        ledger is locked): the file in the works stays journalled as processing and is redone next time."""
        try:
            for outcome in self.process_pending(stop):
                echo(outcome)
        except (OSError, sqlite3.OperationalError) as exc:
            problem = _cycle_problem(exc)
            log.error("处理中断，稍后重试\t%s", problem)
            try:  # not a crash of the file's own making: the retry does not count towards MAX_ATTEMPTS
                self._journal("UPDATE journal SET attempts = attempts - 1 WHERE state = 'processing'")
            except sqlite3.Error:
                pass
            return problem
        return None

    def run(self, poll: float | None = None, once: bool = False, stop: threading.Event | None = None,
            echo: Callable[[Outcome], None] | None = None) -> None:
        """Process the inbox until ``stop`` is set (or once). Events through watchdog, else polling every
        ``poll`` seconds (network shares, where events do not arrive)."""
        stop = stop or threading.Event()
        echo = echo or (lambda outcome: None)
        if once:  # what is there now; a file still being copied is waited for, a while
            deadline = time.monotonic() + self.broken_after + self.settle + 2
            while not stop.is_set():
                problem = self._cycle(stop, echo)
                if problem:
                    raise WatchError(f"处理中断：{problem}。请检查磁盘空间和文件夹权限后重新运行；"
                                     "没处理完的文件留在待处理文件夹，会重新处理。")
                if not self._seen or time.monotonic() > deadline:
                    return
                time.sleep(min(0.5, max(self.settle / 2, 0.05)))
            return
        wake = threading.Event()
        observer = None
        if poll is None:
            observer = _observe(self.ws.inbox, wake)
        interval = poll if poll is not None else 30.0  # events wake it early; this is a safety net
        try:
            while not stop.is_set():
                problem = self._cycle(stop, echo)  # a full disk or a lost share: wait, the journal redoes it
                waiting = bool(self._seen)  # files not yet complete: look again once they may be
                pause = 10.0 if problem else (min(interval, max(self.settle, 0.2)) if waiting else interval)
                until = time.monotonic() + pause
                while not stop.is_set() and not wake.is_set() and time.monotonic() < until:
                    wake.wait(0.2)  # in slices: Ctrl-C is noticed at once
                wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)


def _cycle_problem(exc: BaseException) -> str:
    """What stopped a pass, in plain words where we know them; the system's own text after it."""
    import errno

    words = {errno.ENOSPC: "磁盘空间已满", errno.EACCES: "没有文件夹的写入权限", errno.EPERM: "没有文件夹的写入权限",
             errno.ENOENT: "找不到文件夹（共享文件夹可能断开了）"}
    plain = "台账文件被占用或已损坏" if isinstance(exc, sqlite3.Error) else words.get(getattr(exc, "errno", None), "")
    return mask_ids(f"{plain}（{type(exc).__name__}：{exc}）" if plain else f"{type(exc).__name__}：{exc}")


def check_workbook(path: Path, out: Path, book, settings: Settings, ledger, today: dt.date) -> _Work:
    """A declaration or adjustment → its three workbooks in ``out``; an unusable one → why and what to do
    (``maybe_rules`` when it might be a rule table, which only the watcher's own process may adopt)."""
    from xlflow.pipeline import process_workbook

    result = process_workbook(path, book, out, settings, today=today, ledger=ledger)
    codes = {f.code for f in result.findings}
    if result.unusable:
        errors = [f"[{f.code}] {f.message}" for f in result.findings if f.severity == "error"]
        details = errors[1:20] + [ADVICE[c].format(inbox=settings.inbox) for c in ADVICE if c in codes]
        return _Work(False, result.kind or "", result.rows, line=errors[0] if errors else "文件无法处理",
                     details=details, maybe_rules=bool(codes & {"F02", "F03"}))  # a rule table matches some columns
    return _Work(True, result.kind or "", result.rows, result.error_row_count, result.summary_line(),
                 _listing(result))


_worker_state: dict = {}


def _worker_init(parent: int) -> None:
    """A worker dies with the watcher (Linux: the kernel kills it) and leaves Ctrl-C to the watcher."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent:  # the watcher was killed while this worker was starting
        os._exit(0)


def _work_in_worker(root: str, path: str, partial: str, today: str) -> _Work:
    """One workbook in a worker process: its own ledger connection and rule book (reloaded when the
    workspace's rule table changes)."""
    from xlflow.ledger import Ledger
    from xlflow.rules import load_rulebook

    ws = Workspace.load(Path(root))
    stamp = ws.rules.stat().st_mtime_ns
    if _worker_state.get("rules") != (str(ws.rules), stamp):
        _worker_state["book"] = load_rulebook(ws.rules, ws.settings.limits())
        _worker_state["rules"] = (str(ws.rules), stamp)
    if "ledger" not in _worker_state:
        _worker_state["ledger"] = Ledger(ws.ledger)
    try:
        return check_workbook(Path(path), Path(partial), _worker_state["book"], ws.settings,
                              _worker_state["ledger"], dt.date.fromisoformat(today))
    except XlflowError as exc:
        return _Work(False, line=str(exc))
    except Exception as exc:
        return _Work(False, line=f"处理时发生程序内部错误（{type(exc).__name__}）", details=["请把此文件交给信息员。"])


def _observe(folder: Path, wake: threading.Event):
    """A watchdog observer that sets ``wake`` on any change in ``folder``; None if events are unavailable."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            wake.set()

    observer = Observer()
    try:
        observer.schedule(Wake(), str(folder), recursive=True)
        observer.start()
    except OSError:
        return None
    return observer


def _partial(result_dir: Path) -> Path:
    return result_dir.with_name(f".{result_dir.name}.partial")


def _listing(result) -> list[str]:
    """The first findings of a result as lines for 结果.txt (the workbooks hold them all)."""
    lines = []
    for f in result.findings:
        if f.severity == "fixed":
            continue
        where = f"{f.cell} " if f.cell else ""
        lines.append(f"{where}[{f.code}] {f.message}")
        if len(lines) >= 50:
            lines.append("……（其余见结果表格）")
            break
    return lines


def _result_text(path: Path, work: _Work, now: dt.datetime) -> str:
    lines = [f"文件：{path.name}", f"处理时间：{now:%Y-%m-%d %H:%M:%S}", f"种类：{KIND_WORDS.get(work.kind, '')}",
             f"结果：{work.line}", ""]
    if work.kind in ("declaration", "adjustment"):
        lines += ["本文件夹中：", "  *_更正.xlsx：没有错误的行，可以导入系统；",
                  "  *_错误数据.xlsx：有错误的行，按“反馈信息”改好后重新放进待处理文件夹；",
                  "  *_汇总.xlsx：统计、金额汇总和待办清单。", ""]
    if work.details:
        lines += ["问题（前 50 处）：", *work.details]
    return "\r\n".join(lines) + "\r\n"


def _reason_text(path: Path, work: _Work, now: dt.datetime) -> str:
    lines = [f"文件“{path.name}”无法处理（{now:%Y-%m-%d %H:%M:%S}）。", "", f"原因：{work.line}", ""]
    if work.details:
        lines += ["另外：", *work.details, ""]
    lines.append("改好后请把文件重新放进待处理文件夹；原文件已移到本文件夹。")
    return "\r\n".join(lines) + "\r\n"


def install_stop_handlers(stop: threading.Event) -> None:
    """Ctrl-C (and a service stop) ends the watcher after the current file."""

    def handler(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)
