"""Benchmark: the ledger at a county's size, against baselines run in the same script.

    python benchmarks/ledger.py [--payments 1000000] [--declaration 100000] [--repeat 3] [--import-repeat 1] [--stages]
                                [--refused 10] [--reimport 500000]

1. Import a payments export of --payments rows (.xlsx, system header names, a title row) into a new
   ledger, timed against calamine alone parsing the same file (each in its own process); then the same
   export with every --refused-th ID wrong (those rows refused, listed in the error workbook).
2. Validate the --declaration-row declaration of benchmarks/run.py without and with that ledger
   (median of --repeat runs each; the batch the first ledger run records is withdrawn before the next).
Prints the times, the ratios and the ledger file's size.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))
from make_examples import amounts, make_id, make_name  # noqa: E402
from run import DATA, generate, measure  # noqa: E402

HEAD = ["证件号码", "姓名", "费款所属期", "缴费身份", "缴费档次", "户籍", "个人缴费金额", "省补", "市补", "县补",
        "政府代缴", "缴费方式", "到账时间"]  # fmt: skip
PARSE = """
import sys, python_calamine as c
b = c.CalamineWorkbook.from_path(sys.argv[1])
for row in b.get_sheet_by_name(b.sheet_names[0]).iter_rows():
    pass
"""


def payments(rows: int, path: Path, changed: int = 0, wrong: int = 0) -> Path:
    """~3 years of payments for rows/3 people, as the system exports them; with ``changed``, every
    ``changed``-th record's personal amount is one yuan more (a newer export of the same county); with
    ``wrong``, every ``wrong``-th record's ID has a wrong check digit (refused, C04)."""
    if path.exists():
        return path
    rng = random.Random(5)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("缴费明细")
    ws.write_row(0, 0, ["城乡居民养老保险缴费明细导出"])
    ws.write_row(1, 0, HEAD)
    cache = {y: amounts("普通参保人员", "农业户籍", "一档", y)[:5] for y in (2022, 2023, 2024)}
    person = None
    for r in range(rows):
        if r % 3 == 0:
            person = (make_id(rng, rng.randint(1950, 2005)), make_name(rng))
        year = 2022 + r % 3
        money = list(cache[year])
        if changed and r % changed == 0:
            money[0] += 1
        pid = person[0]
        if wrong and r % wrong == 0:
            pid = pid[:-1] + ("0" if pid[-1] != "0" else "1")
        ws.write_row(r + 2, 0, [pid, person[1], f"{year}01", "普通参保人员", "一档", "农业户籍", *money,
                                "银行代收", f"{year}-06-30"])  # fmt: skip
    wb.close()
    return path


def reimport(rows: int, xlflow: str) -> None:
    """The same county's export imported twice, the second time newer (10% of the records changed): the
    second import must cost about what the first does (it was quadratic: 65x at 40,000 rows)."""
    old = payments(rows, DATA / f"payments_{rows}.xlsx")
    new = payments(rows, DATA / f"payments_{rows}_newer.xlsx", changed=10)
    ledger = DATA / "ledger_reimport.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    first, first_peak, _ = measure([xlflow, "ledger", "import", "payments", str(old), "--ledger", str(ledger)])
    second, second_peak, rc = measure([xlflow, "ledger", "import", "payments", str(new), "--ledger", str(ledger)])
    print(f"payments import of {rows:,} rows: first {first:.2f} s ({first_peak:.0f} MiB), the newer export with "
          f"10% changed {second:.2f} s ({second_peak:.0f} MiB, exit {rc}); second / first {second / first:.2f}x")


def stages(path: Path) -> None:
    """One import in this process with the time and memory (RSS, then the peak so far) after each stage: where
    the ratio to the parse comes from. Linux only (reads /proc/self/status)."""
    import functools
    import time

    import xlflow.app.imports as imports
    import xlflow.app.ledger_rows as ledger_rows
    from xlflow.store.ledger import Ledger

    def rss() -> str:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        return f"{int(status['VmRSS'].split()[0]) // 1024} / {int(status['VmHWM'].split()[0]) // 1024} MiB"

    def timed(name: str, module=imports) -> None:
        inner = getattr(module, name)

        @functools.wraps(inner)
        def run(*args, **kwargs):
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            print(f"  {name}: {time.perf_counter() - start:.2f} s, {rss()}")
            return out

        setattr(module, name, run)

    for name in ("read_all_for_check", "check_cells", "_repeated_records", "_records", "_write"):
        timed(name)
    for name in ("_digest", "_classify"):
        timed(name, ledger_rows)
    ledger = DATA / "ledger_stages.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    with Ledger(ledger) as store:
        imports.import_file(store, path, "payments")
    print(f"  in all {time.perf_counter() - start:.2f} s (_write holds _digest and _classify)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--declaration", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--import-repeat", type=int, default=1, help="parse / import pairs, alternated (median)")
    parser.add_argument("--stages", action="store_true", help="then one import in this process, stage by stage")
    parser.add_argument("--refused", type=int, default=10,
                        help="then an export with every Nth ID wrong (refused rows, an error workbook; 0: skip)")
    parser.add_argument("--reimport", type=int, default=500_000,
                        help="rows of the export imported into a new ledger, then again with 10%% changed (0: skip)")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    xlflow = str(Path(sys.executable).parent / "xlflow")
    pay = payments(args.payments, DATA / f"payments_{args.payments}.xlsx")
    ledger = DATA / "ledger.sqlite"
    parses, loads = [], []
    for _ in range(args.import_repeat):  # alternated: a noisy machine drifts alike for both
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}{suffix}").unlink(missing_ok=True)
        parses.append(measure([sys.executable, "-c", PARSE, str(pay)]))
        loads.append(measure([xlflow, "ledger", "import", "payments", str(pay), "--ledger", str(ledger)]))
    parse, load = statistics.median(p[0] for p in parses), statistics.median(w[0] for w in loads)
    load_peak, parse_peak = max(w[1] for w in loads), max(p[1] for p in parses)
    ratios = ", ".join(f"{w[0] / p[0]:.2f}x" for w, p in zip(loads, parses, strict=True))
    print(f"payments import, {args.payments:,} rows: {load:.2f} s, peak {load_peak:.0f} MiB (exit "
          f"{loads[-1][2]}); calamine alone parsing it: {parse:.2f} s, peak {parse_peak:.0f} MiB; ratio "
          f"{load / parse:.2f}x (medians of {len(loads)}; each pair {ratios})")
    size = sum(Path(f"{ledger}{s}").stat().st_size for s in ("", "-wal") if Path(f"{ledger}{s}").exists())
    print(f"ledger file: {size / 2**20:.1f} MiB")
    if args.refused:  # a messier export: the refused rows go to the error workbook, the rest is imported
        bad = payments(args.payments, DATA / f"payments_{args.payments}_refused{args.refused}.xlsx",
                       wrong=args.refused)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}_refused{suffix}").unlink(missing_ok=True)
        took, peak, rc = measure([xlflow, "ledger", "import", "payments", str(bad), "--ledger",
                                  f"{ledger}_refused", "--out", str(DATA / "out_refused")])
        print(f"the same with every {args.refused}th ID wrong: {took:.2f} s, peak {peak:.0f} MiB (exit {rc}); "
              f"{took / parse:.2f}x the parse")
    if args.reimport:
        reimport(args.reimport, xlflow)
    decl = generate(args.declaration, DATA / f"decl_{args.declaration}.xlsx")
    plain, with_ledger = [], []
    for _ in range(args.repeat):
        plain.append(measure([xlflow, "validate", str(decl), "--out", str(DATA / "out_l0")])[0])
        copy = DATA / "ledger_copy.sqlite"
        for suffix in ("", "-wal", "-shm"):  # a stale WAL beside a fresh copy would corrupt it
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        shutil.copy(ledger, copy)
        with sqlite3.connect(copy) as db:
            db.execute("DELETE FROM batches")
        with_ledger.append(measure([xlflow, "validate", str(decl), "--out", str(DATA / "out_l1"), "--ledger",
                                    str(copy)])[0])  # fmt: skip
    a, b = statistics.median(plain), statistics.median(with_ledger)
    print(f"validate {args.declaration:,} rows: {a:.2f} s without a ledger, {b:.2f} s with it (+{b - a:.2f} s)")
    if args.stages:  # last: a child forked after this process held a million rows reports that as its own peak
        print(f"the {args.payments:,}-row import in this process, stage by stage:")
        stages(pay)


if __name__ == "__main__":
    main()
