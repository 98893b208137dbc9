"""The template of a workbook kind (SPEC 4.5): its data sheet, 填写说明 and hidden 代码表, its dropdowns,
prompts and properties. One builder for every workbook that must work like the template: the blank template
(``xlflow template``), the error workbook (the rows with errors, as the clerk wrote them, under the header
block the clerk filled in) and compare's pre-filled workbooks all come from :func:`template_book`."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xlflow.domain import vocab
from xlflow.domain.findings import column_letter
from xlflow.domain.kinds import AMOUNT_KEYS, ColumnSpec, HeaderField, KindSpec, kind, kind_spec
from xlflow.domain.rulebook import RuleBook
from xlflow.domain.values import cents_text
from xlflow.domain.vocab import FIRST_YEAR
from xlflow.outputs.xlsxbook import Sheet, data_validation, write_workbook
from xlflow.outputs.xlsxfast import Column, Starred, Style, cell_row, render_rows

VALIDATION_ROWS = 10_000  # validations cover a bounded range, not whole columns
LISTS_SHEET = "代码表"
INSTRUCTIONS_SHEET = "填写说明"


def header_row_index(spec: KindSpec) -> int:
    """0-based index of the column header row: title, header block rows, one blank row."""
    block = (len(spec.header_fields) + 1) // 2
    return 1 + block + (1 if block else 0)


def header_block(spec: KindSpec) -> list[tuple[HeaderField, int, int]]:
    """(field, 0-based row, first column) of each header-block label, two to a row: the label spans two
    columns, its value the next three (the reader takes the cell right of the label)."""
    return [(field, 1 + i // 2, 0 if i % 2 == 0 else 6) for i, field in enumerate(spec.header_fields)]


def coded_values(spec_type: str, book: RuleBook) -> list[str] | None:
    if spec_type == "hukou":
        return list(vocab.HUKOU)
    if spec_type == "person_class":
        return list(vocab.PERSON_CLASSES)
    if spec_type == "tier":
        return book.tiers or list(vocab.TIERS)
    if spec_type in ("identity", "identity_name"):
        return book.identities
    return None


def _list_types(spec: KindSpec, book: RuleBook) -> list[str]:
    types = [c.type for c in spec.columns if coded_values(c.type, book) is not None]
    return list(dict.fromkeys(types))


def _list_refs(spec: KindSpec, book: RuleBook) -> dict[str, str]:
    """{coded type: absolute range on the hidden 代码表 sheet} (lists can exceed 255 characters)."""
    refs = {}
    for i, col_type in enumerate(_list_types(spec, book)):
        letter = column_letter(i)
        size = len(coded_values(col_type, book))
        refs[col_type] = f"='{LISTS_SHEET}'!${letter}$2:${letter}${size + 1}"
    return refs


LIST_TITLES = {"hukou": "户口性质", "tier": "缴费档次", "identity": "缴费身份", "identity_name": "缴费身份",
               "person_class": "人员类别"}


def code_lists(spec: KindSpec, book: RuleBook) -> list[tuple[str, list[str]]]:
    """(Chinese title, values) of each dropdown list, in the column order of the hidden 代码表 sheet."""
    return [(LIST_TITLES.get(t, t), coded_values(t, book)) for t in _list_types(spec, book)]


def tiers_by_identity(book: RuleBook) -> list[tuple[str, str]]:
    """(tiers, identities having exactly those tiers): which tiers each identity has in the rule table."""
    groups: dict[str, list[str]] = {}
    for identity in book.identities:
        tiers = [t for t in vocab.TIERS if t in set(book.frame.loc[book.frame["identity"] == identity, "tier"])]
        label = f"{tiers[0]}至{tiers[-1]}" if len(tiers) > 2 and _consecutive(tiers) else "、".join(tiers)
        groups.setdefault(label, []).append(identity)
    return [(tiers, "、".join(ids)) for tiers, ids in groups.items()]


def _consecutive(tiers: list[str]) -> bool:
    numbers = [vocab.tier_number(t) for t in tiers]
    return numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def tier_prompt(col: ColumnSpec, book: RuleBook) -> str:
    """The tier column's hover prompt names the tiers each identity has (the rule table decides)."""
    lines = "；".join(f"{ids}：{tiers}" for tiers, ids in tiers_by_identity(book))
    text = f"{col.prompt} 可选档次：{lines}。"
    return text if len(text) <= 255 else f"{col.prompt} 各缴费身份可选的档次见“填写说明”。"


def _example_amounts(spec: KindSpec, book: RuleBook, year: int) -> dict[str, str]:
    ex = {c.key: c.example for c in spec.columns}
    if not kind(spec.kind).checks or not ex.get("identity"):  # the rule table's example is its own
        return {}
    found = book.lookup(pd.Series([ex["identity"]]), pd.Series([ex.get("hukou", "")]),
                        pd.Series([ex.get("tier", "")]),
                        pd.Series([int(ex.get("year") or year)]))  # fmt: skip
    if found["rule"].isna().iloc[0]:
        return {}
    amounts = {k: cents_text(int(found[k].iloc[0])) for k in AMOUNT_KEYS}
    if kind(spec.kind).declares:  # the rule's amounts and their total
        amounts["total"] = cents_text(sum(int(found[k].iloc[0]) for k in AMOUNT_KEYS))
        return amounts
    return {}  # an adjustment's amounts depend on what was paid: left empty in the example


def freeze_columns(spec: KindSpec) -> int:
    """Columns kept in view when scrolling right: through 姓名 and 身份证号码 (the 档次 for a rule table)."""
    keys = [c.key for c in spec.columns]
    return keys.index("id_number") + 1 if "id_number" in keys else 1


def instruction_lines(spec: KindSpec, book: RuleBook, when: dt.datetime) -> list[str]:
    """The numbered lines of the 填写说明 sheet, from the kind's spec and the rule table."""
    lines = [f"用途：{spec.purpose}"]
    if spec.header_fields:
        req = "、".join(f.label for f in spec.header_fields if f.required)
        opt = "、".join(f.label for f in spec.header_fields if not f.required)
        lines.append(f"表头信息：{req}为必填项（标红色 * 号），{opt}选填；填在标签右边的单元格里。")
    lines.append(f"从表头行的下一行开始逐行填写，{spec.row_rule}；标红色 * 号的列为必填项。"
                 "不要修改表头文字，不要合并单元格，不要插入空列。")  # fmt: skip
    for col in spec.columns:
        need = "必填" if col.required else "选填"
        text = f"“{col.header}”（{need}）：{col.instruction}"
        values = coded_values(col.type, book)
        if values is not None:
            text += f" 可选值：{'、'.join(values)}。"
        if col.type == "tier" and kind(spec.kind).checks:  # tiers by identity, from the rule table
            text += " 各缴费身份可选的档次：" + "；".join(f"{ids}：{t}" for t, ids in tiers_by_identity(book)) + "。"
        lines.append(text)
    lines += list(spec.notes)
    if any(c.type in ("amount", "signed_amount") and not c.required for c in spec.columns):
        lines.append("金额列可以不填：xlflow 会按征缴规则自动填写或计算，并在更正后的文件里标出。")
    lines.append(
        f"本模板根据征缴规则表《{book.source}》（共 {len(book.frame)} 条规则，指纹 {book.fingerprint}）"
        f"于 {when:%Y-%m-%d %H:%M} 生成，模板版本 {spec.version}。规则表更换后请重新生成模板。"
    )
    return lines


def example_row(spec: KindSpec, book: RuleBook, when: dt.datetime) -> dict[str, str]:
    example = {c.key: c.example for c in spec.columns}
    example.update(_example_amounts(spec, book, when.year))
    return example


def template_properties(spec: KindSpec, book: RuleBook, when: dt.datetime) -> dict[str, str]:
    """The custom document properties that mark a workbook as made from this kind and rule table."""
    return {"xlflow_kind": spec.kind, "xlflow_template_version": spec.version,
            "xlflow_rules_fingerprint": book.fingerprint, "xlflow_rules_source": book.source,
            "xlflow_generated_at": when.isoformat()}  # fmt: skip


# ------------------------------------------------------------------------------------- the workbook

TEXT_TYPES = ("id", "month", "name", "text")  # formatted as text (@): an ID typed in stays text


def column_style(col: ColumnSpec) -> int:
    if col.type in TEXT_TYPES:
        return Style.TEXT
    if col.type == "year":
        return Style.YEAR
    if col.type in ("amount", "signed_amount"):
        return Style.MONEY
    return Style.NONE


def cell_styles(col: ColumnSpec | None) -> tuple[int, int]:
    """(the style of a written data cell, of an offending one): with borders, in the column's format."""
    if col is not None and col.type in TEXT_TYPES:
        return Style.CELL_TEXT, Style.CELL_BAD_TEXT
    if col is not None and col.type == "year":
        return Style.CELL_YEAR, Style.CELL_BAD
    if col is not None and col.type in ("amount", "signed_amount"):
        return Style.CELL_MONEY, Style.CELL_BAD
    return Style.CELL, Style.CELL_BAD


@dataclass
class Body:
    """Rows written under the template's header row: one Column per sheet column, the template's first;
    ``headers`` / ``widths`` are those of the columns past the template's (a clerk's own, 反馈信息)."""

    columns: list[Column]
    rows: int
    headers: list[str] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)
    notes: list[tuple[int, str, str]] = field(default_factory=list)


def data_validations(spec: KindSpec, book: RuleBook, first: int, rows: int = 0) -> list[str]:
    """One <dataValidation> per template column on the data rows (at least VALIDATION_ROWS of them)."""
    last = first + max(rows, VALIDATION_ROWS) - 1
    refs = _list_refs(spec, book)
    out = []
    for i, col in enumerate(spec.columns):
        letter = column_letter(i)
        sqref = f"{letter}{first}:{letter}{last}"
        tiers = col.type == "tier" and bool(kind(spec.kind).checks)
        prompt = tier_prompt(col, book) if tiers else (col.prompt or col.instruction)
        common = {"prompt_title": col.header, "prompt": prompt}
        if coded_values(col.type, book) is not None and col.type in refs:
            out.append(data_validation(sqref, "list", refs[col.type].lstrip("="), error_title="不在下拉列表中",
                                       error=col.hint or "请从下拉列表选择。", **common))
        elif col.type == "year":
            out.append(data_validation(sqref, "whole", str(FIRST_YEAR), operator="between", formula2="2100",
                                       error_title="年度不对", error="请填写 4 位数字年份，例如 2024。", **common))
        elif col.type == "id":
            cell = f"{letter}{first}"
            out.append(data_validation(sqref, "custom", f"OR(LEN({cell})=15,LEN({cell})=18)",
                                       error_title="身份证号码位数不对", error="身份证号码应为 18 位（老证 15 位）。",
                                       **common))
        elif col.type == "amount":
            out.append(data_validation(sqref, "decimal", "0", operator="greaterThanOrEqual", error_title="金额不对",
                                       error="金额应为不小于 0 的数字，最多两位小数。", **common))
        else:
            out.append(data_validation(sqref, **common))
    return out


def data_sheet(spec: KindSpec, book: RuleBook, values: dict[str, str] | None = None, body: Body | None = None,
               marked: frozenset[str] = frozenset()) -> Sheet:
    """The data sheet: the title merged over the table, the header block (labels with a red * where
    required, ``values`` in their cells, ``marked`` keys shown as errors), the header row, then ``body``."""
    values = values or {}
    last = len(spec.columns) - 1
    merged = [f"A1:{column_letter(last)}1"]
    heads = [cell_row(1, [(spec.title, Style.BIG_TITLE)], height=30)]
    block: dict[int, list[tuple[str, int]]] = {}
    prompts = []
    for hf, row, left in header_block(spec):
        cells = block.setdefault(row + 1, [])
        cells += [("", Style.NONE)] * (left - len(cells))
        value_style = Style.VALUE_BAD if hf.key in marked else Style.VALUE
        cells += [(Starred(hf.label) if hf.required else hf.label, Style.LABEL), ("", Style.LABEL),
                  (values.get(hf.key, ""), value_style), ("", value_style), ("", value_style)]
        merged += [f"{column_letter(left)}{row + 1}:{column_letter(left + 1)}{row + 1}",
                   f"{column_letter(left + 2)}{row + 1}:{column_letter(left + 4)}{row + 1}"]
        prompts.append(data_validation(f"{column_letter(left + 2)}{row + 1}:{column_letter(left + 4)}{row + 1}",
                                       prompt_title=hf.label, prompt=hf.prompt))
    heads += [cell_row(row, cells) for row, cells in block.items()]
    head = header_row_index(spec)
    extra = body.headers if body else []
    heads.append(cell_row(head + 1, [(Starred(c.header) if c.required else c.header, Style.HEADER)
                                     for c in spec.columns] + [(h, Style.HEADER) for h in extra], height=32))
    first = head + 2
    n = body.rows if body else 0
    rows = itertools.chain(heads, render_rows(first, body.columns, n) if body and n else ())
    return Sheet(name=spec.title[:31], rows=rows, last_row=first + n - 1 if n else head + 1,
                 last_col=last + len(extra), widths=[c.width for c in spec.columns] + (body.widths if body else []),
                 column_styles={i: column_style(c) for i, c in enumerate(spec.columns) if column_style(c)},
                 freeze_rows=head + 1, freeze_cols=freeze_columns(spec), merged=merged,
                 validations=prompts + data_validations(spec, book, first, n), notes=body.notes if body else [])


def instructions_sheet(spec: KindSpec, book: RuleBook, when: dt.datetime) -> Sheet:
    """填写说明: numbered lines wrapped across the table's width, then the header row and an example row."""
    last = len(spec.columns) - 1
    widths = [max(c.width, 8) for c in spec.columns]
    chars = sum(widths[1:]) / 2.1  # 宋体 11: a Chinese character is about two units of column width
    rows = [cell_row(1, [(f"《{spec.title}》填写说明", Style.TITLE)], height=28)]
    merged = [f"A1:{column_letter(last)}1"]
    lines = instruction_lines(spec, book, when)
    for n, line in enumerate(lines, start=1):
        height = round(LINE * (1 + int(len(line) // max(chars, 1))) + 3, 2)  # every line of it shows
        rows.append(cell_row(n + 2, [(f"{n}.", Style.NOTE), (line, Style.NOTE)], height=height))
        merged.append(f"B{n + 2}:{column_letter(last)}{n + 2}")
    at = len(lines) + 4
    rows.append(cell_row(at, [("示例（填写时从数据表表头的下一行开始，不要把示例行带入）：", Style.NONE)]))
    merged.append(f"A{at}:{column_letter(last)}{at}")
    example = example_row(spec, book, when)
    rows.append(cell_row(at + 1, [(c.header, Style.HEADER) for c in spec.columns], height=32))
    rows.append(cell_row(at + 2, [(str(example.get(c.key, "")), Style.CELL_TEXT) for c in spec.columns]))
    return Sheet(name=INSTRUCTIONS_SHEET, rows=rows, last_row=at + 2, last_col=last, widths=widths, merged=merged)


LINE = 14.25  # points per line of 11-point 宋体


def lists_sheet(spec: KindSpec, book: RuleBook) -> Sheet:
    lists = code_lists(spec, book)
    height = max((len(v) for _, v in lists), default=0)
    columns = [Column(np.array([*values, *[""] * (height - len(values))], dtype=object)) for _, values in lists]
    head = cell_row(1, [(title, Style.HEADER) for title, _ in lists])
    return Sheet(name=LISTS_SHEET, rows=itertools.chain([head], render_rows(2, columns, height)),
                 last_row=height + 1, last_col=max(len(lists) - 1, 0), widths=[14] * len(lists), hidden=True)


def template_book(spec: KindSpec, book: RuleBook, when: dt.datetime, values: dict[str, str] | None = None,
                  body: Body | None = None, marked: frozenset[str] = frozenset()) -> tuple[list[Sheet], dict]:
    """([data sheet, 填写说明, 代码表], custom properties) of a workbook that works like the template."""
    return ([data_sheet(spec, book, values, body, marked), instructions_sheet(spec, book, when),
             lists_sheet(spec, book)], template_properties(spec, book, when))


def first_data_row(spec: KindSpec) -> int:
    """The Excel row of a template's first data row."""
    return header_row_index(spec) + 2


def build_template(kind: str, out: Path, book: RuleBook, when: dt.datetime) -> Path:
    """Write the template of ``kind`` (declaration, adjustment, rules) to ``out``."""
    spec = kind_spec(kind)
    when = when.replace(microsecond=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheets, props = template_book(spec, book, when)
    write_workbook(out, sheets, props)
    return out
