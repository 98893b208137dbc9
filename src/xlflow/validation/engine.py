"""Shared machinery: reading with F-findings, per-distinct-value parsing, fixes → findings."""

from __future__ import annotations

import dataclasses
import functools
import gc
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xlflow.domain.findings import Finding, FindingBlock, catalogue, column_letter, make
from xlflow.domain.idcard import id_shaped
from xlflow.domain.kinds import KindSpec
from xlflow.io.headers import column_text, header_text
from xlflow.io.opening import Limits, TooManyRows, UnreadableWorkbook
from xlflow.io.reading import KindNotRecognised, Table, read_tables
from xlflow.validation.result import CheckResult


def without_cycle_collector(work: Callable) -> Callable:
    """Run ``work`` with Python's cyclic garbage collector paused (and resumed after, as it was).

    It walks every container alive each time enough have been made: reading a full sheet (a list per row)
    set off 23 full walks, 2–3 s of a 40 s run, and the checks and writers a second more, finding no
    garbage (rows, columns and findings hold no cycles; anything else is collected once it resumes).
    """

    @functools.wraps(work)
    def run(*args, **kwargs):
        was = gc.isenabled()
        gc.disable()
        try:
            return work(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return run


def read_for_check(
    path: Path, specs: list[KindSpec], limits: Limits, result: CheckResult, sheet: str | None = None
) -> Table | None:
    """Read the table (of ``sheet``, if given), or record the file-level finding (F01/F02/F03/F05/F06) and
    return None."""
    tables = read_all_for_check(path, specs, limits, result, every_sheet=False, sheet=sheet)
    return tables[0] if tables else None


def read_all_for_check(path: Path, specs: list[KindSpec], limits: Limits, result: CheckResult,
                       every_sheet: bool = True, sheet: str | None = None) -> list[Table] | None:
    """The tables of the file's kind (its best, then each other visible sheet's of the same kind: an export
    split over sheets, a list of one sheet per township), or the file-level finding (F01/F02/F03/F05/F06) and
    None. Another sheet without a column the kind needs, or without rows, is named (F10), not read."""
    try:
        tables = read_tables(path, specs, limits, every_sheet, sheet)
    except TooManyRows as exc:  # a text or web export, refused while it was streamed
        result.findings.append(make("F06", value=f"约 {exc.rows:,}", detail=f"{exc.limit:,}"))
    except UnreadableWorkbook as exc:
        finding = make("F01", detail=exc.detail)
        if "请" in exc.detail:  # the reason says what to do: the template up to its reason, not its advice too
            head = catalogue()["F01"].message.split("{detail}")[0]
            finding = dataclasses.replace(finding, message=f"{head}{exc.detail.rstrip('。')}。")
        result.findings.append(finding)
    except KindNotRecognised as exc:
        result.findings.append(make("F02", detail=exc.detail))
    else:
        first = tables[0]
        for other in tables[1:]:
            if other.missing or not len(other.frame):
                lacks = "、".join(f"“{other.spec.column(k).header}”" for k in other.missing)
                first.other_tables.append((other.sheet, other.spec.title,
                                           f"{len(other.frame):,} 行" + (f"，缺少{lacks}列" if lacks else "")))
        tables = [first] + [t for t in tables[1:] if not t.missing and len(t.frame)]
        result.kind = first.spec.kind
        result.source = first.source
        result.rows = sum(len(t.frame) for t in tables)
        for key in first.missing:
            result.findings.append(make("F03", column=first.spec.column(key).header))
        if first.missing:
            result.unusable = True
            return None
        if result.rows == 0:
            result.findings.append(make("F05"))
            result.unusable = True
            return None
        if result.rows > limits.max_rows:
            result.findings.append(make("F06", value=f"{result.rows:,}", detail=f"{limits.max_rows:,}"))
            result.unusable = True
            return None
        return tables
    result.unusable = True
    return None


def parse_column(
    values: pd.Series, parser: Callable[[str], tuple[Any, str | None]]
) -> tuple[pd.Series, pd.Series]:
    """Parse each distinct non-empty value once → (parsed values, problem text or None)."""
    codes, uniques = pd.factorize(values)
    parsed = [parser(u) if u != "" else (None, None) for u in uniques]
    vals = np.array([p[0] for p in parsed] + [None], dtype=object)
    probs = np.array([p[1] for p in parsed] + [None], dtype=object)
    return (
        pd.Series(vals[codes], index=values.index, dtype=object),
        pd.Series(probs[codes], index=values.index, dtype=object),
    )


def fix_findings(fixes: pd.DataFrame, table: Table) -> list[FindingBlock]:
    """The fixes as findings: one block per column and code, sharing the fixes' arrays."""
    out = []
    for (key, code), group in fixes.groupby(["key", "code"], sort=False, observed=True):
        out.append(FindingBlock(code, table.spec.column(key).header, column_letter(table.keys[key]),
                                group["row"].to_numpy(dtype=np.int64), group["before"].to_numpy(dtype=object),
                                {"detail": group["after"].to_numpy(dtype=object)}))
    return out


class Whole:
    """Numbers quoted as whole-number text ("2024"), formatted only for the rows a finding quotes: turning
    a full sheet's years into a million strings for a handful of P01 rows cost a second."""

    def __init__(self, series: pd.Series):
        self.series = series

    def reindex(self, rows) -> pd.Series:
        return self.series.reindex(rows).astype("Int64").astype(str)


def cell_findings(
    table: Table, key: str, mask: pd.Series, code: str, shown: pd.Series | Whole | None, **params: Any
) -> list[FindingBlock]:
    """Findings of ``code`` for each row where ``mask`` holds; ``shown`` is the value quoted."""
    col = table.spec.column(key)
    hit = mask.to_numpy(dtype=bool)
    if not hit.any():
        return []
    rows = mask.index[hit]
    values = (shown.reindex(rows).to_numpy(dtype=object) if shown is not None
              else np.full(len(rows), None, dtype=object))
    extra: dict[str, Any] = {"hint": col.hint}
    for k, v in params.items():
        extra[k] = v.reindex(rows).to_numpy(dtype=object) if isinstance(v, pd.Series | Whole) else v
    return [FindingBlock(code, col.header, column_letter(table.keys[key]), rows.to_numpy(dtype=np.int64),
                         values, extra)]


def sheet_findings(table: Table) -> list[FindingBlock | Finding]:
    """What the reader saw in the sheet itself: Excel error values (C13), text past the cell limit
    (C12), tables on hidden sheets (F08) and on the other visible sheets (F10: not read)."""
    out: list[FindingBlock | Finding] = []
    for sheet, title in table.hidden_tables:
        out.append(make("F08", value=sheet, detail=title))
    for sheet, title, rows in table.other_tables:
        out.append(make("F10", value=sheet, detail=f"{title}，{rows}", sheet=table.handled or f"工作表“{table.sheet}”"))
    for col, written, like in table.unknown_columns:
        out.append(make("F09", column=written, cell=f"{column_letter(col)}{table.header_row}", value=written,
                        detail=like, kind=table.spec.title))
    for code, cells in (("C13", table.error_cells), ("C12", table.long_cells)):
        by_column: dict[int, list[tuple[int, object]]] = {}
        for (row, col), shown in sorted(cells.items()):
            by_column.setdefault(col, []).append((row, shown))
        for col, items in by_column.items():
            header = table.headers[col] if col < len(table.headers) and table.headers[col] else column_letter(col)
            out.append(FindingBlock(code, header, column_letter(col), np.array([r for r, _ in items], dtype=np.int64),
                                    np.array([str(v) for _, v in items], dtype=object), {}))
    return out


def error_value_cells(table: Table) -> set[tuple[int, str]]:
    return {(row, column_letter(col)) for row, col in table.error_cells}


def add_sheet_findings(findings, table: Table, keep: tuple[str, ...] = ()) -> None:
    """Add what the reader saw in the sheet (C12, C13, F08), then drop the other findings at a cell that
    holds an Excel error value: it is reported once, for what it is. A totals row (C15) and the header row
    again (C16) are named for what they are, and alone: "姓名是必填项", "身份证号码共 2 位" … would only say
    that they are not a person. Every kind ends its checks here."""
    findings += sheet_findings(table)
    findings.drop_at(error_value_cells(table), keep=("C13", *keep))
    not_data = not_data_findings(table, findings.rows_of("C01", "C03"))
    if not_data:
        findings.drop_rows(np.concatenate([b.rows for b in not_data]), keep=())
        findings += not_data


_SPACES = re.compile(r"[\s\u3000\u200b\ufeff]+")
# What a totals row's label starts with ("合计", "合  计", "本页小计：", "合计：1,234 人", "共计 56 户"); only
# rows without a person's ID are asked, so a cell that starts so is the label, whatever follows.
_TOTALS = re.compile(r"(本页|本表|全表|本月|本年|本镇|全镇|总)?(合计|总计|小计|累计|共计)")
# What a sign-off or note line under a table starts with (制表人：刘敏, 审核人：, 单位负责人（签字）：, 打印时间：…,
# 注：…, 填表说明：), and the numbered lines of such a note (1、… 2. …) that follow it.
# And the pager a web system's table brings along when copied off the page (显示 1-20 条，共 1,000 条; 第 1 页 /
# 共 50 页; 首页 上一页 下一页 尾页).
_SIGN_OFF = re.compile(r"(制表|填表|填报|审核|复核|审批|单位负责|负责|主管|分管|打印|导出|签字|签名|盖章"
                       r"|(填表)?说明|注)[人员日期时间领导单位]*([（(][^)）]{0,8}[)）])?[:：]"
                       r"|(经办|填报|申报)?单位[（(](盖章|签章|公章)[)）]"
                       r"|(显示)?第?[0-9,]+[-–~至到][0-9,]+条|共[0-9,]+条(记录)?|第[0-9]+页|首页|上一页|下一页|尾页|末页")
_NOTE_LINE = re.compile(r"[0-9一二三四五六七八九十]{1,2}[、.．)）]")


def not_data_findings(table: Table, candidates: np.ndarray) -> list[FindingBlock]:
    """Rows that are not a person's, among ``candidates`` (rows whose ID is empty or not an ID): the head
    again (C16: its header row or a row of its header block, 申报单位 …, as when tables are pasted one under
    another or a printout repeats it on every page) and a totals row (C15: 合计,
    小 计, 本页合计：…), each at the cell that says so. Each distinct text is looked at once."""
    if "id_number" not in table.keys or not len(candidates) or table.frame is None:
        return []
    rows = table.frame.index.intersection(pd.Index(candidates))
    if not len(rows):
        return []
    sub = table.frame.loc[rows]
    ids = sub[table.keys["id_number"]].map(lambda t: _SPACES.sub("", t).upper() if isinstance(t, str) else "")
    sub = sub[~id_shaped(ids).to_numpy()]  # a row with a person's ID is that person's, whatever else it says
    rows = sub.index
    known = sorted(table.keys.values())
    heads = np.zeros(len(rows), dtype=np.int64)  # per row: the known columns holding their own header
    labels = {f.label for f in table.spec.header_fields}
    found: dict[int, tuple[str, int, str]] = {}
    for col in sub.columns:
        texts = sub[col].to_numpy(dtype=object)
        codes, uniques = pd.factorize(texts)
        if col in known and col < len(table.headers) and table.headers[col]:
            own = [i for i, u in enumerate(uniques) if isinstance(u, str) and column_text(u) == table.headers[col]]
            heads += np.isin(codes, own)
        if labels:
            block = [i for i, u in enumerate(uniques) if isinstance(u, str) and header_text(u).rstrip(":：") in labels]
            heads += np.isin(codes, block) * len(known)  # a label of the header block (申报单位 …): the head again
        hits = [i for i, u in enumerate(uniques) if isinstance(u, str) and "计" in u
                and _TOTALS.match(_SPACES.sub("", u))]
        for at in np.flatnonzero(np.isin(codes, hits)).tolist():
            found.setdefault(int(rows[at]), ("C15", int(col), texts[at]))
    id_col = table.keys["id_number"]
    for at in np.flatnonzero(heads >= max(2, (len(known) + 1) // 2)).tolist():
        found[int(rows[at])] = ("C16", id_col, sub.iloc[at][id_col])
    found |= _sign_off_rows(sub, found)
    by_cell: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for row, (code, col, text) in sorted(found.items()):
        by_cell.setdefault((code, col), []).append((row, text))
    out = []
    for (code, col), items in by_cell.items():
        header = table.headers[col] if col < len(table.headers) and table.headers[col] else column_letter(col)
        out.append(FindingBlock(code, header, column_letter(col), np.array([r for r, _ in items], dtype=np.int64),
                                np.array([t for _, t in items], dtype=object), {}))
    return out


def _sign_off_rows(sub: pd.DataFrame, found: dict) -> dict[int, tuple[str, int, str]]:
    """C17 for the rows of ``sub`` (rows without a person's ID) that are a sign-off or note line under the
    table: a cell starting 制表人：, 审核人：, 打印时间：, 注：… (the first such cell of the row), and the numbered
    lines (1、…) right below such a line that hold one or two cells. A row already named (C15, C16) stays so,
    and a row with most of its cells filled is a person's. Each distinct text is matched once; only the rows
    holding a match (and the rows right below them) are looked at one by one."""
    starts = np.zeros(len(sub), dtype=bool)
    for col in sub.columns:
        codes, uniques = pd.factorize(sub[col].to_numpy(dtype=object))
        hits = [i for i, u in enumerate(uniques) if isinstance(u, str) and _SIGN_OFF.match(_SPACES.sub("", u))]
        if hits:
            starts |= np.isin(codes, hits)
    out: dict[int, tuple[str, int, str]] = {}
    rows = sub.index.to_numpy()
    for at in np.flatnonzero(starts).tolist():
        below = False  # the line itself, then the numbered lines right below it
        while at < len(rows) and int(rows[at]) not in found and int(rows[at]) not in out:
            filled = [(c, v) for c, v in zip(sub.columns, sub.iloc[at], strict=True)
                      if isinstance(v, str) and v.strip()]
            if not filled or len(filled) > max(6, len(sub.columns) // 2):
                break  # a row filled like a person's (its ID missing) is that person's, whatever its 备注 says
            hit = next(((c, v) for c, v in filled if _SIGN_OFF.match(_SPACES.sub("", v))), None)
            if hit is None and below and len(filled) <= 2 and _NOTE_LINE.match(_SPACES.sub("", filled[0][1])):
                hit = filled[0]
            if hit is None:
                break
            out[int(rows[at])] = ("C17", int(hit[0]), hit[1])
            below = True
            if at + 1 < len(rows) and rows[at + 1] != rows[at] + 1:
                break
            at += 1
    return out
