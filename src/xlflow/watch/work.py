"""The work on one workbook, in the watcher's process or in a worker process of its pool."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from xlflow.errors import XlflowError
from xlflow.io import adopting
from xlflow.io.settings import Settings
from xlflow.watch.files import Workspace, _stamp, _unique
from xlflow.watch.texts import ADVICE, _listing

REFUSED_LISTED = 20  # rows not imported that 结果.txt names (all are in the error workbook)


@dataclass
class _Work:
    ok: bool
    kind: str = ""
    rows: int = 0
    errors: int = 0
    line: str = ""
    details: list[str] = field(default_factory=list)
    maybe_rules: bool = False



def check_workbook(path: Path, out: Path, book, settings: Settings, ledger, today: dt.date) -> _Work:
    """A declaration or adjustment → its three workbooks in ``out``; an unusable one → why and what to do
    (``maybe_rules`` when it might be a rule table, which only the watcher's own process may adopt)."""
    from xlflow.app.pipeline import process_sheets

    results = process_sheets(path, book, out, settings, today=today, ledger=ledger)
    result = results[0]
    codes = set(result.findings.code_counts())
    if result.unusable:
        errors = [f"[{f.code}] {f.message}" for f in result.findings if f.severity == "error"]
        details = errors[1:20] + [ADVICE[c].format(inbox=settings.inbox) for c in ADVICE if c in codes]
        return _Work(False, result.kind or "", result.rows, line=errors[0] if errors else "文件无法处理",
                     details=details, maybe_rules=bool(codes & {"F02", "F03"}))  # a rule table matches some columns
    if len(results) == 1:
        return _Work(True, result.kind or "", result.rows, result.error_row_count, result.summary_line(),
                     _listing(result))
    # One sheet per township: each checked alone, with its own workbooks (NAME_SHEET_更正.xlsx …).
    line = f"{len(results)} 张工作表各自检查，各有一套结果文件：" + "；".join(
        f"工作表“{r.sheet}”{r.summary_line()}" for r in results)
    details = [f"工作表“{r.sheet}”：{one}" for r in results for one in (_listing(r) or ["没有错误"])]
    return _Work(True, result.kind or "", sum(r.rows for r in results), sum(r.error_row_count for r in results),
                 line, details)


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
    from xlflow.store.ledger import Ledger
    from xlflow.validation.rules import load_rulebook

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


def import_export(ledger, ws: Workspace, path: Path, kind: str, out: Path, today: dt.date) -> _Work:
    """An export or an office list dropped into its sub-folder of the inbox, imported into the ledger."""
    from xlflow.app.imports import import_file, list_kind_for
    from xlflow.domain.kinds import kind as kind_of

    list_kind = None
    if kind_of(kind).office_list:
        rel = path.relative_to(ws.inbox)
        folder = rel.parts[1] if len(rel.parts) > 2 else None
        list_kind = list_kind_for(path, folder)
    result = import_file(ledger, path, kind, list_kind, out, ws.settings, today)
    if result.check.unusable:
        details = [f"[{f.code}] {f.message}" for f in result.check.findings if f.severity == "error"][:20]
        return _Work(False, kind, result.check.rows, line=result.summary_line(), details=details)
    refused = result.counts.get("refused", 0)
    details = []
    if result.errors_file:  # the first rows not imported, as validate lists its first problems
        details = ["未导入的行及原因见 " + "、".join(Path(f).name for f in result.errors_files)]
        details += [f"{result.where(r.row, r.sheet)}：{r.reason}"
                    for r in result.refused.head(REFUSED_LISTED).itertuples(index=False)]
        if len(result.refused) > REFUSED_LISTED:
            details.append(f"……共 {len(result.refused):,} 行未导入，其余见导入错误表。")
    return _Work(True, kind, result.check.rows, refused, result.summary_line(), details)


def adopt_rule_table(ws: Workspace, path: Path, now: dt.datetime) -> tuple[_Work | None, object]:
    """A rule table dropped in: checked; a clean one becomes the workspace's, the old one kept (with the
    rule book now in force; None when it did not change). Only the watcher's own process adopts."""
    from xlflow.validation.rules import check_rules, load_rulebook

    result, book = check_rules(path, ws.settings.limits(), now.date())
    if result.kind != "rules" or result.unusable:
        return None, None
    listing = _listing(result)
    if result.has_errors or book is None:
        line = f"征缴规则表有 {result.count('error')} 处错误，未启用；工作目录仍使用原来的征缴规则表。"
        return _Work(True, "rules", result.rows, result.error_row_count, line, listing), None
    current = ws.rules
    if path.suffix.lower() != current.suffix.lower():
        line = (f"征缴规则表检查无误，但工作目录的规则表须是 {current.suffix} 文件："
                f"请另存为 {current.suffix} 后重新放入。")
        return _Work(True, "rules", result.rows, 0, line, listing), None
    kept_name = _unique(current.with_name(f"{current.stem}_停用_{_stamp(now)}{current.suffix}"),
                        "x").name
    kept, adopted = adopting.adopt(path, current, kept_name)  # one journalled step: a kill resumes it
    if not adopted:
        line = "征缴规则表检查无误，与工作目录正在使用的规则表相同，未做改动。"
        return _Work(True, "rules", result.rows, 0, line, listing), None
    book_now = load_rulebook(current, ws.settings.limits())
    line = (f"征缴规则表检查无误，已启用为工作目录的征缴规则表（{len(book.frame)} 条规则）"
            + (f"；原来的规则表另存为 {kept}" if kept else "") + "。请重新生成模板发给各乡镇。")
    return _Work(True, "rules", result.rows, 0, line, listing), book_now
