"""The ledger's schema: one migration per version (``PRAGMA user_version``), applied in order by
:class:`xlflow.store.ledger.Ledger` when it opens an older file."""

from __future__ import annotations

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
    # A batch is a lineage: the files that belong to it (the original, its corrected and error workbooks,
    # their copies and re-saves) are its members, each with the person-years it passed and those it did not.
    5: """
    ALTER TABLE batches ADD COLUMN lineage TEXT;
    UPDATE batches SET lineage = lower(hex(randomblob(8))) WHERE lineage IS NULL;
    CREATE UNIQUE INDEX batches_lineage ON batches (lineage);
    CREATE TABLE batch_members (batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
                                member TEXT NOT NULL, file_name TEXT NOT NULL, sha256 TEXT NOT NULL, role TEXT,
                                recorded_at TEXT NOT NULL, PRIMARY KEY (batch_id, member));
    INSERT INTO batch_members SELECT id, 'file:' || file_name, file_name, sha256, '原表', created_at FROM batches;
    ALTER TABLE batch_rows ADD COLUMN member TEXT;
    UPDATE batch_rows SET member = (SELECT 'file:' || b.file_name FROM batches b WHERE b.id = batch_rows.batch_id);
    CREATE TABLE batch_error_rows (batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
                                   member TEXT NOT NULL, id_number TEXT NOT NULL, year INTEGER NOT NULL,
                                   PRIMARY KEY (batch_id, member, id_number, year));
    CREATE INDEX batch_error_rows_person ON batch_error_rows (id_number, year);
    """,
    # The roster's 参保地 by name beside its 行政区划 code: the comparison counts by the name the county uses.
    6: """
    ALTER TABLE persons ADD COLUMN township TEXT;
    """,
    # What a list knows of a person who may not be insured yet, for the registration list (参保登记名单).
    7: """
    ALTER TABLE lists ADD COLUMN hukou TEXT;
    ALTER TABLE lists ADD COLUMN phone TEXT;
    ALTER TABLE lists ADD COLUMN area TEXT;
    """,
    # Each comparison held, with what it said of each person: the next one says what changed (store/history.py).
    8: """
    CREATE TABLE comparisons (id INTEGER PRIMARY KEY, year INTEGER NOT NULL, made_at TEXT NOT NULL,
                              sources TEXT, persons INTEGER NOT NULL);
    CREATE TABLE comparison_people (comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
                                    id_number TEXT NOT NULL, action TEXT, final TEXT, identity TEXT, lists TEXT,
                                    first_listed TEXT, open_since TEXT, PRIMARY KEY (comparison_id, id_number));
    """,
    # The payment tables keyed by their primary key alone (no rowid beside it): one B-tree each, not two;
    # a county's import of a million records writes a quarter less.
    9: """
    CREATE TABLE payments_v9 (id_number TEXT NOT NULL, year INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT,
                              identity TEXT, tier TEXT, hukou TEXT, personal INTEGER, province INTEGER, city INTEGER,
                              county INTEGER, daijiao INTEGER, source_id INTEGER REFERENCES sources(id), method TEXT,
                              arrived_at TEXT, arrived_flag TEXT, PRIMARY KEY (id_number, year, seq)) WITHOUT ROWID;
    INSERT INTO payments_v9 SELECT id_number, year, seq, name, identity, tier, hukou, personal, province, city, county,
                                   daijiao, source_id, method, arrived_at, arrived_flag FROM payments;
    DROP TABLE payments;
    ALTER TABLE payments_v9 RENAME TO payments;
    CREATE TABLE payment_years_v9 (id_number TEXT NOT NULL, year INTEGER NOT NULL, records INTEGER NOT NULL,
                                   personal INTEGER, province INTEGER, city INTEGER, county INTEGER, daijiao INTEGER,
                                   identity TEXT, tier TEXT, digest TEXT, source_id INTEGER REFERENCES sources(id),
                                   PRIMARY KEY (id_number, year)) WITHOUT ROWID;
    INSERT INTO payment_years_v9 SELECT id_number, year, records, personal, province, city, county, daijiao, identity,
                                        tier, digest, source_id FROM payment_years;
    DROP TABLE payment_years;
    ALTER TABLE payment_years_v9 RENAME TO payment_years;
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)
