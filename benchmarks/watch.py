"""Benchmark: the watched folder's throughput against `xlflow validate` run once per file.

    python benchmarks/watch.py [--files 50] [--rows 2000]

Generates --files declarations of --rows rows each (benchmarks/run.py's generator, amounts filled with
5 % planted errors), then, in the same script:
1. baseline: `xlflow validate FILE --out DIR` once per file, one after another (what a clerk's batch
   script or an IT person would do without the watcher);
2. `xlflow watch WORKSPACE --once` with all files dropped into the inbox at once.
Prints files per minute for both and the ratio; asserts every file came out (50 result folders).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import DATA, generate  # noqa: E402

XLFLOW = [sys.executable, "-m", "xlflow"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    sources = [generate(args.rows, DATA / f"watch_{args.rows}_{i:02d}.xlsx", seed=i) for i in range(args.files)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = tmp / "validate"
        start = time.perf_counter()
        for path in sources:
            subprocess.run([*XLFLOW, "validate", str(path), "--out", str(out)], capture_output=True, check=False)
        baseline = time.perf_counter() - start

        ws = tmp / "ws"
        subprocess.run([*XLFLOW, "init", str(ws)], capture_output=True, check=True)
        for path in sources:
            shutil.copy(path, ws / "待处理" / path.name)
        start = time.perf_counter()
        subprocess.run([*XLFLOW, "watch", str(ws), "--once", "--settle", "0"], capture_output=True, check=True)
        watched = time.perf_counter() - start
        done = len(list((ws / "处理结果").iterdir()))
        assert done == args.files, f"{done} result folders for {args.files} files"
    per_min = lambda seconds: args.files / seconds * 60  # noqa: E731
    print(f"{args.files} files × {args.rows:,} rows")
    print(f"  xlflow validate, one process per file: {baseline:6.1f} s  {per_min(baseline):6.1f} files/min")
    print(f"  xlflow watch --once (all dropped):     {watched:6.1f} s  {per_min(watched):6.1f} files/min")
    print(f"  watch / validate throughput: {baseline / watched:.2f}×")


if __name__ == "__main__":
    main()
