"""Benchmark: xlflow validate end to end on generated declarations, against baselines in the same run.

    python benchmarks/run.py [--rows 10000 100000] [--variants filled empty bad] [--full] [--hostile]
                             [--exports] [--baseline SRC] [--repeat 3] [--max-peak-mib 1536]

Generates realistic declarations with xlsxwriter in three variants: amounts filled (~5% planted
errors), amounts left empty (what the template invites) and every row an error. Then times, each in
a fresh subprocess (wall time and peak RSS): `xlflow validate` (all three outputs), `frictionless
validate` when installed (`--header-rows 5`, no error limit: it reads every row), and a naive
openpyxl + pandas + pandera pipeline. Prints the median of --repeat runs and the ratio to xlflow.
Exit 1 from xlflow is expected: the files have planted errors.

--hostile adds a zip bomb under every size and ratio limit and a rule table of 30,000 identical rules.
The benchmark fails (exit 1) when a run of xlflow peaks above --max-peak-mib: the memory guard.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE.parent / "examples"))
from make_examples import DECL_COLUMNS, IDENTITIES, amounts, make_id, make_name  # noqa: E402

FULL_SHEET = 1_048_576 - 5  # Excel's last row, less the title, header block and header rows


VARIANTS = ("filled", "empty", "bad")  # amounts filled (~5% errors), amounts left empty, every row an error


def generate(rows: int, path: Path, seed: int = 7, variant: str = "filled") -> Path:
    if path.exists():
        return path
    rng = random.Random(seed)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("批量缴费申报表")
    ws.write_row(0, 0, ["批量缴费申报表"])
    ws.write_row(1, 0, ["申报单位*", None, "某某镇", None, None, "经办人*", "刘敏"])
    ws.write_row(2, 0, ["申报日期*", None, "2026-11-20"])
    ws.write_row(4, 0, DECL_COLUMNS)
    combos = [(i, h, t, y) for i in IDENTITIES for h in ("农业户籍", "城镇户籍") for t in ("一档", "二档")
              for y in (2024, 2025)]  # fmt: skip
    cache = {c: amounts(*c) for c in combos}
    for r in range(rows):
        combo = rng.choice(combos)
        values = [r + 1, make_name(rng), make_id(rng, rng.randint(1966, 2008)), combo[1], combo[0],
                  combo[3], combo[2], *cache[combo], None]  # fmt: skip
        if variant == "empty":
            values[7:13] = [None] * 6
        elif variant == "bad":
            values[2] = values[2][:-1] + ("0" if values[2][-1] != "0" else "1")
        elif rng.random() < 0.05:  # a planted error
            k = rng.randrange(4)
            if k == 0:
                values[2] = values[2][:-1] + ("0" if values[2][-1] != "0" else "1")
            elif k == 1:
                values[7] = 77
            elif k == 2:
                values[6] = "十五档"
            else:
                values[1] = values[1] + "1"
        ws.write_row(5 + r, 0, values)
    wb.close()
    return path


def _tree_mib(root: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc), in MiB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        todo += children.get(pid, [])
    return total / 2**20


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak memory in MiB, exit code); run in the data folder, ``env`` added to the
    environment.

    The peak is the child's own peak RSS or, when higher, the most its process tree (xlflow and the helper
    that scans a big sheet beside the reading) held at once, sampled every 20 ms.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=DATA,
                            env={**os.environ, **env} if env else None)
    tree = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            tree[0] = max(tree[0], _tree_mib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if Path("/proc/self/statm").exists():
        sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    wall = time.perf_counter() - start
    done.set()
    return wall, max(usage.ru_maxrss / 1024, tree[0]), os.waitstatus_to_exitcode(status)


NAIVE = """
import sys, openpyxl, pandas as pd, pandera.pandas as pa
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
rows = list(wb.active.iter_rows(min_row=5, values_only=True))
df = pd.DataFrame(rows[1:], columns=rows[0])
schema = pa.DataFrameSchema({
    "姓名": pa.Column(str, pa.Check.str_matches(r"^[\u4e00-\u9fff]{2,4}$")),
    "身份证号码": pa.Column(str, pa.Check.str_length(18, 18)),
    "户口性质": pa.Column(str, pa.Check.isin(["农业户籍", "城镇户籍"])),
    "缴费年度": pa.Column(int, pa.Check.in_range(2009, 2030), coerce=True),
    "个人缴费": pa.Column(float, pa.Check.ge(0), coerce=True),
}, strict=False)
try:
    schema.validate(df, lazy=True)
except pa.errors.SchemaErrors as exc:
    print(len(exc.failure_cases))
"""


def zip_bomb(path: Path, unpacked_mib: int = 2400) -> Path:
    """A workbook whose one sheet unpacks to ~2.4 GB at a ratio under 250 (text of 4 letters)."""
    if path.exists():
        return path
    import zipfile

    rng = random.Random(3)
    block = "".join(rng.choice("abcd") for _ in range(1 << 20)).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"/>')
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(b'<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
            for _ in range(unpacked_mib):
                fh.write(block)
            fh.write(b"</t></is></c></row></sheetData></worksheet>")
    return path


def many_rules(path: Path, n: int = 30_000) -> Path:
    if path.exists():
        return path
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("征缴规则表")
    ws.write_row(0, 0, ["规则名称", "缴费档次", "缴费身份", "户口性质", "个人缴费", "省级补贴", "市级补贴", "县级补贴",
                        "政府代缴", "开始年月", "终止年月"])  # fmt: skip
    for r in range(n):
        ws.write_row(r + 1, 0, ["", "一档", "贫困人口一级", "农业户籍", 0, 12, 9.9, 8.1, 100, "202001", "209912"])
    wb.close()
    return path


def exports_of(path: Path) -> dict[str, Path]:
    """The same declaration as a web system exports it: an HTML table, XML Spreadsheet 2003 and tab-separated
    UTF-16 text, each named .xls (what 导出 Excel often writes)."""
    from html import escape

    from python_calamine import CalamineWorkbook

    out = {form: path.with_name(f"{path.stem}_{form}.xls") for form in ("html", "xml", "tsv")}
    if all(p.exists() for p in out.values()):
        return out
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()

    def shown(v) -> str:
        return str(int(v)) if isinstance(v, float) and v.is_integer() else ("" if v is None else str(v))

    with open(out["html"], "w", encoding="utf-8") as fh:
        fh.write('<html><head><meta charset="utf-8"></head><body><table>\n')
        for row in grid:
            fh.write("<tr>" + "".join(f'<td style="mso-number-format:\'\\@\'">{escape(shown(v))}</td>'
                                      for v in row) + "</tr>\n")
        fh.write("</table></body></html>")
    with open(out["xml"], "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:'
                 'spreadsheet" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="S">'
                 "<Table>\n")
        for row in grid:
            fh.write("<Row>" + "".join(
                f'<Cell><Data ss:Type="{"Number" if isinstance(v, float) else "String"}">{escape(shown(v))}</Data>'
                "</Cell>" for v in row) + "</Row>\n")
        fh.write("</Table></Worksheet></Workbook>")
    with open(out["tsv"], "w", encoding="utf-16", newline="") as fh:
        for row in grid:
            fh.write("\t".join(shown(v) for v in row) + "\r\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--variants", nargs="*", default=["filled"], choices=VARIANTS)
    parser.add_argument("--full", action="store_true", help="also a full sheet (1,048,571 data rows)")
    parser.add_argument("--hostile", action="store_true", help="a zip bomb and 30,000 identical rules")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool (the median is shown)")
    parser.add_argument("--baseline", type=Path,
                        help="src folder of another checkout (e.g. a git worktree of an older commit): its xlflow "
                             "validate runs first, in the same run, as the baseline")
    parser.add_argument("--exports", action="store_true",
                        help="also the same declarations as HTML, XML 2003 and UTF-16 text exports named .xls")
    parser.add_argument("--baselines-up-to", type=int, default=100_000,
                        help="run the slow baselines only up to this many rows")
    parser.add_argument("--max-peak-mib", type=float, default=1024,
                        help="memory guard for xlflow runs (the goal: a full sheet in 1 GB, whatever it holds)")
    args = parser.parse_args()
    sizes = args.rows + ([FULL_SHEET] if args.full else [])
    DATA.mkdir(exist_ok=True)
    bindir = Path(sys.executable).parent
    xlflow = str(bindir / "xlflow")
    over = []
    print(f"{'rows':>10} {'variant':<7} {'tool':<28} {'wall s':>8} {'rows/s':>10} {'peak MiB':>9} "
          f"{'vs xlflow':>9} {'exit':>5}")
    for n in sizes:
        for variant in args.variants:
            name = f"decl_{n}.xlsx" if variant == "filled" else f"decl_{n}_{variant}.xlsx"
            path = generate(n, DATA / name, variant=variant)
            runs = {"xlflow validate (3 outputs)": [xlflow, "validate", str(path), "--out", str(DATA / f"out_{n}")]}
            if n > args.baselines_up_to:  # a million findings as JSON: capped, not one 1 GB line
                runs["xlflow validate --json"] = [xlflow, "validate", str(path), "--out", str(DATA / f"out_{n}"),
                                                  "--json"]
            if n <= args.baselines_up_to and variant == "filled":
                if (bindir / "frictionless").exists():
                    runs["frictionless validate"] = [str(bindir / "frictionless"), "validate", "--header-rows", "5",
                                                     "--limit-errors", "100000000", path.name]
                runs["openpyxl+pandas+pandera"] = [sys.executable, "-c", NAIVE, str(path)]
            if args.exports and variant == "filled":
                for form, copy in exports_of(path).items():
                    runs[f"xlflow validate, {form} .xls"] = [xlflow, "validate", str(copy), "--out",
                                                             str(DATA / f"out_{n}_{form}")]
            if args.baseline:  # the same command, the older code: before and after run alternately
                before = [sys.executable, "-m", "xlflow", *runs["xlflow validate (3 outputs)"][1:]]
                before[-1] = str(DATA / f"out_{n}_before")
                runs = {"xlflow validate, baseline": before, **runs}
            base = None
            for tool, cmd in runs.items():
                repeat = args.repeat if n <= 100_000 else 1
                env = {"PYTHONPATH": str(args.baseline.resolve())} if tool.endswith("baseline") else None
                results = sorted(measure(cmd, env) for _ in range(repeat))
                wall, peak, rc = results[len(results) // 2]
                base = base or wall
                if tool.startswith("xlflow") and peak > args.max_peak_mib:
                    over.append(f"{n:,} {variant}: {peak:.0f} MiB")
                print(f"{n:>10,} {variant:<7} {tool:<28} {wall:>8.2f} {n / wall:>10,.0f} {peak:>9.0f} "
                      f"{wall / base:>8.1f}x {rc:>5}", flush=True)
    if args.hostile:
        for label, cmd in (
            ("zip bomb (2.4 GB unpacked)", [xlflow, "validate", str(zip_bomb(DATA / "bomb.xlsx")), "--out",
                                            str(DATA / "out_bomb")]),
            ("rules check, 30,000 rules", [xlflow, "rules", "check", str(many_rules(DATA / "rules_30000.xlsx"))]),
        ):
            wall, peak, rc = measure(cmd)
            if peak > args.max_peak_mib:
                over.append(f"{label}: {peak:.0f} MiB")
            print(f"{'':>10} {'':<7} {label:<28} {wall:>8.2f} {'':>10} {peak:>9.0f} {'':>9} {rc:>5}", flush=True)
    if over:
        print(f"memory guard: peak above {args.max_peak_mib:.0f} MiB in " + "; ".join(over))
        sys.exit(1)


if __name__ == "__main__":
    main()
