"""Builds the example workbooks in this folder (run: python examples/make_examples.py).

A rule table for one Hunan county (某县, 2017 on) and a filled declaration and adjustment workbook
with the mistakes clerks make. The output is deterministic; the files are committed.
"""

from __future__ import annotations

import random
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from xlflow.domain.vocab import IDENTITY_CODES

HERE = Path(__file__).resolve().parent
TIERS = ["一档", "二档", "三档", "四档", "五档", "六档", "七档", "八档", "九档", "十档",
         "十一档", "十二档", "十三档", "十四档"]  # fmt: skip
STANDARD = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 2500, 3000]
HUKOU = ["农业户籍", "城镇户籍"]
# (start, end, subsidy by tier number, 代缴 by identity for tiers 一档/二档)
PERIODS = [
    ("201701", "201912", lambda n: (15, 7.5, 7.5) if n <= 4 else (30, 15, 15),
     {"贫困人口一级": 100, "贫困人口二级": 50, "贫困人口三级": 30, "低保对象一级": 100,
      "低保对象二级": 50, "低保对象三级": 30, "特困人员": 100}),
    ("202001", "209912",
     lambda n: (12, 9.9, 8.1) if n <= 2 else (16, 13.2, 10.8) if n <= 4 else (24, 19.8, 16.2),
     {"贫困人口一级": 100, "贫困人口二级": 70, "贫困人口三级": 50, "低保对象一级": 100,
      "低保对象二级": 70, "低保对象三级": 50, "特困人员": 100}),
]  # fmt: skip
HEADERS = ["规则名称", "缴费档次", "缴费身份", "户口性质", "个人缴费", "省级补贴", "市级补贴",
           "县级补贴", "政府代缴", "开始年月", "终止年月"]  # fmt: skip


def num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 2)


def rule_rows() -> list[list]:
    rows = []
    for start, end, subsidy, daijiao in PERIODS:
        for hukou in HUKOU:
            for n, (tier, std) in enumerate(zip(TIERS, STANDARD, strict=True), start=1):
                p, c, k = subsidy(n)
                rows.append(["", tier, "普通参保人员", hukou, std, p, c, k, 0, start, end])
            for identity, amount in daijiao.items():
                for n in (1, 2):
                    p, c, k = subsidy(n)
                    std = STANDARD[n - 1]
                    rows.append(["", TIERS[n - 1], identity, hukou, std - amount, p, c, k,
                                 amount, start, end])  # fmt: skip
    for row in rows:
        row[0] = (f"个人缴费{num(row[4])}省补贴{num(row[5])}市补贴{num(row[6])}"
                  f"县补贴{num(row[7])}政府代缴{num(row[8])}")  # fmt: skip
        row[4:9] = [num(v) for v in row[4:9]]
    return rows


def write_rules() -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "征缴规则表"
    ws.append(["某县城乡居民基本养老保险征缴规则表（缴费档次参数）"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(HEADERS)
    for row in rule_rows():
        ws.append(row)
    for col, width in zip("ABCDEFGHIJK", [40, 8, 14, 10, 9, 9, 9, 9, 9, 10, 10], strict=True):
        ws.column_dimensions[col].width = width
    for cell in ws["J"] + ws["K"]:
        cell.number_format = "@"
    ws.freeze_panes = "A3"
    wb.save(HERE / "征缴规则表.xlsx")


WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
AREAS = ["430321", "430302", "430304", "430381", "430382"]  # 湘潭市各县区
SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅玉兰德胜春花志强海燕"


def make_id(rng: random.Random, year: int) -> str:
    body = (rng.choice(AREAS) + f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            + f"{rng.randint(0, 999):03d}")  # fmt: skip
    total = sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def make_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


RULES = {(r[2], r[3], r[1], r[9][:4]): r for r in rule_rows()}


def amounts(identity: str, hukou: str, tier: str, year: int) -> list:
    start = "2017" if year < 2020 else "2020"
    r = RULES[(identity, hukou, tier, start)]
    return [r[4], r[5], r[6], r[7], r[8], num(sum(r[4:9]))]


def _sheet_head(ws, title: str, columns: list[str]) -> None:
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws.append(["申报单位*", None, "某某镇人民政府", None, None, "经办人*", "刘敏"])
    ws.append(["申报日期*", None, "2026-11-20", None, None, "联系电话", "0731-5xxxxxxx"])
    ws.append([])
    ws.append([c + ("*" if c in REQUIRED else "") for c in columns])


REQUIRED = {"姓名", "身份证号码", "户口性质", "缴费身份", "缴费年度", "缴费档次", "人员类别",
            "调整年度", "调整后缴费身份", "调整后缴费档次", "调整原因"}  # fmt: skip
DECL_COLUMNS = ["序号", "姓名", "身份证号码", "户口性质", "缴费身份", "缴费年度", "缴费档次",
                "个人缴费", "省级补贴", "市级补贴", "县级补贴", "政府代缴", "合计", "备注"]  # fmt: skip
IDENTITIES = ["贫困人口一级", "贫困人口二级", "贫困人口三级", "低保对象一级", "低保对象二级",
              "低保对象三级", "特困人员"]  # fmt: skip


def declaration_rows(rng: random.Random) -> list[list]:
    rows = []
    for _ in range(36):
        identity = rng.choice(IDENTITIES)
        hukou = rng.choice(HUKOU) if rng.random() < 0.3 else "农业户籍"
        tier = rng.choice(["一档", "二档"])
        year = rng.choice([2025, 2026])
        born = rng.randint(1968, 2005)
        amts = amounts(identity, hukou, tier, year) if rng.random() < 0.6 else [None] * 6
        rows.append([make_name(rng), make_id(rng, born), hukou, identity, year, tier, *amts, None])
    # The mistakes clerks make, one or two of each:
    rows[1][1] = int(rows[1][1][:15] + "000")  # C02: Excel kept 15 digits of a number
    rows[2][1] = rows[2][1][:17] + "x"  # X03 (then C04 unless the check char is X)
    rows[3][1] = rows[3][1].translate(str.maketrans("0123456789", "０１２３４５６７８９"))  # X02
    rows[4][0] = " " + rows[4][0] + "\u3000"  # X01
    rows[5][5] = "1档"  # X05
    rows[6][2] = "农村户籍"  # X05
    rows[7][4] = "2025年"  # X07
    rows[8][6] = 80  # P04: 个人缴费 differs from the rule
    rows[9] = list(rows[10])  # P05: duplicate of the next row
    rows[11][1] = make_id(rng, 2012)  # P01: under 16
    rows[12][1] = make_id(rng, 1960)  # P02: 60 or over
    rows[13][1] = rows[13][1][:-1] + ("0" if rows[13][1][-1] != "0" else "1")  # C04
    rows[14][5] = "三档"  # P03: no 代缴 rule on 三档
    rows[14][6:12] = [None] * 6
    rows[15][3] = "低保对象一级"  # P06: same person and year with two 代缴 identities
    rows[16] = list(rows[15])
    rows[16][3] = "贫困人口一级"
    rows[16][6:12] = amounts("贫困人口一级", rows[16][2], rows[16][5], rows[16][4])
    rows[15][6:12] = amounts("低保对象一级", rows[15][2], rows[15][5], rows[15][4])
    rows[17][0] = "王五5"  # C10
    rows[18][3] = ""  # C01
    rows[19][1] = "43032119800101123"  # C03: 17 digits
    body = rows[20][1]
    rows[20][1] = body[:6] + body[8:17]  # X04: a 15-digit first-generation ID
    rows[21][3] = "051"  # X05: system code for 贫困人口一级
    rows[21][6:12] = [None] * 6
    rows[22][6] = "八十"  # C08
    return rows


def write_declaration(rng: random.Random) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "批量缴费申报表"
    _sheet_head(ws, "批量缴费申报表", DECL_COLUMNS)
    for i, row in enumerate(declaration_rows(rng), start=1):
        ws.append([i, *row])
        ws.cell(ws.max_row, 3).number_format = "@" if isinstance(row[1], str) else "0"
    ws.append([])
    ws.freeze_panes = "A6"
    for col, width in zip("ABCDEFGHIJKLMN", [6, 10, 21, 11, 14, 10, 10, 9, 9, 9, 9, 9, 9, 14],
                          strict=True):
        ws.column_dimensions[col].width = width
    wb.create_sheet("填写说明").append(["请按 xlflow template declaration 生成的模板说明填写。"])
    wb.save(HERE / "批量缴费申报表.xlsx")


ADJ_COLUMNS = ["序号", "姓名", "身份证号码", "人员类别", "调整年度", "户口性质", "调整后缴费身份",
               "调整后缴费档次", "个人缴费调整", "省级补贴调整", "市级补贴调整", "县级补贴调整",
               "政府代缴调整", "调整原因", "备注"]  # fmt: skip


def write_adjustment(rng: random.Random) -> list[tuple]:
    """People paid as 普通参保人员 and identified later (the notice's 情况二). Most rows leave the amounts
    empty (computed from the ledger); a few show what clerks type, right and wrong. Returns, per row,
    (ID, name, 人员类别, year, identity, what was paid or None) for the ledger exports."""
    wb = Workbook()
    ws = wb.active
    ws.title = "批量缴费调整登记表"
    _sheet_head(ws, "批量缴费调整登记表", ADJ_COLUMNS)
    reasons = ["已按普通人员缴费，补做政府代缴", "身份认定晚于缴费，补做代缴"]
    people = []
    for i in range(1, 21):
        identity = rng.choice(IDENTITIES)
        recipient = i % 7 == 0
        born = rng.randint(1940, 1960) if recipient else rng.randint(1970, 2000)
        year = rng.choice([2024, 2025])
        normal = amounts("普通参保人员", "农业户籍", "一档", year)[:5]
        paid = None if recipient else list(normal)
        typed = [None] * 5  # computed: new rule − paid
        if i in (3, 9):  # what the batch can carry, typed by hand: personal 0, 代缴 the difference (A09)
            new = amounts(identity, "农业户籍", "一档", year)[:5]
            typed = [0, 0, 0, 0, num(new[4])]
        elif i == 5:  # a negative personal adjustment typed into the batch (A03)
            new = amounts(identity, "农业户籍", "一档", year)[:5]
            typed = [num(new[0] - normal[0]), 0, 0, 0, num(new[4])]
        elif i == 11:  # a 代缴 typed lower than the rule (A07)
            typed = [0, 0, 0, 0, 40]
        elif i == 13:  # paid with last year's subsidy: only the subsidy changes (A06)
            identity = "普通参保人员"
            paid = [normal[0], num(normal[1] - 2), *normal[2:]]
        name = make_name(rng)
        pid = make_id(rng, born)
        ws.append([i, name, pid, "待遇人员" if recipient else "缴费人员", year, "农业户籍", identity, "一档",
                   *typed, "补发财政补贴" if i == 13 else rng.choice(reasons), None])  # fmt: skip
        people.append((pid, name, "待遇人员" if recipient else "缴费人员", year, identity, paid))
    ws.cell(8, 4).value = "正常缴费"  # X05
    ws.cell(9, 8).value = "1档"  # X05
    ws.freeze_panes = "A6"
    wb.create_sheet("填写说明").append(["请按 xlflow template adjustment 生成的模板说明填写。"])
    wb.save(HERE / "批量缴费调整登记表.xlsx")
    return people


ROSTER_COLUMNS = ["公民身份号码", "姓名", "户籍性质", "人员状态", "特殊参保群体", "脱贫年度", "行政区划"]
PAYMENT_COLUMNS = ["证件号码", "姓名", "费款所属期", "缴费身份", "缴费档次", "户籍", "个人缴费金额", "省补", "市补",
                   "县补", "政府代缴", "缴费方式", "到账时间"]  # fmt: skip
CODES = {name: code for code, names in IDENTITY_CODES.items() for name in names}


def write_ledger_exports(rows: list[list], adjusted: list[tuple]) -> None:
    """What the county's system exports, as messy as it comes: the roster as a GBK .csv with a title line,
    the payments as a legacy .xls with a title row and the system's header names. Built from the example
    declaration so that validating it against the ledger shows P07–P12, and from the adjustment so that
    its people paid as 普通参保人员 (its recipients have no payment: 零缴费 first)."""
    import csv

    import xlwt

    people = [r for r in rows[23:] if isinstance(r[1], str) and len(r[1]) == 18]
    earlier = [r for r in rows[:23] if isinstance(r[1], str) and len(r[1]) == 18 and r[1][-1] != "x"]
    roster = [[pid, name.strip(), "农业", "正常缴费", CODES.get(identity, identity), "", "43030202"]
              for name, pid, hukou, identity, *_ in earlier]
    for i, (name, pid, hukou, identity, year, *_rest) in enumerate(people):
        status, flag, exit_year = "正常缴费", CODES.get(identity, identity), ""
        if i == 1:
            status = "终止参保"  # P12
        elif i == 3:
            name = name[0] + "小" + name[1:]  # P09: the name differs from the roster
        elif i == 4:
            flag = "011"  # P10: the flag was never set in the system
        if identity.startswith("贫困") and i in (5, 6, 7, 8):
            exit_year = str(int(str(year)[:4]) - 1)  # P07: marked 脱贫 the year before
        if i == 2:
            continue  # P11: not registered
        roster.append([pid, name, "农业" if hukou == "农业户籍" else "城镇", status, flag, exit_year, "43030201"])
    for pid, name, person_class, _year, identity, _paid in adjusted:
        status = "正常待遇" if person_class == "待遇人员" else "正常缴费"
        roster.append([pid, name, "农业", status, CODES.get(identity, identity), "", "43030203"])
    with open(HERE / "参保人员信息.csv", "w", encoding="gb18030", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["城乡居民养老保险参保人员信息（导出日期 2026-11-25）"])
        out.writerow(ROSTER_COLUMNS)
        out.writerows(roster)
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("缴费明细")
    ws.write(0, 0, "城乡居民养老保险缴费明细（导出日期 2026-11-25）")
    for c, head in enumerate(PAYMENT_COLUMNS):
        ws.write(1, c, head)
    payments = []
    for name, pid, hukou, _identity, _year, tier, *_ in people:
        paid = amounts("普通参保人员", hukou, tier, 2024)[:5]
        payments.append([pid, name, "202401", "普通参保人员", tier, hukou, *paid, "银行代收", "2024-06-30"])
    first = people[0]  # P08: the declared year is already paid
    paid = amounts("普通参保人员", first[2], first[5], int(str(first[4])[:4]))[:5]
    payments.append([first[1], first[0], f"{first[4]}01", "普通参保人员", first[5], first[2], *paid,
                     "银行代收", "2025-07-01"])
    for pid, name, _class, year, _identity, paid in adjusted:
        if paid is not None:
            payments.append([pid, name, f"{year}01", "普通参保人员", "一档", "农业户籍", *paid, "银行代收",
                             f"{year}-06-30"])
    for r, row in enumerate(payments, start=2):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    book.save(str(HERE / "缴费明细.xls"))


def write_office_list(adjusted: list[tuple]) -> None:
    """A 民政 list of 低保对象 as offices send it: their own header names, a level column, an ID with
    spaces, a 15-digit ID, a person listed twice and one not insured: input for `xlflow compare`."""
    rows = [["序号", "户主姓名", "公民身份号码", "保障类别", "等级"]]
    for i, (pid, name, _class, _year, identity, _paid) in enumerate(adjusted[:12], start=1):
        level = identity[-2:] if identity.endswith("级") else "一级"
        shown = f" {pid[:6]} {pid[6:]}" if i == 2 else (pid[:6] + pid[8:17] if i == 3 and pid.startswith("4") else pid)
        rows.append([i, name, shown, "农村低保", level])
    rows.append([13, adjusted[0][1], adjusted[0][0], "农村低保", "一级"])  # listed twice
    rows.append([14, "欧阳未保", "430321199001011238", "农村低保", "二级"])  # not insured
    wb = Workbook()
    ws = wb.active
    ws.title = "低保名单"
    ws.append(["某县 2025 年农村低保对象名单（民政局）"])
    for row in rows:
        ws.append(row)
    wb.save(HERE / "低保对象名单.xlsx")


def main() -> None:
    rng = random.Random(2017_38)
    write_rules()
    rows = declaration_rows(random.Random(2017_38))
    write_declaration(rng)
    adjusted = write_adjustment(rng)
    write_ledger_exports(rows, adjusted)
    write_office_list(adjusted)


if __name__ == "__main__":
    main()
