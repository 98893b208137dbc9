"""Command line: parse options, call the library, print, set the exit code. Nothing else."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from xlflow import __version__
from xlflow.cli.common import XlflowGroup, print_findings, rulebook
from xlflow.cli.compare import compare
from xlflow.cli.ledger import ledger
from xlflow.cli.validate import validate
from xlflow.cli.watch import watch
from xlflow.domain.kinds import kinds


@click.group(cls=XlflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xlflow")
def main() -> None:
    """xlflow：城乡居保政府代缴 Excel 表格上传前的检查与更正工具。

    Checks 征缴规则表, 批量缴费申报表 and 批量缴费调整登记表 workbooks before they are uploaded,
    explains every problem in Chinese at the cell, and writes corrected, error and summary workbooks.
    """


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """建立工作目录：设置文件、示例征缴规则表、待处理/处理结果/已处理/无法处理文件夹和使用说明。

    Create a workspace in DIRECTORY (settings, example rule table, folders, a Chinese README).
    """
    from xlflow.app.workspace import init_workspace

    made = init_workspace(directory)
    click.echo(f"已建立工作目录 {directory}：")
    for path in made:
        click.echo(f"  {path}")
    click.echo("请先阅读其中的“使用说明.txt”。")


@main.command()
@click.argument("kind", type=click.Choice(kinds(template=True)))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="写出的模板文件（.xlsx）。 Output file.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="征缴规则表，下拉选项取自此表；不给则用自带的示例规则表。 Rule table.")
def template(kind: str, output: Path, rules: Path | None) -> None:
    """生成空白模板：declaration=批量缴费申报表，adjustment=批量缴费调整登记表，rules=征缴规则表。

    Write an empty template workbook of KIND with dropdowns fed from the rule table.
    """
    from xlflow.templates import build_template

    book = rulebook(rules)
    build_template(kind, output, book, dt.datetime.now())  # the clock is read here, at the entry point
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
    from xlflow.validation.rules import check_rules

    result, book = check_rules(path)
    if as_json:
        data = result.as_json()
        data = {k: data[k] for k in ("file", "kind", "rows", "findings")}
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        print_findings(result)
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


main.add_command(validate)
main.add_command(ledger)
main.add_command(watch)
main.add_command(compare)
