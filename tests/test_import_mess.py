"""A roster, a payments export and an office list imported as the system or office wrote them cleanly, and
again written the way they arrive — spaces, full-width digits, the 15-digit ID, an ID behind an apostrophe
or in dashed groups, names with spaces, years as 2024年, money as ¥12.00 or 1,000.00 text — as .xlsx, GBK
.csv and LibreOffice's .xls and .ods copies: the ledger holds the same people, person-years and list rows,
value for value. The only findings of the messy copy are the X fixes; the clean one has the system's codes read (X05,
X07) alone."""

from __future__ import annotations

import csv
import subprocess
from collections import Counter

import pytest

from conftest import write_workbook
from test_declaration_mess import NEEDS_LO, SOFFICE
from test_ledger import PAY_HEAD, ROSTER_HEAD
from test_one_key import ID_MESS, X_SEQ
from test_validate import TODAY, pid
from xlflow.app.imports import import_file
from xlflow.store.ledger import Ledger

LIST_HEAD = ["序号", "身份证号码", "姓名", "级别", "脱贫年度"]
IDS = [pid(seq=f"{300 + n:03d}") for n in range(9)] + [pid(seq=X_SEQ)]
NAMES = ["张一", "李二", "王三", "赵四", "阿依古丽·买买提", "钱五", "孙六", "周七", "吴八", "郑九"]


def clean(kind: str) -> tuple[list[str], list[list]]:
    if kind == "roster":
        return ROSTER_HEAD, [[i, NAMES[n], "农业" if n % 2 else "非农业", "正常缴费", "051" if n % 3 else "011",
                              2024 if n == 2 else None, "43030201"] for n, i in enumerate(IDS)]
    if kind == "payments":
        return PAY_HEAD, [[i, NAMES[n], f"{2023 + n % 2}01", "普通参保人员", "一档", "农业户籍", 100 if n % 3 else 1000,
                           12, 9.9, 8.1, 0] for n, i in enumerate(IDS)]
    return LIST_HEAD, [[n + 1, i, NAMES[n], "一级" if n % 2 else "二级", 2024 if n == 3 else None]
                       for n, i in enumerate(IDS)]


def messy(kind: str, rows: list[list]) -> list[list]:
    mess = [write for write, _code in ID_MESS.values()]
    at = LIST_HEAD.index("身份证号码") if kind == "list" else 0
    out = []
    for n, row in enumerate(rows):
        row = list(row)
        row[at] = mess[n % len(mess)](row[at]) if not row[at].endswith("X") else row[at][:-1] + "x"
        if n == 6 and kind != "list":  # the 15-digit ID typed as a number (15 digits fit a number whole)
            row[at] = int(rows[n][at][:6] + rows[n][at][8:17])
        row[at + 1] = "阿依古丽•买买提" if n == 4 else f" {row[at + 1][0]} {row[at + 1][1:]}\u3000"
        if kind == "roster" and row[5]:
            row[5] = f"{row[5]}年"
        if kind == "payments":
            row[6] = f"{row[6]:,.2f}" if n % 2 else f"¥{row[6]}"
            row[8] = f"{row[8]:.2f}"
        if kind == "list" and row[4]:
            row[4] = "２０２４"
        out.append(row)
    return out


def held(path) -> dict[str, list]:
    """What the ledger holds, without the source each row came from."""
    with Ledger(path) as store:
        db = store.db
        return {"persons": db.execute("SELECT id_number, name, hukou, status, identity, exit_year, area, digest "
                                      "FROM persons ORDER BY 1").fetchall(),
                "payments": db.execute("SELECT id_number, year, seq, name, identity, tier, hukou, personal, "
                                       "province, city, county, daijiao FROM payments ORDER BY 1, 2, 3").fetchall(),
                "years": db.execute("SELECT id_number, year, records, personal, province, city, county, daijiao, "
                                    "identity, tier, digest FROM payment_years ORDER BY 1, 2").fetchall(),
                "lists": db.execute("SELECT kind, id_number, name, category, level, exit_year, digest FROM lists "
                                    "ORDER BY 1, 2").fetchall()}


def imported(tmp_path, kind: str, path):
    ledger = tmp_path / f"{path.stem}_{path.suffix[1:]}.sqlite"
    with Ledger(ledger) as store:
        result = import_file(store, path, kind, "低保对象" if kind == "list" else None, tmp_path / "err",
                             today=TODAY)
    return result, held(ledger)


@pytest.mark.parametrize("kind", ["roster", "payments", "list"])
@pytest.mark.parametrize("form", ["xlsx", "csv", pytest.param("xls", marks=NEEDS_LO),
                                  pytest.param("ods", marks=NEEDS_LO)])
def test_an_export_written_as_it_arrives_is_held_as_the_clean_one(tmp_path, kind, form):
    head, rows = clean(kind)
    first, want = imported(tmp_path, kind, write_workbook(tmp_path / "clean.xlsx", [["系统导出"], head, *rows]))
    # The system's own codes and periods (051, 农业, 202401) are read as what they mean: X05, X07 alone.
    assert {f.code for f in first.check.findings} <= {"X05", "X07"} and first.counts["new"] > 0
    assert first.counts["refused"] == 0
    mess = messy(kind, rows)
    if form == "csv":
        path = tmp_path / "messy.csv"
        with open(path, "w", encoding="gb18030", newline="") as f:
            csv.writer(f).writerows([head, *[["" if v is None else v for v in r] for r in mess]])
    else:
        path = write_workbook(tmp_path / "messy.xlsx", [["系统导出"], head, *mess])
        if form != "xlsx":  # the same workbook saved again by LibreOffice, as an office's .xls or .ods copy
            subprocess.run([SOFFICE, "--headless", "--convert-to", form, "--outdir", str(tmp_path / "lo"), str(path)],
                           check=True, capture_output=True, timeout=120)
            path = tmp_path / "lo" / f"messy.{form}"
    result, got = imported(tmp_path, kind, path)
    codes = Counter(f.code for f in result.check.findings)
    assert set(codes) <= {"X01", "X02", "X03", "X04", "X05", "X07", "X09", "X10", "X12"}, codes
    assert {"X01", "X02", "X03", "X04", "X05", "X10", "X12"} <= set(codes)
    assert result.counts == first.counts
    assert got == want
