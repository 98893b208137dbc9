"""What every command shares: Chinese words for click's errors, the rule table, the ledger of the workspace,
the printed findings and the progress bar."""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xlflow.domain.vocab import SEVERITY_WORDS
from xlflow.errors import XlflowError

if TYPE_CHECKING:
    from xlflow.validation.result import CheckResult


class XlflowGroup(click.Group):
    """Turns every XlflowError, and every wrong option or argument, into one Chinese line on stderr and
    exit code 2 (click's own words are English)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except XlflowError as exc:
            click.echo(f"错误：{exc}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "xlflow"
            click.echo(f"错误：{usage_words(exc)}。用 {where} --help 查看用法。", err=True)
            ctx.exit(2)


def usage_words(exc: click.UsageError) -> str:
    """click's usage error in plain Chinese, with what is allowed."""
    param = getattr(exc, "param", None)
    if param is not None and isinstance(param, click.Argument):
        name = param.human_readable_name
    elif param is not None and param.opts:
        name = param.opts[0]
    else:
        name = str(getattr(exc, "param_hint", None) or "").strip("'\"")
    if isinstance(exc, click.MissingParameter):
        return f"缺少 {name or '必填的选项或参数'}"
    if isinstance(exc, click.NoSuchOption):
        return f"没有 {exc.option_name} 这个选项"
    if isinstance(exc, click.BadParameter) and re.search(r"[\u4e00-\u9fff]", exc.message):
        return f"{name} 的值不对：{exc.message}"  # our own callbacks' words
    if isinstance(exc, click.BadParameter) and param is not None:
        kind = param.type
        if isinstance(kind, click.IntRange):
            allowed = f" {kind.min} 至 {kind.max} 之间的整数" if kind.min is not None and kind.max is not None \
                else (f"不小于 {kind.min} 的整数" if kind.min is not None else f"不大于 {kind.max} 的整数")
            allowed = allowed.strip()
            return f"{name} 的值不对，应为 {allowed}"
        if isinstance(kind, click.FloatRange):
            return f"{name} 的值不对，应为不小于 {kind.min} 的数"
        if isinstance(kind, click.Choice):
            return f"{name} 的值不对，应为 {'、'.join(map(str, kind.choices))} 之一"
        if isinstance(kind, click.Path):
            return f"{name} 给出的文件或文件夹不存在或不能使用"
        return f"{name} 的值不对"
    return f"命令用法不对（{exc.format_message()}）"


def rulebook(rules: Path | None):
    from xlflow.paths import example_rules
    from xlflow.validation.rules import load_rulebook

    return load_rulebook(rules or example_rules())


def print_findings(result: CheckResult, limit: int = 200) -> None:
    shown = result.findings[:limit]
    for f in shown:
        where = f"第 {f.row} 行" if f.row else "文件"
        if f.cell:
            where += f" {f.cell}"
        click.echo(f"{where} [{f.code} {SEVERITY_WORDS[f.severity]}] {f.message}")
    if len(result.findings) > limit:
        click.echo(f"……另有 {len(result.findings) - limit} 条，请看 --json 输出或汇总表。")


def settings_for(given: Path | None):
    """--settings, else the workspace's xlflow.toml when the current folder is a workspace, else the
    defaults: every command reads the same settings the watcher of that workspace does."""
    from xlflow.io.settings import SETTINGS_FILE, Settings, load_settings

    if given is not None:
        return load_settings(given)
    if Path(SETTINGS_FILE).exists():
        return load_settings(Path.cwd())
    return Settings()


def ledger_path_for(given: Path | None) -> Path | None:
    """--ledger, else the workspace's ledger when the current folder holds xlflow.toml, else none."""
    from xlflow.io.settings import SETTINGS_FILE, load_settings

    if given is not None:
        return given
    if Path(SETTINGS_FILE).exists():
        return Path.cwd() / load_settings(Path.cwd()).ledger
    return None


def open_ledger(given: Path | None, create: bool = False):
    from xlflow.store.ledger import Ledger

    path = ledger_path_for(given)
    return None if path is None else Ledger(path, create=create, on_wait=waiting_for_ledger,
                                            on_migrate=lambda line: click.echo(line, err=True))


def waiting_for_ledger(holder: str, waited: float) -> None:
    """The line a clerk sees while another xlflow holds the ledger (rewritten in place on a terminal)."""
    end = "\r" if sys.stderr.isatty() else "\n"
    click.echo(f"台账正被{holder}使用，已等待 {waited:.0f} 秒，等它完成后继续……", err=True, nl=False)
    click.echo(end, err=True, nl=False)


PROGRESS_MIN_BYTES = 2 * 2**20  # smaller files finish before a bar would be useful


@contextlib.contextmanager
def progress(path: Path, stages: tuple[str, ...] | None = None):
    """A stage progress bar on stderr for large files; yields the callback for process_workbook (or for
    ``import_file``, with its ``stages``)."""
    if stages is None:
        from xlflow.app.pipeline import STAGES

        stages = STAGES
    try:
        large = path.stat().st_size >= PROGRESS_MIN_BYTES
    except OSError:
        large = False
    if not large:
        yield None
        return
    with click.progressbar(length=len(stages), label=f"{path.name}", file=sys.stderr,
                           show_eta=False, show_percent=False, item_show_func=lambda s: s) as bar:
        started = []

        def step(stage: str) -> None:  # the bar names the stage now running (update(0, …) drew nothing)
            if started:
                bar.update(1, stage)
            else:
                bar.current_item = stage
                bar.render_progress()
            started.append(stage)

        yield step
        bar.update(len(stages) - bar.pos, "完成")
