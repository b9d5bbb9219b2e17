"""Sheets as the office reads them in Excel, WPS or LibreOffice, for the workbook (汇总表.xlsx).

A bold header row that stays put, a filter on every column, widths that fit Chinese text,
wrapped multi-line cells whose rows are as tall as their lines, every cell bordered, A4
landscape one page wide with the title on every printed page. Every cell from mail is written
as text, never as a formula (a sender can name a file "=HYPERLINK(…)"), without the control
characters XML cannot hold and within Excel's length limit.

The sheets are streamed (openpyxl's write-only mode): a row goes to the file as it is made,
never a Cell object kept per value for a second pass — with 100,000 cells, that pass and its
style look-ups were most of an export's time (benchmarks/workbook_export.py).
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from copy import copy
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center")
THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
TOP = Alignment(vertical="top")
WRAPPED = Alignment(vertical="top", wrap_text=True)
MIN_WIDTH, MAX_WIDTH = 6, 50  # column widths, in Latin characters
LINE_HEIGHT, MAX_ROW_HEIGHT = 15.0, 409.0  # points; 409 is Excel's largest row height
MAX_CELL_CHARS = 32767  # Excel's limit: a longer string makes it "repair" the file



def add_sheet(book: Workbook, title: str, columns: Sequence[str], rows: Iterable[list[Any]],
              print_title: str) -> None:
    """One sheet as the office reads it in Excel, WPS or LibreOffice: a bold header that stays
    put, a filter on every column, widths that fit Chinese text, wrapped multi-line cells.

    The sheet is streamed, so what its top declares (column widths, the frozen pane) is
    settled first, from all its rows, and each row's height before the row is written."""
    sheet = _Sheet(book, title)
    book._add_sheet(sheet)
    measure = _Measure()
    widths = [max(MIN_WIDTH, measure.width(c)) for c in columns]
    table = []
    for values in rows:
        table.append([_clean(value) for value in values])
        for index, value in enumerate(values):
            widths[index] = max(widths[index], min(MAX_WIDTH, measure.width(value)))
    widths = [width + 3 for width in widths]  # room for the filter button and cell margins
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.area = f"A1:{get_column_letter(len(columns))}{len(table) + 1}"
    _page(sheet, print_title)
    looks = _Looks(sheet)
    sheet.append([looks.header(sheet, name) for name in columns])
    for number, values in enumerate(table, start=2):
        cells, lines = [], 1
        for value, width in zip(values, widths, strict=False):
            cell, needed = _cell(sheet, value, width, measure, looks)
            cells.append(cell)
            lines = max(lines, needed)
        if lines > 1:
            # Excel only grows a row for wrapped text when it edits it; say the height outright.
            sheet.row_dimensions[number].height = min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines)
        sheet.append(cells)


class _Sheet(WriteOnlyWorksheet):  # type: ignore[misc]  # no type stubs for it
    """A streamed sheet whose rows are appended as finished cells.

    openpyxl's own write-only sheet first tries each appended cell as a value (an exception
    per cell) and makes a spare cell after each styled one: a quarter of an export's time."""

    area = "A1:A1"  # the cells it will hold, known before the first row is written

    def _values_to_row(self, values: Sequence[WriteOnlyCell], row_idx: int
                       ) -> Iterator[WriteOnlyCell]:
        for column, cell in enumerate(values, start=1):
            cell.column, cell.row = column, row_idx
            yield cell

    def calculate_dimension(self) -> str:
        # Written as <dimension>, which a streamed sheet otherwise lacks: readers that size
        # a sheet by it (openpyxl's read-only mode, pandas) would take it for empty.
        return self.area


def _page(sheet: _Sheet, print_title: str) -> None:
    """The header row frozen and filtered; A4 landscape, one page wide, the title on every
    printed page as a page header (a title row would move the header row the office's filters
    and CONTRACT.md rely on)."""
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.area
    sheet.print_title_rows = "1:1"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.print_options.horizontalCentered = True
    title = f"{print_title} — {sheet.title}".replace("&", "&&")  # & is a code
    sheet.oddHeader.center.text = title
    sheet.oddHeader.center.size = 14
    sheet.oddHeader.center.font = "宋体,Bold"
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


class _Looks:
    """The looks of the cells, each registered with the workbook once.

    Assigning `cell.alignment` looks the style up in the workbook again for every cell (a
    hash of the whole style object): with 100,000 cells that was most of an export's time.
    The finished style arrays are shared by the cells instead (never changed afterwards)."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        probe = WriteOnlyCell(sheet)  # not placed in the sheet
        probe.border = BORDER  # printed, the columns must not run together
        probe.alignment = TOP
        self.top = copy(probe._style)
        probe.alignment = WRAPPED
        self.wrapped = copy(probe._style)
        probe.alignment = TOP
        probe.number_format = TIME_FORMAT
        self.time = copy(probe._style)

    @staticmethod
    def header(sheet: WriteOnlyWorksheet, name: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, name)
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
        cell.border = BORDER
        return cell


class _Measure:
    """Display widths of cell texts; a text met again (a file name, a status) is not re-measured."""

    def __init__(self) -> None:
        self._lines: dict[str, list[int]] = {}

    def lines(self, text: str) -> list[int]:
        """The width of each line of `text`, in Latin characters."""
        found = self._lines.get(text)
        if found is None:
            found = self._lines[text] = [_line_width(line) for line in text.split("\n")]
        return found

    def width(self, value: Any) -> int:
        """Display width of the widest line, in Latin characters."""
        if value is None:
            return 0
        if isinstance(value, datetime):
            return len("2022-10-10 17:30:00")
        return max(self.lines(str(value)))


def _clean(value: Any) -> Any:
    """A value Excel accepts as it is: no XML control characters, no string over its limit."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if len(value) > MAX_CELL_CHARS:
            value = value[:MAX_CELL_CHARS - 1] + "…"
    return value


def _cell(sheet: WriteOnlyWorksheet, value: Any, width: float, measure: _Measure,
          looks: _Looks) -> tuple[WriteOnlyCell, int]:
    """One formatted data cell, and how many lines it needs at that column width."""
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, datetime):
        cell._style = looks.time
        return cell, 1
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would otherwise take "=…" for a formula
        lines = sum(max(1, math.ceil(line / (width - 1))) for line in measure.lines(value))
        if lines > 1:
            cell._style = looks.wrapped
            return cell, lines
    cell._style = looks.top
    return cell, 1


def _line_width(line: str) -> int:
    if line.isascii():
        return len(line)
    return sum(map(_char_width, line))


@functools.cache
def _char_width(ch: str) -> int:
    # Wide and full-width characters (汉字, full-width punctuation) take two Latin columns.
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1
