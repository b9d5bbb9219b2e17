"""Read an .xlsx into `Content`: each worksheet one grid, each non-empty cell one paragraph.

Applicants who prefer Excel send 附件1 as a sheet, usually with a title row, a merged title
cell and the 推荐单位 line above the header, so nothing here assumes where the table starts.

openpyxl reads with ``read_only=True`` (rows streamed, nothing kept but what we copy) and
``data_only=True`` (a formula's cached value, never the formula: no cell that comes from mail is
ever a formula downstream). Read-only mode does not see merged ranges; it does not need to: a
merged range keeps its value in the top-left cell and the others are empty, so a merged title
or studio cell is read, and counted, once. Scanning stops at MAX_SHEETS × MAX_ROWS × MAX_COLS.
"""

from __future__ import annotations

import io
import warnings
from datetime import date, datetime, time
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from mailbot.documents.ooxml import PACKAGE_ERRORS, check_package
from mailbot.documents.tables import Cell, Content, Grid
from mailbot.errors import DocumentError

MAX_SHEETS = 10
MAX_ROWS = 5000
MAX_COLS = 60

_PARSE_ERRORS: tuple[type[BaseException], ...] = (InvalidFileException, ParseError, *PACKAGE_ERRORS)


def read_xlsx(data: bytes) -> Content:
    """The cells of an .xlsx. Raises DocumentError (corrupt, encrypted, macro, too-large, empty)."""
    check_package(data, "xlsx")
    content = Content()
    try:
        # openpyxl warns about workbook features it drops (data validation, conditional
        # formatting extensions, a missing default style); none of them matter for reading text,
        # and the test suite rightly turns warnings into errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                for sheet in workbook.worksheets[:MAX_SHEETS]:
                    content.tables.append(_grid(sheet, content.paragraphs))
            finally:
                workbook.close()
    except _PARSE_ERRORS:
        raise DocumentError(
            "corrupt", "文件已损坏或不是有效的 Excel（.xlsx）文件，无法打开。"
        ) from None
    if not any(text.strip() for text in content.paragraphs):
        raise DocumentError("empty", "表格中没有任何文字内容。")
    return content


def _grid(sheet: object, paragraphs: list[str]) -> Grid:
    grid: Grid = []
    rows = sheet.iter_rows(max_row=MAX_ROWS, max_col=MAX_COLS, values_only=True)  # type: ignore[attr-defined]
    for values in rows:
        row: list[Cell] = []
        for col, value in enumerate(values):
            text = cell_text(value)
            if text.strip():
                row.append(Cell(col, 1, text))
                paragraphs.append(text)
        grid.append(tuple(row))
    return grid


def cell_text(value: object) -> str:
    """A cell value as a person reads it in Excel: 12 not 12.0, a date as 2022-10-10."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.15g}"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)
