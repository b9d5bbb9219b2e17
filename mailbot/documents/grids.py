"""Only the tables of a .docx, for what is read again long after the checks: the rows of a
unit's list of studios (附件1) when the office exports the form sent upward.

`docx_reader.read_docx` walks every paragraph, text box and note in Python to count 字数; a
list of studios needs only its table cells. They are taken here with lxml's own iteration, as
the same `Grid`s: cells with their spans, a vertical merge's continuation carrying the text of
the cell above. The package is opened and checked as for every read (`ooxml.open_package`:
bounds, encryption, macros, DTDs; `opc.WordPackage`: the main part by its relationships).

Whatever the lean walk does not reproduce exactly — text boxes, hidden runs, content
controls, fields, note references, tracked changes, ruby, symbols — sends the file to
`read_docx` whole. They are recognised in the XML bytes by their element names, before any
walking: a name that only looks like one (in a cell's text, say) costs the full read, never a
different answer.
"""

from __future__ import annotations

import re

from lxml import etree

from mailbot.documents.docx_reader import read_docx
from mailbot.documents.ooxml import PACKAGE_ERRORS, open_package
from mailbot.documents.opc import PackageError, WordPackage, parse
from mailbot.documents.tables import Cell, Grid
from mailbot.errors import DocumentError

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BODY, _DOCUMENT = _W + "body", _W + "document"
_TBL, _TR, _TC, _P, _T = _W + "tbl", _W + "tr", _W + "tc", _W + "p", _W + "t"
# Elements whose text the walk of read_docx treats otherwise than "the w:t of the paragraph".
_SPECIAL = re.compile(
    rb"<(?:[\w.-]+:)?(?:txbxContent|Fallback|AlternateContent|vanish|sdt|customXml|"
    rb"fldSimple|instrText|delText|del|moveFrom|moveTo|ruby|sym|"
    rb"footnoteReference|endnoteReference|pict|object)[\s/>]")
# Run content other than text, as read_docx writes it (a tab stop in w:pPr is not one).
_AS_TEXT = {_W + "tab": "\t", _W + "ptab": "\t", _W + "br": "\n", _W + "cr": "\n",
            _W + "noBreakHyphen": "\u2011", _W + "softHyphen": "\u00ad"}
_PPR = _W + "pPr"
# read_docx's words for a package it cannot read.
_CORRUPT, _DAMAGED = "corrupt", "文件已损坏或不是有效的 Word（.docx）文件，无法打开。"
_PARSE_ERRORS: tuple[type[BaseException], ...] = (PackageError, RecursionError, *PACKAGE_ERRORS)


def docx_tables(data: bytes) -> list[Grid]:
    """The tables of a .docx, nested ones included, in document order: as `read_docx(data)
    .tables`. Raises DocumentError as `read_docx` does (corrupt, encrypted, macro, too-large,
    unsafe), except that a file without any text is not refused: its tables are empty."""
    archive = open_package(data, "docx")
    try:
        with archive:
            package = WordPackage(archive)
            xml = package.read(package.main)
            if takes_full_read(xml):
                root = None
            else:
                root = parse(xml)
                # Parts read_docx parses besides the body: a damaged one is "corrupt" here too.
                for part in ("settings", "footnotes", "endnotes"):
                    for partname in package.related(package.main, part):
                        parse(package.read(partname))
    except _PARSE_ERRORS:
        raise DocumentError(_CORRUPT, _DAMAGED) from None
    if root is None:
        return read_docx(data).tables
    body = root.find(_BODY) if root.tag == _DOCUMENT else None
    if body is None:
        raise DocumentError(_CORRUPT, _DAMAGED)
    grids: list[Grid] = []
    _tables(body, grids)
    return grids


def takes_full_read(xml: bytes) -> bool:
    """Whether a main part holds anything the lean walk would not read as read_docx does."""
    return _SPECIAL.search(xml) is not None


def _tables(container: etree._Element, grids: list[Grid]) -> None:
    """The tables of a body or cell, each grid listed before the tables nested in its cells
    (document order, as read_docx lists them)."""
    for table in container.iterchildren(_TBL):
        grid: Grid = []
        grids.append(grid)
        nested = table.find(f".//{_TBL}") is not None  # else no cell is looked into again
        above: dict[int, str] = {}  # grid column -> text of the latest cell there (vMerge)
        for tr in table.iterchildren(_TR):
            col = _number(tr.find(f"{_W}trPr/{_W}gridBefore"), 0)
            row: list[Cell] = []
            for tc in tr.iterchildren(_TC):
                span = max(_number(tc.find(f"{_W}tcPr/{_W}gridSpan"), 1), 1)
                merge = tc.find(f"{_W}tcPr/{_W}vMerge")
                if merge is not None and merge.get(_W + "val", "continue") == "continue":
                    row.append(Cell(col, span, above.get(col, ""), continued=True))
                else:
                    # The cell's own paragraphs: a nested table is a grid of its own.
                    text = "\n".join(map(_text, tc.iterchildren(_P)))
                    row.append(Cell(col, span, text))
                    above[col] = text
                if nested:
                    _tables(tc, grids)
                col += span
            grid.append(tuple(row))


def _text(paragraph: etree._Element) -> str:
    parts = []
    for child in paragraph:
        if child.tag == _PPR:
            continue
        for node in child.iter(_T, *_AS_TEXT):
            parts.append((node.text or "") if node.tag == _T else _AS_TEXT[node.tag])
    return "".join(parts)


def _number(node: etree._Element | None, default: int) -> int:
    if node is None:
        return default
    try:
        return int(node.get(_W + "val", default))
    except ValueError:
        return default
