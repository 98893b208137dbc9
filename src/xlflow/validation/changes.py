"""What changed since the last comparison of the same year (管理台账 that remembers, notice 三(一)).

Per listed person: 上次事项 / 本次事项 / 状态 (已落实 the step asked last time is done, 未落实 still to do,
新增 newly listed, 移出 off every list — those only in 变化) and 首次列入日期 (the first comparison that listed
them). The notice's trap is named: a person asked to set the flag or declare last time whose year was then
paid as 普通参保人员 (the flag came too late) now needs an adjustment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlflow.io.frames import shared
from xlflow.validation.compare import (
    ADJUST,
    DECLARE,
    FLAG,
    NOT_ELIGIBLE,
    NOTHING,
    REGISTER,
    ZERO_THEN_ADJUST,
    Comparison,
)

DONE, OPEN, NEW, GONE, NOT_NOW = "已落实", "未落实", "新增", "移出", "不符合条件"
CHANGE_HEADS = ("姓名", "身份证号码", "乡镇", "上次事项", "本次事项", "状态", "变化", "首次列入日期")
_DONE_WORDS = {REGISTER: "已参保登记", FLAG: "已设置身份标识", DECLARE: "已缴费（政府代缴）", ADJUST: "已做缴费调整"}
LATE = "已按普通参保人员缴费（身份标识设置晚了），需做缴费调整补做政府代缴"


def mark_changes(comparison: Comparison, last: dict | None, before: pd.DataFrame, now: str) -> pd.DataFrame:
    """Add 上次事项 / 状态 / 首次列入日期 to the comparison's people and return the 变化 rows (everyone but those
    with nothing to do both times, and the people gone off every list)."""
    people = comparison.people
    ids = pd.Index(people["身份证号码"])
    action = people["需办理事项"].to_numpy(dtype=object)
    prev = before["action"].reindex(ids).to_numpy(dtype=object)
    first = before["first_listed"].reindex(ids)
    seen = pd.notna(prev)
    first_listed = np.where(seen, first.fillna(last["made_at"] if last else now).to_numpy(dtype=object), now)
    # How far along the notice's order a person is: registered, flagged, paid (declared or adjusted), done.
    rank = {REGISTER: 0, FLAG: 1, DECLARE: 2, ADJUST: 2, ZERO_THEN_ADJUST: 2, NOTHING: 3}
    step_now = np.array([rank.get(a, -1) for a in action])
    step_before = np.array([rank.get(a, -1) if isinstance(a, str) else -1 for a in prev])
    status = np.select([~seen, action == NOTHING, action == NOT_ELIGIBLE, step_now > step_before],
                       [NEW, DONE, NOT_NOW, DONE], OPEN).astype(object)
    if last is None:  # the first comparison of the year: everyone is new, nothing to compare with
        status = np.full(len(people), NEW, dtype=object)
    late = seen & np.isin(prev, [FLAG, DECLARE, REGISTER]) & (action == ADJUST)
    # Since when the step asked now has been asked: carried while it stays the same, else from now.
    since = before["open_since"].reindex(ids).fillna(first) if "open_since" in before else first
    open_since = np.where(seen & (action == prev), since.fillna(now).to_numpy(dtype=object), now)
    today = pd.Timestamp(now[:10])
    days_since = {d: (today - pd.Timestamp(d)).days for d in {str(a)[:10] for a in open_since.tolist()}}
    what: list[str] = []
    still: dict[tuple[str, str], str] = {}
    reasons = people["原因"].astype(str).tolist()
    for a, p, s, is_late, why, asked in zip(action.tolist(), prev.tolist(), status.tolist(), late.tolist(), reasons,
                                            open_since.tolist(), strict=True):
        if s == NEW:
            what.append("新列入名单" if last is not None else "")
        elif is_late:
            what.append(LATE)
        elif a == p:  # one text per (step, day): most of a county's people, each its own str, were 40 MB
            day = str(asked)[:10]
            key = (a, day)
            if key not in still:
                still[key] = f"仍需{a}（自 {day} 起未落实，已 {days_since[day]} 天）"
            what.append(still[key])
        elif a == NOT_ELIGIBLE:
            what.append(f"上次为{p}，本次不符合条件：{why.split('；')[0]}")
        elif s == DONE:
            what.append(_DONE_WORDS.get(p, f"上次事项{p}已办") + (f"，接下来：{a}" if a != NOTHING else ""))
        else:
            what.append(f"事项由{p}改为{a}")
    people.insert(people.columns.get_loc("需办理事项"), "上次事项", pd.Series(prev, dtype=object).fillna("").to_numpy())
    people.insert(people.columns.get_loc("需办理事项") + 1, "状态", status)
    people["首次列入日期"] = shared(pd.Series(first_listed, dtype=object).astype(str).str[:10])
    people["_change"] = shared(what)
    people["_first_listed"] = first_listed
    people["_open_since"] = open_since
    # Everyone but those with nothing to do both times (done, or not eligible, then and now).
    settled = (people["上次事项"] == people["需办理事项"]) & people["需办理事项"].isin([NOTHING, NOT_ELIGIBLE])
    changed = people[~settled]
    if last is None:
        changed = changed.iloc[0:0]
    rows = pd.DataFrame({"姓名": changed["姓名"], "身份证号码": changed["身份证号码"], "乡镇": changed["乡镇"],
                         "上次事项": changed["上次事项"], "本次事项": changed["需办理事项"], "状态": changed["状态"],
                         "变化": changed["_change"], "首次列入日期": changed["首次列入日期"]})
    gone = before.index.difference(ids) if last is not None else pd.Index([])
    if len(gone):
        out = before.loc[gone]
        rows = pd.concat([rows, pd.DataFrame({
            "姓名": "", "身份证号码": gone.to_numpy(), "乡镇": "", "上次事项": out["action"].to_numpy(), "本次事项": "",
            "状态": GONE, "变化": "已不在任何名单中（上次在：" + out["lists"].fillna("").to_numpy(dtype=object) + "）",
            "首次列入日期": out["first_listed"].fillna("").astype(str).str[:10].to_numpy()})], ignore_index=True)
    return rows.reset_index(drop=True)[list(CHANGE_HEADS)]
