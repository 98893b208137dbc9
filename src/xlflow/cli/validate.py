"""`xlflow validate`: filled declarations and adjustments checked, three workbooks written for each."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from xlflow.cli.common import open_ledger, progress, rulebook, settings_for
from xlflow.errors import XlflowError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="征缴规则表；不给则用自带的示例规则表。 Rule table.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="结果文件夹，默认与输入文件相同。 Output folder (default: next to the input).")
@click.option("--settings", "settings_path", type=click.Path(exists=True, path_type=Path),
              help="设置文件 xlflow.toml 或工作目录；不给时用当前工作目录的。 Settings file or workspace.")
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
    from xlflow.io import opening

    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise XlflowError(f"--out 应当是一个文件夹，但 {out_dir} 是一个文件。请换一个文件夹名。")
    settings = settings_for(settings_path)
    # The first file is parsed in the background while pandas, pandera and the rule table load.
    opening.prefetch(files[0], settings.limits())
    from xlflow.app.pipeline import process_sheets

    book = rulebook(rules)
    ledger = open_ledger(ledger_path)
    worst = 0
    stems = _output_stems(files, out_dir)
    for i, path in enumerate(files):
        if i + 1 < len(files):
            opening.prefetch(files[i + 1], settings.limits())
        try:
            with progress(path) as step:
                results = process_sheets(path, book, out_dir, settings, split_rows=split_rows, progress=step,
                                         ledger=ledger, stem=stems[i])
        except XlflowError:
            raise
        except Exception as exc:  # a bug: one Chinese line for the clerk, the type for the IT person
            click.echo(f"{path.name}：处理时发生程序内部错误（{type(exc).__name__}），请把此文件交给信息员。", err=True)
            worst = 2
            continue
        for result in results:  # one per sheet with a table (a workbook of one sheet per township)
            if as_json:
                click.echo(json.dumps(result.as_json(), ensure_ascii=False))
            else:
                where = f"（工作表“{result.sheet}”）" if result.sheet else ""
                click.echo(f"{path.name}{where}：{result.summary_line()}", err=True)
                for out in result.outputs.values():
                    for one in out if isinstance(out, list) else [out] if out else []:
                        click.echo(f"  {one}", err=True)
            worst = max(worst, result.exit_code)
    sys.exit(worst)


def _output_stems(files: tuple[Path, ...], out_dir: Path | None) -> list[str | None]:
    """Where two inputs of one call would write the same outputs (明细.xlsx and 明细.csv, or two folders'
    申报表.xlsx into one --out), the later one's are named after its extension (明细_csv_更正.xlsx) or, with
    the same extension, numbered (明细_2_更正.xlsx): one input never overwrites what another's check wrote
    (the same file given twice keeps its name). None: the input's own name."""
    taken: set[tuple[str, str]] = set()
    suffixes: set[tuple[str, str, str]] = set()  # (folder, stem, suffix) of the inputs named so far
    chosen: dict[Path, str] = {}
    out: list[str | None] = []
    for path in files:
        if path.resolve() not in chosen:
            folder = str((out_dir or path.parent).resolve())
            own = (folder, path.stem.lower(), path.suffix.lower())
            by_suffix = [f"{path.stem}_{path.suffix.lstrip('.')}"] if path.suffix and own not in suffixes else []
            suffixes.add(own)
            candidates = [path.stem, *by_suffix, *(f"{path.stem}_{n}" for n in range(2, 1000))]
            stem = next((c for c in candidates if (folder, c.lower()) not in taken), candidates[-1])
            taken.add((folder, stem.lower()))
            chosen[path.resolve()] = stem
        stem = chosen[path.resolve()]
        out.append(None if stem == path.stem else stem)
    return out
