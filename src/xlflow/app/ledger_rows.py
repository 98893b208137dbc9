"""The rows of an import, written into the ledger's tables, one writer per imported kind (the registry in
``domain/kinds.py`` names each): a roster's persons, payments' records and person-years, an office list's
people. Each compares digests with what the ledger holds, to count new, changed and unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.domain.kinds import AMOUNT_KEYS
from xlflow.io.frames import in_parts
from xlflow.store.ledger import Ledger


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
