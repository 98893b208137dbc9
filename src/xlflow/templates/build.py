"""Write a template workbook (data sheet, 填写说明, hidden 代码表) with xlsxwriter (SPEC 4.5)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import xlsxwriter

from xlflow.domain import vocab
from xlflow.domain.values import cents_text
from xlflow.findings import column_letter
from xlflow.kinds import AMOUNT_KEYS, ColumnSpec, HeaderField, KindSpec, kind_spec
from xlflow.rules import RuleBook

VALIDATION_ROWS = 10_000  # validations cover a bounded range, not whole columns
LISTS_SHEET = "代码表"
INSTRUCTIONS_SHEET = "填写说明"
FIRST_YEAR = 2009  # 新农保 pilots started in 2009


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


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 16, "align": "center"})
        self.label = wb.add_format({**base, "bold": True, "align": "right"})
        self.value = wb.add_format({**base, "bottom": 1})
        self.header = wb.add_format({**base, "bold": True, "align": "center", "text_wrap": True,
                                     "border": 1, "bg_color": "#DDEBF7"})  # fmt: skip
        self.red = wb.add_format({**base, "bold": True, "font_color": "#FF0000"})
        self.text = wb.add_format({**base, "num_format": "@"})
        self.year = wb.add_format({**base, "num_format": "0"})
        self.amount = wb.add_format({**base, "num_format": "0.00"})
        self.plain = wb.add_format(base)
        self.note = wb.add_format({**base, "text_wrap": True, "valign": "top"})
        self.note_title = wb.add_format({**base, "bold": True, "font_size": 14})
        self.cell = wb.add_format({**base, "border": 1})


def _page_setup(ws) -> None:
    """Print as a clerk would: A4 landscape, one page wide."""
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _column_format(col: ColumnSpec, fmt: _Formats):
    if col.type in ("id", "month", "name", "text"):
        return fmt.text
    if col.type == "year":
        return fmt.year
    if col.type in ("amount", "signed_amount"):
        return fmt.amount
    return fmt.plain


def _validation(col: ColumnSpec, values: list[str] | None, list_ref: str | None, id_cell: str = "A1",
                prompt: str | None = None) -> dict:
    rule: dict = {"input_title": col.header[:32], "input_message": (prompt or col.prompt or col.instruction)[:255]}
    if list_ref:
        rule.update(validate="list", source=list_ref, error_type="warning",
                    error_title="不在下拉列表中", error_message=(col.hint or "请从下拉列表选择。")[:255])  # fmt: skip
    elif col.type == "year":
        rule.update(validate="integer", criteria="between", minimum=FIRST_YEAR, maximum=2100,
                    error_type="warning", error_title="年度不对",
                    error_message="请填写 4 位数字年份，例如 2024。")  # fmt: skip
    elif col.type == "id":
        rule.update(validate="custom", value=f"=OR(LEN({id_cell})=15,LEN({id_cell})=18)",
                    error_type="warning", error_title="身份证号码位数不对",
                    error_message="身份证号码应为 18 位（老证 15 位）。")  # fmt: skip
    elif col.type == "amount":
        rule.update(validate="decimal", criteria=">=", value=0, error_type="warning",
                    error_title="金额不对", error_message="金额应为不小于 0 的数字，最多两位小数。")  # fmt: skip
    else:
        rule.update(validate="any")
    return rule


def _list_types(spec: KindSpec, book: RuleBook) -> list[str]:
    types = [c.type for c in spec.columns if coded_values(c.type, book) is not None]
    return list(dict.fromkeys(types))


def _list_refs(spec: KindSpec, book: RuleBook) -> dict[str, str]:
    """{coded type: absolute range on the hidden 代码表 sheet} (lists can exceed 255 characters)."""
    refs = {}
    for i, kind in enumerate(_list_types(spec, book)):
        letter = column_letter(i)
        size = len(coded_values(kind, book))
        refs[kind] = f"='{LISTS_SHEET}'!${letter}$2:${letter}${size + 1}"
    return refs


LIST_TITLES = {"hukou": "户口性质", "tier": "缴费档次", "identity": "缴费身份", "identity_name": "缴费身份",
               "person_class": "人员类别"}


def code_lists(spec: KindSpec, book: RuleBook) -> list[tuple[str, list[str]]]:
    """(Chinese title, values) of each dropdown list, in the column order of the hidden 代码表 sheet."""
    return [(LIST_TITLES.get(kind, kind), coded_values(kind, book)) for kind in _list_types(spec, book)]


def _write_lists(wb, spec: KindSpec, book: RuleBook) -> None:
    sheet = wb.add_worksheet(LISTS_SHEET)
    for i, (title, values) in enumerate(code_lists(spec, book)):
        sheet.write(0, i, title)
        sheet.write_column(1, i, values)
    sheet.hide()


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


def _write_data_sheet(wb, spec: KindSpec, book: RuleBook, fmt: _Formats) -> None:
    ws = wb.add_worksheet(spec.title)
    last = len(spec.columns) - 1
    ws.merge_range(0, 0, 0, last, spec.title, fmt.title)
    ws.set_row(0, 30)
    for field, row, left in header_block(spec):
        ws.merge_range(row, left, row, left + 1, "", fmt.label)
        if field.required:
            ws.write_rich_string(row, left, fmt.label, field.label, fmt.red, "*", fmt.label)
        else:
            ws.write(row, left, field.label, fmt.label)
        ws.merge_range(row, left + 2, row, left + 4, "", fmt.value)
        ws.data_validation(row, left + 2, row, left + 4,
                           {"validate": "any", "input_title": field.label[:32],
                            "input_message": field.prompt[:255]})  # fmt: skip
    head = header_row_index(spec)
    lists = _list_refs(spec, book)
    for c, col in enumerate(spec.columns):
        ws.set_column(c, c, col.width, _column_format(col, fmt))
        if col.required:
            ws.write_rich_string(head, c, fmt.header, col.header, fmt.red, "*", fmt.header)
        else:
            ws.write(head, c, col.header, fmt.header)
        values = coded_values(col.type, book)
        ref = lists.get(col.type) if values is not None else None
        prompt = tier_prompt(col, book) if col.type == "tier" and spec.kind != "rules" else None
        id_cell = f"{column_letter(c)}{head + 2}"
        ws.data_validation(head + 1, c, head + VALIDATION_ROWS, c, _validation(col, values, ref, id_cell, prompt))
    ws.set_row(head, 32)
    _page_setup(ws)
    ws.repeat_rows(head)
    ws.freeze_panes(head + 1, freeze_columns(spec))
    ws.activate()



def _example_amounts(spec: KindSpec, book: RuleBook, year: int) -> dict[str, str]:
    ex = {c.key: c.example for c in spec.columns}
    if spec.kind == "rules" or not ex.get("identity"):
        return {}
    found = book.lookup(pd.Series([ex["identity"]]), pd.Series([ex.get("hukou", "")]),
                        pd.Series([ex.get("tier", "")]),
                        pd.Series([int(ex.get("year") or year)]))  # fmt: skip
    if found["rule"].isna().iloc[0]:
        return {}
    amounts = {k: cents_text(int(found[k].iloc[0])) for k in AMOUNT_KEYS}
    if spec.kind == "declaration":
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
        if col.type == "tier" and spec.kind != "rules":
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


def _write_instructions(wb, spec: KindSpec, book: RuleBook, fmt: _Formats, when: dt.datetime):
    ws = wb.add_worksheet(INSTRUCTIONS_SHEET)
    last = len(spec.columns) - 1
    for c, col in enumerate(spec.columns):
        ws.set_column(c, c, max(col.width, 8))
    text_width = sum(max(c.width, 8) for c in spec.columns[1:])
    _page_setup(ws)
    ws.merge_range(0, 0, 0, last, f"《{spec.title}》填写说明", fmt.note_title)
    ws.set_row(0, 28)
    row = 2
    for n, line in enumerate(instruction_lines(spec, book, when), start=1):
        ws.write(row, 0, f"{n}.", fmt.note)
        ws.merge_range(row, 1, row, last, line, fmt.note)
        ws.set_row(row, 16 * (1 + (2 * len(line)) // text_width))
        row += 1
    row += 1
    ws.merge_range(row, 0, row, last, "示例（填写时从数据表表头的下一行开始，不要把示例行带入）：", fmt.note)
    example = example_row(spec, book, when)
    row += 1
    for c, col in enumerate(spec.columns):
        ws.write_string(row, c, col.header, fmt.header)
        ws.write_string(row + 1, c, str(example.get(col.key, "")), fmt.cell)


def build_template(kind: str, out: Path, book: RuleBook, when: dt.datetime | None = None) -> Path:
    """Write the template of ``kind`` (declaration, adjustment, rules) to ``out``."""
    spec = kind_spec(kind)
    when = when or dt.datetime.now().replace(microsecond=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(out), {"strings_to_formulas": False, "strings_to_urls": False})  # data is text
    fmt = _Formats(wb)
    wb.set_properties({"title": spec.title, "author": "xlflow", "comments": spec.purpose,
                       "created": when})  # fmt: skip
    for name, value in template_properties(spec, book, when).items():
        wb.set_custom_property(name, value)
    _write_data_sheet(wb, spec, book, fmt)
    _write_instructions(wb, spec, book, fmt, when)
    _write_lists(wb, spec, book)
    wb.close()
    return out
