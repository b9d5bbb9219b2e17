"""The form sent upward as a Word document: A4 landscape, ready to print, stamp and sign.

Laid out like the blank form the units filled in: the label (附件1) and the title, the 推荐单位
line the office stamps, one bordered table whose header row Word and LibreOffice repeat on every
page (w:tblHeader) and whose rows never break across pages (w:cantSplit), then the form's note.
The table is as wide as the page between its margins, its columns in the rules' proportions.
"""

from __future__ import annotations

import io

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Emu, Mm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from mailbot.official.rows import OfficialTable

PAGE_WIDTH, PAGE_HEIGHT = Mm(297), Mm(210)  # A4, landscape
SIDE_MARGIN, TOP_MARGIN = Mm(15), Mm(18)
BODY_FONT, TITLE_FONT = "仿宋", "宋体"  # names every Chinese Office and LibreOffice maps
BODY_SIZE, TITLE_SIZE, LINE_SIZE = Pt(10.5), Pt(18), Pt(12)  # 五号, 小二, 小四
NOTHING = "（暂无符合条件的工作室）"


def render_docx(table: OfficialTable) -> bytes:
    document = docx.Document()
    _page(document)
    form = table.form
    if form.label:
        _paragraph(document.add_paragraph(), form.label, size=LINE_SIZE, font=TITLE_FONT)
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _paragraph(title, form.title, size=TITLE_SIZE, font=TITLE_FONT, bold=True)
    _paragraph(document.add_paragraph(), form.recommending_unit, size=LINE_SIZE)
    grid = document.add_table(rows=1, cols=len(table.headers))
    _table_properties(grid)
    widths = _widths(table)
    _grid_widths(grid, widths)
    _fill(grid.rows[0], table.headers, widths, bold=True)
    _repeat_as_header(grid.rows[0])
    for row in table.rows:
        cells = grid.add_row()
        _fill(cells, list(row.values), widths, bold=False)
    if not table.rows:
        empty = grid.add_row()
        merged = empty.cells[0].merge(empty.cells[-1])
        _fill_cell(merged, NOTHING, bold=False, centred=True)
    if form.note:
        _paragraph(document.add_paragraph(), form.note, size=BODY_SIZE)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _page(document: docx.document.Document) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = SIDE_MARGIN
    section.top_margin = section.bottom_margin = TOP_MARGIN
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = BODY_FONT, BODY_SIZE  # type: ignore[attr-defined]
    _east_asian(normal.element.get_or_add_rPr(), BODY_FONT)  # type: ignore[attr-defined]


def _east_asian(rpr: OxmlElement, font: str) -> None:
    """Word picks Chinese glyphs by w:eastAsia, not by the Latin font name python-docx sets."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia"):
        fonts.set(qn(attribute), font)


def _paragraph(paragraph: Paragraph, text: str, *, size: Pt, font: str = BODY_FONT,
               bold: bool = False) -> None:
    lines = _printable(text).split("\n")
    run = paragraph.add_run(lines[0])
    for line in lines[1:]:
        run.add_break()
        run.add_text(line)
    run.bold, run.font.size = bold, size
    _east_asian(run._r.get_or_add_rPr(), font)


def _table_properties(grid: Table) -> None:
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    properties = grid._tbl.tblPr
    # the widths below, not what Word guesses from the text
    properties.get_or_add_tblLayout().set(qn("w:type"), "fixed")
    borders = OxmlElement("w:tblBorders")
    # Written out rather than left to a table style: every reader honours direct borders.
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        line = OxmlElement(f"w:{edge}")
        line.set(qn("w:val"), "single")
        line.set(qn("w:sz"), "6")  # eighths of a point: ¾ pt
        line.set(qn("w:space"), "0")
        line.set(qn("w:color"), "000000")
        borders.append(line)
    _place(properties, borders)


def _grid_widths(grid: Table, widths: list[int]) -> None:
    """The table's own column grid (what LibreOffice lays out by) and its total width."""
    for column, width in zip(grid._tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        column.set(qn("w:w"), str(Emu(width).twips))
    total = OxmlElement("w:tblW")
    total.set(qn("w:w"), str(Emu(sum(widths)).twips))
    total.set(qn("w:type"), "dxa")
    properties = grid._tbl.tblPr
    for old in properties.findall(qn("w:tblW")):
        properties.remove(old)
    _place(properties, total)


# The children of w:tblPr in the order the schema fixes; Word calls a file with them out of
# order damaged, so each one goes in before the first of those that must follow it.
_TBLPR_ORDER = ("w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize",
                "w:tblStyleColBandSize", "w:tblW", "w:jc", "w:tblCellSpacing", "w:tblInd",
                "w:tblBorders", "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook",
                "w:tblCaption", "w:tblDescription")


def _place(properties: BaseOxmlElement, child: BaseOxmlElement) -> None:
    tag = next(name for name in _TBLPR_ORDER if qn(name) == child.tag)
    later = _TBLPR_ORDER[_TBLPR_ORDER.index(tag) + 1:]
    properties.insert_element_before(child, *later)


def _widths(table: OfficialTable) -> list[int]:
    """Each column's width in EMU: the rules' shares of the printable width."""
    usable = PAGE_WIDTH - 2 * SIDE_MARGIN
    shares = [column.width or max(2.0, len(column.header) * 1.2) for column in table.form.columns]
    total = sum(shares)
    return [int(usable * share / total) for share in shares]


def _fill(row: _Row, values: list[str], widths: list[int], *, bold: bool) -> None:
    _keep_together(row)
    for cell, value, width in zip(row.cells, values, widths, strict=True):
        cell.width = width
        _fill_cell(cell, value, bold=bold, centred=bold or len(value) <= 6)


def _fill_cell(cell: _Cell, value: str, *, bold: bool, centred: bool) -> None:
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_before = paragraph.paragraph_format.space_after = 0
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER if centred else WD_ALIGN_PARAGRAPH.LEFT
    _paragraph(paragraph, value, size=BODY_SIZE, bold=bold)


def _keep_together(row: _Row) -> None:
    properties = row._tr.get_or_add_trPr()
    properties.append(OxmlElement("w:cantSplit"))


def _repeat_as_header(row: _Row) -> None:
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(header)


def _printable(text: str) -> str:
    """Text an XML document can hold: control characters from mail are dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)
