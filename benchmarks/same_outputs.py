"""Behaviour unchanged by a restructuring: the demo's steps and a 100,000-row declaration run by an older
checkout and by this one, in one run, and every workbook they write compared part by part (apart from the
times they carry).

    python benchmarks/same_outputs.py --baseline SRC [--rows 100000]

SRC is the src folder of the older checkout (e.g. `git worktree add /tmp/base <commit>` → /tmp/base/src).
Exit 0 when every output is the same, 1 (with the differing parts listed) when not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EX = ROOT / "examples"
# Times and the things made of them: the properties' generated_at, core.xml's dates, 处理时间 in a summary.
TIMES = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?Z?)?|\d{8}-\d{6}")
LINEAGE = re.compile(rb"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])")  # a batch's lineage is drawn at random


def steps(out: Path, big: Path | None) -> list[list[str]]:
    ledger = str(out / "台账.sqlite")
    run = [
        ["template", "declaration", "-o", str(out / "t_declaration.xlsx")],
        ["template", "adjustment", "-o", str(out / "t_adjustment.xlsx")],
        ["template", "rules", "-o", str(out / "t_rules.xlsx")],
        ["ledger", "import", "roster", str(EX / "参保人员信息.csv"), "--ledger", ledger, "--out", str(out)],
        ["ledger", "import", "payments", str(EX / "缴费明细.xls"), "--ledger", ledger, "--out", str(out)],
        ["validate", str(EX / "批量缴费申报表.xlsx"), "--out", str(out), "--ledger", ledger],
        ["validate", str(EX / "批量缴费调整登记表.xlsx"), "--out", str(out), "--ledger", ledger],
        ["ledger", "import", "list", str(EX / "低保对象名单.xlsx"), "--kind", "低保对象", "--ledger", ledger,
         "--out", str(out)],
        ["compare", "--year", "2024", "--ledger", ledger, "--out", str(out)],
    ]
    if big is not None:
        run.append(["validate", str(big), "--out", str(out / "big")])
    return run


def run_all(src: Path | None, out: Path, big: Path | None) -> list[int]:
    env = {**os.environ, "PYTHONPATH": str(src)} if src else dict(os.environ)
    codes = []
    for args in steps(out, big):
        done = subprocess.run([sys.executable, "-m", "xlflow", *args], env=env, capture_output=True, cwd=out)
        codes.append(done.returncode)
    return codes


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        read = {name: TIMES.sub(b"<time>", zf.read(name)) for name in zf.namelist()}
    if "docProps/custom.xml" in read:
        read["docProps/custom.xml"] = LINEAGE.sub(b"<lineage>", read["docProps/custom.xml"])
    return read


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="src folder of the older checkout")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the big declaration (0: none)")
    args = parser.parse_args()
    big = None
    if args.rows:
        sys.path.insert(0, str(HERE))
        from run import DATA, generate

        DATA.mkdir(exist_ok=True)
        big = generate(args.rows, DATA / f"decl_{args.rows}.xlsx")
    with tempfile.TemporaryDirectory() as tmp:
        old, new, work = Path(tmp) / "old", Path(tmp) / "new", Path(tmp) / "work"
        codes = []
        for src, keep in ((args.baseline.resolve(), old), (None, new)):  # the same folder: the same paths inside
            work.mkdir()
            codes.append(run_all(src, work, big))
            work.rename(keep)
        differ = [] if codes[0] == codes[1] else [f"exit codes {codes[0]} → {codes[1]}"]
        names = sorted({p.relative_to(d) for d in (old, new) for p in d.rglob("*.xlsx")})
        for name in names:
            a, b = old / name, new / name
            if not (a.exists() and b.exists()):
                differ.append(f"{name}: only in {'old' if a.exists() else 'new'}")
                continue
            pa, pb = parts(a), parts(b)
            for part in sorted(set(pa) | set(pb)):
                if pa.get(part) != pb.get(part):
                    differ.append(f"{name}: {part}")
        print(f"{len(names)} workbooks compared, exit codes {codes[1]}")
        for line in differ:
            print("  differs:", line)
        if os.environ.get("KEEP"):
            shutil.copytree(tmp, os.environ["KEEP"], dirs_exist_ok=True)
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
