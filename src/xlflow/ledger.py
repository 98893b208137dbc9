"""The ledger (台账): roster, payments, office lists and declared batches in one SQLite file.

The embedded default: no server, one file, WAL mode so a reader never blocks the writer. The schema has a
version (``PRAGMA user_version``) and migrations, so a ledger made by an older xlflow opens with a newer
one. Every record keeps the imported file it came from (``sources``: name, content hash, sheet, time).
Writes are single transactions made by the caller after its outputs are written; validation sees a
read-only :class:`LedgerView` of the people in the file being checked.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xlflow.errors import XlflowError

# Each migration takes the ledger from version i-1 to i; never edit one that has shipped.
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE sources (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
                          imported_at TEXT NOT NULL, rows INTEGER NOT NULL, UNIQUE (kind, sha256));
    CREATE TABLE persons (id_number TEXT PRIMARY KEY, name TEXT, hukou TEXT, status TEXT, identity TEXT,
                          exit_year INTEGER, area TEXT, digest TEXT, source_id INTEGER REFERENCES sources(id));
    CREATE TABLE payments (id_number TEXT NOT NULL, year INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT,
                           identity TEXT, tier TEXT, hukou TEXT, personal INTEGER, province INTEGER, city INTEGER,
                           county INTEGER, daijiao INTEGER, source_id INTEGER REFERENCES sources(id),
                           PRIMARY KEY (id_number, year, seq));
    CREATE TABLE lists (kind TEXT NOT NULL, id_number TEXT NOT NULL, name TEXT, category TEXT, level TEXT,
                        exit_year INTEGER, exit_flag TEXT, digest TEXT, source_id INTEGER REFERENCES sources(id),
                        PRIMARY KEY (kind, id_number));
    CREATE TABLE batches (id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, unit TEXT, clerk TEXT, declared_on TEXT,
                          sha256 TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending');
    CREATE TABLE batch_rows (batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
                             id_number TEXT NOT NULL, year INTEGER NOT NULL, identity TEXT, row INTEGER,
                             paid INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (batch_id, id_number, year));
    """,
    2: """
    ALTER TABLE sources ADD COLUMN sheet TEXT;
    ALTER TABLE payments ADD COLUMN method TEXT;
    ALTER TABLE payments ADD COLUMN arrived_at TEXT;
    ALTER TABLE payments ADD COLUMN arrived_flag TEXT;
    CREATE TABLE payment_years (id_number TEXT NOT NULL, year INTEGER NOT NULL, records INTEGER NOT NULL,
                                personal INTEGER, province INTEGER, city INTEGER, county INTEGER, daijiao INTEGER,
                                identity TEXT, tier TEXT, digest TEXT, source_id INTEGER REFERENCES sources(id),
                                PRIMARY KEY (id_number, year));
    INSERT INTO payment_years
        SELECT id_number, year, COUNT(*), SUM(personal), SUM(province), SUM(city), SUM(county), SUM(daijiao),
               MAX(identity), MAX(tier), NULL, MAX(source_id) FROM payments GROUP BY id_number, year;
    CREATE INDEX batch_rows_person ON batch_rows (id_number, year);
    """,
    3: """
    CREATE TABLE journal (id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT,
                          state TEXT NOT NULL,
                          result_dir TEXT, archive_to TEXT, failed_to TEXT, reason_file TEXT,
                          attempts INTEGER NOT NULL DEFAULT 1, kind TEXT, rows INTEGER, errors INTEGER, message TEXT,
                          seen_at TEXT, started_at TEXT, finished_at TEXT);
    CREATE INDEX journal_state ON journal (state);
    """,
    4: """
    CREATE TABLE list_problems (kind TEXT NOT NULL, file_name TEXT NOT NULL, row INTEGER, id_number TEXT, name TEXT,
                                reason TEXT, source_id INTEGER REFERENCES sources(id));
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)
AMOUNTS = ("personal", "province", "city", "county", "daijiao")


class LedgerError(XlflowError):
    """The ledger file cannot be used (not a ledger, newer than this xlflow, locked)."""


@dataclass
class LedgerView:
    """What the ledger knows about the people of one file, as frames (read-only)."""

    persons: pd.DataFrame  # index id_number: name hukou status identity exit_year area
    paid: pd.DataFrame  # columns id_number year records personal..daijiao identity tier
    exits: pd.DataFrame  # index id_number: exit_year (from the roster or a 贫困人口 list)
    pending: pd.DataFrame  # id_number year batch_id file_name unit declared_on


def _now() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")


class Ledger:
    """One ledger file. Use as a context manager; every write method is one transaction."""

    def __init__(self, path: Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise LedgerError(f"找不到台账文件 {self.path}。请先用 xlflow ledger import 导入参保人员信息。")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against a crash, fewer fsyncs
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path} 不是 xlflow 台账文件或已损坏：{exc}") from exc

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.version
        if version > SCHEMA_VERSION:
            raise LedgerError(f"台账 {self.path} 由更新版本的 xlflow 建立（结构版本 {version}），请升级 xlflow。")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():  # executescript would commit on its own: one statement at a time
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE … COMMIT; any exception (or Ctrl-C) rolls everything back."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ sources
    def source(self, kind: str, sha256: str):
        return self.db.execute("SELECT id, name, imported_at FROM sources WHERE kind = ? AND sha256 = ?",
                               (kind, sha256)).fetchone()

    def add_source(self, kind: str, name: str, sha256: str, sheet: str, rows: int) -> int:
        cur = self.db.execute("INSERT INTO sources (kind, name, sha256, imported_at, rows, sheet) VALUES (?,?,?,?,?,?)",
                              (kind, name, sha256, _now(), rows, sheet))
        return int(cur.lastrowid)

    # ------------------------------------------------------------------ reading for validation
    def _keys_table(self, ids: Iterable[str]) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id_number TEXT PRIMARY KEY)")
        self.db.execute("BEGIN")  # one transaction: in autocommit mode each insert would be its own
        self.db.execute("DELETE FROM wanted")
        self.db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", zip(list(ids)))
        self.db.execute("COMMIT")

    def _query(self, sql: str) -> pd.DataFrame:
        cur = self.db.execute(sql)
        return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])

    def view(self, ids: Iterable[str]) -> LedgerView:
        self._keys_table(ids)
        q = self._query
        persons = q("SELECT p.id_number, name, hukou, status, identity, exit_year, area FROM wanted w "
                    "CROSS JOIN persons p ON p.id_number = w.id_number").set_index("id_number")
        # CROSS JOIN keeps the file's people as the outer loop: index look-ups, not a scan of every payment.
        paid = q("SELECT y.id_number, year, records, personal, province, city, county, daijiao, identity, tier "
                 "FROM wanted w CROSS JOIN payment_years y ON y.id_number = w.id_number")
        exits = q("SELECT id_number, MIN(exit_year) AS exit_year FROM ("
                  " SELECT id_number, exit_year FROM persons JOIN wanted USING (id_number) WHERE exit_year IS NOT NULL"
                  " UNION ALL SELECT id_number, exit_year FROM lists JOIN wanted USING (id_number)"
                  " WHERE kind = '贫困人口' AND exit_year IS NOT NULL) GROUP BY id_number").set_index("id_number")
        pending = q("SELECT r.id_number, r.year, b.id AS batch_id, b.file_name, b.unit, b.declared_on "
                    "FROM batch_rows r JOIN wanted USING (id_number) JOIN batches b ON b.id = r.batch_id "
                    "WHERE b.status = 'pending' AND r.paid = 0")
        return LedgerView(persons, paid, exits, pending)

    def lists(self) -> pd.DataFrame:
        """Every person on every office list (kind, id_number, name, category, level, exit_year, exit_flag)."""
        return self._query("SELECT kind, id_number, name, category, level, exit_year, exit_flag FROM lists "
                           "ORDER BY id_number, kind")

    def list_problems(self) -> pd.DataFrame:
        """The list rows imports could not use or found repeated, with the reason (kind, file_name, row,
        id_number, name, reason)."""
        return self._query("SELECT kind, file_name, row, id_number, name, reason FROM list_problems "
                           "ORDER BY kind, file_name, row")

    # ------------------------------------------------------------------ batches
    def record_batch(self, file_name: str, unit: str, clerk: str, declared_on: str, sha256: str,
                     rows: pd.DataFrame) -> tuple[int, str]:
        """A validated declaration's corrected rows as a pending batch → (batch id, what happened).

        The same file name and 申报单位 replaces its earlier pending batch (a clerk who fixes and
        re-validates a file is never told it clashes with itself); the same content changes nothing.
        """
        same = self.db.execute("SELECT id FROM batches WHERE sha256 = ? AND status = 'pending'", (sha256,)).fetchone()
        if same:
            return int(same[0]), "unchanged"
        with self.transaction():
            old = self.db.execute("SELECT id FROM batches WHERE file_name = ? AND COALESCE(unit,'') = ? "
                                  "AND status = 'pending'", (file_name, unit or "")).fetchall()
            for (bid,) in old:
                self.db.execute("DELETE FROM batches WHERE id = ?", (bid,))
            cur = self.db.execute("INSERT INTO batches (file_name, unit, clerk, declared_on, sha256, created_at) "
                                  "VALUES (?,?,?,?,?,?)", (file_name, unit, clerk, declared_on, sha256, _now()))
            bid = int(cur.lastrowid)
            self.db.executemany(
                "INSERT OR IGNORE INTO batch_rows (batch_id, id_number, year, identity, row) VALUES (?,?,?,?,?)",
                zip([bid] * len(rows), rows["id_number"].tolist(), rows["year"].astype(int).tolist(),
                    rows["identity"].tolist(), rows["row"].astype(int).tolist(), strict=True))
        return bid, "replaced" if old else "new"

    def batches(self) -> list[dict]:
        rows = self.db.execute("""SELECT b.id, b.file_name, b.unit, b.clerk, b.declared_on, b.created_at, b.status,
                   COUNT(r.id_number), COALESCE(SUM(r.paid), 0) FROM batches b LEFT JOIN batch_rows r
                   ON r.batch_id = b.id GROUP BY b.id ORDER BY b.id""").fetchall()
        keys = ("id", "file", "unit", "clerk", "declared_on", "recorded_at", "status", "rows", "paid_rows")
        return [dict(zip(keys, r, strict=True)) for r in rows]

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
