"""One batch, one lineage: a declaration's corrected and error workbooks, their renamed copies and re-saves
belong to its batch; P05 across batches is for another unit's batch or an earlier, different one."""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from test_ledger import ledger_with_people
from test_validate import TODAY, declaration, found, pid, row
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.io.lineage import copy_stem, read_properties
from xlflow.store.ledger import Ledger

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def first(tmp_path, book, store, rows=None, name="镇一申报.xlsx"):
    """镇一申报.xlsx: 101 and 104 pass, 107 is an error (P03: no 三档 rule)."""
    rows = rows or [row(id_number=pid(seq="101")), row(id_number=pid(seq="104")),
                    row(id_number=pid(seq="107"), tier="三档")]
    return process_workbook(declaration(tmp_path, rows, name=name), book, tmp_path / "out", today=TODAY, ledger=store)


def again(tmp_path, book, store, path):
    return process_workbook(path, book, tmp_path / "again", today=TODAY, ledger=store)


def pending(store):
    return [(b["id"], b["rows"]) for b in store.batches() if b["status"] == "pending"]


def test_the_corrected_workbook_is_its_batch_not_a_clash(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        one = first(tmp_path, book, store)
        assert one.batch["status"] == "new" and pending(store) == [(1, 2)]
        props = read_properties(one.outputs["corrected"])
        assert props["xlflow_batch"] == one.batch["lineage"]
        result = again(tmp_path, book, store, tmp_path / "out" / "镇一申报_更正.xlsx")
        assert found(result, "P05") == [] and result.error_rows == set()
        assert result.batch["found_by"] == "properties" and result.batch["id"] == 1
        assert pending(store) == [(1, 2)]


@pytest.mark.parametrize("copy_name", ["镇一申报 - 副本.xlsx", "镇一申报(1).xlsx", "镇一申报（2）.xlsx",
                                       "副本 镇一申报.xlsx"])
def test_a_renamed_copy_of_the_original_is_its_batch(tmp_path, book, copy_name):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        copy = shutil.copy(tmp_path / "镇一申报.xlsx", tmp_path / copy_name)
        result = again(tmp_path, book, store, copy)
        assert found(result, "P05") == [] and found(result, "P03") == [(8, "G8")]
        assert result.batch["id"] == 1 and pending(store) == [(1, 2)]


def test_a_csv_resave_with_neither_name_nor_properties_is_found_by_its_person_years(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        ws = load_workbook(tmp_path / "out" / "镇一申报_更正.xlsx").worksheets[0]
        target = tmp_path / "给财政的.csv"
        with open(target, "w", encoding="gb18030", newline="") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)])
        result = again(tmp_path, book, store, target)
        assert found(result, "P05") == [] and result.batch["found_by"] == "content"
        assert result.batch["status"] == "unchanged" and pending(store) == [(1, 2)]


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("form", ["xls", "ods"])
def test_a_resave_by_libreoffice_keeps_the_lineage(tmp_path, book, form):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        folder = tmp_path / "lo"
        subprocess.run([SOFFICE, "--headless", "--convert-to", form, "--outdir", str(folder),
                        str(tmp_path / "out" / "镇一申报_更正.xlsx")], check=True, capture_output=True, timeout=120)
        saved = folder / f"镇一申报_更正.{form}"
        assert read_properties(saved)["xlflow_batch_member"] == "file:镇一申报.xlsx"
        result = again(tmp_path, book, store, saved)
        assert found(result, "P05") == [] and result.batch["found_by"] == "properties"
        assert pending(store) == [(1, 2)]


def test_the_fixed_error_workbook_joins_the_batch_of_its_original(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        one = first(tmp_path, book, store)
        errors = tmp_path / "out" / "镇一申报_错误数据.xlsx"
        wb = load_workbook(errors)
        ws = wb.worksheets[0]
        head = next(r for r in range(1, 10) if ws.cell(r, 1).value == "序号")
        tier = next(c for c in range(1, 20) if (ws.cell(head, c).value or "").rstrip("*") == "缴费档次")
        ws.cell(head + 1, tier).value = "一档"  # the clerk's fix
        wb.save(errors)
        fixed = again(tmp_path, book, store, errors)
        assert fixed.error_rows == set() and found(fixed, "P05") == []
        assert fixed.batch == {**fixed.batch, "id": one.batch["id"], "status": "joined", "rows": 1}
        (batch,) = store.batches()
        assert batch["rows"] == 3
        assert [(m["role"], m["rows"]) for m in batch["members"]] == [("原表", 2), ("错误数据表", 1)]
        # Its corrected workbook is the same member again; the original, validated again, its own.
        assert again(tmp_path, book, store, tmp_path / "again" / "镇一申报_错误数据_更正.xlsx").batch["status"] \
            in ("unchanged", "replaced")
        assert pending(store) == [(1, 3)]
        # The original, with the row now passed in the error workbook fixed in it too, repeats that row.
        original = declaration(tmp_path, [row(id_number=pid(seq="101")), row(id_number=pid(seq="104")),
                                          row(id_number=pid(seq="107"))], name="镇一申报.xlsx")
        result = again(tmp_path, book, store, original)
        assert found(result, "P05") == [(8, "C8")]
        assert "本批次的“镇一申报_错误数据.xlsx”第" in next(f.message for f in result.findings if f.code == "P05")


def test_a_different_batch_of_the_same_unit_is_p05_with_the_way_out(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        later = declaration(tmp_path, [row(id_number=pid(seq="101")), row(id_number=pid(seq="105"), year=2024)],
                            name="镇一十二月.xlsx")
        result = again(tmp_path, book, store, later)
        assert found(result, "P05") == [(6, "C6")]
        message = next(f.message for f in result.findings if f.code == "P05")
        assert "申报单位“某镇”待上传的申报批次 1（“镇一申报.xlsx”，2026-11-20 申报）" in message
        assert "xlflow ledger withdraw 1" in message
        assert result.batch["status"] == "new" and pending(store) == [(1, 2), (2, 1)]


def test_a_new_months_file_under_the_same_name_is_a_new_batch(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store, name="批量缴费申报表.xlsx")
        other = first(tmp_path, book, store, rows=[row(id_number=pid(seq="105"), year=2024)],
                      name="批量缴费申报表.xlsx")
        assert other.batch["status"] == "new" and pending(store) == [(1, 2), (2, 1)]


def test_ledger_batches_shows_the_lineage(tmp_path, book):
    path = ledger_with_people(tmp_path)
    with Ledger(path) as store:
        first(tmp_path, book, store)
        again(tmp_path, book, store, tmp_path / "out" / "镇一申报_更正.xlsx")
    out = CliRunner().invoke(main, ["ledger", "batches", "--ledger", str(path)])
    assert out.exit_code == 0
    assert "批次 1：镇一申报.xlsx" in out.output and "原表 镇一申报.xlsx：通过 2 人年，有错 1 人年" in out.output


@pytest.mark.parametrize("name,stem", [("镇一 - 副本.xlsx", "镇一"), ("镇一(3).xls", "镇一"),
                                       ("镇一_更正_2.csv", "镇一"), ("镇一_错误数据_更正.xlsx", "镇一_错误数据"),
                                       ("Copy of 镇一.ods", "镇一"), ("镇一_错误数据.xlsx", "镇一_错误数据")])
def test_copy_names(name, stem):
    assert copy_stem(name) == stem


def test_an_edited_copy_under_the_copy_name_replaces_its_members_rows(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        edited = declaration(tmp_path, [row(id_number=pid(seq="101")), row(id_number=pid(seq="104")),
                                        row(id_number=pid(seq="105"), year=2024)], name="镇一申报(1).xlsx")
        result = again(tmp_path, book, store, edited)
        assert found(result, "P05") == [] and result.batch["found_by"] == "name"
        assert result.batch["status"] == "replaced" and pending(store) == [(1, 3)]


def test_the_original_with_its_error_rows_resaved_as_csv_under_another_name_is_its_batch(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        ws = load_workbook(tmp_path / "镇一申报.xlsx").worksheets[0]
        target = tmp_path / "上报用.csv"
        with open(target, "w", encoding="gb18030", newline="") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)])
        result = again(tmp_path, book, store, target)
        assert found(result, "P05") == [] and found(result, "P03") == [(8, "G8")]
        assert result.batch["found_by"] == "content" and pending(store) == [(1, 2)]


def test_a_passed_row_copied_into_the_error_workbook_is_told_once(tmp_path, book):
    with Ledger(ledger_with_people(tmp_path)) as store:
        first(tmp_path, book, store)
        errors = tmp_path / "out" / "镇一申报_错误数据.xlsx"
        wb = load_workbook(errors)
        ws = wb.worksheets[0]
        head = next(r for r in range(1, 10) if ws.cell(r, 1).value == "序号")
        for c, v in enumerate(row(id_number=pid(seq="101")), start=1):  # a row that already passed
            ws.cell(head + 2, c).value = v
        wb.save(errors)
        result = again(tmp_path, book, store, errors)
        assert [f.cell for f in result.findings if f.code == "P05"] == [f"C{head + 2}"]


@pytest.mark.parametrize("spelt", [
    '<vt:lpwstr xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">{v}</vt:lpwstr>',
    "<ns1:lpwstr>{v}</ns1:lpwstr>",
    "<vt:lpwstr>{v}</vt:lpwstr>",
])
def test_properties_are_read_however_the_writer_spelt_them(tmp_path, spelt):
    """openpyxl with lxml declares the vt namespace on each value; other writers use other prefixes or quotes."""
    import zipfile

    xml = ('<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
           "custom-properties\"><property pid='2' name='xlflow_batch' fmtid='{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}'>"
           + spelt + "</property><property name=\"xlflow_kind\" pid=\"3\">" + spelt.replace("{v}", "{k}")
           + "</property></Properties>").format(v="b-1&amp;2", k="declaration")
    path = tmp_path / "a.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("docProps/custom.xml", xml)
    assert read_properties(path) == {"xlflow_batch": "b-1&2", "xlflow_kind": "declaration"}
