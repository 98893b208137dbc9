"""`xlflow ledger import`: a roster, payments or list export → the ledger, in one transaction.

Read with the same reader, fixed with the same X fixes and checked with the same cell checks as every
other kind. A row that fails its cell checks is not imported: it goes to NAME_导入错误.xlsx (the layout
of the error workbook). The same file twice changes nothing; a newer export replaces what older ones said
about the same people (and person-years); the clerk sees counts: new, changed, unchanged, refused.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.kinds import kind as kind_of
from xlflow.domain.kinds import kind_spec
from xlflow.errors import OutputError, XlflowError
from xlflow.io.lineage import IMPORT_PROPERTY, read_properties
from xlflow.io.reading import Table
from xlflow.io.settings import Settings
from xlflow.io.webexports import source_note
from xlflow.outputs.errors import write_errors
from xlflow.paths import file_safe, fit_stem
from xlflow.store.ledger import Ledger
from xlflow.validation.cells import Cells, check_cells
from xlflow.validation.engine import add_sheet_findings, cell_findings, read_all_for_check, without_cycle_collector
from xlflow.validation.normalise import Vocabulary
from xlflow.validation.result import Checked, CheckResult

LIST_KINDS = ("贫困人口", "低保对象", "特困人员", "残疾人")
IMPORT_STAGES = ("读取", "检查", "写入台账")  # what a progress line names, in order
COUNT_WORDS = {"new": "新增", "changed": "更新", "unchanged": "未变", "refused": "未导入（有错误）",
               "removed": "移出名单（不在本文件中）"}


def errors_name(path: Path | str, sheet: str | None = None) -> str:
    """The import's error workbook for ``path``: NAME_导入错误.xlsx, or NAME_SHEET_导入错误.xlsx for a sheet of a
    file whose several sheets were imported (a name too long for the disk is cut, as validate's outputs are)."""
    stem = Path(path).stem + (f"_{file_safe(sheet)}" if sheet else "")
    return f"{fit_stem(stem)}_导入错误.xlsx"


def _errors_target(folder: Path, name: str, sha: str) -> Path:
    """Where this file's error workbook goes: ``name``, unless that holds the refused rows of another file
    (明细.xlsx and then 明细.csv, or a newer 明细.xlsx, into one folder): then NAME_导入错误_2.xlsx … — the rows
    an earlier file could not import stay listed, where its "已导入过" line says they are."""
    target = folder / name
    for n in range(2, 1000):
        if not target.exists() or read_properties(target).get(IMPORT_PROPERTY) == sha:
            return target
        target = folder / f"{Path(name).stem}_{n}.xlsx"
    return target


def _errors_of(folder: Path, path: Path, sha: str) -> list[str]:
    """The error workbooks in ``folder`` that list the rows of the file with content ``sha`` (by their
    property), the newest name first; none when they were moved or deleted."""
    stem = glob.escape(fit_stem(Path(path).stem))
    found = sorted(folder.glob(f"{stem}*_导入错误*.xlsx"))
    return [f.name for f in found if read_properties(f).get(IMPORT_PROPERTY) == sha]


@dataclass
class ImportResult:
    check: CheckResult
    kind: str
    list_kind: str | None = None
    already: str | None = None  # when the same content was imported before: when
    already_refused: int = 0  # the rows of it that import did not take (they had errors)
    already_errors: list[str] = field(default_factory=list)  # the error workbooks that list them, as found
    counts: dict[str, int] = field(default_factory=dict)
    errors_files: list[str] = field(default_factory=list)  # NAME_导入错误.xlsx, or one per sheet that has such rows
    sheets: list[str] = field(default_factory=list)  # the sheets imported (several: an export split over sheets)
    headless: dict[str, str] = field(default_factory=dict)  # sheet without a header → the sheet whose it was read by
    repeated: int = 0  # payment records repeating an earlier one of the same export (P14, imported)
    # Rows not imported (row, sheet, id_number, name, reason) and rows that repeat a person already in the file
    # (row, sheet, id_number, name, first_row, first_sheet): the later row is what the ledger keeps.
    refused: pd.DataFrame = field(default_factory=pd.DataFrame)
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def errors_file(self) -> str | None:
        return self.errors_files[0] if self.errors_files else None

    def where(self, row: int, sheet: str) -> str:
        """A row as the clerk finds it: "第 5 行", or "工作表“镇二”第 5 行" when several sheets were imported."""
        return f"工作表“{sheet}”第 {row} 行" if len(self.sheets) > 1 else f"第 {row} 行"

    @property
    def exit_code(self) -> int:
        if self.check.unusable:
            return 2
        return 1 if self.counts.get("refused") or self.unread_sheets else 0

    @property
    def unread_sheets(self) -> list:
        """F10: the other sheets of the export that hold a table too (an export split over sheets): not imported."""
        return [f for f in self.check.findings.file_level() if f.code == "F10"]  # not every row's (1M fixes: 15 s)

    def summary_line(self) -> str:
        name = Path(self.check.file).name
        if self.check.unusable:
            return f"{name}：{self.check.summary_line().rstrip('。')}。台账未做任何改动。"
        if self.already:
            line = f"{name}：这个文件已于 {self.already} 导入过，内容相同，台账未做任何改动。"
            if self.already_refused:
                where = "、".join(self.already_errors) or errors_name(name)
                line += (f"当时有 {self.already_refused:,} 行因有错误未导入（见 {where}）："
                         "请在那个文件里改正后导入它，或导入改正后的新导出文件。")
            return line
        unit = "人年" if kind_of(self.kind).several_a_year else "人"
        counts = "，".join(f"{COUNT_WORDS[k]} {v:,} {unit if k != 'refused' else '行'}" for k, v in self.counts.items())
        if len(self.duplicates):
            counts += f"；同一人出现两次以上的 {len(self.duplicates):,} 行（按最后一行导入）"
        if self.repeated:
            counts += f"；与前面某行完全相同的缴费记录 {self.repeated:,} 行（已导入，请核对是否重复导出，见导入错误表）"
        if note := source_note(self.check.file, self.check.source):
            counts += f"；{note.split('（')[0]}"
        if len(self.sheets) > 1:
            counts += f"；读取了 {len(self.sheets)} 张工作表：{'、'.join(self.sheets)}"
        for sheet, header in self.headless.items():
            counts += f"（工作表“{sheet}”没有表头，按工作表“{header}”的表头读取）"
        for f in self.unread_sheets:
            counts += f"；{f.message.rstrip('。')}"
        return f"{name}（{kind_spec(self.kind).title}{'：' + self.list_kind if self.list_kind else ''}）：{counts}"

    def as_json(self) -> dict:
        data = self.check.as_json()
        data.pop("sheet", None)  # an import is of its file's sheets: "sheets"
        data.update(kind=self.kind, list_kind=self.list_kind, already_imported=self.already,
                    already_refused=self.already_refused, counts=self.counts,
                    sheets=self.sheets, outputs={"errors": self.errors_file, "errors_all": self.errors_files})
        return data


def list_kind_for(path: Path, given: str | None) -> str:
    if given:
        if given not in LIST_KINDS:
            raise XlflowError(f"名单类别应为 {'、'.join(LIST_KINDS)} 之一，不能是“{given}”。")
        return given
    found = [k for k in LIST_KINDS if k in Path(path).stem]
    if len(found) == 1:
        return found[0]
    raise XlflowError(f"请用 --kind 指明名单类别（{'|'.join(LIST_KINDS)}），文件名“{Path(path).name}”看不出来。")


def _vocabulary() -> Vocabulary:
    names = [n for names in vocab.IDENTITY_CODES.values() for n in names]
    return Vocabulary({"hukou": vocab.hukou_map(), "tier": vocab.tier_map(), "identity_name": vocab.identity_map(names),
                       "status": vocab.status_map()})


@without_cycle_collector
def import_file(ledger: Ledger, path: Path, kind: str, list_kind: str | None = None, out_dir: Path | None = None,
                settings: Settings | None = None, today: dt.date | None = None, replace: bool = False,
                step=None) -> ImportResult:
    """Import one export into ``ledger``; every change is one transaction (all or nothing). ``replace``: an
    office list that is the whole list of its kind — the people of that kind it no longer names are removed.
    ``step(stage)``: told as each of IMPORT_STAGES begins (a progress line). Every visible sheet that holds a
    table of the kind is imported (an export split over sheets, a list of one sheet per township)."""
    step = step or (lambda _stage: None)
    settings = settings or Settings()
    today = today or dt.date.today()
    path = Path(path)
    own = kind_of(kind)
    check = CheckResult(file=str(path), kind=kind)
    result = ImportResult(check, kind, list_kind)
    step(IMPORT_STAGES[0])
    tables = read_all_for_check(path, [kind_spec(kind)], settings.limits(), check)
    if tables is None:
        return result
    check.kind = kind
    step(IMPORT_STAGES[1])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    source_kind = f"list:{list_kind}" if own.office_list else kind
    earlier = ledger.source(source_kind, sha)
    if earlier:
        result.already, result.already_refused = earlier[2], max(0, check.rows - int(earlier[3] or 0))
        if result.already_refused:
            result.already_errors = _errors_of(Path(out_dir) if out_dir else path.parent, path, sha)
        return result
    result.sheets = [t.sheet for t in tables]
    result.headless = {t.sheet: t.header_from for t in tables if t.header_from}
    result.counts = {"new": 0, "changed": 0, "unchanged": 0, "refused": 0}
    checks = [_check_sheet(table, settings, today) for table in tables]
    if own.several_a_year:  # payments: a person-year's records are summed, so a repeated record counts twice
        _repeated_records(tables, checks)
    parts, people = [], []
    for table, (cells, bad, good, repeated) in zip(tables, checks, strict=True):
        rows, kept = _finish_sheet(table, cells, bad, good, repeated, path, sha, own, out_dir, result)
        parts.append(rows)
        people.append(kept)
        del table, cells
    tables.clear()
    checks.clear()
    if not own.several_a_year:  # a person twice in a roster or list; payments have several a year
        result.duplicates = _twice(people[0] if len(people) == 1 else pd.concat(people, ignore_index=True))
    del people
    rows = parts[0] if len(parts) == 1 else _in_key_order(pd.concat(parts, ignore_index=True))
    del parts
    sheet, imported = "、".join(result.sheets), len(rows)
    writer = own.row_writer  # the kind's own rows, as the registry names them
    # One import at a time: a second one waits, then finds the first's (the same file twice is "already").
    step(IMPORT_STAGES[2])
    with ledger.exclusive(f"导入 {path.name}"):
        earlier = ledger.source(source_kind, sha)
        if earlier:
            result.already, result.counts, result.errors_files = earlier[2], {}, []
            result.already_refused = max(0, imported + len(result.refused) - int(earlier[3] or 0))
            return result
        _write(ledger, path, sheet, kind, list_kind, source_kind, sha, imported, rows, writer, result)
        if replace and own.office_list:
            _remove_unlisted(ledger, list_kind, rows["id_number"], result)
    return result


def _check_sheet(table: Table, settings: Settings, today: dt.date) -> list:
    """One sheet's table checked: [its cells, the rows refused, the rows kept, the records repeating an
    earlier one (P14: filled in by _repeated_records)]."""
    allowed = {"hukou": list(vocab.HUKOU), "tier": list(vocab.TIERS), "status": list(vocab.STATUSES)}
    cells = check_cells(table, _vocabulary(), allowed, settings.first_year, today.year)
    add_sheet_findings(cells.findings, table)
    bad = cells.findings.rows_of(severity="error")
    good = ~table.frame.index.isin(bad)
    return [cells, bad, good, np.array([], dtype=np.int64)]


def _repeated_records(tables: list[Table], checks: list[list]) -> None:
    """P14 (warning) on each payment record that repeats an earlier one of the same export in every field, on
    its sheet or an earlier one (an old system that split the export over sheets and wrote a sheet's last
    record again at the next one's top): a person-year's records are summed, so 1,000 copies of one record
    would count as 1,000 payments. Each sheet's repeats go to its ``checks`` entry."""
    columns = [c for c in checks[0][0].values.columns if c != "seq"]
    if any([c for c in cells.values.columns if c != "seq"] != columns for cells, *_ in checks):
        checks = checks[:1]  # sheets of other columns: a record repeats only one of its own sheet's
    keys = [c for c in ("id_number", "year") if c in columns]
    # Only rows sharing a person-year can repeat each other in every field: those alone are compared whole
    # (and copied: a copy of every good row was 120 MB for a million payments with some refused).
    picked = pd.concat([cells.values[keys].iloc[np.flatnonzero(good)].assign(_sheet=at)
                        for at, (cells, _bad, good, _repeated) in enumerate(checks)])
    picked = picked[picked.duplicated(keys, keep=False).to_numpy()] if keys else picked
    if picked.empty:
        return
    values = pd.concat([checks[at][0].values.loc[part.index, columns].assign(_sheet=at, _row=part.index)
                        for at, part in picked.groupby("_sheet", sort=True)], ignore_index=True)
    repeat = values.duplicated(subset=columns, keep="first").to_numpy() & (values["id_number"] != "").to_numpy()
    if not repeat.any():
        return
    # The first of a repeat is its own sheet's first such record, else an earlier sheet's.
    within = values.duplicated(subset=[*columns, "_sheet"], keep="first").to_numpy()
    found = values[repeat]
    own = values.drop_duplicates([*columns, "_sheet"]).set_index([*columns, "_sheet"])["_row"]
    first = values.drop_duplicates(columns).set_index(columns)[["_sheet", "_row"]]
    origin = first.reindex(pd.MultiIndex.from_frame(found[columns]) if len(columns) > 1 else found[columns[0]])
    at_own = own.reindex(pd.MultiIndex.from_frame(found[[*columns, "_sheet"]])).to_numpy()
    mine = within[repeat]
    found = found.assign(_from=np.where(mine, found["_sheet"].to_numpy(), origin["_sheet"].to_numpy()),
                         _at=np.where(mine, at_own, origin["_row"].to_numpy()))
    for at, part in found.groupby("_sheet", sort=True):
        cells = checks[at][0]
        detail = pd.Series([f"第 {r} 行" if s == at else f"工作表“{tables[s].sheet}”第 {r} 行"
                            for s, r in zip(part["_from"].astype(int), part["_at"].astype(int), strict=True)],
                           index=part["_row"].to_numpy())
        mask = pd.Series(cells.values.index.isin(part["_row"]), index=cells.values.index)
        cells.findings += cell_findings(tables[at], "id_number", mask, "P14", cells.values["id_number"],
                                        detail=detail)
        checks[at][3] = np.sort(part["_row"].to_numpy(dtype=np.int64))


def _finish_sheet(table: Table, cells: Cells, bad: np.ndarray, good: np.ndarray, repeated: np.ndarray, path: Path,
                  sha: str, own, out_dir: Path | None,
                  result: ImportResult) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One checked sheet: its rows to import, and (but for payments) who they are (row, sheet, ID, name) for
    the people listed twice. Its refused rows and P14 go to its error workbook and to ``result``."""
    result.check.findings = result.check.findings + cells.findings
    result.counts["refused"] += int(len(bad))
    result.repeated += int(len(repeated))
    if len(bad) or len(repeated):
        folder = Path(out_dir) if out_dir else path.parent
        folder.mkdir(parents=True, exist_ok=True)
        target = _errors_target(folder, errors_name(path, table.sheet if len(result.sheets) > 1 else None), sha)
        try:
            write_errors(Checked(table, cells.values, cells.findings, cells.fixes), target,
                         lineage={IMPORT_PROPERTY: sha}, rows=np.union1d(bad, repeated))
        except OSError as exc:
            raise OutputError(f"无法写出导入错误表到 {folder}：{exc.strerror or exc}。台账未做改动。") from exc
        result.errors_files.append(str(target))
    ids = cells.values["id_number"]
    names = cells.values["name"] if "name" in cells.values else pd.Series("", index=ids.index)
    if len(bad):
        feedback = cells.findings.feedback_by_row(np.asarray(bad, dtype=np.int64))
        refused = pd.DataFrame({"row": bad, "sheet": table.sheet,
                                "id_number": table.text("id_number").reindex(bad).to_numpy(),
                                "name": names.reindex(bad).to_numpy(),
                                "reason": [_joined(feedback.get(r, [])) for r in bad.tolist()]})
        result.refused = refused if result.refused.empty else pd.concat([result.refused, refused],
                                                                         ignore_index=True)
    kept = None
    if not own.several_a_year:
        kept = pd.DataFrame({"row": ids.index[good], "sheet": table.sheet, "id_number": ids[good].to_numpy(),
                             "name": names[good].to_numpy()})
    rows = _records(table.spec.kind, table, cells, good)
    # What the cell pass held is not needed for writing: let it go before sqlite's share (a million
    # payment rows: ~350 MB).
    table.frame = table.numeric = None
    return rows, kept


def _twice(people: pd.DataFrame) -> pd.DataFrame:
    """The rows that repeat a person listed on an earlier row (of any sheet): row, sheet, ID, name and the
    first row and its sheet."""
    repeat = people["id_number"].duplicated(keep="first") & (people["id_number"] != "")
    if not repeat.any():
        return pd.DataFrame()
    first = people[~people["id_number"].duplicated(keep="first")].set_index("id_number")
    later = people[repeat]
    return later.assign(first_row=later["id_number"].map(first["row"]).to_numpy(),
                        first_sheet=later["id_number"].map(first["sheet"]).to_numpy()).reset_index(drop=True)


def _in_key_order(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of several sheets in one order by ID number, then year (what _records gives one sheet's)."""
    years = [rows["year"].to_numpy(dtype=np.int64)] if "year" in rows else []
    return rows.take(_key_order(rows["id_number"].to_numpy(dtype=object), years)).reset_index(drop=True)


def _joined(messages: list[str]) -> str:
    """A row's messages as one sentence list: "…重填；[C01] …。" (not "…重填。；[C01] …")."""
    return "；".join(m.rstrip("。") for m in messages) + ("。" if messages else "")


def _remove_unlisted(ledger: Ledger, list_kind: str, kept: pd.Series, result: ImportResult) -> None:
    """The people of ``list_kind`` the newer, whole list no longer names leave it (the comparison then says 移出)."""
    with ledger.transaction() as db:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS kept_ids (id_number TEXT PRIMARY KEY)")
        db.execute("DELETE FROM kept_ids")
        db.executemany("INSERT OR IGNORE INTO kept_ids VALUES (?)", zip(kept.tolist()))
        cur = db.execute("DELETE FROM lists WHERE kind = ? AND id_number NOT IN (SELECT id_number FROM kept_ids)",
                         (list_kind,))
    result.counts["removed"] = int(cur.rowcount)


def _write(ledger: Ledger, path: Path, sheet: str, kind: str, list_kind: str | None, source_kind: str, sha: str,
           imported: int, rows: pd.DataFrame, writer, result: ImportResult) -> None:
    with ledger.transaction():
        source = ledger.add_source(source_kind, path.name, sha, sheet, imported)
        result.counts.update(writer(ledger, rows, source, list_kind))
        if kind_of(kind).office_list:  # kept for 未能比对; a newer file of the same name replaces them
            ledger.db.execute("DELETE FROM list_problems WHERE kind = ? AND file_name = ?", (list_kind, path.name))
            ledger.db.executemany("INSERT INTO list_problems VALUES (?,?,?,?,?,?,?)",
                                  [(list_kind, path.name, *r, source) for r in problem_rows(result)])


def problem_rows(result: ImportResult) -> list[tuple[int, str, str, str]]:
    """(row, ID as written, name, reason) of the rows not imported and of the rows repeating a person."""
    several = len(result.sheets) > 1
    out = [(int(r.row), str(r.id_number), str(r.name), (f"工作表“{r.sheet}”：" if several else "") + str(r.reason))
           for r in result.refused.itertuples(index=False)]
    for r in result.duplicates.itertuples(index=False):
        sheet = f"工作表“{r.sheet}”：" if several else ""
        first = result.where(r.first_row, r.first_sheet)
        out.append((int(r.row), str(r.id_number), str(r.name),
                    f"{sheet}与本名单{first}是同一人（重复列出），按一人比对；两行级别不同时按代缴金额较高的级别"))
    return out


def _records(kind: str, table: Table, cells: Cells, good: np.ndarray) -> pd.DataFrame:
    """The imported rows as typed columns: text as fixed, years as numbers, amounts in cents; sorted (stably)
    by ID number, then by year, so that the ledger's B-trees are written front to back instead of at random
    (a million payment records: 9.3 s → 5.6 s in sqlite). Each column is taken once, the good rows in that
    order (the good rows copied, then sorted into another copy, were 180 MB more at the peak for a million
    payments with 10% refused: 1,050 MiB)."""
    values = cells.values
    rows = np.flatnonzero(good)
    years = None if cells.year is None else cells.year.iloc[rows].astype("int64").to_numpy()
    sort = _key_order(values["id_number"].to_numpy(dtype=object)[rows], [] if years is None else [years])
    order = rows[sort]
    del rows
    # The known columns, and what the cell pass read off them (a 残疾人证号's 类别 and 级别).
    out = {k: pd.Series(values[k].to_numpy(dtype=object).take(order), dtype=object, copy=False)
           for k in values.columns}
    for key, cents in cells.cents.items():
        out[key] = pd.Series(cents.iloc[order].fillna(0).astype("int64").to_numpy(), copy=False)
    if years is not None:
        out["year"] = pd.Series(years[sort], copy=False)
    frame = pd.DataFrame(out, copy=False)
    if "exit_year" in frame:
        frame["exit_year"] = pd.to_numeric(frame["exit_year"].str[:4], errors="coerce").astype("Int64")
    return frame


def _key_order(ids: np.ndarray, after: list[np.ndarray]) -> np.ndarray:
    """The stable order by ID number, then by ``after``. The distinct IDs are ranked as fixed-width text
    (compared in C; an object sort compares in Python)."""
    codes, uniques = pd.factorize(ids)
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[np.argsort(np.asarray(uniques, dtype=str), kind="stable")] = np.arange(len(uniques))
    return np.lexsort([*reversed(after), rank[codes]])
