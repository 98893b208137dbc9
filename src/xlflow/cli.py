"""Command line: parse options, call the library, print, set the exit code. Nothing else."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path

import click

from xlflow import __version__
from xlflow.errors import XlflowError
from xlflow.validation.result import CheckResult

SEVERITY_WORDS = {"error": "错误", "warning": "警告", "fixed": "已更正"}


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


@click.group(cls=XlflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xlflow")
def main() -> None:
    """xlflow：城乡居保政府代缴 Excel 表格上传前的检查与更正工具。

    Checks 征缴规则表, 批量缴费申报表 and 批量缴费调整登记表 workbooks before they are uploaded,
    explains every problem in Chinese at the cell, and writes corrected, error and summary workbooks.
    """


def _rulebook(rules: Path | None):
    from xlflow.paths import example_rules
    from xlflow.rules import load_rulebook

    return load_rulebook(rules or example_rules())


def _print_findings(result: CheckResult, limit: int = 200) -> None:
    shown = result.findings[:limit]
    for f in shown:
        where = f"第 {f.row} 行" if f.row else "文件"
        if f.cell:
            where += f" {f.cell}"
        click.echo(f"{where} [{f.code} {SEVERITY_WORDS[f.severity]}] {f.message}")
    if len(result.findings) > limit:
        click.echo(f"……另有 {len(result.findings) - limit} 条，请看 --json 输出或汇总表。")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """建立工作目录：设置文件、示例征缴规则表、待处理/处理结果/已处理/无法处理文件夹和使用说明。

    Create a workspace in DIRECTORY (settings, example rule table, folders, a Chinese README).
    """
    from xlflow.workspace import init_workspace

    made = init_workspace(directory)
    click.echo(f"已建立工作目录 {directory}：")
    for path in made:
        click.echo(f"  {path}")
    click.echo("请先阅读其中的“使用说明.txt”。")


@main.command()
@click.argument("kind", type=click.Choice(["declaration", "adjustment", "rules"]))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="写出的模板文件（.xlsx）。 Output file.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="征缴规则表，下拉选项取自此表；不给则用自带的示例规则表。 Rule table.")
def template(kind: str, output: Path, rules: Path | None) -> None:
    """生成空白模板：declaration=批量缴费申报表，adjustment=批量缴费调整登记表，rules=征缴规则表。

    Write an empty template workbook of KIND with dropdowns fed from the rule table.
    """
    from xlflow.templates import build_template

    book = _rulebook(rules)
    build_template(kind, output, book)
    click.echo(f"已生成模板 {output}（依据征缴规则表 {book.source}，指纹 {book.fingerprint}）")


@main.group()
def rules() -> None:
    """征缴规则表相关命令。 Rule table commands."""


@rules.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出结果。 Print JSON to stdout.")
def rules_check(path: Path, as_json: bool) -> None:
    """检查征缴规则表（R01–R07 等）。退出码：0 无错误，1 有错误，2 文件无法使用。

    Validate a rule table. Exit 0 without errors, 1 with errors, 2 when the file is unusable.
    """
    from xlflow.rules import check_rules

    result, book = check_rules(path)
    if as_json:
        data = result.as_json()
        data = {k: data[k] for k in ("file", "kind", "rows", "findings")}
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        _print_findings(result)
        usable = 0 if book is None else len(book.frame)
        if result.unusable:
            click.echo(result.summary_line(), err=True)
        else:
            click.echo(
                f"征缴规则表 {path.name}：共 {result.rows} 条规则，可用 {usable} 条；"
                f"错误 {result.count('error')} 处，警告 {result.count('warning')} 处，"
                f"可自动更正 {result.count('fixed')} 处。",
                err=True,
            )
    sys.exit(result.exit_code)


def ledger_path_for(given: Path | None) -> Path | None:
    """--ledger, else the workspace's ledger when the current folder holds xlflow.toml, else none."""
    from xlflow.settings import SETTINGS_FILE, load_settings

    if given is not None:
        return given
    if Path(SETTINGS_FILE).exists():
        return Path.cwd() / load_settings(Path.cwd()).ledger
    return None


def open_ledger(given: Path | None, create: bool = False):
    from xlflow.ledger import Ledger

    path = ledger_path_for(given)
    return None if path is None else Ledger(path, create=create, on_wait=_waiting_for_ledger)


def _waiting_for_ledger(holder: str, waited: float) -> None:
    """The line a clerk sees while another xlflow holds the ledger (rewritten in place on a terminal)."""
    end = "\r" if sys.stderr.isatty() else "\n"
    click.echo(f"台账正被{holder}使用，已等待 {waited:.0f} 秒，等它完成后继续……", err=True, nl=False)
    click.echo(end, err=True, nl=False)


PROGRESS_MIN_BYTES = 2 * 2**20  # smaller files finish before a bar would be useful


@contextlib.contextmanager
def _progress(path: Path):
    """A stage progress bar on stderr for large files; yields the callback for process_workbook."""
    from xlflow.pipeline import STAGES

    try:
        large = path.stat().st_size >= PROGRESS_MIN_BYTES
    except OSError:
        large = False
    if not large:
        yield None
        return
    with click.progressbar(length=len(STAGES), label=f"{path.name}", file=sys.stderr,
                           show_eta=False, show_percent=False, item_show_func=lambda s: s) as bar:
        started = []

        def step(stage: str) -> None:
            if started:
                bar.update(1)
            started.append(stage)
            bar.update(0, stage)

        yield step
        bar.update(len(STAGES) - bar.pos, "完成")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="征缴规则表；不给则用自带的示例规则表。 Rule table.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="结果文件夹，默认与输入文件相同。 Output folder (default: next to the input).")
@click.option("--settings", "settings_path", type=click.Path(exists=True, path_type=Path),
              help="设置文件 xlflow.toml 或工作目录。 Settings file or workspace.")
@click.option("--split-rows", type=click.IntRange(min=1), metavar="N",
              help="更正表每个文件最多 N 行，分成多个文件。 Split the corrected workbook into parts of N rows.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              help="台账文件；不给时如当前文件夹有 xlflow.toml 则用工作目录的台账。 Ledger file.")
@click.option("--json", "as_json", is_flag=True, help="每个文件输出一行 JSON。 One JSON object per file.")
def validate(files: tuple[Path, ...], rules: Path | None, out_dir: Path | None,
             settings_path: Path | None, split_rows: int | None, ledger_path: Path | None, as_json: bool) -> None:
    """检查填好的批量缴费申报表或批量缴费调整登记表，写出 _更正、_错误数据、_汇总 三个文件。

    Validate filled declaration or adjustment workbooks and write the corrected, error and summary workbooks.
    Exit 0: no error; 1: at least one error finding; 2: an input is unusable or bad usage.
    """
    from xlflow import opening
    from xlflow.settings import load_settings

    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise XlflowError(f"--out 应当是一个文件夹，但 {out_dir} 是一个文件。请换一个文件夹名。")
    settings = load_settings(settings_path)
    # The first file is parsed in the background while pandas, pandera and the rule table load.
    opening.prefetch(files[0], settings.limits())
    from xlflow.pipeline import process_workbook

    book = _rulebook(rules)
    ledger = open_ledger(ledger_path)
    worst = 0
    for i, path in enumerate(files):
        if i + 1 < len(files):
            opening.prefetch(files[i + 1], settings.limits())
        try:
            with _progress(path) as step:
                result = process_workbook(path, book, out_dir, settings, split_rows=split_rows, progress=step,
                                          ledger=ledger)
        except XlflowError:
            raise
        except Exception as exc:  # a bug: one Chinese line for the clerk, the type for the IT person
            click.echo(f"{path.name}：处理时发生程序内部错误（{type(exc).__name__}），请把此文件交给信息员。", err=True)
            worst = 2
            continue
        if as_json:
            click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            click.echo(f"{path.name}：{result.summary_line()}", err=True)
            for out in result.outputs.values():
                for one in out if isinstance(out, list) else [out] if out else []:
                    click.echo(f"  {one}", err=True)
        worst = max(worst, result.exit_code)
    sys.exit(worst)


from xlflow.cli_compare import compare  # noqa: E402
from xlflow.cli_ledger import ledger  # noqa: E402  (the ledger commands live in their own file)
from xlflow.cli_watch import watch  # noqa: E402

main.add_command(ledger)
main.add_command(watch)
main.add_command(compare)
