"""What web systems export as "Excel": HTML tables, XML Spreadsheet 2003 and tab-separated text, often named
.xls. Each is read by its content, through the same reader, limits and checks as a real workbook."""

from __future__ import annotations

import html
import json
import subprocess
import sys
import tracemalloc

import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from conftest import EXAMPLES, ROOT
from test_compare import YEAR, lists, payment_rows, roster_rows
from test_ledger import PAY_HEAD, ROSTER_HEAD, paid, payments_xls, person, roster_csv
from test_validate import TODAY, pid
from test_watch import age, inbox, names, results, ws  # noqa: F401  (the fixture)
from xlflow.app.imports import import_file
from xlflow.app.pipeline import process_workbook
from xlflow.cli import main
from xlflow.io.settings import Settings
from xlflow.store.ledger import Ledger
from xlflow.watch import Watcher


def shown(v) -> str:
    """A value as a web page shows it (a whole number without ".0")."""
    if v is None or v == "":
        return ""
    if isinstance(v, float) and abs(v) >= 1e11:  # Excel's General format: 4.30304E+17
        return f"{v:.5E}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def html_export(path, grid, encoding="utf-8", title_span=0, blank_after=(), header_rows=None, numbers=()):
    """A page like a web system's 导出 Excel: a <meta> charset, a style sheet, a script, text cells formatted
    as text (mso-number-format "\\@"), the title merged across the table (colspan)."""
    out = [f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={encoding}">',
           '<style>.txt { mso-number-format:"\\@"; } td { border: .5pt solid }</style>',
           '<script>document.write("<table><tr><td>不是数据</td></tr></table>");</script></head><body>',
           '<table border="1">']
    for r, values in enumerate(grid):
        if header_rows and r in header_rows:
            out.append(header_rows[r])
            continue
        if r == 0 and title_span:
            title = html.escape(shown(values[0]))
            out.append(f'<tr><td colspan="{title_span}" align="center"><b>{title}</b></td></tr>')
            continue
        cells = []
        for c, v in enumerate(values):
            if (r, c) in numbers or isinstance(v, float):  # what Excel saves as a number
                cells.append(f'<td x:num="{v}">{html.escape(shown(v))}</td>')
            else:
                cells.append(f'<td class="txt">{html.escape(shown(v))}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
        if r in blank_after:
            out.append("<tr><td></td></tr>")
    out.append("</table></body></html>")
    path.write_bytes("\n".join(out).encode("gb18030" if encoding == "gbk" else encoding))
    return path


def xml_export(path, grid, encoding="UTF-8", title_across=0, sheet="Sheet1", hidden_sheet=False):
    """An XML Spreadsheet 2003 file: typed cells, the title merged (MergeAcross), the IDs as String."""
    rows = []
    for r, values in enumerate(grid):
        cells = []
        for c, v in enumerate(values):
            if v is None or v == "":
                continue
            typ = "Number" if isinstance(v, int | float) and not isinstance(v, bool) else "String"
            merge = f' ss:MergeAcross="{title_across - 1}"' if r == 0 and c == 0 and title_across else ""
            cells.append(f'<Cell ss:Index="{c + 1}"{merge}><Data ss:Type="{typ}">{html.escape(shown(v))}</Data></Cell>')
        rows.append(f'<Row ss:Index="{r + 1}">{"".join(cells)}</Row>')
    other = ('<Worksheet ss:Name="旧数据"><Table><Row><Cell><Data ss:Type="String">备注</Data></Cell></Row></Table>'
             '<WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel"><Visible>SheetHidden</Visible>'
             '</WorksheetOptions></Worksheet>') if hidden_sheet else ""
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n<?mso-application progid="Excel.Sheet"?>\n'
            '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"'
            ' xmlns:o="urn:schemas-microsoft-com:office:office"'
            ' xmlns:x="urn:schemas-microsoft-com:office:excel" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"'
            ' xmlns:html="http://www.w3.org/TR/REC-html40">\n'
            f'<Styles><Style ss:ID="Default"/></Styles>{other}<Worksheet ss:Name="{sheet}"><Table>\n'
            + "\n".join(rows) + "\n</Table></Worksheet></Workbook>")
    path.write_bytes(text.encode("gb18030" if encoding.upper() == "GB2312" else encoding))
    return path


def text_export(path, grid, encoding="utf-16"):
    """Excel's "Unicode 文本" (UTF-16 with a BOM, tab-separated) or a GBK one."""
    text = "\r\n".join("\t".join(shown(v) for v in values) for values in grid)
    path.write_bytes(text.encode(encoding))
    return path


def example_grid(name="批量缴费申报表.xlsx"):
    return CalamineWorkbook.from_path(str(EXAMPLES / name)).get_sheet_by_index(0).to_python()


def book():
    from xlflow.paths import example_rules
    from xlflow.validation.rules import load_rulebook

    return load_rulebook(example_rules())


def outcome(result):
    return ({(f.code, f.row, f.cell, f.severity) for f in result.findings}, result.rows, result.error_row_count,
            result.totals)


EXPORTS = {
    "html-gbk": lambda p, g: html_export(p, g, "gbk", title_span=len(g[4])),
    "html-utf8": lambda p, g: html_export(p, g, "utf-8"),
    "xml-utf8": lambda p, g: xml_export(p, g, "UTF-8", title_across=len(g[4])),
    "xml-gb2312": lambda p, g: xml_export(p, g, "GB2312"),
    "text-utf16": lambda p, g: text_export(p, g, "utf-16"),
    "text-gbk": lambda p, g: text_export(p, g, "gb18030"),
}
WORDS = {"html": "HTML 格式导出的表格", "xml": "XML 格式导出的表格", "text": "制表符分隔的文本"}


@pytest.mark.parametrize("form", sorted(EXPORTS))
def test_a_declaration_exported_as_html_xml_or_text_in_a_xls_is_checked_like_the_workbook(tmp_path, form):
    rules = book()
    real = process_workbook(EXAMPLES / "批量缴费申报表.xlsx", rules, tmp_path / "real", today=TODAY)
    path = EXPORTS[form](tmp_path / "批量缴费申报表.xls", example_grid())
    copy = process_workbook(path, rules, tmp_path / "copy", today=TODAY)
    assert copy.error_row_count > 0 and outcome(copy) == outcome(real)  # the same codes at the same cells
    assert WORDS[form.split("-")[0]] in copy.summary_line() and copy.as_json()["format"]
    assert "网页" not in real.summary_line() and real.as_json()["format"] is None
    named = EXPORTS[form](tmp_path / ("申报表." + {"html": "html", "xml": "xml", "text": "txt"}[form[:4].rstrip("-")]),
                          example_grid())
    assert "实际是" not in process_workbook(named, rules, tmp_path / "named", today=TODAY).summary_line()


def test_roster_and_payments_exported_as_html_and_xml_import_with_the_same_counts(tmp_path):
    roster = [person("101"), person("102", name="李四"), ["123", "王五", "农业", "正常缴费", "051", "", "43030201"]]
    payments = [paid("101"), paid("101", personal=-10), paid("102", 2023)]
    counts = {}
    for form in ("real", "export"):
        with Ledger(tmp_path / f"{form}.sqlite") as store:
            if form == "real":
                r = import_file(store, roster_csv(tmp_path / "r.csv", roster), "roster")
                p = import_file(store, payments_xls(tmp_path / "p.xls", payments), "payments")
            else:
                grid = [["参保人员信息导出（2026-11-25）"], ROSTER_HEAD, *roster]
                r = import_file(store, html_export(tmp_path / "参保人员信息.xls", grid, "gbk", title_span=7), "roster")
                grid = [["缴费明细导出"], PAY_HEAD, *payments]
                p = import_file(store, xml_export(tmp_path / "缴费明细.xls", grid, "GB2312"), "payments")
                assert "HTML 格式导出的表格" in r.summary_line() and "XML 格式导出的表格" in p.summary_line()
            counts[form] = (r.counts, p.counts, store.status()["paid_person_years"],
                            store.view([pid(seq="101")]).paid.loc[0, "personal"])
    assert counts["export"] == counts["real"]
    assert counts["real"][0]["refused"] == 1 and counts["real"][3] == 9000


def test_a_two_row_header_merged_cells_blank_rows_and_line_breaks_in_html(tmp_path):
    """缴费金额 merged over the five amounts (colspan), the other headers over both rows (rowspan), a blank
    row in the table, a <br> and a &nbsp; in a name: the rows land where Excel shows them."""
    head = ('<tr>' + "".join(f'<td rowspan="2">{h}</td>' for h in PAY_HEAD[:6]) + '<td colspan="5">缴费金额</td></tr>'
            '<tr>' + "".join(f"<td>{h}</td>" for h in PAY_HEAD[6:]) + "</tr>")
    rows = [paid("101", name="张&nbsp;三"), paid("102", 2023, name="李四")]
    grid = [["缴费明细导出"], ["head"], ["head2"], *rows]
    path = html_export(tmp_path / "缴费明细.xls", grid, title_span=11, header_rows={1: head, 2: ""}, blank_after={3})
    path.write_bytes(path.read_bytes().replace("张&amp;nbsp;三".encode(), "张&nbsp;三<br>".encode()))
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "payments")
        assert result.counts == {"new": 2, "changed": 0, "unchanged": 0, "refused": 0}
        assert store.status()["paid_person_years"] == {2023: 1, 2024: 1}
    from xlflow.io.opening import open_sheets

    [sheet] = open_sheets(path)
    rows = list(sheet.rows())
    assert rows[0][0] == "缴费明细导出" and rows[1][:7] == PAY_HEAD[:6] + ["缴费金额"]
    assert rows[2][:6] == [""] * 6 and rows[2][6:11] == PAY_HEAD[6:]  # under the rowspans: empty, as merged cells
    assert rows[3][1] == "张\xa0三" and rows[4] == [""] and rows[5][1] == "李四"  # the blank row is row 5
    assert all("不是数据" not in str(v) for r in rows for v in r)  # the script is not read


def test_an_id_excel_wrote_as_a_number_is_c02_and_ids_written_as_text_stay_text(tmp_path):
    grid = example_grid()
    number = 4.30304197206276e17  # what Excel keeps of 430304197206275637
    grid[5][2] = number
    path = html_export(tmp_path / "申报.xls", grid, numbers={(5, 2)})
    result = process_workbook(path, book(), tmp_path / "out", today=TODAY)
    c02 = [f for f in result.findings if f.code == "C02"]
    assert [(f.row, f.cell) for f in c02] == [(6, "C6"), (7, "C7")] and "E+17" in c02[0].message
    real = process_workbook(EXAMPLES / "批量缴费申报表.xlsx", book(), tmp_path / "real", today=TODAY)
    assert [f.row for f in real.findings if f.code == "C02"] == [7]  # the example's own number in C7
    xml = xml_export(tmp_path / "申报2.xls", grid)
    assert [(f.row, f.cell) for f in process_workbook(xml, book(), tmp_path / "x", today=TODAY).findings
            if f.code == "C02"] == [(6, "C6"), (7, "C7")]
    ids = [r[2] for r in example_grid()[5:]]
    text = html_export(tmp_path / "申报3.xls", example_grid())  # IDs written as text stay every digit
    from xlflow.io.opening import open_sheets

    [sheet] = open_sheets(text)
    got = [r[2] for r in list(sheet.rows())[5:]]
    assert [g for g, v in zip(got, ids, strict=True) if isinstance(v, str)] == [v for v in ids if isinstance(v, str)]


def test_a_thousand_row_export_and_a_hidden_sheet_in_xml(tmp_path):
    rows = [person(f"{i:03d}") for i in range(1000)]
    grid = [["参保人员信息"], ROSTER_HEAD, *rows]
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, xml_export(tmp_path / "r.xls", grid, hidden_sheet=True), "roster")
        assert result.counts["new"] == 1000 and store.status()["persons"] == 1000
    with Ledger(tmp_path / "h.sqlite") as store:
        assert import_file(store, html_export(tmp_path / "r2.xls", grid), "roster").counts["new"] == 1000


def f01(path, tmp_path):
    result = process_workbook(path, book(), tmp_path / "out", today=TODAY)
    assert result.unusable and result.exit_code == 2
    [finding] = [f for f in result.findings if f.severity == "error"]
    return finding


@pytest.mark.parametrize("decl", [
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
])
def test_an_xml_export_with_entities_is_refused(tmp_path, decl):
    path = xml_export(tmp_path / "bomb.xls", example_grid())
    text = path.read_text(encoding="utf-8").replace("?>\n<?mso", f"?>\n{decl}\n<?mso", 1)
    path.write_text(text.replace("<Data ss:Type=\"String\">萧娜", "<Data ss:Type=\"String\">&lol2;&xxe;"), "utf-8")
    finding = f01(path, tmp_path)
    assert finding.code == "F01" and "实体" in finding.message


def test_a_broken_xml_export_and_an_endless_html_tag_are_refused_plainly(tmp_path):
    path = xml_export(tmp_path / "half.xls", example_grid())
    path.write_bytes(path.read_bytes()[:-300])
    assert f01(path, tmp_path).code == "F01" and "不完整" in f01(path, tmp_path).message
    endless = tmp_path / "endless.xls"
    endless.write_bytes(b"<html><body><table><tr><td title='" + b"a" * (8 * 2**20))
    finding = f01(endless, tmp_path)
    assert finding.code == "F01" and "异常长的标签" in finding.message


def test_a_100_mb_single_line_html_is_read_in_bounded_memory(tmp_path):
    """One line of 100 MB (no line breaks anywhere): a real process, its peak memory measured."""
    path = tmp_path / "one-line.xls"
    cell = "<td>" + "名" * 30_000 + "</td>"
    with open(path, "wb") as fh:
        fh.write(b"<html><body><table><tr><td>\xe5\xa7\x93\xe5\x90\x8d</td></tr><tr>")
        chunk = (cell * 100 + "</tr><tr>").encode("utf-8")  # rows of 100 cells, all on the one line
        while fh.tell() < 100 * 2**20:
            fh.write(chunk)
        fh.write(b"</tr></table></body></html>")
    script = (f"import sys, resource; sys.path.insert(0, {str(ROOT / 'src')!r})\n"
              "from xlflow.io.opening import open_sheets\n"
              f"[s] = open_sheets({str(path)!r})\n"
              "n = sum(len(r) for r in s.rows())\n"
              "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    cells, peak_mib = map(int, done.stdout.split())
    # 102 MB on the dev venv, 409 MB on a clean clone (not yet explained): bounded, never the file many times over
    assert cells > 1000 and peak_mib < 600, peak_mib


def test_a_text_export_over_the_row_limit_is_refused_while_streaming(tmp_path):
    path = tmp_path / "big.csv"
    line = ",".join([pid(seq="101"), "张三", "农业", "正常缴费", "051", "", "43030201"]) + "\r\n"
    path.write_bytes(("参保人员信息\r\n" + ",".join(ROSTER_HEAD) + "\r\n" + line * 200_000).encode("gb18030"))
    tracemalloc.start()
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "roster", settings=Settings(max_rows=10_000))
        assert store.status()["persons"] == 0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    [finding] = [f for f in result.check.findings if f.severity == "error"]
    assert finding.code == "F06" and "200,002" in finding.message and "10,000" in finding.message
    assert result.exit_code == 2 and peak < 40 * 2**20  # the rows were counted, never kept


def test_every_command_takes_them_compare_with_exported_roster_payments_and_lists(tmp_path):
    def run(roster, pay, files):
        args = ["compare", "--year", str(YEAR), "--roster", str(roster), "--payments", str(pay), "--out",
                str(tmp_path / "out"), "--json"]
        for kind, f in files.items():
            args += ["--list", f"{kind}={f}"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        return data["persons"], data["unmatched"], data["actions"]

    real_lists = lists(tmp_path)
    real = run(roster_csv(tmp_path / "r.csv", roster_rows()), payments_xls(tmp_path / "p.xls", payment_rows()),
               real_lists)
    exported = {}
    for kind, f in real_lists.items():
        grid = CalamineWorkbook.from_path(str(f)).get_sheet_by_index(0).to_python()
        exported[kind] = html_export(tmp_path / f"{kind}名单.xls", grid, "gbk")
    roster = html_export(tmp_path / "参保人员.xls", [["参保人员信息"], ROSTER_HEAD, *roster_rows()], "gbk")
    pay = xml_export(tmp_path / "缴费.xls", [["缴费明细"], PAY_HEAD, *payment_rows()])
    assert run(roster, pay, exported) == real


def test_the_watched_folder_takes_an_html_xls(ws, tmp_path):  # noqa: F811
    path = html_export(inbox(ws) / "某镇申报表.xls", example_grid(), "gbk")
    age(path)
    with Watcher(ws, settle=0) as watcher:
        [done] = watcher.process_pending()
    assert done.state == "done" and done.rows == 36 and done.errors == 14
    [folder] = results(ws)
    assert "HTML 格式导出的表格" in (folder / "结果.txt").read_text(encoding="utf-8-sig")
    assert names(ws / "已处理") == ["某镇申报表.xls"]


def test_html_written_loosely_uppercase_unquoted_thead_th_nbsp_and_comments(tmp_path):
    """How older systems and Excel's own "网页" save write a page: every such form reads to the same rows."""
    rows = "".join(
        f"<TR><TD class=xl24>{v[0]}</TD><TD>{v[1]}</TD><td>{v[2]}</td><td>{v[3]}</td><td>{v[4]}</td>"
        f"<td>&nbsp;</td><td x:str>{v[6]}</td>" for v in (person("101"), person("102", name="李四")))  # no </TR>
    page = ("<!DOCTYPE html><HTML><HEAD><META charset=gbk><!--[if gte mso 9]><xml><x:ExcelWorkbook>"
            "</x:ExcelWorkbook></xml><![endif]--></HEAD><BODY><P>参保人员信息 (a < b)</P>"
            "<TABLE border=1><THEAD><TR>" + "".join(f"<TH>{h}</TH>" for h in ROSTER_HEAD) + "</TR></THEAD>"
            f"<TBODY>{rows}</TBODY></TABLE></BODY></HTML>")
    path = tmp_path / "roster.xls"
    path.write_bytes(page.encode("gb18030"))
    from xlflow.io.opening import open_sheets

    [sheet] = open_sheets(path)
    got = list(sheet.rows())
    assert got[0] == ["参保人员信息 (a < b)"] and got[1] == ROSTER_HEAD
    assert got[2] == [pid(seq="101"), "张三", "农业", "正常缴费", "051", "", "43030201"]
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "roster")
        assert result.counts == {"new": 2, "changed": 0, "unchanged": 0, "refused": 0}
        assert not [f for f in result.check.findings if f.code == "X01"]  # an &nbsp; cell is empty, not a fix


def test_xml_with_prefixed_elements_plain_attributes_errors_formulas_and_dates(tmp_path):
    head = "".join(f'<ss:Cell><ss:Data Type="String">{h}</ss:Data></ss:Cell>' for h in PAY_HEAD)

    def data_row(v, amount_cell):
        cells = "".join(f'<ss:Cell><ss:Data ss:Type="String">{x}</ss:Data></ss:Cell>' for x in v[:6])
        return f"<ss:Row>{cells}{amount_cell}" + "".join(
            f'<ss:Cell><ss:Data ss:Type="Number">{x}</ss:Data></ss:Cell>' for x in v[7:]) + "</ss:Row>"

    body = (data_row(paid("101"), '<ss:Cell><ss:Data ss:Type="Number">100</ss:Data></ss:Cell>')
            + data_row(paid("102"), '<ss:Cell ss:Formula="=H1*2"/>')  # a formula saved without its value: C11
            + data_row(paid("103"), '<ss:Cell><ss:Data ss:Type="Error">#N/A</ss:Data></ss:Cell>'))  # C13
    text = ('<?xml version="1.0"?>\n<ss:Workbook xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">'
            '<ss:Worksheet ss:Name="缴费"><ss:Table><ss:Row><ss:Cell ss:MergeAcross="10"><ss:Data ss:Type="String">'
            f'缴费明细</ss:Data></ss:Cell></ss:Row><ss:Row>{head}</ss:Row>{body}</ss:Table></ss:Worksheet>'
            "</ss:Workbook>")
    path = tmp_path / "pay.xls"
    path.write_text(text, encoding="utf-8")
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "payments", out_dir=tmp_path)
    codes = {(f.code, f.cell) for f in result.check.findings if f.severity == "error"}
    assert codes == {("C11", "G4"), ("C13", "G5")}, codes
    assert result.counts["new"] == 1 and result.counts["refused"] == 2


@pytest.mark.parametrize("form", ["html", "xml"])
def test_a_cell_a_web_export_merges_down_is_given_to_each_row(tmp_path, form):
    """A web system's export merges 户籍 over one person's records (rowspan, ss:MergeDown): the second record
    shows it too, so it is given it (X11), not refused with C01."""
    grid = [["缴费明细导出"], PAY_HEAD, paid("101", 2023), paid("101", 2024), paid("102", 2024)]
    grid[3][5] = ""
    if form == "html":
        path = html_export(tmp_path / "缴费明细.xls", grid)
        page = path.read_text(encoding="utf-8")
        page = page.replace('<td class="txt">农业户籍</td>', '<td class="txt" rowspan="2">农业户籍</td>', 1)
        path.write_text(page.replace('<td class="txt"></td>', "", 1), encoding="utf-8")
    else:
        path = xml_export(tmp_path / "缴费明细.xml", grid)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('<Cell ss:Index="6"><Data ss:Type="String">农业户籍',
                                     '<Cell ss:Index="6" ss:MergeDown="1"><Data ss:Type="String">农业户籍', 1),
                        encoding="utf-8")
    with Ledger(tmp_path / "l.sqlite") as store:
        result = import_file(store, path, "payments")
        assert result.counts == {"new": 3, "changed": 0, "unchanged": 0, "refused": 0}
        assert [(f.row, f.cell) for f in result.check.findings if f.code == "X11"] == [(4, "F4")]
        held = store.db.execute("SELECT year, hukou FROM payments WHERE id_number = ? ORDER BY year",
                                (pid(seq="101"),)).fetchall()
    assert held == [(2023, "农业户籍"), (2024, "农业户籍")]
