"""The 管理台账 that remembers: each comparison kept in the ledger, the next one of the year says what changed
(上次事项 / 本次事项 / 状态 / 首次列入日期, the 变化 sheet), 落实情况 per township, `xlflow ledger status`."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import write_workbook
from test_compare import LIST_HEAD, YEAR, p, payment_rows, roster_rows
from test_compare import ledger as ledger  # noqa: F401
from test_ledger import paid, payments_xls, roster_csv
from xlflow.app.comparing import run_comparison
from xlflow.app.imports import import_file
from xlflow.cli import main
from xlflow.store.history import held as history_held
from xlflow.store.ledger import Ledger

FIRST = dt.datetime(2026, 3, 1, 9, 0)
SECOND = dt.datetime(2026, 6, 1, 9, 0)


def sheet_rows(path, name):
    wb = load_workbook(path, read_only=True)
    rows = list(wb[name].iter_rows(values_only=True))
    wb.close()
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


def test_each_transition_between_two_comparisons(tmp_path, book, ledger):  # noqa: F811
    with Ledger(ledger) as store:
        first = run_comparison(store, book, YEAR, tmp_path / "one", when=FIRST)
        assert set(first.comparison.people["状态"]) == {"新增"}
        assert "变化" not in load_workbook(first.outputs["ledger"][0], read_only=True).sheetnames
        # What the county did meanwhile: 102 registered with the flag, 103's flag set, 101 paid with 代缴,
        # 110 paid as 普通 (the flag came too late), 104's adjustment paid; 105 marked 脱贫 in 2024;
        # 106 off the list; 113 newly listed.
        roster = roster_rows()
        roster[1] = [p("103"), "张丙", "农业", "正常缴费", "061", "", "43030201"]
        roster.append([p("102"), "张乙", "农业", "正常缴费", "061", "", "43030201"])
        roster.append([p("113"), "张寅", "农业", "正常缴费", "061", "", "43030201"])
        import_file(store, roster_csv(tmp_path / "r2.csv", roster), "roster")
        with_daijiao = lambda seq, name: [p(seq), name, f"{YEAR}02", "低保对象一级", "一档", "农业户籍",  # noqa: E731
                                          0, 12, 9.9, 8.1, 100]
        adjusted_104 = [p("104"), "张丁", f"{YEAR}03", "贫困人口一级", "一档", "农业户籍", 0, 0, 0, 0, 100]
        rows = [[p("104"), *paid("104", YEAR)[1:]], payment_rows()[1], with_daijiao("101", "张甲"),
                [p("110"), *paid("110", YEAR, name="张癸")[1:]], adjusted_104]
        import_file(store, payments_xls(tmp_path / "p2.xls", rows), "payments")
        poor = write_workbook(tmp_path / "贫困2.xlsx", [LIST_HEAD, [p("105"), "张戊", "一级", 2024]])
        import_file(store, poor, "list", "贫困人口")
        dibao = write_workbook(tmp_path / "低保2.xlsx", [LIST_HEAD, [p("113"), "张寅", "一级", None]])
        import_file(store, dibao, "list", "低保对象")
        # The 扶贫 office's whole newer list: 106 is no longer on it.
        poor_rows = [r for r in load_workbook(tmp_path / "贫困人口名单.xlsx").active.iter_rows(values_only=True)]
        whole = [list(r) for r in poor_rows[1:] if r[0] != p("106")]
        whole = [[p("105"), "张戊", "一级", 2024] if r[0] == p("105") else r for r in whole]
        whole_file = write_workbook(tmp_path / "贫困人口名单_全.xlsx", [LIST_HEAD, *whole])
        out = CliRunner().invoke(main, ["ledger", "import", "list", str(whole_file), "--kind", "贫困人口", "--replace",
                                        "--ledger", str(ledger)])
        assert out.exit_code == 0 and "移出名单（不在本文件中） 1 人" in out.output, out.output
        second = run_comparison(store, book, YEAR, tmp_path / "two", when=SECOND)
    people = {r["身份证号码"]: r for r in second.comparison.people.to_dict("records")}
    state = {k[-4:-1]: (v["上次事项"], v["需办理事项"], v["状态"]) for k, v in people.items()}
    assert state["102"] == ("参保登记", "政府代缴申报", "已落实")
    assert state["103"] == ("身份标识变更", "政府代缴申报", "已落实")
    assert state["101"] == ("政府代缴申报", "无需操作", "已落实")
    assert state["104"] == ("缴费调整", "无需操作", "已落实")
    assert state["110"] == ("政府代缴申报", "缴费调整", "未落实")
    assert state["105"] == ("零缴费后调整", "不符合条件", "不符合条件")
    assert state["111"] == ("政府代缴申报", "政府代缴申报", "未落实")
    assert state["113"][0] == "" and state["113"][2] == "新增"
    assert people[p("111")]["首次列入日期"] == "2026-03-01" and people[p("113")]["首次列入日期"] == "2026-06-01"
    changes = {r["身份证号码"]: r for r in sheet_rows(second.outputs["ledger"][0], "变化")}
    assert "身份标识设置晚了" in changes[p("110")]["变化"] and "缴费调整" in changes[p("110")]["变化"]
    assert changes[p("106")]["状态"] == "移出" and "已不在任何名单中" in changes[p("106")]["变化"]
    assert changes[p("101")]["变化"].startswith("已缴费") and changes[p("102")]["变化"].startswith("已参保登记")
    assert changes[p("111")]["变化"] == "仍需政府代缴申报（自 2026-03-01 起未落实，已 92 天）"
    assert changes[p("105")]["状态"] == "不符合条件" and "已于 2024 年标注脱贫" in changes[p("105")]["变化"]
    heads = sheet_rows(second.outputs["ledger"][0], "管理台账")[0].keys()
    assert {"上次事项", "状态", "首次列入日期"} <= set(heads)
    progress = sheet_rows(second.outputs["statistics"][0], "落实情况")
    town = next(r for r in progress if r["乡镇"] == "43030201")
    assert town["名单人数"] >= town["已参保"] >= town["已设置身份标识"] >= town["已代缴"]
    assert 0 <= town["已代缴率"] <= 1
    out = CliRunner().invoke(main, ["ledger", "status", "--ledger", str(ledger)])
    assert out.exit_code == 0 and f"数据比对 2：{YEAR} 年度，2026-06-01 09:00:00" in out.output
    # A third comparison: the step still open is counted from when it was first asked, not from the last time.
    with Ledger(ledger) as store:
        third = run_comparison(store, book, YEAR, tmp_path / "three", when=dt.datetime(2026, 9, 1, 9, 0))
    changes = {r["身份证号码"]: r for r in sheet_rows(third.outputs["ledger"][0], "变化")}
    assert changes[p("111")]["变化"] == "仍需政府代缴申报（自 2026-03-01 起未落实，已 184 天）"
    assert changes[p("110")]["变化"].startswith("仍需缴费调整（自 2026-06-01 起未落实")
    # The ledger keeps the people of the newest comparison of the year only; all three stay listed.
    with Ledger(ledger) as store:
        kept = store.db.execute("SELECT comparison_id, COUNT(*) FROM comparison_people GROUP BY 1").fetchall()
        assert kept == [(3, len(third.comparison.people))]
        assert [c["persons"] for c in history_held(store)][-1] == len(third.comparison.people)
    out = CliRunner().invoke(main, ["ledger", "status", "--ledger", str(ledger)])
    assert "数据比对 1：" in out.output and "数据比对 3：" in out.output


def test_a_ledger_that_cannot_keep_the_comparison_still_gets_its_workbooks(tmp_path, book, ledger, monkeypatch):  # noqa: F811
    from xlflow.store import history
    from xlflow.store.ledger_guard import LedgerError

    def refuse(*args, **kwargs):
        raise LedgerError("台账文件是只读的，无法写入。")

    monkeypatch.setattr(history, "record", refuse)
    out = CliRunner().invoke(main, ["compare", "--year", str(YEAR), "--ledger", str(ledger), "--out",
                                    str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    assert "本次比对结果没有记入台账" in out.output and "只读" in out.output
    assert (tmp_path / "out" / f"比对台账_{YEAR}.xlsx").exists()
    with Ledger(ledger) as store:
        assert history.held(store) == []
