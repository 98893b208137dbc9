"""The comparisons a ledger holds (管理台账 that remembers): what each said of each listed person, so that the
next comparison of the same year can say what changed — newly listed, off every list, the action done, still
open since when, or changed."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from xlflow.io.frames import in_parts
from xlflow.store.ledger import Ledger

COLUMNS = ("id_number", "action", "final", "identity", "lists", "first_listed", "open_since")


def record(ledger: Ledger, year: int, made_at: str, people: pd.DataFrame) -> int:
    """Keep one comparison: ``people`` has the columns of COLUMNS (one row per listed person), the files it
    used are the ledger's sources (roster, payments, lists). One transaction; returns the comparison's number."""
    used = ledger.db.execute("SELECT kind, name FROM sources ORDER BY id").fetchall()
    sources = "；".join(f"{name}（{kind}）" for kind, name in used)
    with ledger.transaction() as db:
        cur = db.execute("INSERT INTO comparisons (year, made_at, sources, persons) VALUES (?, ?, ?, ?)",
                         (int(year), made_at, sources, len(people)))
        number = int(cur.lastrowid)
        db.executemany("INSERT INTO comparison_people VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _rows(number, people))
        # Only the newest of a year is read again (it carries 首次列入日期 and since when a step is open): the
        # people of the older ones go (a county's weekly comparison of 300,000 people was ~30 MB a week);
        # each comparison itself stays listed in `ledger status`.
        db.execute("DELETE FROM comparison_people WHERE comparison_id IN "
                   "(SELECT id FROM comparisons WHERE year = ? AND id < ?)", (int(year), number))
    return number


def _rows(number: int, people: pd.DataFrame) -> Iterator[tuple]:
    """(comparison, *COLUMNS) per person, made a part at a time (a copy of 300,000 people was 150 MB)."""
    def records(part: pd.DataFrame):
        part = part.astype(object).where(part.notna(), None)
        return ((number, *r) for r in part.itertuples(index=False, name=None))

    return in_parts(people[list(COLUMNS)], records)


def last(ledger: Ledger, year: int) -> tuple[dict | None, pd.DataFrame]:
    """The newest comparison held for ``year`` (id, year, made_at, sources, persons) and its people (index
    id_number: action, final, identity, lists, first_listed, open_since); (None, empty) when there is none."""
    row = ledger.db.execute("SELECT id, year, made_at, sources, persons FROM comparisons WHERE year = ? "
                            "ORDER BY id DESC LIMIT 1", (int(year),)).fetchone()
    if row is None:
        return None, pd.DataFrame(columns=list(COLUMNS[1:]), index=pd.Index([], name="id_number"))
    held = dict(zip(("id", "year", "made_at", "sources", "persons"), row, strict=True))
    # A part at a time, equal texts shared: the last comparison of a county is 300,000 people.
    people = ledger.query("SELECT id_number, action, final, identity, lists, first_listed, open_since "
                          "FROM comparison_people WHERE comparison_id = ?", (held["id"],)).set_index("id_number")
    return held, people


def held(ledger: Ledger) -> list[dict]:
    """Every comparison held, oldest first (for `xlflow ledger status`)."""
    rows = ledger.db.execute("SELECT id, year, made_at, sources, persons FROM comparisons ORDER BY id").fetchall()
    return [dict(zip(("id", "year", "made_at", "sources", "persons"), r, strict=True)) for r in rows]
