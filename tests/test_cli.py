"""Every command has help text; init makes a usable workspace; the findings docs match the catalogue."""

from __future__ import annotations

import click
from click.testing import CliRunner

from conftest import ROOT
from xlflow.cli import main
from xlflow.domain.findings import catalogue, markdown


def all_commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))


def test_every_command_has_help():
    for path, cmd in all_commands(main):
        assert cmd.help and len(cmd.help) > 20, path
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_init_creates_a_workspace(tmp_path):
    root = tmp_path / "ws"
    result = CliRunner().invoke(main, ["init", str(root)])
    assert result.exit_code == 0, result.output
    for name in ("xlflow.toml", "征缴规则表.xlsx", "使用说明.txt", "待处理", "处理结果", "已处理", "无法处理"):
        assert (root / name).exists(), name
    assert "待处理" in (root / "使用说明.txt").read_text(encoding="utf-8")
    from xlflow.io.settings import load_settings

    assert load_settings(root).min_age == 16
    check = CliRunner().invoke(main, ["rules", "check", str(root / "征缴规则表.xlsx")])
    assert check.exit_code == 0
    again = CliRunner().invoke(main, ["init", str(root)])
    assert again.exit_code == 2 and "已经是 xlflow 工作目录" in again.output


def test_findings_docs_are_generated_from_the_catalogue():
    assert (ROOT / "docs" / "findings.md").read_text(encoding="utf-8") == markdown()


def test_catalogue_messages_are_chinese_and_codes_complete():
    codes = set(catalogue())
    expected = {f"F0{i}" for i in range(1, 8)} | {f"C{i:02d}" for i in range(1, 12)}
    expected |= {f"P{i:02d}" for i in range(1, 11)} | {f"A0{i}" for i in range(1, 9)}
    expected |= {f"R0{i}" for i in range(1, 8)} | {f"X0{i}" for i in range(1, 8)}
    # codes are added, never reused
    added = {"F08", "C12", "C13", "P11", "P12", "P13", "A09", "A10", "A11", "C14", "P14", "X08"}
    added |= {"C15", "C16", "X09", "X10", "X11", "F09", "X12", "X13", "C17", "X14", "F10"}
    added |= {f"I0{i}" for i in range(1, 6)}  # the 批量参保身份变更表's
    assert codes == expected | added
    for info in catalogue().values():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in info.message), info.code
        assert info.severity in ("error", "warning", "fixed")


def test_row_checks_match_the_column_specs():
    from xlflow.domain.kinds import KIND_NAMES, kind_spec
    from xlflow.validation.schemas import row_checks

    for kind in KIND_NAMES:
        spec = kind_spec(kind)
        checks = row_checks(kind)
        for key, names in checks.items():
            spec.column(key)  # raises KeyError for a column the kind does not have
            assert set(names) <= {"C01", "C07", "C10", "C14", "ID", "R06"}, (kind, key)
        required = {c.key for c in spec.required_columns}
        assert {k for k, names in checks.items() if "C01" in names} == required, kind


def test_option_errors_are_chinese_with_what_is_allowed():
    runner = CliRunner()
    for args, words in ((["compare", "--year", "1800"], "--year 的值不对，应为 2009 至 2100 之间的整数"),
                        (["compare", "--year", "abc"], "--year 的值不对"),
                        (["template", "nokind", "-o", "x.xlsx"], "应为 declaration、adjustment、identity、rules 之一"),
                        (["validate"], "缺少 FILES"), (["validate", "--nope", "x"], "没有 --nope 这个选项")):
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and words in result.output and "Error" not in result.output, args
