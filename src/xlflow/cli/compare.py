"""`xlflow compare`: 数据比对 of the office lists against the roster and payments for one year."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from xlflow.domain.vocab import FIRST_YEAR


def _list_option(ctx, param, values):
    out = []
    for value in values:
        kind, sep, path = value.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"应写成 类别=文件，例如 低保对象=低保名单.xlsx，而不是“{value}”")
        out.append((kind.strip(), Path(path)))
    return out


@click.command()
@click.option("--year", type=click.IntRange(FIRST_YEAR, 2100), required=True, help="比对的年度。 The year compared.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              help="台账文件；不给时用当前工作目录的台账。 Ledger file.")
@click.option("--roster", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="直接给出参保人员信息文件（不用台账）。 Roster export, instead of a ledger.")
@click.option("--payments", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="直接给出缴费明细文件，可多次。 Payments export(s).")
@click.option("--list", "lists", multiple=True, callback=_list_option, metavar="类别=FILE",
              help="部门名单，例如 --list 低保对象=低保名单.xlsx，可多次。 An office list, KIND=FILE.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="征缴规则表；不给则用自带的示例规则表。 Rule table.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="结果文件夹。 Output folder.")
@click.option("--per-township", is_flag=True,
              help="预填的身份变更表、申报表和调整表按乡镇分文件。 One pre-filled file per township.")
@click.option("--settings", "settings_path", type=click.Path(exists=True, path_type=Path),
              help="设置文件 xlflow.toml 或工作目录；不给时用当前工作目录的。 Settings file or workspace.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。 Print JSON.")
def compare(year: int, ledger_path: Path | None, roster: tuple[Path, ...], payments: tuple[Path, ...],
            lists: list, rules: Path | None, out_dir: Path, per_township: bool, settings_path: Path | None,
            as_json: bool) -> None:
    """数据比对：把扶贫、民政、残联名单与参保人员信息和缴费明细比对，写出比对台账、比对统计（财政测算、落实情况）、参保登记名单和预填的身份变更表、申报表、调整表；比对结果记入台账，下次比对同一年度时写出“变化”。

    Compare the office lists with the roster and payments for YEAR: 比对台账_Y.xlsx (one row per listed
    person with 需办理事项 and 原因), 比对统计_Y.xlsx (counts and the fiscal estimate, with charts) and
    pre-filled 参保登记名单 / 批量参保身份变更表 / 批量缴费申报表 / 批量缴费调整登记表. Uses the ledger (the
    comparison is kept in it: the next one of YEAR says what changed), or the files given with --roster,
    --payments and --list (then nothing is written to any ledger).
    """
    from xlflow.app.comparing import import_for_comparison, run_comparison
    from xlflow.app.imports import LIST_KINDS
    from xlflow.cli.common import open_ledger, rulebook, settings_for
    from xlflow.errors import XlflowError
    from xlflow.store.ledger import Ledger

    for kind, _ in lists:
        if kind not in LIST_KINDS:
            raise XlflowError(f"名单类别应为 {'、'.join(LIST_KINDS)} 之一，不能是“{kind}”。")
    book = rulebook(rules)
    settings = settings_for(settings_path)
    if roster or payments or lists:
        if not lists:
            raise XlflowError("直接给文件比对时，至少要给一个名单：--list 类别=文件。")
        with tempfile.TemporaryDirectory() as scratch, Ledger(Path(scratch) / "比对.sqlite") as store:
            import_for_comparison(store, list(roster), list(payments), lists, Path(scratch), settings)
            run = run_comparison(store, book, year, out_dir, settings, per_township)
    else:
        store = open_ledger(ledger_path, create=False)
        if store is None:
            raise XlflowError("没有台账：请加 --ledger 台账文件、在工作目录中运行，"
                              "或用 --roster/--payments/--list 直接给出文件。")
        with store:
            run = run_comparison(store, book, year, out_dir, settings, per_township)
    comparison = run.comparison
    if as_json:
        click.echo(json.dumps({"year": year, "persons": len(comparison.people), "actions": comparison.counts(),
                               "unmatched": len(comparison.unmatched), "outputs": run.outputs,
                               "previous": comparison.last["made_at"] if comparison.last else None,
                               "changes": len(comparison.changes) if comparison.last else 0,
                               "kept": not run.not_kept}, ensure_ascii=False))
    else:
        click.echo(comparison.summary_line(), err=True)
        if run.not_kept:
            click.echo(f"注意：{run.not_kept}", err=True)
        for files in run.outputs.values():
            for f in files:
                click.echo(f"  {f}", err=True)
    sys.exit(0)
