"""Coded values and their synonyms: 户口性质, tiers, identities, 人员类别 (SPEC 2)."""

from __future__ import annotations

import re
from collections.abc import Iterable

SEVERITY_WORDS = {"error": "错误", "warning": "警告", "fixed": "已更正"}  # what a clerk reads for each severity

# The funding items of a contribution (SPEC 2.2), in their order, with the words of the outputs.
FUNDING_ITEMS = {"personal": "个人缴费", "province": "省级补贴", "city": "市级补贴", "county": "县级补贴",
                 "daijiao": "政府代缴"}  # fmt: skip
AMOUNT_KEYS = tuple(FUNDING_ITEMS)
FIRST_YEAR = 2009  # 新农保 pilots started in 2009: no contribution year before it

# The characters of a Chinese name, as a regex class body: the rare ones of the supplementary planes
# (𠀀, 𪚥: CJK Extensions B–H, which names in the countryside hold), the compatibility ideographs and 〇 too.
HAN_CHARS = "\u3007\u3400-\u9fff\uf900-\ufaff\U00020000-\U000323af"

HUKOU = ("农业户籍", "城镇户籍")
_HUKOU_SYNONYMS = {
    "农业户籍": ("农村户籍", "农业", "农村", "农业户口", "农村户口", "农业人口", "农业户", "农村户", "20"),
    "城镇户籍": ("非农业户籍", "非农业", "非农", "城镇", "城市", "城镇户口", "非农业户口", "非农户口",
                 "非农业户", "非农户", "城镇户", "城市户口", "10"),
}  # fmt: skip

PERSON_CLASSES = ("缴费人员", "待遇人员")
_PERSON_CLASS_SYNONYMS = {
    "缴费人员": ("正常缴费", "暂停缴费", "缴费"),
    "待遇人员": ("正常待遇", "暂停待遇", "待遇", "领取待遇人员"),
}

# 居保状态 of the roster; a roster may give the 人员类别 (缴费人员 / 待遇人员) instead.
STATUSES = ("正常缴费", "暂停缴费", "正常待遇", "暂停待遇", "终止参保", *PERSON_CLASSES)
TERMINATED = "终止参保"
_STATUS_SYNONYMS = {
    "正常缴费": ("参保缴费", "缴费中", "正常参保"),
    "暂停缴费": ("中断缴费", "暂停", "暂停参保", "中断", "中断参保"),
    "正常待遇": ("领取待遇", "待遇领取", "正常领取", "正常领取待遇", "领取中", "待遇领取中"),
    "暂停待遇": ("待遇暂停", "暂停领取", "暂停领取待遇"),
    # A roster that writes why a person's insurance ended (死亡) writes that it ended.
    "终止参保": ("终止", "注销", "已终止", "终止缴费", "死亡", "已死亡", "死亡终止", "终止（死亡）", "终止(死亡)"),
    "缴费人员": ("缴费",),
    "待遇人员": ("领取待遇人员",),
}


def status_map() -> dict[str, str]:
    return _synonym_map(_STATUS_SYNONYMS)


def status_class(status: str) -> str | None:
    """The 人员类别 a 居保状态 implies (None for 终止参保 or an unknown one)."""
    if status in ("正常缴费", "暂停缴费", "缴费人员"):
        return "缴费人员"
    if status in ("正常待遇", "暂停待遇", "待遇人员"):
        return "待遇人员"
    return None


NORMAL_IDENTITY = "普通参保人员"
GROUPS = ("特困人员", "低保对象", "贫困人口", "残疾人")  # default tie-break order (SPEC 3.2)

_DIGITS = "一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1..99 → 一, 十, 十四, 二十一."""
    tens, ones = divmod(n, 10)
    text = ("" if tens == 0 else ("" if tens == 1 else _DIGITS[tens - 1]) + "十")
    return text + ("" if ones == 0 else _DIGITS[ones - 1])


TIERS = tuple(f"{chinese_number(n)}档" for n in range(1, 15))


def tier_number(tier: str) -> int:
    return TIERS.index(tier) + 1


_CAPITALS = str.maketrans("一二三四五六七八九十", "壹贰叁肆伍陆柒捌玖拾")  # the digits of 大写 amounts


def _tier_variants() -> dict[str, str]:
    out: dict[str, str] = {}
    for n in range(1, 31):
        canon = f"{chinese_number(n)}档"
        capital = chinese_number(n).translate(_CAPITALS)
        for v in (canon, f"{n}档", f"第{n}档", f"第{chinese_number(n)}档", str(n), f"{n:02d}",
                  f"{n:03d}", chinese_number(n), f"档次{n}", f"{n}级档次", f"{capital}档", f"第{capital}档"):
            out.setdefault(v, canon)
            if v.endswith("档"):
                out.setdefault(f"{v}次", canon)  # 一档次, 第一档次, 1档次
    return out


_TIER_VARIANTS = _tier_variants()

# System codes (SPEC 2); each code lists the names it may stand for, first match in the rule table wins.
IDENTITY_CODES: dict[str, tuple[str, ...]] = {
    "011": ("普通参保人员",),
    "021": ("残一级", "残疾人一级"),
    "022": ("残二级", "残疾人二级"),
    "023": ("残三级", "残疾人三级"),
    "031": ("特困人员一级", "特困一级", "特困人员"),
    "032": ("特困人员二级", "特困二级", "特困人员"),
    "033": ("特困人员三级", "特困三级", "特困人员"),
    "051": ("贫困人口一级",),
    "052": ("贫困人口二级",),
    "053": ("贫困人口三级",),
    "061": ("低保对象一级",),
    "062": ("低保对象二级",),
    "063": ("低保对象三级",),
    "071": ("计生特扶人员",),
    "090": ("其他",),
}

_IDENTITY_SHORT = {
    "普通": "普通参保人员", "普通人员": "普通参保人员", "一般参保人员": "普通参保人员",
    "特困": "特困人员", "特困供养人员": "特困人员", "特困供养": "特困人员", "特困供养对象": "特困人员",
}  # fmt: skip


def identity_group(name: str) -> str | None:
    """The 代缴 group of an identity name, or None for 普通参保人员 and others."""
    if name.startswith(("贫困", "建档立卡")):
        return "贫困人口"
    if name.startswith("低保"):
        return "低保对象"
    if name.startswith("特困"):
        return "特困人员"
    if name.startswith("残"):
        return "残疾人"
    return None


def hukou_map() -> dict[str, str]:
    return _synonym_map(_HUKOU_SYNONYMS)


def person_class_map() -> dict[str, str]:
    return _synonym_map(_PERSON_CLASS_SYNONYMS)


def tier_map(allowed: Iterable[str] = TIERS) -> dict[str, str]:
    allowed = set(allowed)
    return {k: v for k, v in _TIER_VARIANTS.items() if v in allowed}


def identity_map(allowed: Iterable[str]) -> dict[str, str]:
    """Every accepted spelling → the identity name used in the rule table."""
    allowed = list(allowed)
    out = {name: name for name in allowed}
    for code, names in IDENTITY_CODES.items():
        target = next((n for n in names if n in out), None)
        if target:
            out.setdefault(code, target)
            out.setdefault(code.lstrip("0"), target)
    for short, target in _IDENTITY_SHORT.items():
        if target in allowed:
            out.setdefault(short, target)
    for name in allowed:
        for long, short in (("贫困人口", "贫困"), ("低保对象", "低保"), ("特困人员", "特困")):
            if name.startswith(long):
                out.setdefault(short + name[len(long):], name)
        if name.startswith("贫困人口"):
            out.setdefault("建档立卡" + name, name)
    for spelling, name in list(out.items()):  # the level written first (一级低保) or in brackets (低保对象（一级）)
        level = _LEVEL_LAST.match(spelling)
        if level:
            for other in (level.group(2) + level.group(1), f"{level.group(1)}（{level.group(2)}）",
                          f"{level.group(1)}({level.group(2)})"):
                out.setdefault(other, name)
    return out


_LEVEL_LAST = re.compile(r"^(.*[^一二三四五六七八九十])([一二三四五六七八九十]级)$")


def _synonym_map(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out = {canon: canon for canon in table}
    for canon, variants in table.items():
        for v in variants:
            out[v] = canon
    return out


def identity_codes(name: str) -> set[str]:
    """The system codes an identity name can stand for (特困人员 → 031, 032, 033)."""
    return {code for code, names in IDENTITY_CODES.items() if name in names} | (
        {name} if name in IDENTITY_CODES else set())


def same_identity(a: str, b: str) -> bool:
    """Whether two spellings name the same identity (a name, a short name, or a system code)."""
    return a == b or bool(identity_codes(a) & identity_codes(b))
