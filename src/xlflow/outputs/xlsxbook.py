"""The workbook around the streamed rows: sheets (frozen panes, widths, merges, validations, print setup), cell
notes, custom properties, the theme, and the zip written part by part (ZIP64 only where a part needs it)."""

from __future__ import annotations

import queue
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from xlflow.domain.findings import column_letter
from xlflow.outputs.xlsxfast import STYLES_XML, _escape_one


@dataclass
class Sheet:
    name: str
    rows: Iterable[str]  # rendered <row> elements, in order
    last_row: int
    last_col: int
    widths: list[float] = field(default_factory=list)
    column_styles: dict[int, int] = field(default_factory=dict)
    freeze_rows: int = 0
    freeze_cols: int = 0
    hidden: bool = False
    validations: list[str] = field(default_factory=list)  # rendered <dataValidation> elements
    merged: list[str] = field(default_factory=list)  # A1 ranges
    autofilter: str | None = None  # an A1 range with filter buttons on its first row
    notes: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column letter, text): cell notes


def _sheet_head(sheet: Sheet, selected: bool) -> str:
    dim = f"A1:{column_letter(max(sheet.last_col, 0))}{max(sheet.last_row, 1)}"
    pane = ""
    if sheet.freeze_rows or sheet.freeze_cols:
        top = f"{column_letter(sheet.freeze_cols)}{sheet.freeze_rows + 1}"
        active = {(True, True): "bottomRight", (True, False): "bottomLeft",
                  (False, True): "topRight"}[(bool(sheet.freeze_rows), bool(sheet.freeze_cols))]
        splits = (f' xSplit="{sheet.freeze_cols}"' if sheet.freeze_cols else "") + (
            f' ySplit="{sheet.freeze_rows}"' if sheet.freeze_rows else "")
        pane = (f'<pane{splits} topLeftCell="{top}" activePane="{active}" state="frozen"/>'
                f'<selection pane="{active}" activeCell="{top}" sqref="{top}"/>')
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"'
        + (f' style="{sheet.column_styles[i]}"' if i in sheet.column_styles else "") + "/>"
        for i, w in enumerate(sheet.widths)
    )
    tab = ' tabSelected="1"' if selected else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'  # printed one page wide (pageSetup below)
        f'<dimension ref="{dim}"/><sheetViews><sheetView workbookViewId="0"'
        f"{tab}>{pane}</sheetView></sheetViews>"
        '<sheetFormatPr defaultRowHeight="15"/>' + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>"
    )


def _sheet_tail(sheet: Sheet) -> str:
    merged = "".join(f'<mergeCell ref="{r}"/>' for r in sheet.merged)
    merged = f'<mergeCells count="{len(sheet.merged)}">{merged}</mergeCells>' if merged else ""
    checks = "".join(sheet.validations)
    checks = f'<dataValidations count="{len(sheet.validations)}">{checks}</dataValidations>' if checks else ""
    autofilter = f'<autoFilter ref="{sheet.autofilter}"/>' if sheet.autofilter else ""
    # A4 landscape, one page wide, gridlines, the file name and page numbers in the footer; the header rows
    # repeat on every page through the workbook's _xlnm.Print_Titles.
    return ("</sheetData>" + autofilter + merged + checks + '<printOptions gridLines="1"/>'
            '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
            '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
            "<headerFooter><oddFooter>&amp;L&amp;F&amp;R第 &amp;P 页，共 &amp;N 页</oddFooter></headerFooter>"
            + ('<legacyDrawing r:id="rId2"/>' if sheet.notes else "") + "</worksheet>")


def data_validation(sqref: str, kind: str = "any", formula: str | None = None, prompt_title: str = "",
                    prompt: str = "", error_title: str = "", error: str = "", operator: str | None = None,
                    formula2: str | None = None) -> str:
    """One <dataValidation> (a dropdown list, a number or length range, or only a hover prompt).
    Excel's limits: a prompt title 32 characters, a prompt and an error message 255."""
    attrs = [f'type="{kind}"'] if kind != "any" else []
    if operator:
        attrs.append(f'operator="{operator}"')
    attrs += ['errorStyle="warning"', 'allowBlank="1"', 'showInputMessage="1"']
    if kind != "any":
        attrs.append('showErrorMessage="1"')
    for name, text, limit in (("errorTitle", error_title, 32), ("error", error, 255),
                              ("promptTitle", prompt_title, 32), ("prompt", prompt, 255)):
        if text:
            attrs.append(f'{name}="{escape(text[:limit], {chr(34): "&quot;", chr(10): "&#10;"})}"')
    body = ""
    if formula is not None:
        body += f"<formula1>{escape(formula)}</formula1>"
    if formula2 is not None:
        body += f"<formula2>{escape(formula2)}</formula2>"
    return f'<dataValidation {" ".join(attrs)} sqref="{sqref}">{body}</dataValidation>'


def _custom_xml(properties: dict[str, str]) -> str:
    items = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{i}" name="{escape(k)}">'
        f"<vt:lpwstr>{escape(str(v))}</vt:lpwstr></property>"
        for i, (k, v) in enumerate(properties.items(), start=2)
    )
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
            'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
            f"{items}</Properties>")


def write_workbook(path: Path, sheets: list[Sheet], properties: dict[str, str] | None = None) -> None:
    """Write ``sheets`` to an .xlsx at ``path`` (streamed; memory stays flat); ``properties`` go to the
    custom document properties (the template kind and rule-table fingerprint)."""
    n = len(sheets)
    custom_type = ('<Override PartName="/docProps/custom.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/>'
                   if properties else "")
    custom_rel = ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                  'relationships/custom-properties" Target="docProps/custom.xml"/>' if properties else "")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        zf.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/xl/theme/theme1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.theme+xml"/>'
            '<Default Extension="vml" ContentType="application/vnd.openxmlformats-officedocument.vmlDrawing"/>'
            + "".join(f'<Override PartName="/xl/comments{i}.xml" ContentType="application/vnd.openxmlformats-'
                      'officedocument.spreadsheetml.comments+xml"/>'
                      for i, s in enumerate(sheets, start=1) if s.notes)
            + f"{overrides}{custom_type}</Types>"
        ))
        zf.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/officeDocument" Target="xl/workbook.xml"/>{custom_rel}</Relationships>'
        ))
        entries = "".join(
            f'<sheet name="{escape(s.name, {chr(34): "&quot;"})}" sheetId="{i}"'
            + (' state="hidden"' if s.hidden else "") + f' r:id="rId{i}"/>'
            for i, s in enumerate(sheets, start=1)
        )
        zf.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f"<bookViews><workbookView/></bookViews><sheets>{entries}</sheets>{_print_titles(sheets)}</workbook>"
        ))
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        zf.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'{rels}<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId{n + 2}" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/theme" Target="theme/theme1.xml"/></Relationships>'
        ))
        zf.writestr("xl/styles.xml", STYLES_XML)
        zf.writestr("xl/theme/theme1.xml", _theme_xml())  # a strict reader requires it
        if properties:
            zf.writestr("docProps/custom.xml", _custom_xml(properties))
        for i, sheet in enumerate(sheets, start=1):
            if sheet.notes:
                _write_notes(zf, i, sheet.notes)
            # ZIP64 headers only where a part may pass zipfile's 2 GiB limit: SheetJS (most upload pages),
            # Apache POI and Excel refuse or repair a ZIP64 header on a small part.
            with zf.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=may_need_zip64(sheet)) as fh:
                _stream(fh, sheet, selected=i == 1)


_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _write_notes(zf: zipfile.ZipFile, i: int, notes: list[tuple[int, str, str]]) -> None:
    """A sheet's cell notes: the comments part, the VML drawing Excel shows them with, the sheet's rels."""
    comments = "".join(f'<comment ref="{letter}{row}" authorId="0"><text><r><t xml:space="preserve">'
                       f"{_escape_one(text)}</t></r></text></comment>" for row, letter, text in notes)
    zf.writestr(f"xl/comments{i}.xml", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<authors><author>xlflow</author></authors><commentList>{comments}</commentList></comments>"))
    shapes = []
    for n, (row, letter, _) in enumerate(notes):
        col = _column_index(letter)
        shapes.append(
            f'<v:shape id="_x0000_s{1024 * i + n + 1}" type="#_x0000_t202" style="position:absolute;'
            'margin-left:60pt;margin-top:2pt;width:240pt;height:90pt;z-index:1;visibility:hidden" '
            'fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
            '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
            '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>'
            f'<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:Anchor>{col + 1}, 15, {max(row - 2, 0)}, 10, {col + 5}, 15, {row + 4}, 4</x:Anchor>"
            f"<x:AutoFill>False</x:AutoFill><x:Row>{row - 1}</x:Row><x:Column>{col}</x:Column></x:ClientData>"
            "</v:shape>")
    zf.writestr(f"xl/drawings/vmlDrawing{i}.vml", (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{i}"/></o:shapelayout>'
        '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
        '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
        + "".join(shapes) + "</xml>"))
    zf.writestr(f"xl/worksheets/_rels/sheet{i}.xml.rels", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/comments" Target="../comments{i}.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/vmlDrawing" Target="../drawings/vmlDrawing{i}.vml"/>'
        "</Relationships>"))


def _column_index(letter: str) -> int:
    n = 0
    for ch in letter:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _print_titles(sheets: list[Sheet]) -> str:
    """The rows above each sheet's data (its frozen rows) printed again on every page."""
    names = "".join(
        f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
        f"&apos;{escape(s.name)}&apos;!$1:${s.freeze_rows}</definedName>"
        for i, s in enumerate(sheets) if s.freeze_rows and not s.hidden)
    return f"<definedNames>{names}</definedNames>" if names else ""


ZIP64_FROM = 1 << 30  # an estimate of the sheet's XML past this (half of zipfile's 2 GiB limit) asks for ZIP64
_CELL_BYTES, _ROW_BYTES = 64, 1_024  # generous: a cell's XML is ~40 bytes, a row's 反馈信息 a few hundred


def may_need_zip64(sheet: Sheet) -> bool:
    """Whether a sheet's XML could pass 2 GiB (a full sheet of error rows could; 400,000 rows cannot)."""
    return max(sheet.last_row, 1) * ((sheet.last_col + 1) * _CELL_BYTES + _ROW_BYTES) > ZIP64_FROM


def _theme_xml() -> str:
    """The default Office theme, as xlsxwriter writes it."""
    try:
        from xlsxwriter.theme import THEME_XML_2007

        return THEME_XML_2007
    except ImportError:  # an older xlsxwriter writes its one theme from a method
        from io import StringIO

        from xlsxwriter.theme import Theme

        theme, out = Theme(), StringIO()
        theme._set_xml_writer(out)
        theme._write_theme_file()
        return out.getvalue()


def _stream(fh, sheet: Sheet, selected: bool) -> None:
    """Render rows here while a second thread compresses and writes them (zlib releases the GIL)."""
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (data := chunks.get()) is not None:
                fh.write(data)
        except BaseException as exc:  # reported in the rendering thread below
            failure.append(exc)
            while chunks.get() is not None:
                pass

    thread = threading.Thread(target=writer, name="xlflow-zip", daemon=True)
    thread.start()
    try:
        chunks.put(_sheet_head(sheet, selected).encode("utf-8"))
        for chunk in sheet.rows:
            chunks.put(chunk.encode("utf-8"))
        chunks.put(_sheet_tail(sheet).encode("utf-8"))
    finally:
        chunks.put(None)
        thread.join()
    if failure:
        raise failure[0]
