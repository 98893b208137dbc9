"""The watcher: the journal, the plan of each input (begin, work, commit, move), the pool and the loop."""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

from xlflow.app.workspace import IMPORT_FOLDERS
from xlflow.domain.kinds import kind as kind_of
from xlflow.errors import XlflowError
from xlflow.io import adopting
from xlflow.io.oslock import Busy, FileLock
from xlflow.paths import fit_stem
from xlflow.watch.files import (
    LOCK_FILE,
    LOG_FILE,
    SUPPORTED,
    WatchError,
    Workspace,
    _move,
    _partial,
    _sha256,
    _stamp,
    _unique,
    _write_text,
    mask_ids,
)
from xlflow.watch.inbox import Inbox, _observe
from xlflow.watch.texts import KIND_WORDS, _cycle_problem, _reason_text, _result_text
from xlflow.watch.work import _Work, _work_in_worker, _worker_init, adopt_rule_table, check_workbook, import_export

log = logging.getLogger("xlflow.watch")


MAX_ATTEMPTS = 10  # a file that kills the watcher this often goes to the failed folder instead



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
        self.inbox = Inbox(self.ws.inbox, settle, broken_after, self._seen_first)
        self._lock_fh = None
        self.ledger = None
        self.book = None

    # ------------------------------------------------------------------ start and stop
    def __enter__(self) -> Watcher:
        self._lock()
        try:
            from xlflow.store.ledger import Ledger
            from xlflow.validation.rules import load_rulebook

            self.ws.make_folders()
            self.ledger = Ledger(self.ws.ledger, clock=self.clock,
                                 on_migrate=lambda line: print(line, file=sys.stderr, flush=True))
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
                if getattr(kind_of(kind), "adopted", False):
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
        """Inputs ready to process (see :meth:`Inbox.ready`), the ledger's inputs first (a declaration dropped
        with them is checked against them), then oldest first."""
        ready = self.inbox.ready(wait_for_stable)
        return [p for *_, p in sorted((self._import_kind(p) is None, mtime, str(p), p) for mtime, p in ready)]

    def _seen_first(self, path: Path) -> None:
        """First sighting of a file: journalled as seen (the copy may still be running)."""
        self._journal("INSERT INTO journal (name, path, state, seen_at) SELECT ?, ?, 'seen', ? WHERE NOT EXISTS"
                      " (SELECT 1 FROM journal WHERE path = ? AND state = 'seen')",
                      (path.name, str(path), self.clock().isoformat(sep=" ", timespec="seconds"), str(path)))

    # ------------------------------------------------------------------ processing
    def process_pending(self, stop: threading.Event | None = None, wait_for_stable: bool = True) -> list[Outcome]:
        """Process every ready input once (the watcher's loop body); returns what became of each.

        The ledger's inputs and rule tables are handled here, one by one and first (what comes after
        depends on them); workbooks go to ``workers`` processes at once, so both cores are busy. The
        journal, the commits and the moves stay in this process.
        """
        outcomes = self.recover()
        queue = self.pending(wait_for_stable)
        outcomes += [self._refuse(*refusal) for refusal in self.inbox.refusals]
        self.inbox.refusals = []
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
            from xlflow.io import opening

            for i, path in enumerate(books):
                if stop is not None and stop.is_set():
                    break
                if i + 1 < len(books):  # read the next file while this one is checked
                    opening.prefetch(books[i + 1], self.ws.settings.limits())
                done = self.process_file(path)
                if done is not None:
                    outcomes.append(done)
        for path in queue:
            self.inbox.seen.pop(path, None)  # the same name dropped again later is a new file
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
            self.inbox.seen.pop(path, None)
            log.info(mask_ids(f"{path.name}	—	—	—	检查期间文件被改动或移走，结果作废，稍后重新处理	—"))
            return None
        self._journal("UPDATE journal SET kind = ?, rows = ?, errors = ?, message = ? WHERE id = ?",
                      (work.kind, work.rows, work.errors, work.line, plan.jid))
        if work.ok:
            _write_text(plan.partial / "结果.txt", _result_text(path, work, plan.now))
            os.replace(plan.partial, plan.result_dir)  # the commit
            _move(path, plan.archive_to)
            self._finish(plan.jid, "done")
            if getattr(kind_of(work.kind), "adopted", False):
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
            return import_export(self.ledger, self.ws, path, kind, out, self.clock().date())
        work = check_workbook(path, out, self.book, self.ws.settings, self.ledger, self.clock().date())
        if work.maybe_rules:
            rules, book = adopt_rule_table(self.ws, path, self.clock())
            if book is not None:
                self.book = book
            return rules or work
        return work

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
                if not self.inbox.seen or time.monotonic() > deadline:
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
                waiting = bool(self.inbox.seen)  # files not yet complete: look again once they may be
                pause = 10.0 if problem else (min(interval, max(self.settle, 0.2)) if waiting else interval)
                until = time.monotonic() + pause
                while not stop.is_set() and not wake.is_set() and time.monotonic() < until:
                    wake.wait(0.2)  # in slices: Ctrl-C is noticed at once
                wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)



def install_stop_handlers(stop: threading.Event) -> None:
    """Ctrl-C (and a service stop) ends the watcher after the current file."""

    def handler(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)
