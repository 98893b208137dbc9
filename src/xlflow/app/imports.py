"""`xlflow ledger import`: a roster, payments or list export → the ledger, in one transaction.

Read with the same reader, fixed with the same X fixes and checked with the same cell checks as every
other kind. A row that fails its cell checks is not imported: it goes to NAME_导入错误.xlsx (the layout
of the error workbook). The same file twice changes nothing; a newer export replaces what older ones said
about the same people (and person-years); the clerk sees counts: new, changed, unchanged, refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.kinds import AMOUNT_KEYS, kind_spec
from xlflow.domain.kinds import kind as kind_of
from xlflow.errors import OutputError, XlflowError
from xlflow.io.frames import in_parts
from xlflow.io.reading import Table
from xlflow.io.settings import Settings
from xlflow.io.webexports import source_note
from xlflow.outputs.errors import write_errors
from xlflow.paths import fit_stem
from xlflow.store.ledger import Ledger
from xlflow.validation.cells import Cells, check_cells
from xlflow.validation.engine import add_sheet_findings, cell_findings, read_for_check, without_cycle_collector
from xlflow.validation.normalise import Vocabulary
from xlflow.validation.result import Checked, CheckResult

LIST_KINDS = ("贫困人口", "低保对象", "特困人员", "残疾人")
IMPORT_STAGES = ("读取", "检查", "写入台账")  # what a progress line names, in order
COUNT_WORDS = {"new": "新增", "changed": "更新", "unchanged": "未变", "refused": "未导入（有错误）",
               "removed": "移出名单（不在本文件中）"}


def errors_name(path: Path | str) -> str:
    """The import's error workbook for ``path``: NAME_导入错误.xlsx (a name too long for the disk is cut, as
    validate's outputs are)."""
    return f"{fit_stem(Path(path).stem)}_导入错误.xlsx"


@dataclass
class ImportResult:
    check: CheckResult
    kind: str
    list_kind: str | None = None
    already: str | None = None  # when the same content was imported before: when
    already_refused: int = 0  # the rows of it that import did not take (they had errors)
    counts: dict[str, int] = field(default_factory=dict)
    errors_file: str | None = None
    repeated: int = 0  # payment records repeating an earlier one of the same export (P14, imported)
    # Rows not imported (row, id_number, name, reason) and rows that repeat a person already in the file
    # (row, id_number, name, first_row): the later row is what the ledger keeps.
    refused: pd.DataFrame = field(default_factory=pd.DataFrame)
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def exit_code(self) -> int:
        if self.check.unusable:
            return 2
        return 1 if self.counts.get("refused") or self.unread_sheets else 0

    @property
    def unread_sheets(self) -> list:
        """F10: the other sheets of the export that hold a table too (an export split over sheets): not imported."""
        return [f for f in self.check.findings if f.code == "F10"]

    def summary_line(self) -> str:
        name = Path(self.check.file).name
        if self.check.unusable:
            return f"{name}：{self.check.summary_line().rstrip('。')}。台账未做任何改动。"
        if self.already:
            line = f"{name}：这个文件已于 {self.already} 导入过，内容相同，台账未做任何改动。"
            if self.already_refused:
                line += (f"当时有 {self.already_refused:,} 行因有错误未导入（见 {errors_name(name)}）："
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
        for f in self.unread_sheets:
            counts += f"；{f.message}"
        return f"{name}（{kind_spec(self.kind).title}{'：' + self.list_kind if self.list_kind else ''}）：{counts}"

    def as_json(self) -> dict:
        data = self.check.as_json()
        data.update(kind=self.kind, list_kind=self.list_kind, already_imported=self.already,
                    already_refused=self.already_refused, counts=self.counts,
                    outputs={"errors": self.errors_file})
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
    ``step(stage)``: told as each of IMPORT_STAGES begins (a progress line)."""
    step = step or (lambda _stage: None)
    settings = settings or Settings()
    today = today or dt.date.today()
    path = Path(path)
    own = kind_of(kind)
    check = CheckResult(file=str(path), kind=kind)
    result = ImportResult(check, kind, list_kind)
    step(IMPORT_STAGES[0])
    table = read_for_check(path, [kind_spec(kind)], settings.limits(), check)
    if table is None:
        return result
    check.kind = kind
    step(IMPORT_STAGES[1])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    source_kind = f"list:{list_kind}" if own.office_list else kind
    earlier = ledger.source(source_kind, sha)
    if earlier:
        result.already, result.already_refused = earlier[2], max(0, len(table.frame) - int(earlier[3] or 0))
        return result
    allowed = {"hukou": list(vocab.HUKOU), "tier": list(vocab.TIERS), "status": list(vocab.STATUSES)}
    cells = check_cells(table, _vocabulary(), allowed, settings.first_year, today.year)
    add_sheet_findings(cells.findings, table)
    bad = cells.findings.rows_of(severity="error")
    good = ~table.frame.index.isin(bad)
    repeated = (_repeated_records(table, cells, good) if own.several_a_year
                else np.array([], dtype=np.int64))
    check.findings = check.findings + cells.findings
    result.counts = {"new": 0, "changed": 0, "unchanged": 0, "refused": int(len(bad))}
    result.repeated = int(len(repeated))
    if len(bad) or len(repeated):
        folder = Path(out_dir) if out_dir else path.parent
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / errors_name(path)
        try:
            write_errors(Checked(table, cells.values, cells.findings, cells.fixes), target,
                         rows=np.union1d(bad, repeated))
        except OSError as exc:
            raise OutputError(f"无法写出导入错误表到 {folder}：{exc.strerror or exc}。台账未做改动。") from exc
        result.errors_file = str(target)
    ids = cells.values["id_number"]
    texts = table.text("id_number")
    names = cells.values["name"] if "name" in cells.values else pd.Series("", index=ids.index)
    if len(bad):
        feedback = cells.findings.feedback_by_row(np.asarray(bad, dtype=np.int64))
        result.refused = pd.DataFrame({"row": bad, "id_number": texts.reindex(bad).to_numpy(),
                                       "name": names.reindex(bad).to_numpy(),
                                       "reason": [_joined(feedback.get(r, [])) for r in bad.tolist()]})
    if not own.several_a_year:  # a person twice in a roster or list; payments have several a year
        kept = ids[good]
        repeat = kept.duplicated(keep="first") & (kept != "")
        if repeat.any():
            first = kept.reset_index().drop_duplicates("id_number").set_index("id_number")["index"]
            result.duplicates = pd.DataFrame({"row": kept.index[repeat], "id_number": kept[repeat].to_numpy(),
                                              "name": names[good][repeat].to_numpy(),
                                              "first_row": kept[repeat].map(first).to_numpy()})
    rows = _records(kind, table, cells, good)
    sheet, imported = table.sheet, int(good.sum())
    # What the cell pass held is not needed for writing: let it go before sqlite's share (a million
    # payment rows: ~350 MB).
    table.frame = table.numeric = None
    del cells, ids, texts, names, good
    writer = own.row_writer  # the kind's own rows, as the registry names them
    # One import at a time: a second one waits, then finds the first's (the same file twice is "already").
    step(IMPORT_STAGES[2])
    with ledger.exclusive(f"导入 {path.name}"):
        earlier = ledger.source(source_kind, sha)
        if earlier:
            result.already, result.counts, result.errors_file = earlier[2], {}, None
            result.already_refused = max(0, imported + len(result.refused) - int(earlier[3] or 0))
            return result
        _write(ledger, path, sheet, kind, list_kind, source_kind, sha, imported, rows, writer, result)
        if replace and own.office_list:
            _remove_unlisted(ledger, list_kind, rows["id_number"], result)
    return result


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


def _repeated_records(table: Table, cells: Cells, good: np.ndarray) -> np.ndarray:
    """P14 (warning) on each payment record that repeats an earlier one of the same export in every field:
    a person-year's records are summed, so 1,000 copies of one record would count as 1,000 payments."""
    columns = [c for c in cells.values.columns if c != "seq"]
    # Only rows sharing a person-year can repeat each other in every field: those alone are compared whole
    # (and copied: a copy of every good row was 120 MB for a million payments with some refused).
    keys = [c for c in ("id_number", "year") if c in columns]
    rows = np.flatnonzero(good)
    if keys:
        rows = rows[cells.values[keys].iloc[rows].duplicated(keep=False).to_numpy()]
    values = cells.values.iloc[rows]
    repeat = values.duplicated(subset=columns, keep="first") & (values["id_number"] != "")
    if not repeat.any():
        return np.array([], dtype=np.int64)
    first = values.reset_index().drop_duplicates(columns).set_index(columns)["index"]
    rows = values.index[repeat.to_numpy()]
    firsts = values[repeat].set_index(columns).index.map(first)
    cells.findings += cell_findings(table, "id_number", pd.Series(cells.values.index.isin(rows),
                                                                  index=cells.values.index), "P14",
                                    cells.values["id_number"], detail=pd.Series(firsts.astype(str), index=rows))
    return rows.to_numpy(dtype=np.int64)


def problem_rows(result: ImportResult) -> list[tuple[int, str, str, str]]:
    """(row, ID as written, name, reason) of the rows not imported and of the rows repeating a person."""
    out = [(int(r.row), str(r.id_number), str(r.name), str(r.reason)) for r in result.refused.itertuples(index=False)]
    out += [(int(r.row), str(r.id_number), str(r.name), f"与本名单第 {r.first_row} 行是同一人（重复列出），按一人比对；"
             "两行级别不同时按代缴金额较高的级别") for r in result.duplicates.itertuples(index=False)]
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


def _plain(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Columns as Python lists for sqlite ('' stored as NULL), each empty value found in one numpy pass."""
    out = []
    for c in columns:
        values = frame[c].to_numpy(dtype=object)
        empty = values == ""
        if empty.any():
            values = values.copy()
            values[empty] = None
        out.append(values.tolist())
    return out


def _ints(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    return [frame[c].to_numpy(dtype=np.int64).tolist() for c in columns]


def _as_text(column: pd.Series):
    """The column as text for hashing. Whole numbers (amounts in cents, years) have few distinct values:
    each is made text once (as categories), not once per row (a million rows × 5 amounts was 300 MB)."""
    if column.dtype.kind in "iub":
        codes, uniques = pd.factorize(column)
        return pd.Categorical.from_codes(codes, categories=pd.Index(uniques.astype(str), dtype=object))
    return column.astype(str)


def _digest(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One number per row from the text of ``columns`` (the same as hashing ``frame.astype(str)``, which
    the ledgers already hold, without that copy)."""
    present = [c for c in columns if c in frame]
    if not present:
        return np.zeros(len(frame), dtype=np.uint64)
    text = pd.DataFrame({c: _as_text(frame[c]) for c in present}, index=frame.index)
    return pd.util.hash_pandas_object(text, index=False).to_numpy(dtype=np.uint64)


def _classify(ledger: Ledger, table: str, keys: list[str], new: pd.DataFrame) -> dict[str, int] | None:
    """Compare the new digests with the ledger's: how many keys are new, changed, unchanged. The keys go
    to the temporary table ``incoming`` for the statements after; ``None`` when ``table`` is empty (every
    key is new and nothing needs looking up: a county's first import writes each row once)."""
    key_sql = " AND ".join(f"t.{k} = w.{k}" for k in keys)
    ledger.db.execute("DROP TABLE IF EXISTS incoming")
    if ledger.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None:
        return None
    # Keyed: every later statement looks rows up in it (unkeyed, a second import was quadratic: 40,000
    # payment rows imported again took 65× the first time).
    ledger.db.execute(f"CREATE TEMP TABLE incoming ({', '.join(keys)}, digest TEXT, "
                      f"PRIMARY KEY ({', '.join(keys)})) WITHOUT ROWID")
    ledger.db.executemany(f"INSERT INTO incoming VALUES ({', '.join('?' * (len(keys) + 1))})",
                          in_parts(new, lambda part: zip(*(part[c].tolist() for c in [*keys, "digest"]),
                                                           strict=True)))
    where = f"FROM incoming w LEFT JOIN {table} t ON {key_sql}"
    known = ledger.db.execute(f"SELECT COUNT(t.digest), SUM(t.digest = w.digest) {where}").fetchone()
    total = len(new)
    unchanged = int(known[1] or 0)
    return {"new": total - int(known[0]), "changed": int(known[0]) - unchanged, "unchanged": unchanged}


def _all_new(rows: pd.DataFrame) -> dict[str, int]:
    return {"new": len(rows), "changed": 0, "unchanged": 0}


def import_roster(ledger: Ledger, rows: pd.DataFrame, source: int, _list_kind) -> dict[str, int]:
    columns = ["name", "hukou", "status", "identity", "exit_year", "area", "township"]
    rows = rows.drop_duplicates("id_number", keep="last").copy()
    for c in columns:
        if c not in rows:
            rows[c] = None
    rows["digest"] = _digest(rows, columns).astype(str)
    counts = _classify(ledger, "persons", ["id_number"], rows) or _all_new(rows)
    ledger.db.executemany(
        "INSERT INTO persons (id_number, name, hukou, status, identity, exit_year, area, township, digest, "
        "source_id) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, "
        "hukou = excluded.hukou, status = excluded.status, identity = excluded.identity, "
        "exit_year = excluded.exit_year, area = excluded.area, township = excluded.township, "
        "digest = excluded.digest, source_id = excluded.source_id",
        ((r[0], r[1] or None, r[2] or None, r[3] or None, r[4] or None, None if pd.isna(r[5]) else int(r[5]),
          r[6] or None, r[7] or None, r[8], source)
         for r in rows[["id_number", *columns, "digest"]].itertuples(index=False, name=None)))
    return counts


def import_payments(ledger: Ledger, rows: pd.DataFrame, source: int, _list_kind) -> dict[str, int]:
    """Records per person-year: a newer export replaces every record of the person-years it holds."""
    for c in ("name", "identity", "tier", "hukou", "method", "arrived_at", "arrived_flag"):
        if c not in rows:
            rows[c] = ""
    for c in AMOUNT_KEYS:
        if c not in rows:
            rows[c] = 0
    starts = _person_years(rows)
    rows["seq"] = np.arange(len(rows)) - np.repeat(starts, np.diff(np.append(starts, len(rows))))
    record_hash = _digest(rows, ["identity", "tier", "hukou", *AMOUNT_KEYS])
    h = record_hash * (rows["seq"].to_numpy(dtype=np.uint64) + np.uint64(1))
    years = _years(rows, starts, h)
    counts = _classify(ledger, "payment_years", ["id_number", "year"], years)
    if counts is None:
        counts = _all_new(years)
    else:  # Replace the person-years the export holds. Driven from the export's keys into the ledger's
        # primary keys: the work grows with the export, not with the ledger times the export.
        ledger.db.execute("DELETE FROM payments WHERE (id_number, year) IN (SELECT id_number, year FROM incoming)")
        ledger.db.execute("DELETE FROM payment_years WHERE (id_number, year) IN "
                          "(SELECT id_number, year FROM incoming)")
    text = ["name", "identity", "tier", "hukou"]
    extra = ["method", "arrived_at", "arrived_flag"]
    ledger.db.executemany(
        "INSERT INTO payments (id_number, year, seq, name, identity, tier, hukou, personal, province, city, county, "
        "daijiao, method, arrived_at, arrived_flag, source_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        in_parts(rows, lambda part: zip(*_plain(part, ["id_number"]), *_ints(part, ["year", "seq"]),
                                          *_plain(part, text), *_ints(part, list(AMOUNT_KEYS)), *_plain(part, extra),
                                          [source] * len(part), strict=True)))
    ledger.db.executemany(
        "INSERT INTO payment_years (id_number, year, records, personal, province, city, county, daijiao, identity, "
        "tier, digest, source_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        in_parts(years, lambda part: zip(*_plain(part, ["id_number"]),
                                           *_ints(part, ["year", "records", *AMOUNT_KEYS]),
                                           *_plain(part, ["identity", "tier", "digest"]), [source] * len(part),
                                           strict=True)))
    # A pending batch whose person-year now has a payment went through.
    # Driven from the pending rows (few) into payment_years' primary key.
    ledger.db.execute("UPDATE batch_rows SET paid = 1 WHERE paid = 0 AND EXISTS (SELECT 1 FROM payment_years y "
                      "WHERE y.id_number = batch_rows.id_number AND y.year = batch_rows.year AND y.source_id = ?)",
                      (source,))
    return counts


def _person_years(rows: pd.DataFrame) -> np.ndarray:
    """Where each person-year's run of records begins (``rows`` are in key order: _records)."""
    ids, years = rows["id_number"].to_numpy(dtype=object), rows["year"].to_numpy(dtype=np.int64)
    begins = np.ones(len(rows), dtype=bool)
    begins[1:] = (ids[1:] != ids[:-1]) | (years[1:] != years[:-1])
    return np.flatnonzero(begins)


def _years(rows: pd.DataFrame, starts: np.ndarray, h: np.ndarray) -> pd.DataFrame:
    """Per person-year (each a run of ``rows`` from ``starts``): the records, the sums of the amounts, the last
    identity and tier, and the digest (the sum of the records' hashes, modulo 2**64)."""
    if not len(rows):
        return pd.DataFrame({c: [] for c in ["id_number", "year", "records", *AMOUNT_KEYS, "identity", "tier",
                                             "digest"]})
    ends = np.append(starts[1:], len(rows)) - 1
    years = pd.DataFrame({"id_number": rows["id_number"].to_numpy(dtype=object)[starts],
                          "year": rows["year"].to_numpy(dtype=np.int64)[starts], "records": ends - starts + 1})
    for c in AMOUNT_KEYS:
        years[c] = np.add.reduceat(rows[c].to_numpy(dtype=np.int64), starts)
    for c in ("identity", "tier"):  # the last record's, as the export lists them
        values = rows[c].to_numpy(dtype=object)
        if pd.isna(values).any():  # a record without it: the last that has one (pandas' "last")
            run = np.repeat(np.arange(len(starts)), ends - starts + 1)
            years[c] = rows.groupby(run, sort=False)[c].last().to_numpy()
        else:
            years[c] = values[ends]
    years["digest"] = np.add.reduceat(h.astype(np.uint64), starts).astype(str)
    return years


def import_list(ledger: Ledger, rows: pd.DataFrame, source: int, list_kind: str) -> dict[str, int]:
    columns = ["name", "category", "level", "exit_year", "exit_flag"]
    extra = ["hukou", "phone", "area"]  # what a list may know besides (for the registration list)
    for c in columns + extra:
        if c not in rows:
            rows[c] = None
    # A person listed twice keeps every level the rows give (「二级、一级」): the comparison takes the one
    # with the larger 代缴 (SPEC 3.2), not whichever row came last.
    twice = rows["id_number"].duplicated(keep=False)
    levels = None
    if twice.any():
        levels = rows[twice].groupby("id_number", sort=False)["level"].agg(
            lambda s: "、".join(dict.fromkeys(v for v in s.fillna("").astype(str) if v)))
    rows = rows.drop_duplicates("id_number", keep="last").copy()
    if levels is not None:
        hit = rows["id_number"].isin(levels.index)
        rows.loc[hit, "level"] = rows.loc[hit, "id_number"].map(levels).replace("", None)
    rows["kind"] = list_kind
    digest = _digest(rows, columns)
    known = rows[extra].fillna("").astype(str).ne("").any(axis=1).to_numpy()
    if known.any():  # a row without them keeps the digest it had before lists could carry them
        digest = np.where(known, digest ^ _digest(rows, extra), digest)
    rows["digest"] = digest.astype(str)
    counts = _classify(ledger, "lists", ["kind", "id_number"], rows) or _all_new(rows)
    ledger.db.executemany(
        "INSERT INTO lists (kind, id_number, name, category, level, exit_year, exit_flag, hukou, phone, area, digest, "
        "source_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (kind, id_number) DO UPDATE SET "
        "name = excluded.name, category = excluded.category, level = excluded.level, exit_year = excluded.exit_year, "
        "exit_flag = excluded.exit_flag, hukou = excluded.hukou, phone = excluded.phone, area = excluded.area, "
        "digest = excluded.digest, source_id = excluded.source_id",
        ((list_kind, r[0], r[1] or None, r[2] or None, r[3] or None, None if pd.isna(r[4]) else int(r[4]),
          r[5] or None, r[6] or None, r[7] or None, r[8] or None, r[9], source)
         for r in rows[["id_number", *columns, *extra, "digest"]].itertuples(index=False, name=None)))
    return counts
