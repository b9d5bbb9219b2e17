"""Read a .docx into `Content`: paragraphs in body order, tables as grids of unique cells.

python-docx opens the package (after ooxml.check_package has bounded it); the body is then
walked as XML because python-docx's convenience API is wrong for counting: ``row.cells`` repeats
a merged cell once per grid column it spans, ``Paragraph.text`` skips tracked insertions, content
controls and smart tags, and nested tables and text boxes are not reached from ``doc.paragraphs``.

What is read, in document order: body paragraphs; tables, row by row, each cell once (a
horizontally merged cell is one <w:tc>; a vertical merge's continuation cells are empty in Word's
files and carry the text of the cell above only for lookups, not for counting); nested tables
inside cells; content controls (<w:sdt>) and custom XML wrappers; text boxes (the DrawingML
choice, not its VML fallback copy, which would count every word twice). Not read: headers and
footers (Word's 字数 leaves them out too), footnotes and endnotes (Word adds them only with its
"include footnotes" box; the limit is on the body), comments, deleted text and field codes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator

import docx
from docx.opc.exceptions import PackageNotFoundError
from lxml import etree

from mailbot.documents.ooxml import check_package
from mailbot.documents.tables import Cell, Content, Grid
from mailbot.errors import DocumentError

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
P, TBL, TR, TC = _W + "p", _W + "tbl", _W + "tr", _W + "tc"
_SDT, _SDT_CONTENT, _CUSTOM_XML = _W + "sdt", _W + "sdtContent", _W + "customXml"
_TEXT, _TAB, _PTAB, _BR, _CR = _W + "t", _W + "tab", _W + "ptab", _W + "br", _W + "cr"
_NB_HYPHEN, _TXBX = _W + "noBreakHyphen", _W + "txbxContent"
_VAL = _W + "val"
# Subtrees whose text is not the paragraph's own: text boxes are read as blocks of their own,
# VML fallbacks duplicate them, and properties hold no text.
_SKIP = frozenset({_TXBX, _MC_FALLBACK, _W + "rPr", _W + "pPr"})

# Failures python-docx and lxml show for a damaged package; anything else is a bug of ours.
_PARSE_ERRORS = (
    PackageNotFoundError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    etree.XMLSyntaxError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    UnicodeDecodeError,
    NotImplementedError,
    RecursionError,
)


def read_docx(data: bytes) -> Content:
    """The text and tables of a .docx. Raises DocumentError (corrupt, encrypted, macro,
    too-large, empty)."""
    check_package(data, "docx")
    try:
        document = docx.Document(io.BytesIO(data))
        walker = _Walker()
        walker.blocks(document.element.body, in_table=False, sink=None)
    except _PARSE_ERRORS:
        raise DocumentError(
            "corrupt", "文件已损坏或不是有效的 Word（.docx）文件，无法打开。"
        ) from None
    if not any(text.strip() for text in walker.content.paragraphs):
        raise DocumentError("empty", "文件中没有任何文字内容。")
    return walker.content


def _wrapped(parent: etree._Element, tag: str) -> Iterator[etree._Element]:
    """Children of `parent` with `tag`, looking through content-control and custom-XML wrappers
    (a row or cell can sit inside a <w:sdt>)."""
    for child in parent:
        if child.tag == tag:
            yield child
        elif child.tag == _SDT:
            content = child.find(_SDT_CONTENT)
            if content is not None:
                yield from _wrapped(content, tag)
        elif child.tag == _CUSTOM_XML:
            yield from _wrapped(child, tag)


def _run_text(element: etree._Element) -> Iterator[str]:
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue  # comments, processing instructions, text boxes, fallbacks
        if tag == _TEXT:
            yield child.text or ""
        elif tag in (_TAB, _PTAB):
            yield "\t"
        elif tag in (_BR, _CR):
            yield "\n"
        elif tag == _NB_HYPHEN:
            yield "-"
        else:
            yield from _run_text(child)  # runs, hyperlinks, insertions, smart tags, fields…


def _text_boxes(element: etree._Element) -> Iterator[etree._Element]:
    for child in element:
        if child.tag == _TXBX:
            yield child
        elif child.tag != _MC_FALLBACK and isinstance(child.tag, str):
            yield from _text_boxes(child)


class _Walker:
    def __init__(self) -> None:
        self.content = Content()

    def blocks(self, container: etree._Element, *, in_table: bool, sink: list[str] | None) -> None:
        """Read the paragraphs and tables of a body, cell, text box or content control.

        `sink` collects the texts of this container's own paragraphs (a cell's text)."""
        for child in container:
            tag = child.tag
            if tag == P:
                text = "".join(_run_text(child))
                self.content.paragraphs.append(text)
                if not in_table:
                    self.content.body.append(text)
                if sink is not None:
                    sink.append(text)
                for box in _text_boxes(child):
                    self.blocks(box, in_table=in_table, sink=None)
            elif tag == TBL:
                self.table(child)
            elif tag == _SDT:
                inner = child.find(_SDT_CONTENT)
                if inner is not None:
                    self.blocks(inner, in_table=in_table, sink=sink)
            elif tag == _CUSTOM_XML:
                self.blocks(child, in_table=in_table, sink=sink)

    def table(self, tbl: etree._Element) -> None:
        grid: Grid = []
        self.content.tables.append(grid)  # before nested tables: document order
        above: dict[int, str] = {}  # grid column -> text of the latest cell there (for vMerge)
        for tr in _wrapped(tbl, TR):
            col = _int_prop(tr, "trPr", "gridBefore", 0)
            row: list[Cell] = []
            for tc in _wrapped(tr, TC):
                span = max(_int_prop(tc, "tcPr", "gridSpan", 1), 1)
                own: list[str] = []
                self.blocks(tc, in_table=True, sink=own)
                text = "\n".join(own)
                if _continues_merge(tc):
                    row.append(Cell(col, span, above.get(col, ""), continued=True))
                else:
                    row.append(Cell(col, span, text))
                    above[col] = text
                col += span
            grid.append(tuple(row))


def _int_prop(element: etree._Element, props: str, name: str, default: int) -> int:
    node = element.find(f"{_W}{props}/{_W}{name}")
    if node is None:
        return default
    try:
        return int(node.get(_VAL, default))
    except ValueError:
        return default


def _continues_merge(tc: etree._Element) -> bool:
    merge = tc.find(f"{_W}tcPr/{_W}vMerge")
    # <w:vMerge/> without a value means "continue"; "restart" opens a merged region.
    return merge is not None and merge.get(_VAL, "continue") == "continue"
