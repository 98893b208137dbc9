"""The ledger (台账): roster, payments, office lists and declared batches in one SQLite file.

The embedded default: no server, one file, WAL mode so a reader never blocks the writer. The schema has a
version (``PRAGMA user_version``) and migrations, so a ledger made by an older xlflow opens with a newer
one. Every record keeps the imported file it came from (``sources``: name, content hash, sheet, time).
Writes are single transactions made by the caller after its outputs are written; validation sees a
read-only :class:`LedgerView` of the people in the file being checked.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xlflow.io.frames import shared_text
from xlflow.io.lineage import BATCH_PROPERTY, MEMBER_PROPERTY, copy_stem
from xlflow.io.oslock import FileLock
from xlflow.store.ledger_guard import LedgerError, LedgerLock, explain
from xlflow.store.schema import MIGRATIONS, SCHEMA_VERSION

QUERY_PART = 50_000  # rows fetched from sqlite at a time


@dataclass
class LedgerView:
    """What the ledger knows about the people of one file, as frames (read-only)."""

    persons: pd.DataFrame  # index id_number: name hukou status identity exit_year area
    paid: pd.DataFrame  # columns id_number year records personal..daijiao identity tier
    exits: pd.DataFrame  # index id_number: exit_year (from the roster or a 贫困人口 list)
    pending: pd.DataFrame  # id_number year batch_id file_name unit declared_on member row member_file
    siblings: pd.DataFrame | None = None  # the same columns: rows another member of this file's own batch passed
    listed: pd.DataFrame | None = None  # id_number kind: the office lists each person is on
    list_kinds: frozenset[str] = frozenset()  # the kinds of list the ledger holds at all


# What a workbook's checks are given: (IDs as fixed, parsed years) → what the ledger knows of those people.
LedgerLookup = Callable[[pd.Series, pd.Series], LedgerView]


@dataclass
class BatchTarget:
    """The batch a declaration belongs to and how it was recognised (see :meth:`Ledger.resolve_batch`)."""

    lineage: str
    member: str  # 'file:NAME' for a clerk's own file, or the member an output of ours carries
    mode: str  # 'member' (replace this member's rows), 'copy' (add what the batch lacks), 'new'
    batch_id: int | None
    how: str  # 'properties', 'name', 'content', 'new'


class Ledger:
    """One ledger file. Use as a context manager; every write method is one transaction."""

    def __init__(self, path: Path, create: bool = True, wait: float | None = None,
                 on_wait: Callable[[str, float], None] | None = None,
                 clock: Callable[[], dt.datetime] = dt.datetime.now,
                 on_migrate: Callable[[str], None] | None = None):
        """``wait``: how long a write waits for another xlflow holding the ledger (``XLFLOW_LEDGER_WAIT``,
        300 s by default), calling ``on_wait(holder, seconds)`` meanwhile. ``clock``: the time recorded with
        each import and batch (the entry point's: a watcher passes its own). ``on_migrate(line)``: told when
        an older ledger is brought to this schema (seconds for a county's ledger)."""
        self.path = Path(path)
        self.clock = clock
        self.wait = float(os.environ.get("XLFLOW_LEDGER_WAIT", 300)) if wait is None else wait
        self.on_wait = on_wait
        self.on_migrate = on_migrate
        try:
            new = not self.path.exists()
            if not new and not self.path.is_file():
                raise LedgerError(f"{self.path} 不是文件，不能作台账。请换一个文件名。")
            if new and not create:
                raise LedgerError(f"找不到台账文件 {self.path}。请先用 xlflow ledger import 导入参保人员信息。")
            # A database tool holding a write lock is waited for as long as another xlflow would be.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=min(self.wait, 30))
        except (sqlite3.Error, OSError) as exc:
            raise explain(exc, self.path) from exc
        self._checking: threading.Thread | None = None
        self._broken: BaseException | None = None  # the check's refusal, raised at every use
        try:
            self._wal()
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against a crash, fewer fsyncs
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if not new:  # a damaged page is refused before any use, not trusted by every check after it
                self._start_check()
            if version != SCHEMA_VERSION:
                self._checked()
                self._migrate()
        except BaseException as exc:
            self._db.close()
            refusal = self._refusal(exc)
            if refusal is exc:
                raise
            raise refusal from exc

    def _refusal(self, exc: BaseException) -> BaseException:
        if isinstance(exc, LedgerError):
            return exc
        if isinstance(exc, sqlite3.OperationalError):
            return explain(exc, self.path)
        if isinstance(exc, sqlite3.DatabaseError):
            return LedgerError(f"{self.path} 不是 xlflow 台账文件或已损坏：{exc}。请用备份恢复，或换一个台账文件。")
        return exc

    def _start_check(self) -> None:
        """``PRAGMA quick_check`` on a connection of its own, in a thread (sqlite lets go of the GIL): it reads
        the whole file (4 s for a county's 218 MiB ledger from a cold disk) while the caller reads its
        workbook. The first use of :attr:`db` waits for it, and is refused if the file is damaged."""
        def check() -> None:
            try:
                own = sqlite3.connect(self.path, timeout=min(self.wait, 30))
                try:
                    problems = [r[0] for r in own.execute("PRAGMA quick_check(5)").fetchall()]
                finally:
                    own.close()
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError("database disk image is malformed: " + "; ".join(problems))
            except BaseException as exc:  # handed to the thread that uses the ledger
                self._broken = self._refusal(exc)

        self._checking = threading.Thread(target=check, name="xlflow-ledger-check", daemon=True)
        self._checking.start()

    def _checked(self) -> None:
        if self._checking is None:
            return
        self._checking.join()
        self._checking = None
        if self._broken is not None:
            raise self._broken

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, once the file has passed its check."""
        if self._checking is not None:
            self._checked()
        if self._broken is not None:
            raise self._broken
        return self._db

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _now(self) -> str:
        return self.clock().replace(microsecond=0).isoformat(sep=" ")

    def close(self) -> None:
        self._db.close()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _wal(self) -> None:
        """WAL mode. Switching a new file to it needs the file alone, and sqlite answers "locked" at once
        (no busy wait) while another process opens the same new ledger: asked again until it is free."""
        deadline = time.monotonic() + max(self.wait, 1)
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        version = self.version
        if version > SCHEMA_VERSION:
            raise LedgerError(f"台账 {self.path} 由更新版本的 xlflow 建立（结构版本 {version}），请升级 xlflow。")
        if 0 < version < SCHEMA_VERSION and self.on_migrate is not None:
            self.on_migrate(f"台账 {self.path.name} 由较早版本的 xlflow 建立（结构版本 {version}），正在升级到结构版本 "
                            f"{SCHEMA_VERSION}（只需一次；大的台账要几秒到一两分钟），请稍候……")
        while version < SCHEMA_VERSION:
            with self.transaction():  # executescript would commit on its own: one statement at a time
                version = self.version  # read again under the write lock: another process may have migrated
                if version >= SCHEMA_VERSION:
                    break
                for statement in MIGRATIONS[version + 1].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE … COMMIT; any exception (or Ctrl-C) rolls everything back. A sqlite or OS error
        (disk full, read-only, locked, damaged) becomes a :class:`LedgerError` saying so."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:  # a full disk has sqlite roll back by itself
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(exc, (sqlite3.Error, OSError)) and not isinstance(exc, LedgerError):
                raise explain(exc, self.path) from exc
            raise

    def exclusive(self, doing: str) -> FileLock:
        """Held while a batch is checked and recorded, or an export imported: the second of two at once
        waits (saying for whom) and then sees what the first wrote. Freed by the OS if the holder dies."""
        return LedgerLock(self, doing)

    # ------------------------------------------------------------------ sources
    def source(self, kind: str, sha256: str):
        """(id, name, imported_at, rows imported) of the earlier import of the same content, or None."""
        return self.db.execute("SELECT id, name, imported_at, rows FROM sources WHERE kind = ? AND sha256 = ?",
                               (kind, sha256)).fetchone()

    def add_source(self, kind: str, name: str, sha256: str, sheet: str, rows: int) -> int:
        cur = self.db.execute("INSERT INTO sources (kind, name, sha256, imported_at, rows, sheet) VALUES (?,?,?,?,?,?)",
                              (kind, name, sha256, self._now(), rows, sheet))
        return int(cur.lastrowid)

    # ------------------------------------------------------------------ reading for validation
    def _keys_table(self, ids: Iterable[str]) -> None:
        # In key order, one B-tree: written front to back, and the look-ups driven from it walk the ledger's
        # tables in their own order.
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id_number TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.execute("BEGIN")  # one transaction: in autocommit mode each insert would be its own
        self.db.execute("DELETE FROM wanted")
        self.db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", zip(sorted(set(ids))))
        self.db.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        """The rows as a frame, fetched a part at a time. sqlite makes a new str for every text value: each
        text column's repeated values (a status, a tier, a person's ID on each of its years) become one
        shared object, so 300,000 people's view holds hundreds of MB less."""
        cur = self.db.execute(sql, params)
        columns = [d[0] for d in cur.description]
        parts = []
        while rows := cur.fetchmany(QUERY_PART):
            parts.append(shared_text(pd.DataFrame.from_records(rows, columns=columns)))
            del rows
        if not parts:
            return pd.DataFrame(columns=columns)
        return shared_text(pd.concat(parts, ignore_index=True)) if len(parts) > 1 else parts[0]

    def view(self, ids: Iterable[str], own: BatchTarget | None = None, year: int | None = None) -> LedgerView:
        """What the ledger knows of the people ``ids`` (IDs as fixed by the cell pass: the one key). With
        ``own`` (the file's batch), pending rows of that batch are not a clash, unless another member of
        it passed them (``siblings``). With ``year``, only that year's payments (a comparison's)."""
        self._keys_table(ids)
        q = self.query
        persons = q("SELECT p.id_number, name, hukou, status, identity, exit_year, area, township FROM wanted w "
                    "CROSS JOIN persons p ON p.id_number = w.id_number").set_index("id_number")
        # CROSS JOIN keeps the file's people as the outer loop: index look-ups, not a scan of every payment.
        paid = q("SELECT y.id_number, year, records, personal, province, city, county, daijiao, identity, tier "
                 "FROM wanted w CROSS JOIN payment_years y ON y.id_number = w.id_number"
                 + ("" if year is None else " AND y.year = ?"), () if year is None else (int(year),))
        exits = q("SELECT id_number, MIN(exit_year) AS exit_year FROM ("
                  " SELECT id_number, exit_year FROM persons JOIN wanted USING (id_number) WHERE exit_year IS NOT NULL"
                  " UNION ALL SELECT id_number, exit_year FROM lists JOIN wanted USING (id_number)"
                  " WHERE kind = '贫困人口' AND exit_year IS NOT NULL) GROUP BY id_number").set_index("id_number")
        pending = q("SELECT r.id_number, r.year, b.id AS batch_id, b.file_name, b.unit, b.declared_on, "
                    "r.member, r.row, m.file_name AS member_file FROM batch_rows r JOIN wanted USING (id_number) "
                    "JOIN batches b ON b.id = r.batch_id LEFT JOIN batch_members m ON m.batch_id = r.batch_id "
                    "AND m.member = r.member WHERE b.status = 'pending' AND r.paid = 0")
        siblings = pending.iloc[0:0]
        if own is not None and own.batch_id is not None:
            mine = pending["batch_id"] == own.batch_id
            if own.mode == "member":
                siblings = pending[mine & (pending["member"] != own.member)]
            pending = pending[~mine]
        listed = q("SELECT l.id_number, l.kind FROM lists l JOIN wanted USING (id_number)")
        kinds = frozenset(r[0] for r in self.db.execute("SELECT DISTINCT kind FROM lists"))
        return LedgerView(persons, paid, exits, pending, siblings, listed, kinds)

    def lists(self) -> pd.DataFrame:
        """Every person on every office list (kind, id_number, name, category, level, exit_year, exit_flag, and
        where the list has them list_hukou, list_phone, list_area)."""
        return self.query("SELECT kind, id_number, name, category, level, exit_year, exit_flag, hukou AS list_hukou, "
                           "phone AS list_phone, area AS list_area FROM lists ORDER BY id_number, kind")

    def list_problems(self) -> pd.DataFrame:
        """The list rows imports could not use or found repeated, with the reason (kind, file_name, row,
        id_number, name, reason)."""
        return self.query("SELECT kind, file_name, row, id_number, name, reason FROM list_problems "
                           "ORDER BY kind, file_name, row")

    # ------------------------------------------------------------------ batches
    def resolve_batch(self, unit: str, file_name: str, carried: dict[str, str], keys: pd.DataFrame) -> BatchTarget:
        """The batch a declaration's rows belong to (SPEC 6, one batch one lineage).

        In this order: the lineage its properties carry (our corrected and error workbooks, and their
        .xlsx/.xls/.ods re-saves); a member of a pending batch of the same 申报单位 whose name it has once
        copy marks are taken off ("NAME - 副本", "NAME(1)", "NAME_更正") and with which it shares a
        person-year; a pending batch of that unit that holds every person-year of the file (a re-save that
        lost its name and properties, a .csv); else a new batch. ``keys``: the file's (id_number, year).
        """
        lineage, member = carried.get(BATCH_PROPERTY, ""), carried.get(MEMBER_PROPERTY, "")
        own_member = member or f"file:{file_name}"
        if lineage:
            found = self.db.execute("SELECT id FROM batches WHERE lineage = ? AND status = 'pending'",
                                    (lineage,)).fetchone()
            if found:
                return BatchTarget(lineage, own_member, "member", int(found[0]), "properties")
        self._keys_of_file(keys)
        stem = copy_stem(file_name)
        members = self.db.execute(
            "SELECT b.id, b.lineage, m.member, m.file_name FROM batch_members m JOIN batches b ON b.id = m.batch_id "
            "WHERE b.status = 'pending' AND COALESCE(b.unit, '') = ? ORDER BY m.recorded_at DESC, b.id DESC",
            (unit or "",)).fetchall()
        for bid, their_lineage, their_member, their_file in members:
            if copy_stem(their_file) == stem and (member in ("", their_member)) and self._shares(bid, their_member):
                return BatchTarget(their_lineage, their_member, "member", int(bid), "name")
        if len(keys):
            covered = self.db.execute(
                "SELECT b.id, b.lineage, COUNT(*) FROM file_keys f JOIN ("  # the UNION holds each key once a batch
                " SELECT batch_id, id_number, year FROM batch_rows"
                " UNION SELECT batch_id, id_number, year FROM batch_error_rows) k"
                " ON k.id_number = f.id_number AND k.year = f.year JOIN batches b ON b.id = k.batch_id"
                " WHERE b.status = 'pending' AND COALESCE(b.unit, '') = ? GROUP BY b.id ORDER BY b.id DESC",
                (unit or "",)).fetchall()
            total = self.db.execute("SELECT COUNT(*) FROM file_keys").fetchone()[0]
            for bid, their_lineage, n in covered:
                if n == total:
                    best = self.db.execute(
                        "SELECT member, COUNT(*) FROM ("
                        " SELECT member, id_number, year FROM batch_rows WHERE batch_id = ?"
                        " UNION SELECT member, id_number, year FROM batch_error_rows WHERE batch_id = ?) k"
                        " JOIN file_keys f ON f.id_number = k.id_number AND f.year = k.year"
                        " GROUP BY member ORDER BY 2 DESC LIMIT 1", (bid, bid)).fetchone()
                    return BatchTarget(their_lineage, best[0], "copy", int(bid), "content")
        return BatchTarget(lineage or uuid.uuid4().hex[:16], own_member, "new", None, "new")

    def _keys_of_file(self, keys: pd.DataFrame) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS file_keys (id_number TEXT, year INTEGER, "
                        "PRIMARY KEY (id_number, year)) WITHOUT ROWID")
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM file_keys")
        self.db.executemany("INSERT OR IGNORE INTO file_keys VALUES (?, ?)",
                            sorted(set(zip(keys["id_number"].tolist(), keys["year"].astype(int).tolist(),
                                           strict=True))))
        self.db.execute("COMMIT")

    def _shares(self, batch_id: int, member: str) -> bool:
        """Whether the file shares a person-year with that member (or the member holds none): a new month's
        file under the template's default name is a new batch, not a new version of the old one."""
        sql = ("SELECT EXISTS (SELECT 1 FROM {t} k JOIN file_keys f ON f.id_number = k.id_number AND f.year = k.year"
               " WHERE k.batch_id = ? AND k.member = ?), EXISTS (SELECT 1 FROM {t} WHERE batch_id = ? AND member = ?)")
        hit = [self.db.execute(sql.format(t=t), (batch_id, member, batch_id, member)).fetchone()
               for t in ("batch_rows", "batch_error_rows")]
        return any(h[0] for h in hit) or not any(h[1] for h in hit)

    def record_batch(self, target: BatchTarget, file_name: str, unit: str, clerk: str, declared_on: str,
                     sha256: str, rows: pd.DataFrame, error_keys: pd.DataFrame,
                     role: str = "原表") -> tuple[int | None, str]:
        """A validated declaration's passed person-years into its batch → (batch id, what happened).

        ``member``: the member's rows are replaced by this file's (a clerk who fixes and re-validates a file,
        or its corrected workbook, is never told it clashes with itself); ``copy``: rows it passed that the
        batch lacks are added; ``new``: a batch of its own. The same content again changes nothing.
        One transaction; a batch left with no person-year is dropped.
        """
        with self.transaction():
            bid = target.batch_id
            if bid is not None and not self.db.execute("SELECT 1 FROM batches WHERE id = ? AND status = 'pending'",
                                                        (bid,)).fetchone():
                bid = None  # withdrawn or paid meanwhile
            member = target.member
            if bid is not None:
                same = self.db.execute("SELECT sha256 FROM batch_members WHERE batch_id = ? AND member = ?",
                                       (bid, member)).fetchone()
                if same and same[0] == sha256:
                    return bid, "unchanged"
            if bid is None:
                cur = self.db.execute(
                    "INSERT INTO batches (file_name, unit, clerk, declared_on, sha256, created_at, lineage) "
                    "VALUES (?,?,?,?,?,?,?) ON CONFLICT (lineage) DO NOTHING",
                    (file_name, unit, clerk, declared_on, sha256, self._now(), target.lineage))
                if not cur.rowcount:  # the lineage is held by a batch no longer pending: this is a new one
                    cur = self.db.execute(
                        "INSERT INTO batches (file_name, unit, clerk, declared_on, sha256, created_at, lineage) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (file_name, unit, clerk, declared_on, sha256, self._now(), uuid.uuid4().hex[:16]))
                bid, what = int(cur.lastrowid), "new"
            elif target.mode == "copy":
                what = "copy"
            else:
                known = self.db.execute("SELECT 1 FROM batch_members WHERE batch_id = ? AND member = ?",
                                        (bid, member)).fetchone()
                what = "replaced" if known else "joined"
                # The member's error rows stay: they are what tells a copy of its file (a corrected workbook
                # holds none of them, the original all), not what is to be uploaded.
                self.db.execute("DELETE FROM batch_rows WHERE batch_id = ? AND member = ?", (bid, member))
            if target.mode != "copy" or what == "new":
                self.db.execute("INSERT INTO batch_members VALUES (?,?,?,?,?,?) ON CONFLICT (batch_id, member) DO "
                                "UPDATE SET sha256 = excluded.sha256, recorded_at = excluded.recorded_at",
                                (bid, member, file_name, sha256, role, self._now()))
            before = self.db.total_changes
            # In key order: batch_rows' key and its person index are both written front to back.
            rows = rows.sort_values(["id_number", "year"], kind="stable")
            error_keys = error_keys.sort_values(["id_number", "year"], kind="stable")
            self.db.executemany(
                "INSERT OR IGNORE INTO batch_rows (batch_id, id_number, year, identity, row, member) "
                "VALUES (?,?,?,?,?,?)",
                zip([bid] * len(rows), rows["id_number"].tolist(), rows["year"].astype(int).tolist(),
                    rows["identity"].tolist(), rows["row"].astype(int).tolist(), [member] * len(rows), strict=True))
            added = self.db.total_changes - before
            self.db.executemany("INSERT OR IGNORE INTO batch_error_rows VALUES (?,?,?,?)",
                                zip([bid] * len(error_keys), [member] * len(error_keys),
                                    error_keys["id_number"].tolist(), error_keys["year"].astype(int).tolist(),
                                    strict=True))
            if what == "copy" and not added:
                what = "unchanged"
            self.db.execute("UPDATE batches SET clerk = COALESCE(NULLIF(?, ''), clerk), "
                            "declared_on = COALESCE(NULLIF(?, ''), declared_on) WHERE id = ?",
                            (clerk, declared_on, bid))
            left = self.db.execute("SELECT COUNT(*) FROM batch_rows WHERE batch_id = ?", (bid,)).fetchone()[0]
            if not left:
                self.db.execute("DELETE FROM batches WHERE id = ?", (bid,))
                return None, "empty"
        return bid, what

    def batches(self) -> list[dict]:
        rows = self.db.execute("""SELECT b.id, b.file_name, b.unit, b.clerk, b.declared_on, b.created_at, b.status,
                   COUNT(r.id_number), COALESCE(SUM(r.paid), 0), b.lineage FROM batches b LEFT JOIN batch_rows r
                   ON r.batch_id = b.id GROUP BY b.id ORDER BY b.id""").fetchall()
        keys = ("id", "file", "unit", "clerk", "declared_on", "recorded_at", "status", "rows", "paid_rows", "lineage")
        out = [dict(zip(keys, r, strict=True)) for r in rows]
        members = self.db.execute(
            "SELECT m.batch_id, m.member, m.file_name, m.role, m.recorded_at, "
            "(SELECT COUNT(*) FROM batch_rows r WHERE r.batch_id = m.batch_id AND r.member = m.member), "
            "(SELECT COUNT(*) FROM batch_error_rows e WHERE e.batch_id = m.batch_id AND e.member = m.member) "
            "FROM batch_members m ORDER BY m.batch_id, m.rowid").fetchall()
        by_batch: dict[int, list[dict]] = {}
        for bid, member, name, role, at, passed, errors in members:
            by_batch.setdefault(bid, []).append({"member": member, "file": name, "role": role, "recorded_at": at,
                                                 "rows": passed, "error_rows": errors})
        for b in out:
            b["members"] = by_batch.get(b["id"], [])
        return out

    def withdraw(self, batch_id: int) -> dict:
        found = [b for b in self.batches() if b["id"] == batch_id]
        if not found:
            raise LedgerError(f"台账中没有编号为 {batch_id} 的批次。用 xlflow ledger batches 查看批次编号。")
        if found[0]["paid_rows"]:
            raise LedgerError(f"批次 {batch_id} 已有 {found[0]['paid_rows']} 条出现在缴费明细中（已上传缴费），"
                              "不能撤回。")
        with self.transaction():
            self.db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
        return found[0]

    def status(self) -> dict:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        years = self.db.execute("SELECT year, COUNT(*) FROM payment_years GROUP BY year ORDER BY year").fetchall()
        lists = self.db.execute("SELECT kind, COUNT(*) FROM lists GROUP BY kind ORDER BY kind").fetchall()
        sources = self.db.execute("SELECT kind, name, sheet, rows, imported_at FROM sources ORDER BY id").fetchall()
        watched = self.db.execute("SELECT state, COUNT(*) FROM journal GROUP BY state ORDER BY state").fetchall()
        return {
            "ledger": str(self.path), "schema_version": self.version,
            "persons": one("SELECT COUNT(*) FROM persons"),
            "paid_person_years": dict(years),
            "payment_records": one("SELECT COUNT(*) FROM payments"),
            "lists": dict(lists),
            "pending_batches": one("SELECT COUNT(*) FROM batches WHERE status = 'pending'"),
            "pending_rows": one("SELECT COUNT(*) FROM batch_rows r JOIN batches b ON b.id = r.batch_id "
                                "WHERE b.status = 'pending' AND r.paid = 0"),
            "sources": [dict(zip(("kind", "file", "sheet", "rows", "imported_at"), s, strict=True)) for s in sources],
            "list_problems": one("SELECT COUNT(*) FROM list_problems"),
            "watched_files": dict(watched),  # xlflow watch's journal: files per state
        }
