"""`xlflow watch`: the workspace's inbox processed until stopped (or once, for a scheduled task)."""

from __future__ import annotations

import threading
from pathlib import Path

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="处理完现有文件后退出（用于计划任务）。 Process what is there, then exit.")
@click.option("--poll", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="每隔 SECONDS 秒查看一次（网络共享文件夹收不到文件事件时用）。 Poll instead of file events.")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True, metavar="SECONDS",
              help="文件多少秒没有变化才算复制完成。 Seconds a file must be unchanged before it is read.")
@click.option("--workers", type=click.IntRange(min=1, max=16), default=2, show_default=True,
              help="同时检查几个文件（每个占一个处理器核）。 Workbooks checked at once (processes).")
def watch(directory: Path, once: bool, poll: float | None, settle: float, workers: int) -> None:
    """监视工作目录的“待处理”文件夹：放进来的文件逐个检查，结果放进“处理结果”，原文件移到“已处理”或“无法处理”。

    Watch a workspace's inbox: each file dropped in is processed like `validate` (or imported into the
    ledger from the sub-folders 参保人员信息 / 缴费明细 / 名单, or a rule table checked and adopted). Results
    go to one folder per input; the input moves to the archive or, when unusable, to the failed folder
    with NAME_原因.txt. Ctrl-C stops after the current file. Only one watcher per workspace.
    """
    from xlflow.watch import Watcher, install_stop_handlers, mask_ids

    stop = threading.Event()
    install_stop_handlers(stop)

    def echo(outcome) -> None:
        mark = "完成" if outcome.state == "done" else "无法处理"
        click.echo(mask_ids(f"{outcome.name}：{mark}（{outcome.seconds:.1f} 秒）{outcome.line}"), err=True)

    with Watcher(directory, settle=settle, workers=workers) as watcher:
        if not once:
            how = f"每 {poll:g} 秒查看一次" if poll else "文件事件"
            click.echo(f"正在监视 {watcher.ws.inbox}（{how}），按 Ctrl-C 停止。", err=True)
        watcher.run(poll=poll, once=once, stop=stop, echo=echo)
    if not once:
        click.echo("已停止。", err=True)
