"""Shared fixtures: workbook builders and the bundled examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from openpyxl import Workbook

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# Hypothesis: a small run for every push (the default) and a large one for a nightly run:
# XLFLOW_HYPOTHESIS_PROFILE=nightly make test. Each property test names its examples for the small run.
NIGHTLY_FACTOR = 25
_NIGHTLY = os.environ.get("XLFLOW_HYPOTHESIS_PROFILE", "ci") == "nightly"
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("nightly", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("nightly" if _NIGHTLY else "ci")


def examples(ci: int) -> settings:
    """Settings of a property test: ``ci`` examples a run, NIGHTLY_FACTOR times as many at night."""
    return settings(max_examples=ci * NIGHTLY_FACTOR if _NIGHTLY else ci)


RULE_HEADERS = ["规则名称", "缴费档次", "缴费身份", "户口性质", "个人缴费", "省级补贴", "市级补贴",
                "县级补贴", "政府代缴", "开始年月", "终止年月"]  # fmt: skip


def write_workbook(path: Path, rows: list[list], title: str = "Sheet1") -> Path:
    """A workbook whose first sheet holds ``rows`` from A1 (None leaves a cell empty)."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def rule(tier, identity, hukou, personal, province, city, county, daijiao,
         start="202001", end="209912", name=""):  # fmt: skip
    return [name, tier, identity, hukou, personal, province, city, county, daijiao, start, end]


def good_rules() -> list[list]:
    """A small consistent rule table: 一档/二档, 普通 + 贫困人口一级, both 户口性质."""
    rows = []
    for hukou in ("农业户籍", "城镇户籍"):
        rows += [
            rule("一档", "普通参保人员", hukou, 100, 12, 9.9, 8.1, 0),
            rule("二档", "普通参保人员", hukou, 200, 12, 9.9, 8.1, 0),
            rule("一档", "贫困人口一级", hukou, 0, 12, 9.9, 8.1, 100),
            rule("一档", "低保对象一级", hukou, 0, 12, 9.9, 8.1, 100),
            rule("一档", "特困人员", hukou, 0, 12, 9.9, 8.1, 100),
        ]
    return rows


@pytest.fixture
def rules_file(tmp_path):
    """Build a rule table file from data rows (header row added)."""

    def build(rows: list[list], name: str = "rules.xlsx", headers=RULE_HEADERS) -> Path:
        return write_workbook(tmp_path / name, [["某县征缴规则表"], headers, *rows])

    return build


@pytest.fixture(scope="session")
def book():
    """The bundled example rule table, loaded once."""
    from xlflow.paths import example_rules
    from xlflow.validation.rules import load_rulebook

    return load_rulebook(example_rules())
