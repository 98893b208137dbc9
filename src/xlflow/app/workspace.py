"""`xlflow init`: a folder a clerk can use — settings, rule table, inbox/results/archive/failed."""

from __future__ import annotations

import shutil
from pathlib import Path

from xlflow.domain.kinds import REGISTRY
from xlflow.errors import XlflowError
from xlflow.io.settings import SETTINGS_FILE, Settings
from xlflow.paths import example_rules

# Sub-folders of the inbox for the ledger's inputs (system exports and office lists), read by xlflow watch:
# by folder, never by guessing from headers, so that a declaration missing a column is never imported
# as a payments export.
IMPORT_FOLDERS = {k.folder: k.name for k in REGISTRY.values() if k.folder}

README_TEXT = """xlflow 工作目录使用说明
========================

1. 把填好的《批量缴费申报表》《批量缴费调整登记表》（.xlsx/.xls/.ods/.csv）放进“{inbox}”文件夹。
   复制完成后程序才会读取；Excel/WPS 打开时产生的 ~$ 临时文件、隐藏文件会被忽略。同名文件可以再次放入，
   每次的结果都单独保存，不会覆盖以前的结果。
2. 信息员在这台电脑上运行一个 `xlflow watch {root}`（共享文件夹收不到文件事件时加 --poll 10；
   用计划任务定时运行时加 --once）。同一工作目录只能运行一个；按 Ctrl-C 会在处理完当前文件后停止。
   程序被强行关闭或断电后重新运行即可：没处理完的文件会重新处理，不会丢失，也不会重复出结果。
3. 每个文件的结果放在“{results}”中一个单独的文件夹（文件名_时间），里面有“结果.txt”（一句话结论和主要问题），
   申报表和调整表另有三个结果：
   - 文件名_更正.xlsx：没有错误的行，已自动更正格式并补全金额，可直接导入系统；
     被改动的单元格标了颜色，“修改记录”页列出了每一处改动。
   - 文件名_错误数据.xlsx：有错误的行，“反馈信息”列写明了错在哪里、怎么改；
     改好后重新放进“{inbox}”即可再次检查。
   - 文件名_汇总.xlsx：条数统计、问题分类、按身份和档次的金额汇总（财政补贴测算）和待办清单。
   调整表的汇总表还有“个人缴费负调整”“零缴费”“0到款登记”三张待办清单。
4. 处理完的原文件移到“{archive}”；无法处理的文件（损坏、不是申报表、缺少必填列等）移到“{failed}”，
   旁边的“文件名_原因.txt”写明原因和怎么改，改好后重新放进“{inbox}”。
   每个文件的处理情况记在 xlflow.log 中（身份证号码只显示前 6 位和后 4 位）。
5. 征缴规则表是“{rules}”。规则有变化时，把新的规则表（.xlsx）放进“{inbox}”：检查无误的会自动启用，
   原来的规则表另存为“征缴规则表_停用_时间.xlsx”；有错误的不会启用，错误写在结果中。也可以运行
   `xlflow rules check {rules}` 检查。启用新规则表后用
   `xlflow template declaration -o 新模板.xlsx --rules {rules}` 重新生成模板发给各乡镇。
6. 台账（{ledger}）记录系统导出的参保人员信息、缴费明细和各部门名单，检查申报表时用来发现已缴费、
   已脱贫、未设身份标识、未参保登记、终止参保和跨批次重复申报。在本文件夹中运行：
   `xlflow ledger import roster 参保人员信息.xls`、`xlflow ledger import payments 缴费明细.xls`、
   `xlflow ledger import list 低保名单.xlsx --kind 低保对象`；`xlflow ledger status` 查看台账内容，
   `xlflow ledger batches` 查看申报批次。运行 xlflow watch 时，也可以把系统导出的文件放进“{inbox}”中的
   子文件夹：“参保人员信息”“缴费明细”，部门名单放进“名单”（文件名中写明 贫困人口/低保对象/特困人员/残疾人，
   或放进“名单”下以类别命名的子文件夹，例如 名单/低保对象/）。
7. 数据比对：把民政、扶贫、残联的名单导入台账（见第 6 条）后，运行
   `xlflow compare --year 2025`：得到“比对台账_2025.xlsx”（每人一行，写明需办理事项和原因）、
   “比对统计_2025.xlsx”（按乡镇、按名单的人数和财政补贴测算）以及预填好的申报表和调整表。
8. 设置在 {settings} 中（年龄界限、文件夹名称等），修改前请先备份。
"""


def settings_text(s: Settings) -> str:
    order = ", ".join(f'"{g}"' for g in s.group_order)
    return f"""# xlflow 设置。修改后保存即可生效。
min_age = {s.min_age}        # 不满此年龄（缴费年度 − 出生年份）不能参保缴费 (P01)
max_age = {s.max_age}        # 缴费人员在缴费年度达到此年龄即报错 (P02)
first_year = {s.first_year}   # 最早的缴费年度
max_rows = {s.max_rows}   # 一个文件最多的数据行数 (F06)
max_file_mb = {s.max_file_mb}    # 文件大小上限（MB）
max_sheets = {s.max_sheets}    # 一个工作簿最多逐张检查的工作表数（每张一个乡镇或村），更多的只列出 (F10)
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
    for name in IMPORT_FOLDERS:  # the ledger's inputs, for xlflow watch
        (root / settings.inbox / name).mkdir(exist_ok=True)
    (root / SETTINGS_FILE).write_text(settings_text(settings), encoding="utf-8")
    rules = root / settings.rules
    if not rules.exists():
        shutil.copyfile(example_rules(), rules)
    readme = root / "使用说明.txt"
    readme.write_text(
        README_TEXT.format(root=root, settings=SETTINGS_FILE, **settings.__dict__), encoding="utf-8"
    )
    return [root / SETTINGS_FILE, rules, readme, *made]
