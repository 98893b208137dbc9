"""`xlflow ledger …`: import exports, show what the ledger holds, list and withdraw batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from xlflow.domain.kinds import kind as registered
from xlflow.domain.kinds import kinds

LEDGER_OPTION = click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
                             help="台账文件；不给时用当前工作目录（有 xlflow.toml）的台账。 Ledger file.")


def _open(ledger_path: Path | None, create: bool):
    from xlflow.cli.common import open_ledger
    from xlflow.errors import XlflowError

    found = open_ledger(ledger_path, create=create)
    if found is None:
        raise XlflowError("没有指定台账：请加 --ledger 台账文件，或在工作目录（有 xlflow.toml 的文件夹）中运行。")
    return found


@click.group()
def ledger() -> None:
    """台账：导入参保人员信息、缴费明细和部门名单，查看台账和申报批次。 The ledger."""


@ledger.command("import")
@click.argument("what", type=click.Choice(kinds(imported=True)))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", "list_kind", help="名单类别：贫困人口|低保对象|特困人员|残疾人（导入 list 时）。 List kind.")
@click.option("--replace", is_flag=True,
              help="（导入 list 时）本文件是该类别的完整名单：不在本文件中的人移出该类别名单。 "
                   "The whole list of its kind: the people it no longer names are removed.")
@LEDGER_OPTION
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="导入错误表写到此文件夹，默认与输入文件相同。 Folder for NAME_导入错误.xlsx.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。 Print JSON.")
def import_(what: str, file: Path, list_kind: str | None, replace: bool, ledger_path: Path | None,
            out_dir: Path | None, as_json: bool) -> None:
    """导入 roster=参保人员信息，payments=缴费明细，list=部门名单。退出码：0 全部导入，1 有行未导入，2 文件无法使用。

    Import an export into the ledger in one transaction. Exit 0 all rows imported, 1 some rows refused
    (listed in NAME_导入错误.xlsx), 2 the file is unusable (nothing changed).
    """
    from xlflow.app.imports import IMPORT_STAGES, import_file, list_kind_for
    from xlflow.cli.common import progress

    kind = list_kind_for(file, list_kind) if registered(what).office_list else None
    with _open(ledger_path, create=True) as store, progress(file, IMPORT_STAGES) as step:
        result = import_file(store, file, what, kind, out_dir, replace=replace, step=step)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(result.summary_line(), err=True)
        for errors in result.errors_files:
            click.echo(f"  未导入的行及原因见 {errors}", err=True)
    sys.exit(result.exit_code)


@ledger.command()
@LEDGER_OPTION
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。 Print JSON.")
def status(ledger_path: Path | None, as_json: bool) -> None:
    """台账里有什么：人数、各年度已缴费人年、各类名单、待上传批次、来自哪些文件。 What the ledger holds."""
    from xlflow.store import history

    with _open(ledger_path, create=False) as store:
        data = store.status()
        data["comparisons"] = history.held(store)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"台账 {data['ledger']}（结构版本 {data['schema_version']}）")
    click.echo(f"  参保人员 {data['persons']:,} 人；缴费记录 {data['payment_records']:,} 条")
    for year, n in data["paid_person_years"].items():
        click.echo(f"  {year} 年度已缴费 {n:,} 人")
    for kind, n in data["lists"].items():
        click.echo(f"  名单“{kind}” {n:,} 人")
    click.echo(f"  待上传申报批次 {data['pending_batches']} 个，共 {data['pending_rows']:,} 人年")
    if data["list_problems"]:
        click.echo(f"  名单中未能导入或重复列出的行 {data['list_problems']:,} 行（见 xlflow compare 的“未能比对”）")
    words = {"done": "已处理", "failed": "无法处理", "processing": "处理中", "retry": "待重做", "seen": "等待复制完成"}
    if data["watched_files"]:
        click.echo("  xlflow watch 处理记录：" + "，".join(f"{words.get(k, k)} {n:,} 个"
                                                     for k, n in data["watched_files"].items()))
    for c in data["comparisons"]:
        click.echo(f"  数据比对 {c['id']}：{c['year']} 年度，{c['made_at']}，名单 {c['persons']:,} 人")
    for s in data["sources"]:
        sheets = f"，工作表 {s['sheet']}" if s["sheet"] and "、" in s["sheet"] else ""  # several sheets read
        click.echo(f"  来源：{s['file']}（{s['kind']}{sheets}，{s['rows']:,} 行，{s['imported_at']} 导入）")


@ledger.command()
@LEDGER_OPTION
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。 Print JSON.")
def batches(ledger_path: Path | None, as_json: bool) -> None:
    """申报批次：文件、申报单位、日期、待上传和已缴费的人年数，以及属于每个批次的文件（原表、改好的错误数据表、副本）。

    List declared batches with the files of each batch's lineage."""
    with _open(ledger_path, create=False) as store:
        rows = store.batches()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("台账中还没有申报批次。")
    for b in rows:
        click.echo(f"批次 {b['id']}：{b['file']}，{b['unit'] or '—'}，{b['declared_on'] or '—'}，"
                   f"共 {b['rows']} 人年，已缴费 {b['paid_rows']}，待上传 {b['rows'] - b['paid_rows']}"
                   f"（{ {'pending': '待上传'}.get(b['status'], b['status'])}，编号 {b['lineage']}）")
        for m in b["members"]:  # the files of its lineage: the original, fixed error workbooks, copies
            click.echo(f"    {m['role']} {m['file']}：通过 {m['rows']} 人年，有错 {m['error_rows']} 人年，"
                       f"{m['recorded_at']} 检查")


@ledger.command()
@click.argument("batch_id", type=int)
@LEDGER_OPTION
def withdraw(batch_id: int, ledger_path: Path | None) -> None:
    """撤回一个没有上传的申报批次（其中的人年不再算作已申报）。 Withdraw a batch that was not uploaded."""
    with _open(ledger_path, create=False) as store:
        gone = store.withdraw(batch_id)
    click.echo(f"已撤回批次 {batch_id}（{gone['file']}，{gone['rows']} 人年）。")
