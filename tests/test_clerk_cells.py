"""What clerks type into General cells: numbers, dates, booleans and errors where text belongs."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from test_validate import PROPERTY, TODAY, declaration, found, mutated_rows, pid, row, run
from xlflow.app.pipeline import process_workbook


def test_codes_typed_as_numbers_are_fixed_not_fatal(tmp_path, book):
    rows = [row(hukou=20), row(id_number=pid(seq="222"), identity=51, tier=1)]
    result = run(tmp_path, book, rows)
    assert result.exit_code == 0 and result.valid_rows == 2
    assert found(result, "X05") == [(6, "D6"), (7, "E7"), (7, "G7")]
    ws = load_workbook(result.outputs["corrected"]).active
    assert (ws["D6"].value, ws["E7"].value, ws["G7"].value) == ("农业户籍", "贫困人口一级", "一档")
    assert ws["D6"].data_type == "s"


def test_id_stored_as_number_is_c02_only_and_stays_a_number(tmp_path, book):
    result = run(tmp_path, book, [row(id_number=int(pid()))])
    assert [f.code for f in result.findings] == ["C02"]
    cell = load_workbook(result.outputs["errors"]).active["C6"]
    assert isinstance(cell.value, float | int)  # never a padded text that could pass its check digit
    assert cell.number_format == "@" and cell.fill.fgColor.rgb.endswith("FFC7CE")


def test_fifteen_digit_id_stored_as_number_is_upgraded(tmp_path, book):
    fifteen = pid()[:6] + pid()[8:17]
    result = run(tmp_path, book, [row(id_number=int(fifteen))])
    assert [f.code for f in result.findings] == ["X04"] and result.exit_code == 0
    assert load_workbook(result.outputs["corrected"]).active["C6"].value == pid()


def test_a_row_with_only_its_number_is_blank(tmp_path, book):
    rows = [row(), *[[n] + [None] * 13 for n in range(2, 40)]]
    result = run(tmp_path, book, rows)
    assert result.rows == 1 and result.findings == []


def test_marked_text_cells_keep_the_text_format(tmp_path, book):
    result = run(tmp_path, book, [row(id_number="43032119800101123", name="王五5")])
    ws = load_workbook(result.outputs["errors"]).active
    assert ws["C6"].number_format == "@" and ws["B6"].number_format == "@"
    assert ws["C6"].fill.fgColor.rgb.endswith("FFC7CE")


ANY_CELL = st.one_of(
    st.none(), st.integers(-10**18, 10**18), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
    st.sampled_from(["#N/A", "#DIV/0!", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"]),
    st.sampled_from([20, 10, 51, 1, 14, 2025, 2025.0, 0.5, 1e20, -3]),
)


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 999), st.dictionaries(st.integers(0, 13), ANY_CELL, max_size=3)),
                min_size=1, max_size=5))  # fmt: skip
def test_any_cell_type_in_any_column_gives_findings_not_exceptions(tmp_path_factory, book, changes):
    tmp = tmp_path_factory.mktemp("t")
    path = declaration(tmp, mutated_rows(changes))
    result = process_workbook(path, book, tmp / "out", today=TODAY)
    if result.unusable:
        assert {f.code for f in result.findings} <= {"F05"}
        return
    ok = load_workbook(result.outputs["corrected"]).active.max_row - 5 if result.valid_rows else 0
    bad = len(result.error_rows)
    assert ok + bad == result.rows


def test_a_stray_character_in_one_name_among_many_is_fixed_at_its_row(tmp_path, book):
    """Names are screened for fixes all at once; a stray character must be pinned on the name that holds it,
    whether it opens the name, ends it or sits inside, and never on its neighbour."""
    names = ["张三", "\u3000李四", "王五", "赵六\u200b", "钱七", "孙 八", "周九"]
    rows = [row(name=n, id_number=pid(seq=f"{100 + i}")) for i, n in enumerate(names)]
    result = run(tmp_path, book, rows)
    assert found(result, "X01") == [(7, "B7"), (9, "B9"), (11, "B11")]
    ws = load_workbook(result.outputs["corrected"]).active
    assert [ws.cell(r, 2).value for r in range(6, 13)] == ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九"]


def test_a_column_of_distinct_texts_is_converted_as_a_column_of_shared_ones(monkeypatch):
    """IDs and names are converted without factorising (nothing to share): the texts, the empty mask and
    the long-text flag are those the factorising conversion gives."""
    import numpy as np

    from xlflow.io import cellvalues

    column = tuple([f"43030219780101{n:04d}" for n in range(300)] + ["", " ", "\u3000", "张 三", "x" * 32767])
    fast = cellvalues.convert_column(column)
    monkeypatch.setattr(cellvalues, "_mostly_distinct", lambda column: False)
    slow = cellvalues.convert_column(column)
    assert fast[0].tolist() == slow[0].tolist() and fast[1] is None and slow[1] is None
    assert np.array_equal(fast[2], slow[2]) and fast[2][-5:-1].tolist() == [True, True, True, False]
    assert fast[3] is slow[3] is True
