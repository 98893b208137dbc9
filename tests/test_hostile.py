"""Malformed, hostile and huge inputs end in a clear F finding and exit 2, never a traceback."""

from __future__ import annotations

import zipfile

import pytest
from click.testing import CliRunner

from test_validate import TODAY, declaration, row
from xlflow.cli import main
from xlflow.pipeline import process_workbook
from xlflow.settings import Settings


def validate(path, tmp_path):
    return CliRunner().invoke(main, ["validate", str(path), "--out", str(tmp_path / "out")])


def rewrite_member(src, dst, name, transform):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, transform(data) if info.filename == name else data)


def test_xml_entity_declaration_is_refused(tmp_path):
    good = declaration(tmp_path, [row()])
    evil = tmp_path / "evil.xlsx"
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    rewrite_member(good, evil, "xl/worksheets/sheet1.xml", lambda d: entity + d)
    result = validate(evil, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "实体" in result.output
    assert "Traceback" not in result.output


def test_zip_bomb_is_refused(tmp_path):
    good = declaration(tmp_path, [row()])
    bomb = tmp_path / "bomb.xlsx"
    rewrite_member(good, bomb, "docProps/app.xml", lambda d: d + b" " * (50 * 2**20))
    result = validate(bomb, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "压缩炸弹" in result.output


def test_truncated_workbook(tmp_path):
    good = declaration(tmp_path, [row()])
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[:2000])
    result = validate(cut, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output


def test_missing_file_is_a_finding(tmp_path):
    result = validate(tmp_path / "没有这个文件.xlsx", tmp_path)
    assert result.exit_code == 2 and "F01" in result.output and "找不到文件" in result.output


def test_f06_too_many_rows(tmp_path):
    from xlflow.paths import example_rules
    from xlflow.rules import load_rulebook

    path = declaration(tmp_path, [row(id_number=None) for _ in range(3)])
    result = process_workbook(path, load_rulebook(example_rules()), tmp_path, Settings(max_rows=2), today=TODAY)
    assert [(f.code, f.value) for f in result.findings] == [("F06", "3")]
    assert result.exit_code == 2


@pytest.mark.parametrize("name", ["x.ods", "x.xls"])
def test_fake_legacy_formats_give_f01(tmp_path, name):
    """A file whose extension says .ods/.xls but that is not one gives F01, not a crash."""
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    result = validate(path, tmp_path)
    assert result.exit_code == 2 and "F01" in result.output
