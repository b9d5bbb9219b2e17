"""Word documents made to be printed: an A4 page, Chinese fonts, a bordered table whose header
row repeats on every page. Shared by the form sent upward and the bundle's cover page.

python-docx leaves out what printing needs (w:tblHeader, w:cantSplit, fixed column widths,
direct borders, w:eastAsia fonts); they are written here as plain WordprocessingML, each child in
the place the schema gives it, because Word calls a file with them out of order damaged.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence

import docx
from docx.document import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Emu, Length, Mm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph
from lxml import etree
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

A4_SHORT, A4_LONG = Mm(210), Mm(297)
SIDE_MARGIN, TOP_MARGIN = Mm(15), Mm(18)
BODY_FONT, TITLE_FONT = "仿宋", "宋体"  # names every Chinese Office and LibreOffice maps
BODY_SIZE, TITLE_SIZE, LINE_SIZE = Pt(10.5), Pt(18), Pt(12)  # 五号, 小二, 小四
_SLOW = frozenset("\n\r\t")  # characters python-docx writes as elements (w:br, w:tab)
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
MIN_ROW_HEIGHT = 454  # twips: 8 mm
_TC, _P, _PPR, _JC, _R, _T, _VAL = (qn(f"w:{name}") for name in ("tc", "p", "pPr", "jc", "r", "t",
                                                                 "val"))

# The children of w:tblPr in the order the schema fixes.
_TBLPR_ORDER = ("w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize",
                "w:tblStyleColBandSize", "w:tblW", "w:jc", "w:tblCellSpacing", "w:tblInd",
                "w:tblBorders", "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook",
                "w:tblCaption", "w:tblDescription")


def new_document(*, landscape: bool) -> Document:
    """An empty A4 document, its body text in a Chinese font."""
    document = docx.Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width = A4_LONG if landscape else A4_SHORT
    section.page_height = A4_SHORT if landscape else A4_LONG
    section.left_margin = section.right_margin = SIDE_MARGIN
    section.top_margin = section.bottom_margin = TOP_MARGIN
    normal = document.styles["Normal"]
    normal.font.size = BODY_SIZE
    _fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    return document


def usable_width(document: Document) -> int:
    section = document.sections[0]
    return int((section.page_width or A4_SHORT) - (section.left_margin or 0)
               - (section.right_margin or 0))


def add_text(document: Document, text: str, *, size: Length = BODY_SIZE,
             font: str = BODY_FONT, bold: bool = False, centred: bool = False) -> Paragraph:
    paragraph = document.add_paragraph()
    if centred:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    write(paragraph, text, size=size, font=font, bold=bold)
    return paragraph


def write(paragraph: Paragraph, text: str, *, size: Length = BODY_SIZE, font: str = BODY_FONT,
          bold: bool = False) -> None:
    """`text` as one run; its line breaks kept as breaks."""
    lines = printable(text).split("\n")
    run = paragraph.add_run(lines[0])
    for line in lines[1:]:
        run.add_break()
        run.add_text(line)
    run.bold, run.font.size = bold, size
    _fonts(run._r.get_or_add_rPr(), font)


def add_table(document: Document, headers: Sequence[str], shares: Sequence[float]) -> Table:
    """A bordered table as wide as the page, columns in proportion to `shares`, its header
    row (bold, centred) repeated at the top of every page."""
    total = sum(shares)
    widths = [int(usable_width(document) * share / total) for share in shares]
    grid: Table = document.add_table(rows=1, cols=len(headers))
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    properties = grid._tbl.tblPr
    # The widths below, not what Word guesses from the text.
    properties.get_or_add_tblLayout().set(qn("w:type"), "fixed")
    _place(properties, _borders())
    for column, width in zip(grid._tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        column.set(qn("w:w"), str(Emu(width).twips))  # what LibreOffice lays the table out by
    table_width = OxmlElement("w:tblW")
    table_width.set(qn("w:w"), str(Emu(sum(widths)).twips))
    table_width.set(qn("w:type"), "dxa")
    for old in properties.findall(qn("w:tblW")):
        properties.remove(old)
    _place(properties, table_width)
    fill_row(grid.rows[0], headers, bold=True)
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    grid.rows[0]._tr.get_or_add_trPr().append(header)
    return grid


def add_row(grid: Table, values: Sequence[str], *, centre_short: int = 6) -> _Row:
    """A data row; a value of at most `centre_short` characters is centred (numbers, names)."""
    row: _Row = grid.add_row()  # type: ignore[no-untyped-call]
    fill_row(row, values, bold=False, centre_short=centre_short)
    return row


class Rows:
    """Data rows of one table, made fast: the first is built by python-docx (`add_row`), each
    later one is a copy of its XML with the texts and alignments changed — python-docx builds a
    row in about 8 ms, so a form of 2,500 studios took 20 s; a copy takes a fraction of that and
    is the same XML. A value with a line break or a tab goes the slow way (w:br, w:tab elements)."""

    def __init__(self, grid: Table, *, centre_short: int = 6) -> None:
        self.grid = grid
        self.centre_short = centre_short
        self._model: BaseOxmlElement | None = None

    def add(self, values: Sequence[str]) -> None:
        texts = [printable(value) for value in values]
        if self._model is None or any(_SLOW.intersection(text) for text in texts):
            row = add_row(self.grid, values, centre_short=self.centre_short)
            if self._model is None and not any(_SLOW.intersection(text) for text in texts):
                self._model = copy.deepcopy(row._tr)
                for run in self._model.iter(_R):  # the copies get their texts below
                    for old in run.findall(_T):
                        run.remove(old)
            return
        tr = copy.deepcopy(self._model)
        cells = tr.findall(_TC)
        if len(cells) != len(texts):
            raise ValueError(f"{len(texts)} values for a table of {len(cells)} columns")
        for cell, text in zip(cells, texts, strict=True):
            paragraph = cell.find(_P)
            paragraph.find(_PPR).find(_JC).set(
                _VAL, "center" if len(text) <= self.centre_short else "left")
            if text:
                node = etree.SubElement(paragraph.find(_R), _T)
                node.text = text
                if text != text.strip():  # as python-docx: only where spaces would be lost
                    node.set(_XML_SPACE, "preserve")
        self.grid._tbl.append(tr)


def add_merged_row(grid: Table, text: str) -> None:
    """One cell across the whole table (an "empty" notice)."""
    row: _Row = grid.add_row()  # type: ignore[no-untyped-call]
    fill_cell(row.cells[0].merge(row.cells[-1]), text, bold=False, centred=True)


def fill_row(row: _Row, values: Sequence[str], *, bold: bool, centre_short: int = 6) -> None:
    # A row never breaks across pages: half a studio on each page is not stamped twice.
    properties = row._tr.get_or_add_trPr()
    properties.append(OxmlElement("w:cantSplit"))
    height = OxmlElement("w:trHeight")  # room to read, and to write in by hand
    height.set(qn("w:val"), str(MIN_ROW_HEIGHT))
    height.set(qn("w:hRule"), "atLeast")
    properties.append(height)
    widths = [int(col.get(qn("w:w"))) for col in row.table._tbl.tblGrid.findall(qn("w:gridCol"))]
    for cell, value, twips in zip(row.cells, values, widths, strict=True):
        cell.width = Emu(twips * 635)  # 635 EMU in a twip
        fill_cell(cell, value, bold=bold, centred=bold or len(value) <= centre_short)


def fill_cell(cell: _Cell, value: str, *, bold: bool, centred: bool) -> None:
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_before = paragraph.paragraph_format.space_after = 0
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER if centred else WD_ALIGN_PARAGRAPH.LEFT
    write(paragraph, value, bold=bold)


def to_bytes(document: Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def printable(text: str) -> str:
    """Text an XML document can hold: control characters from mail are dropped."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))


def _fonts(rpr: BaseOxmlElement, font: str) -> None:
    """Word picks Chinese glyphs by w:eastAsia, not by the Latin font name python-docx sets."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia"):
        fonts.set(qn(attribute), font)


def _borders() -> BaseOxmlElement:
    # Written out rather than left to a table style: every reader honours direct borders.
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        line = OxmlElement(f"w:{edge}")
        line.set(qn("w:val"), "single")
        line.set(qn("w:sz"), "6")  # eighths of a point: ¾ pt
        line.set(qn("w:space"), "0")
        line.set(qn("w:color"), "000000")
        borders.append(line)
    return borders


def _place(properties: BaseOxmlElement, child: BaseOxmlElement) -> None:
    """Insert `child` into w:tblPr before the first of the children the schema puts after it."""
    tag = next(name for name in _TBLPR_ORDER if qn(name) == child.tag)
    later = _TBLPR_ORDER[_TBLPR_ORDER.index(tag) + 1:]
    properties.insert_element_before(child, *later)
