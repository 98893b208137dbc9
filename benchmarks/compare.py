"""Benchmark: 数据比对 at a county's size.

    python benchmarks/compare.py [--roster 1000000] [--list 100000] [--years 3] [--baseline SRC] [--repeat 1]

Builds a ledger with --roster insured people, --years years of paid person-years (about two thirds of
the people paid each year, a tenth of them with 代缴) and office lists of --list people (低保对象,
贫困人口 and 特困人员; some on two lists, a few not insured), straight into SQLite (the import is
measured in benchmarks/ledger.py). Then runs `xlflow compare --year Y --ledger ...` as its own process
and prints its wall time and peak memory, next to the time the same process needs to start and load
the rule table (`xlflow rules check`), the baseline no comparison can go below.

With ``--baseline SRC`` (the ``src`` folder of another checkout, e.g. a ``git worktree`` of an older
commit) the ledger is built by that code (its schema; this code migrates a copy of it when it opens it)
and the two compare runs alternate, ``--repeat`` times each: before and after in one run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import measure  # noqa: E402

from xlflow.domain.idcard import check_char  # noqa: E402
from xlflow.paths import example_rules  # noqa: E402

try:
    from xlflow.store.ledger import Ledger  # noqa: E402
except ImportError:  # a --baseline checkout from before the layered folders
    from xlflow.ledger import Ledger  # noqa: E402

AREAS = [f"4303{c:02d}" for c in (2, 4, 21, 81, 82)]
TOWNS = [f"{a}{t:02d}" for a in AREAS for t in range(1, 11)]


def person_ids(n: int, rng: random.Random) -> list[str]:
    out = []
    for i in range(n):
        born = f"{rng.randint(1946, 2008)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = f"{rng.choice(AREAS)}{born}{i % 1000:03d}"
        out.append(body + check_char(body))
    return list(dict.fromkeys(out))


def build(path: Path, roster: int, listed: int, years: int, year: int) -> None:
    rng = random.Random(38)
    ids = person_ids(roster, rng)
    with Ledger(path) as store:
        db = store.db
        with store.transaction():
            db.execute("INSERT INTO sources (kind, name, sha256, imported_at, rows) VALUES ('roster','b','x','t',0)")
            db.executemany("INSERT INTO persons (id_number, name, hukou, status, identity, area, source_id) "
                           "VALUES (?,?,?,?,?,?,1)",
                           ((p, "张三", "农业户籍", "正常待遇" if p[6:10] < str(year - 60) else "正常缴费",
                             rng.choice(["普通参保人员", "低保对象一级", "贫困人口一级"]), rng.choice(TOWNS))
                            for p in ids))
            for y in range(year - years + 1, year + 1):
                paid = ((p, y, 1, 10000, 1200, 990, 810, 0, "普通参保人员", "一档") if rng.random() < 0.9 else
                        (p, y, 1, 0, 1200, 990, 810, 10000, "贫困人口一级", "一档")
                        for p in ids if rng.random() < 0.66)
                db.executemany("INSERT INTO payment_years (id_number, year, records, personal, province, city, "
                               "county, daijiao, identity, tier) VALUES (?,?,?,?,?,?,?,?,?,?)", paid)
            on_list = rng.sample(ids, min(listed, len(ids)))
            extra = person_ids(listed // 50, random.Random(7))  # not insured
            rows = []
            for p in on_list[: len(on_list) - len(extra)] + extra:
                kind = rng.choice(["低保对象", "贫困人口", "特困人员"])
                rows.append((kind, p, "张三", None, rng.choice(["一级", "二级", "三级"]),
                             rng.choice([None, None, None, year - 2, year]) if kind == "贫困人口" else None))
                if rng.random() < 0.05:  # on a second list too
                    rows.append(("贫困人口" if kind != "贫困人口" else "低保对象", p, "张三", None, "一级", None))
            db.executemany("INSERT OR IGNORE INTO lists (kind, id_number, name, category, level, exit_year) "
                           "VALUES (?,?,?,?,?,?)", rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roster", type=int, default=1_000_000)
    parser.add_argument("--list", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--baseline", type=Path, help="src folder of another checkout, run alternately with this one")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build(args.build_only, args.roster, args.list, args.years, args.year)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ledger = tmp / "台账.sqlite"
        if args.baseline:  # the older schema, which this code migrates when it opens a copy
            subprocess.run([sys.executable, __file__, "--build-only", str(ledger), "--roster", str(args.roster),
                            "--list", str(args.list), "--years", str(args.years), "--year", str(args.year)],
                           check=True, env={**os.environ, "PYTHONPATH": str(args.baseline.resolve())})
        else:
            build(ledger, args.roster, args.list, args.years, args.year)
        xlflow = [sys.executable, "-m", "xlflow"]
        base = measure([*xlflow, "rules", "check", str(example_rules())])
        runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": [], "after, second of the year": []}
        for n in range(args.repeat):
            for label in (("before", "after") if args.baseline else ("after",)):
                copy = tmp / f"{label}{n}.sqlite"
                shutil.copy(ledger, copy)
                out = tmp / f"out_{label}{n}"
                env = {"PYTHONPATH": str(args.baseline.resolve())} if label == "before" else None
                wall, peak, code = measure([*xlflow, "compare", "--year", str(args.year), "--ledger", str(copy),
                                            "--out", str(out)], env=env)
                assert code == 0, f"compare ({label}) exited {code}"
                runs[label].append((wall, peak))
                if label == "after":  # again on the same ledger: the history is read, compared and kept too
                    wall, peak, code = measure([*xlflow, "compare", "--year", str(args.year), "--ledger", str(copy),
                                                "--out", str(tmp / f"again{n}")])
                    assert code == 0, f"compare (second) exited {code}"
                    runs["after, second of the year"].append((wall, peak))
        files = sorted(p.name for p in out.iterdir())
        size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    print(f"roster {args.roster:,}, {args.years} years of payments, lists {args.list:,}")
    for label, got in runs.items():
        if got:
            wall = statistics.median(w for w, _ in got)
            peak = max(p for _, p in got)
            print(f"  xlflow compare ({label}): {wall:.1f} s (median of {len(got)}), peak {peak:.0f} MiB")
    first, again = runs["after"], runs["after, second of the year"]
    if first and again:
        ratio = statistics.median(w for w, _ in again) / statistics.median(w for w, _ in first)
        print(f"  second comparison of the year / first: {ratio:.2f}× (goal ≤ 1.3×)")
    print(f"  {len(files)} files, {size:.1f} MiB written (after)")
    print(f"  baseline (start and load the rule table): {base[0]:.1f} s, {base[1]:.0f} MiB")


if __name__ == "__main__":
    main()
