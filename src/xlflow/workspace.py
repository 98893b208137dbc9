"""`xlflow init`: a folder a clerk can use — settings, rule table, inbox/results/archive/failed."""

from __future__ import annotations

import shutil
from pathlib import Path

from xlflow.errors import XlflowError
from xlflow.paths import example_rules
from xlflow.settings import SETTINGS_FILE, Settings

README_TEXT = """xlflow 工作目录使用说明
========================

1. 把填好的《批量缴费申报表》《批量缴费调整登记表》（.xlsx/.xls/.ods/.csv）放进“{inbox}”文件夹。
2. 信息员运行 `xlflow watch {root}`（或 `xlflow validate 文件名`）后，程序逐个检查文件。
3. 检查结果放在“{results}”文件夹，每个文件得到三个结果：
   - 文件名_更正.xlsx：没有错误的行，已自动更正格式并补全金额，可直接导入系统；
     被改动的单元格标了颜色，“修改记录”页列出了每一处改动。
   - 文件名_错误数据.xlsx：有错误的行，“反馈信息”列写明了错在哪里、怎么改；
     改好后重新放进“{inbox}”即可再次检查。
   - 文件名_汇总.xlsx：条数统计、问题分类、按身份和档次的金额汇总（财政补贴测算）和待办清单。
4. 处理完的原文件移到“{archive}”；实在无法读取的文件移到“{failed}”，请另存为 .xlsx 后重新放入。
5. 征缴规则表是“{rules}”。规则有变化时先修改它，运行 `xlflow rules check {rules}` 检查无误，
   再用 `xlflow template declaration -o 新模板.xlsx --rules {rules}` 重新生成模板发给各乡镇。
6. 台账（{ledger}）记录系统导出的参保人员信息、缴费明细和各部门名单，检查申报表时用来发现已缴费、
   已脱贫、未设身份标识、未参保登记、终止参保和跨批次重复申报。在本文件夹中运行：
   `xlflow ledger import roster 参保人员信息.xls`、`xlflow ledger import payments 缴费明细.xls`、
   `xlflow ledger import list 低保名单.xlsx --kind 低保对象`；`xlflow ledger status` 查看台账内容，
   `xlflow ledger batches` 查看申报批次。
7. 设置在 {settings} 中（年龄界限、文件夹名称等），修改前请先备份。
"""


def settings_text(s: Settings) -> str:
    order = ", ".join(f'"{g}"' for g in s.group_order)
    return f"""# xlflow 设置。修改后保存即可生效。
min_age = {s.min_age}        # 不满此年龄（缴费年度 − 出生年份）不能参保缴费 (P01)
max_age = {s.max_age}        # 缴费人员在缴费年度达到此年龄即报错 (P02)
first_year = {s.first_year}   # 最早的缴费年度
max_rows = {s.max_rows}   # 一个文件最多的数据行数 (F06)
max_file_mb = {s.max_file_mb}    # 文件大小上限（MB）
group_order = [{order}]   # 身份重叠且代缴金额相同时的优先顺序
rules = "{s.rules}"
inbox = "{s.inbox}"
results = "{s.results}"
archive = "{s.archive}"
failed = "{s.failed}"
ledger = "{s.ledger}"
"""


def init_workspace(root: Path) -> list[Path]:
    """Create the workspace; refuses to overwrite an existing settings file. Returns what it made."""
    root = Path(root)
    settings = Settings()
    if (root / SETTINGS_FILE).exists():
        raise XlflowError(f"{root} 已经是 xlflow 工作目录（已有 {SETTINGS_FILE}），未做任何改动。")
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for name in (settings.inbox, settings.results, settings.archive, settings.failed):
        (root / name).mkdir(exist_ok=True)
        made.append(root / name)
    (root / SETTINGS_FILE).write_text(settings_text(settings), encoding="utf-8")
    rules = root / settings.rules
    if not rules.exists():
        shutil.copyfile(example_rules(), rules)
    readme = root / "使用说明.txt"
    readme.write_text(
        README_TEXT.format(root=root, settings=SETTINGS_FILE, **settings.__dict__), encoding="utf-8"
    )
    return [root / SETTINGS_FILE, rules, readme, *made]
