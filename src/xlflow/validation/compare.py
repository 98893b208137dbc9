"""数据比对: the office lists (扶贫 / 民政 / 残联) against the roster and payments, for one year.

One row per person on any list, with what to do first (需办理事项) and why (原因), following the notice:
register first, then set the identity flag (before any payment), then declare an unpaid year or adjust a
paid one (a recipient's unpaid year through a 零缴费 record first). Overlapping identities are resolved to
one 代缴 by SPEC 3.2: the larger 代缴 amount, ties by the settings' order. Everything is computed on
frames for the whole list at once (a county's list is 100,000 people); the writers are in
``outputs/comparison.py``, the run that imports, compares and writes in ``app/comparing.py``.
"""

from __future__ import annotations

import itertools
import operator
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.idcard import birth_years
from xlflow.domain.kinds import AMOUNT_KEYS
from xlflow.domain.rulebook import RuleBook
from xlflow.errors import XlflowError
from xlflow.io.frames import shared
from xlflow.io.settings import Settings
from xlflow.store.ledger import Ledger

# The actions, in the order they must be done (a flag before a declaration: SPEC 3.6).
REGISTER = "参保登记"
FLAG = "身份标识变更"
DECLARE = "政府代缴申报"
ADJUST = "缴费调整"
ZERO_THEN_ADJUST = "零缴费后调整"
NOTHING = "无需操作"
NOT_ELIGIBLE = "不符合条件"
ACTIONS = (REGISTER, FLAG, DECLARE, ADJUST, ZERO_THEN_ADJUST, NOTHING, NOT_ELIGIBLE)
DEFAULT_HUKOU = "农业户籍"
# A level as offices write it: 一级, 三级, 3, 3级, 一类, C类, A (残联: 一级 … 四级).
_LEVEL = re.compile(r"([一二三四1234]|(?<![A-Za-z])[ABCDabcd](?![A-Za-z]))\s*[级类档等]?")
_LEVEL_WORDS = {"1": "一", "2": "二", "3": "三", "4": "四", "A": "一", "B": "二", "C": "三", "D": "四"}
_NAME_LEVEL = re.compile(r"([一二三四])级$")


@dataclass
class Comparison:
    year: int
    people: pd.DataFrame  # one row per person: the ledger's columns (Chinese headers) + keys for the writers
    unmatched: pd.DataFrame = field(default_factory=pd.DataFrame)  # list rows that could not be used, with why
    money: pd.DataFrame = field(default_factory=pd.DataFrame)  # per person: cents per item to pay / paid
    changes: pd.DataFrame | None = None  # since the last comparison of the year held (validation/changes.py)
    last: dict | None = None  # that comparison: id, year, made_at, sources, persons

    def counts(self) -> dict[str, int]:
        found = self.people["需办理事项"].value_counts()
        return {a: int(found.get(a, 0)) for a in ACTIONS if found.get(a, 0)}

    def summary_line(self) -> str:
        parts = "，".join(f"{a} {n:,} 人" for a, n in self.counts().items())
        line = f"{self.year} 年度比对：名单上共 {len(self.people):,} 人；{parts}"
        if len(self.unmatched):
            line += f"；未能比对的名单行 {len(self.unmatched):,} 行"
        return line


def list_identity(kind: str, level: str | None, identities: list[str]) -> tuple[str | None, str]:
    """The rule table's identity for a list kind and level (the 级别 column, else the 类别 text: 一类, A类,
    3 and 三级 mean the level; 残联's 残一级 … 残四级 too) → (identity or None, a note for 原因).

    A level the rule table has no identity for is not upgraded to another: it is None, and the note says
    so (the county set no 代缴 for it). A list that writes no level takes the kind's first level, noted."""
    candidates = [n for n in identities if vocab.identity_group(n) == kind]
    if not candidates:
        return None, f"征缴规则表中没有{kind}的代缴规则"
    by_level = {m.group(1): n for n in candidates if (m := _NAME_LEVEL.search(n))}
    m = _LEVEL.search(level or "")
    if m:
        word = _LEVEL_WORDS.get(m.group(1).upper(), m.group(1))
        if word in by_level:
            return by_level[word], ""
        if len(candidates) == 1 and not by_level:  # one identity with no levels (特困人员): any level is it
            return candidates[0], ""
        return None, f"名单写明{kind}{word}级，征缴规则表中没有{kind}{word}级的代缴规则，不代缴（请核对级别或规则表）"
    if len(candidates) == 1:
        return candidates[0], ""
    return candidates[0], f"{kind}名单没有写明级别，暂按{candidates[0]}计"


def own_tiers(book: RuleBook, identity: pd.Series, hukou: pd.Series, year: int,
              paid_tier: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Each row's tier for its identity: the tier it was paid at where the identity has a rule there, else
    the identity's own lowest tier with a rule in force (the notice's 最低缴费档次: an identity whose rules
    start at 二档 is declared at 二档) → (tier, the rule there)."""
    years = pd.Series(year, index=identity.index)
    tier = pd.Series(None, index=identity.index, dtype=object)
    rule = book.lookup(identity, hukou, paid_tier.where(paid_tier.isin(vocab.TIERS)), years)
    has = rule["rule"].notna()
    tier[has] = paid_tier[has]
    for t in vocab.TIERS:  # each distinct identity × 户口性质 is looked up once per tier, in the tiers' order
        todo = ~has & identity.notna()
        if not todo.any():
            break
        at = book.lookup(identity[todo], hukou[todo], pd.Series(t, index=identity[todo].index), years[todo])
        found = at["rule"].notna()
        hit = at.index[found.to_numpy()]
        if len(hit):
            rule.loc[hit] = at.loc[hit].to_numpy()
            tier[hit] = t
            has[hit] = True
    return tier, rule


def compare(ledger: Ledger, book: RuleBook, year: int, settings: Settings | None = None) -> Comparison:
    """Compare every person on the ledger's lists with its roster and payments for ``year``."""
    settings = settings or Settings()
    unmatched = ledger.list_problems().rename(columns={"kind": "名单", "file_name": "文件", "row": "行",
                                                        "id_number": "身份证号码", "name": "姓名", "reason": "原因"})
    lists = ledger.lists()
    if lists.empty:
        raise XlflowError("台账中没有部门名单，无法比对。请先用 xlflow ledger import list 名单.xlsx --kind 低保对象"
                          " 导入名单，或用 --list 类别=文件 直接给出。")
    view = ledger.view(lists["id_number"].unique(), year=year)
    persons = view.persons
    # One candidate 代缴 identity per list row.
    # A person listed twice with two levels comes with both (「二级、一级」): one candidate row per level,
    # and the larger 代缴 wins below, as for any overlap (SPEC 3.2).
    if lists["level"].fillna("").str.contains("、", regex=False).any():  # only then: a copy of every list row
        lists = lists.assign(level=lists["level"].fillna("").str.split("、")).explode("level").reset_index(drop=True)
    level = lists["level"].fillna("").where(lists["level"].fillna("") != "", lists["category"].fillna(""))
    pairs = list(zip(lists["kind"], level, strict=True))
    picks = {pair: list_identity(*pair, book.identities) for pair in set(pairs)}
    lists["identity"] = [picks[pair][0] for pair in pairs]
    lists["note"] = [picks[pair][1] for pair in pairs]
    exit_year = lists["id_number"].map(view.exits["exit_year"]) if len(view.exits) else pd.Series(np.nan, lists.index)
    exit_year = pd.to_numeric(lists["exit_year"], errors="coerce").combine_first(pd.to_numeric(exit_year))
    lists["exit"] = exit_year
    lists["out"] = (lists["kind"] == "贫困人口") & exit_year.notna() & (exit_year < year)
    flagged = lists["exit_flag"].fillna("").astype(str).str.strip().isin(("是", "已脱贫", "脱贫", "Y", "1", "已标注"))
    unsure = (lists["kind"] == "贫困人口") & flagged & exit_year.isna()
    lists.loc[unsure, "note"] = (lists.loc[unsure, "note"] + "；").str.lstrip("；") + \
        "名单标注已脱贫但没有脱贫年度，请核对（脱贫当年仍代缴，次年起不再代缴）"
    hukou = lists["id_number"].map(persons["hukou"]).where(lambda h: h.isin(vocab.HUKOU), DEFAULT_HUKOU)
    paid = view.paid[view.paid["year"] == year].drop_duplicates("id_number").set_index("id_number")
    paid_tier = lists["id_number"].map(paid["tier"]) if len(paid) else pd.Series(None, index=lists.index)
    tier, rule = own_tiers(book, lists["identity"], hukou, year, paid_tier.astype(object))
    lists["tier"] = tier
    lists["hukou"] = hukou
    lists["daijiao"] = rule["daijiao"]
    order = {g: i for i, g in enumerate(settings.group_order)}
    lists["rank"] = lists["kind"].map(lambda k: order.get(k, len(order)))
    lists["usable"] = lists["identity"].notna() & ~lists["out"] & lists["daijiao"].notna()
    ranked = lists.sort_values(["id_number", "usable", "daijiao", "rank"], ascending=[True, False, False, True])
    best = ranked.drop_duplicates("id_number").set_index("id_number")
    for key in AMOUNT_KEYS:
        lists[f"rule_{key}"] = rule[key]
    best_rule = lists.loc[ranked.drop_duplicates("id_number").index].set_index("id_number")

    people = _people(lists, best, best_rule, persons, paid, view, year, settings)
    money = _money(people, best_rule, paid)
    return Comparison(year, people, unmatched, money)


def _people(lists, best, best_rule, persons, paid, view, year: int, settings: Settings) -> pd.DataFrame:
    ids = best.index
    on_lists, levels, n_lists, list_name, known = _per_person(lists, ids)
    insured = ids.isin(persons.index)
    status = pd.Series(ids.map(persons["status"]), index=ids).fillna("")
    flag = pd.Series(ids.map(persons["identity"]), index=ids).fillna("")
    roster_name = pd.Series(ids.map(persons["name"]), index=ids)
    area = pd.Series(ids.map(persons["area"]), index=ids).astype(object).fillna("")
    named = pd.Series(ids.map(persons["township"]), index=ids).astype(object).fillna("")
    # The 参保地 by name where the roster has it, else the 行政区划 code; a person not insured has neither and
    # is counted apart (under their ID's county, named as such), not among the townships.
    township = named.where(named != "", area)
    bare = (township == "").to_numpy()
    if bare.any():  # only those: a text for each of 300,000 people was 100 MB
        county = ids[bare].str[:6]
        township[bare] = np.where(insured[bare], "身份证地区 " + county, "未参保（身份证地区 " + county + "）")
    born = pd.Series(birth_years(pd.Series(ids, index=ids)), index=ids)
    age = year - born
    paid_here = pd.Series(ids.isin(paid.index), index=ids)
    paid_as = pd.Series("", index=ids, dtype=object)
    paid_daijiao = pd.Series(0.0, index=ids)
    if len(paid):
        p = paid.reindex(ids)
        paid_as = pd.Series(shared((p["identity"].fillna("") + " " + p["tier"].fillna("")).str.strip()
                                   .where(paid_here, "")), index=ids)
        paid_daijiao = p["daijiao"].fillna(0).astype(float)
    pending = view.pending[view.pending["year"] == year].drop_duplicates("id_number").set_index("id_number")
    pending_batch = pd.Series(ids.map(pending["batch_id"]) if len(pending) else np.nan, index=ids)
    person_class = status.map(lambda s: vocab.status_class(s) or "")
    chosen = best["identity"]
    usable = best["usable"]

    action, reason, finals = [], [], []
    columns = zip(insured.tolist(), status.tolist(), flag.tolist(), age.tolist(), usable.tolist(),
                  chosen.tolist(), best["out"].tolist(), best["exit"].tolist(), best["note"].tolist(),
                  paid_here.tolist(), paid_as.tolist(), paid_daijiao.tolist(), best["daijiao"].tolist(),
                  person_class.tolist(), pending_batch.tolist(), on_lists, n_lists, strict=True)
    for row in columns:  # plain values: a county's list is 100,000 people
        steps = _steps(year, settings, *row)
        action.append(steps[0][0])
        finals.append(steps[-1][0])
        rest = [f"之后：{a}（{r}）" if r else f"之后：{a}" for a, r in steps[1:]]
        reason.append("；".join([steps[0][1], *rest]).strip("；"))
    name_note = (roster_name.notna() & (roster_name != list_name)).to_numpy()
    reason = [r + (f"；名单姓名“{ln}”与参保信息“{rn}”不同，请核对" if odd else "")
              for r, odd, ln, rn in zip(reason, name_note, list_name, roster_name, strict=True)]
    # Each column shared as it is made (one column's new strings at a time, not the whole frame's).
    frame = pd.DataFrame({
        "姓名": shared(roster_name.fillna(list_name).to_numpy()),
        "身份证号码": ids.to_numpy(),
        "所在名单": shared(on_lists),
        "类别级别": shared(levels),
        "脱贫年度": shared(best["exit"].astype("Int64").astype(str).replace("<NA>", "").to_numpy()),
        "是否参保": shared(np.where(insured, "是", "否")),
        "居保状态": shared(status.to_numpy()),
        "系统身份标识": shared(flag.to_numpy()),
        f"{year}年龄": shared(age.astype("Int64").astype(str).replace("<NA>", "").to_numpy()),
        f"{year}年度缴费": shared(np.where(paid_here, "已缴（" + paid_as + "）", "未缴")),
        "代缴身份": shared(chosen.fillna("").to_numpy()),
        "需办理事项": shared(action),
        "原因": shared(reason),  # many people share one reason word for word
        "乡镇": shared(township.to_numpy()),
    })
    # Keys the writers and the pre-filled workbooks use (not shown in the ledger sheet).
    frame["_hukou"] = shared(best["hukou"].to_numpy())
    frame["_tier"] = shared(best["tier"].to_numpy())
    frame["_class"] = shared(person_class.replace("", "缴费人员").to_numpy())
    frame["_group"] = shared(chosen.map(lambda n: vocab.identity_group(n) if isinstance(n, str) else "")
                             .fillna("").to_numpy())
    frame["_paid"] = paid_here.to_numpy()
    for c, values in known.items():
        frame[f"_{c}"] = shared(["" if v is None else v for v in values])
    frame["_final"] = shared(finals)  # the action that decides the money: the last of the chain
    return frame


def _per_person(lists: pd.DataFrame, ids: pd.Index):
    """Per person of ``ids`` (sorted, as ``lists`` is): the lists they are on (「低保对象、贫困人口」), each
    list's category and level (「低保对象：一级；贫困人口」), how many, the first name a list gives and what
    the lists know of them (the first that says it, in kind order: for the registration list). Plain
    values in one pass: a groupby with a join per person held 200 MB for 300,000 people."""
    parts = lists[["kind", "category", "level"]].astype(object).fillna("")
    codes, combos = pd.factorize(pd.MultiIndex.from_frame(parts))
    texts = []
    for kind, category, level in combos:
        extra = f"{category} {level}".strip()
        texts.append(f"{kind}：{extra}" if extra else kind)
    per_row = np.asarray(texts, dtype=object)[codes].tolist() if len(texts) else []
    extra_columns = [c for c in ("list_hukou", "list_phone", "list_area") if c in lists]
    columns = [lists[c].astype(object).where(lists[c].notna(), None).tolist() for c in ["name", *extra_columns]]
    on_lists, levels, counts, names = [], [], [], []
    known: dict[str, list] = {c: [] for c in ("list_hukou", "list_phone", "list_area")}
    spots = [(c, 4 + extra_columns.index(c) if c in extra_columns else None) for c in known]
    rows = zip(lists["id_number"].tolist(), lists["kind"].tolist(), per_row, *columns, strict=True)
    for _, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        group = list(group)
        on_lists.append("、".join(r[1] for r in group))
        levels.append("；".join(r[2] for r in group))
        counts.append(len(group))
        names.append(next((r[3] for r in group if r[3] is not None), None))
        for c, at in spots:
            known[c].append(None if at is None else next((r[at] for r in group if r[at] is not None), None))
    assert len(on_lists) == len(ids)
    return on_lists, levels, counts, pd.Series(names, index=ids, dtype=object), known


def _steps(year, settings: Settings, insured, status, flag, age, usable, chosen, out, exit_year, note, paid,
           paid_as, paid_daijiao, rule_daijiao, person_class, pending, lists_here, n_lists) -> list[tuple[str, str]]:
    """The actions this person needs, in the order to do them, each with its reason."""
    if pd.notna(age) and age < settings.min_age:
        return [(NOT_ELIGIBLE, f"{year} 年未满 {settings.min_age} 周岁")]
    if status == vocab.TERMINATED:
        return [(NOT_ELIGIBLE, "居保状态为终止参保（死亡、迁出或转入其他制度）")]
    if not usable:
        if out:
            return [(NOT_ELIGIBLE, f"已于 {int(exit_year)} 年标注脱贫，{year} 年度不再代缴")]
        return [(NOT_ELIGIBLE, note or f"{year} 年度没有适用的代缴规则")]
    why = note
    if n_lists > 1:
        why = (f"同时在{lists_here}名单，按代缴金额较高的{chosen}（{rule_daijiao / 100:g} 元）代缴一次"
               + (f"；{why}" if why else ""))
    steps: list[tuple[str, str]] = []
    if not insured:
        steps.append((REGISTER, "未参保（参保人员信息中没有此人）"))
    if not insured or not flag or not vocab.same_identity(flag, chosen):
        steps.append((FLAG, f"系统身份标识为“{flag}”，应为{chosen}" if flag else f"未设置身份标识，应为{chosen}"))
    recipient = person_class == "待遇人员"
    if pd.notna(pending):
        steps.append((NOTHING, f"{year} 年度已在待上传的申报批次 {int(pending)} 中"))
    elif paid and paid_daijiao >= rule_daijiao:
        steps.append((NOTHING, f"{year} 年度已按{paid_as}缴费，已含政府代缴"))
    elif paid:
        steps.append((ADJUST, f"{year} 年度已按{paid_as}缴费，应补做{chosen}政府代缴"))
    elif recipient:
        steps.append((ZERO_THEN_ADJUST, f"待遇人员 {year} 年度未缴费，先做零缴费再调整"))
    elif pd.notna(age) and age >= settings.max_age:
        return [(NOT_ELIGIBLE, f"{year} 年已满 {settings.max_age} 周岁，不能按缴费人员申报；请核对居保状态")]
    else:
        steps.append((DECLARE, f"{year} 年度未缴费"))
    if why:
        first, text = steps[0]
        steps[0] = (first, f"{text}；{why}")
    return steps


def _money(people: pd.DataFrame, best_rule: pd.DataFrame, paid: pd.DataFrame) -> pd.DataFrame:
    """Cents per funding item per person: what the declaration or adjustment will move (``todo``) and what
    was paid for the year (``paid``); the estimate sums them by identity class and township."""
    ids = pd.Index(people["身份证号码"])
    final = people["_final"].to_numpy(dtype=object)
    out = pd.DataFrame({"id_number": ids, "group": people["_group"].to_numpy(), "township": people["乡镇"].to_numpy(),
                        "final": final})
    rule = best_rule.reindex(ids)
    recipient = people["_class"].to_numpy() == "待遇人员"
    p = paid.reindex(ids) if len(paid) else pd.DataFrame(index=ids, columns=list(AMOUNT_KEYS))
    for key in AMOUNT_KEYS:
        new = pd.to_numeric(rule[f"rule_{key}"], errors="coerce").fillna(0).to_numpy()
        before = pd.to_numeric(p[key], errors="coerce").fillna(0).to_numpy()
        todo = np.where(np.isin(final, [DECLARE, ZERO_THEN_ADJUST]), new,
                        np.where(final == ADJUST, new - before, 0))
        if key == "personal":  # a batch adjustment carries no negative personal part (A09)
            todo = np.where(final == ADJUST, np.maximum(todo, 0), todo)
        # A recipient takes no negative adjustment on any item (注意事项 4): 0, as validate writes it (A11).
        todo = np.where((final == ADJUST) & recipient, np.maximum(todo, 0), todo)
        out[f"todo_{key}"] = todo
        out[f"paid_{key}"] = np.where(people["_paid"].to_numpy(), before, 0)
    return out
