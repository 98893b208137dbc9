"""Workspace settings (xlflow.toml): folders, rule table, age bounds, limits."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from xlflow.domain.vocab import FIRST_YEAR, GROUPS
from xlflow.errors import SettingsError
from xlflow.io.opening import Limits

SETTINGS_FILE = "xlflow.toml"


@dataclass
class Settings:
    min_age: int = 16  # P01: age = contribution year − birth year
    max_age: int = 60  # P02: contributors are under this age in the year
    first_year: int = FIRST_YEAR
    max_rows: int = 1_048_576
    max_file_mb: int = 200
    max_sheets: int = 100  # sheets of one workbook that validate checks one by one
    group_order: list[str] = field(default_factory=lambda: list(GROUPS))
    rules: str = "征缴规则表.xlsx"
    inbox: str = "待处理"
    results: str = "处理结果"
    archive: str = "已处理"
    failed: str = "无法处理"
    ledger: str = "台账.sqlite"

    def limits(self) -> Limits:
        return Limits(max_rows=self.max_rows, max_file_bytes=self.max_file_mb * 2**20, max_sheets=self.max_sheets)


def load_settings(path: Path | None) -> Settings:
    """Settings from ``path`` (a workspace folder or its xlflow.toml); defaults when None."""
    if path is None:
        return Settings()
    path = Path(path)
    if path.is_dir():
        path = path / SETTINGS_FILE
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(f"找不到设置文件 {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"设置文件 {path} 格式有误：{exc}") from exc
    known = Settings.__dataclass_fields__
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SettingsError(f"设置文件 {path} 中有不认识的设置项：{', '.join(unknown)}")
    return Settings(**raw)
