"""What the watcher writes for a clerk: 结果.txt, NAME_原因.txt, the kind words and the advice."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from xlflow.domain.kinds import REGISTRY, kinds
from xlflow.watch.files import mask_ids

if TYPE_CHECKING:
    from xlflow.watch.work import _Work

KIND_WORDS = {name: k.word for name, k in REGISTRY.items()}  # the word of each kind in lines and the log


# What a clerk should do, beyond each finding's own message, for a file dropped in the wrong place.
ADVICE = {
    "F02": "系统导出的参保人员信息、缴费明细和部门名单请放进“{inbox}”中对应的子文件夹"
           "（参保人员信息、缴费明细、名单）。",
}



def _listing(result) -> list[str]:
    """The first findings of a result as lines for 结果.txt (the workbooks hold them all)."""
    lines = []
    for f in result.findings.first(51, skip_severity="fixed"):  # the fixes are in the workbooks, not listed here
        where = f"{f.cell} " if f.cell else ""
        lines.append(f"{where}[{f.code}] {f.message}")
        if len(lines) >= 50:
            lines.append("……（其余见结果表格）")
            break
    return lines



def _result_text(path: Path, work: _Work, now: dt.datetime) -> str:
    lines = [f"文件：{path.name}", f"处理时间：{now:%Y-%m-%d %H:%M:%S}", f"种类：{KIND_WORDS.get(work.kind, '')}",
             f"结果：{work.line}", ""]
    if work.kind in kinds(checks=True):  # three workbooks
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



def _cycle_problem(exc: BaseException) -> str:
    """What stopped a pass, in plain words where we know them; the system's own text after it."""
    import errno

    words = {errno.ENOSPC: "磁盘空间已满", errno.EACCES: "没有文件夹的写入权限", errno.EPERM: "没有文件夹的写入权限",
             errno.ENOENT: "找不到文件夹（共享文件夹可能断开了）"}
    plain = "台账文件被占用或已损坏" if isinstance(exc, sqlite3.Error) else words.get(getattr(exc, "errno", None), "")
    return mask_ids(f"{plain}（{type(exc).__name__}：{exc}）" if plain else f"{type(exc).__name__}：{exc}")
