"""A declaration checked as a clerk typed it, and again as it arrives written the way clerks and other
systems write it — spaces, full-width digits, the 15-digit ID, an ID behind an apostrophe or in dashed groups,
a minority name's dot typed as •, synonyms and codes for 户口性质 / 缴费身份 / 缴费档次, years as 2025年, money
as ¥12.00 or 12.00 text, a dash for an amount left to the rule — gives the same corrected rows, cell for cell.
The only findings of the messy copy are the X fixes; the clean one has none."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections import Counter

import pytest
from openpyxl import load_workbook

from test_one_key import ID_MESS
from test_validate import COLUMNS, TODAY, declaration, pid
from xlflow.app.pipeline import process_workbook

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def clean_rows() -> list[list]:
    rows = []
    for n in range(12):
        poor = n % 3 != 0
        rows.append([n + 1, "阿依古丽·买买提" if n == 5 else f"张{'一二三四五六七八九十'[n % 10]}",
                     pid(seq=f"{200 + n:03d}"), "农业户籍" if n % 2 else "城镇户籍",
                     "贫困人口一级" if poor else "普通参保人员", 2025, "一档" if poor else "二档",
                     *((0, 12, 9.9, 8.1, 100, 130) if poor else (200, 12, 9.9, 8.1, 0, 230)), None])
    return rows


def messy(rows: list[list]) -> list[list]:
    ids = [write for write, _code in ID_MESS.values()]
    out = []
    for n, row in enumerate(rows):
        row = list(row)
        row[1] = "阿依古丽•买买提" if n == 5 else f" {row[1]}\u3000"
        row[2] = ids[n % len(ids)](row[2]) if not row[2].endswith("X") else row[2][:-1] + "x"
        row[3] = {"农业户籍": "农村", "城镇户籍": "非农业户口"}[row[3]]
        row[4] = {"贫困人口一级": ("051", "贫困一级", "一级贫困人口")[n % 3], "普通参保人员": "普通"}[row[4]]
        row[5] = ("2025年", "２０２５", "2025")[n % 3]
        row[6] = {"一档": ("第1档", "壹档", "1")[n % 3], "二档": "200元档"}[row[6]]
        row[8] = f"¥{row[8]:.2f}" if n % 2 else f"{row[8]:.2f}"
        row[11] = "-" if n % 4 == 1 else row[11]  # left to the rule: X13, then filled (X06)
        out.append(row)
    return out


def corrected(path):
    ws = load_workbook(path).active
    return [r[1:] for r in ws.iter_rows(min_row=6, values_only=True)]


NEEDS_LO = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")


@pytest.mark.parametrize("form", ["xlsx", "csv", pytest.param("xls", marks=NEEDS_LO),
                                  pytest.param("ods", marks=NEEDS_LO)])
def test_a_declaration_written_as_clerks_write_it_gives_the_same_corrected_rows(tmp_path, book, form):
    clean = process_workbook(declaration(tmp_path, clean_rows(), name="clean.xlsx"), book, tmp_path / "a",
                             today=TODAY)
    assert clean.findings == [] and clean.valid_rows == 12
    if form in ("xlsx", "xls", "ods"):
        path = declaration(tmp_path, messy(clean_rows()), name="messy.xlsx")
        if form != "xlsx":  # the same workbook saved again by LibreOffice, as a clerk's .xls or .ods copy
            subprocess.run([SOFFICE, "--headless", "--convert-to", form, "--outdir", str(tmp_path / "lo"), str(path)],
                           check=True, capture_output=True, timeout=120)
            path = tmp_path / "lo" / f"messy.{form}"
    else:
        path = tmp_path / "messy.csv"
        with open(path, "w", encoding="gb18030", newline="") as f:
            csv.writer(f).writerows([COLUMNS, *[["" if v is None else v for v in r] for r in messy(clean_rows())]])
    result = process_workbook(path, book, tmp_path / "b", today=TODAY)
    codes = Counter(f.code for f in result.findings)
    assert set(codes) <= {"X01", "X02", "X03", "X04", "X05", "X06", "X07", "X09", "X10", "X12", "X13"}, codes
    assert {"X01", "X02", "X04", "X05", "X07", "X09", "X10", "X12", "X13"} <= set(codes)
    assert result.valid_rows == 12 and result.error_rows == set()
    start = 2 if form == "csv" else 6  # a bare CSV has no header block above its header row
    ws = load_workbook(result.outputs["corrected"]).active
    got = [r[1:] for r in ws.iter_rows(min_row=start, values_only=True)]  # 序号 of a CSV stays text, as written
    assert got == corrected(clean.outputs["corrected"])
