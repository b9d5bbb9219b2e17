"""The form sent upward as a spreadsheet: A4 landscape, one page wide, the header on every page.

Same layout as the Word version: label, title and the 推荐单位 line above a bordered table, the
note below it. Every cell is text (a studio named "=1+1" stays a name, never a formula); row
heights are given outright because Excel only grows a wrapped row when someone edits it.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from copy import copy

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from mailbot.office.official.rows import OfficialTable

FONT = "宋体"
THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
TOTAL_WIDTH = 150.0  # characters across the table; fit-to-width scales it onto the page
LINE_HEIGHT = 15.0  # points per line of 11-point text
NOTHING = "（暂无符合条件的工作室）"
# One style object each: a table cell takes one of the four looks made of them (`_Looks`).
_CELL_FONTS = {bold: Font(name=FONT, size=11, bold=bold) for bold in (False, True)}
_CELL_ALIGNMENTS = {centred: Alignment(horizontal="center" if centred else "left",
                                       vertical="center", wrap_text=True)
                    for centred in (False, True)}
# A small whole number as typed (no leading zero, so never a phone number or a code).
_COUNT = re.compile(r"^(0|[1-9]\d{0,5})$")


def render_xlsx(table: OfficialTable) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has its first sheet
    sheet.title = "推荐汇总表"
    form, width = table.form, len(table.headers)
    row = 1
    if form.label:
        _line(sheet, row, width, form.label, Font(name=FONT, size=12, bold=True))
        row += 1
    _line(sheet, row, width, form.title, Font(name=FONT, size=16, bold=True), centred=True)
    sheet.row_dimensions[row].height = 30
    _line(sheet, row + 1, width, form.recommending_unit, Font(name=FONT, size=12))
    header = row + 2
    widths = _widths(table)
    for col, letter_width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = letter_width
    looks = _Looks(sheet)
    _row(sheet, header, table.headers, widths, looks, bold=True)
    for offset, data in enumerate(table.rows, start=1):
        _row(sheet, header + offset, list(data.values), widths, looks, bold=False)
    last = header + max(len(table.rows), 1)
    if not table.rows:
        _row(sheet, last, [NOTHING] + [""] * (width - 1), widths, looks, bold=False)
        sheet.merge_cells(start_row=last, start_column=1, end_row=last, end_column=width)
    if form.note:
        _line(sheet, last + 1, width, form.note, Font(name=FONT, size=11))
    _print_setup(sheet, header, last + (1 if form.note else 0), width)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _line(sheet: Worksheet, row: int, width: int, text: str, font: Font, *,
          centred: bool = False) -> None:
    """A line of text across the whole table (merged), like the form's lines above it."""
    cell = sheet.cell(row, 1, _printable(text))
    cell.data_type = "s"
    cell.font = font
    cell.alignment = Alignment(horizontal="center" if centred else "left", vertical="center")
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)


class _Looks:
    """The looks of a table cell — bold or not, centred or not, bordered — each registered with
    the workbook once: assigning a font, a border and an alignment to a cell looks each up in
    the workbook again (a hash of the whole style object), most of the form's time."""

    def __init__(self, sheet: Worksheet) -> None:
        self._looks: dict[tuple[bool, bool], StyleArray] = {}
        for bold in (False, True):
            for centred in (False, True):
                probe = Cell(sheet)  # not placed in the sheet
                probe.font = _CELL_FONTS[bold]
                probe.border = BORDER
                probe.alignment = _CELL_ALIGNMENTS[centred]
                self._looks[bold, centred] = copy(probe._style)

    def of(self, *, bold: bool, centred: bool) -> StyleArray:
        return copy(self._looks[bold, centred])


def _row(sheet: Worksheet, row: int, values: list[str], widths: list[float], looks: _Looks, *,
         bold: bool) -> None:
    lines = 1
    for col, (value, width) in enumerate(zip(values, widths, strict=True), start=1):
        cell: Cell = sheet.cell(row, col, _printable(value))
        if not bold and _COUNT.match(value):
            cell.value = int(value)  # 序号, 团队人数: numbers, not "number stored as text"
        else:
            cell.data_type = "s"  # openpyxl would otherwise take "=…" for a formula
        cell._style = looks.of(bold=bold, centred=bold or len(value) <= 6)
        lines = max(lines, _lines(value, width))
    sheet.row_dimensions[row].height = LINE_HEIGHT * lines + 4


def _widths(table: OfficialTable) -> list[float]:
    total = sum(table.shares)
    return [round(TOTAL_WIDTH * share / total, 1) for share in table.shares]


def _lines(text: str, width: float) -> int:
    room = max(1.0, width - 1)
    return sum(max(1, math.ceil(_display_width(line) / room)) for line in text.split("\n"))


def _display_width(line: str) -> int:
    # 汉字 and full-width punctuation take two Latin columns.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def _print_setup(sheet: Worksheet, header: int, last: int, width: int) -> None:
    sheet.print_area = f"A1:{get_column_letter(width)}{last}"
    sheet.print_title_rows = f"{header}:{header}"
    setup = sheet.page_setup
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.orientation = "landscape"
    setup.fitToWidth, setup.fitToHeight = 1, 0  # one page wide, as many pages long as needed
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


def _printable(text: str) -> str:
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))
