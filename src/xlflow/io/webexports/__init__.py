"""What web systems write as "Excel": an HTML table, an XML Spreadsheet 2003 file, or tab-separated text.

Excel and WPS open all three (with a warning), so a county's "导出 Excel" is often one of them under a
.xls name. Each is streamed here row by row, as lists of raw values like calamine's, within the same
limits as a workbook: rows and cells are counted as they come, an XML file with a DOCTYPE (where
entities are declared) is refused, an HTML tag that never ends is refused instead of buffered. No pandas.
"""

from xlflow.io.webexports.count import precount
from xlflow.io.webexports.html_tables import html_rows
from xlflow.io.webexports.sniff import FORMAT_WORDS, SNIFF_BYTES, sniff, source_note
from xlflow.io.webexports.text import open_text, text_rows
from xlflow.io.webexports.xml2003 import SpreadsheetML

__all__ = ["FORMAT_WORDS", "SNIFF_BYTES", "SpreadsheetML", "html_rows", "open_text", "precount", "sniff", "source_note",
           "text_rows"]
