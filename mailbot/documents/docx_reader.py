"""Read a .docx into `Content`: paragraphs in reading order, tables as grids of unique cells.

The package is opened with zipfile after ooxml.open_package has bounded it, and its parts are
parsed with lxml (documents.opc): python-docx's package object cost more than all the rest of a
mail's reading. The body is walked as XML; python-docx's convenience API would be wrong for
counting anyway: ``row.cells`` repeats a merged cell once per grid column it spans,
``Paragraph.text`` skips tracked insertions, content controls and smart tags, and nested tables,
text boxes and notes are not reached from ``doc.paragraphs``.

What counts toward 字数 is what LibreOffice's word count and Word's 字数 (with its default
"include text boxes, footnotes and endnotes") both count, checked against LibreOffice by
tests/test_wordcount_oracle.py:

* body paragraphs, and tables row by row, each cell once (a horizontally merged cell is one
  <w:tc>; a vertical merge's continuation cells are empty in Word's files and carry the text of
  the cell above only for lookups, not for counting); nested tables; content controls and
  custom-XML wrappers; tracked insertions;
* text boxes, once (the DrawingML choice, not its VML fallback copy);
* footnotes and endnotes, after the body; a note's reference mark counts as its number written
  at that place (``成果显著¹。`` reads as 成果显著1。, one word more), as LibreOffice expands it;
* symbols (<w:sym>), no-break hyphens (U+2011) and optional hyphens (U+00AD) as the characters
  LibreOffice puts there.

Not counted: headers and footers (Word leaves them out; LibreOffice counts them — the README
states the choice), numbering labels of automatic lists (the same split: Word leaves them out),
comments, tracked deletions and moved-away text, hidden text (<w:vanish/>), ruby (phonetic
guide) text and field codes.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from mailbot.documents.ooxml import PACKAGE_ERRORS, open_package
from mailbot.documents.opc import PackageError, WordPackage, parse
from mailbot.documents.tables import Cell, Content, Grid
from mailbot.errors import DocumentError

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
P, TBL, TR, TC, R = _W + "p", _W + "tbl", _W + "tr", _W + "tc", _W + "r"
_DOCUMENT, _BODY = _W + "document", _W + "body"
_SDT, _SDT_CONTENT, _CUSTOM_XML = _W + "sdt", _W + "sdtContent", _W + "customXml"
_TEXT, _TAB, _PTAB, _BR, _CR = _W + "t", _W + "tab", _W + "ptab", _W + "br", _W + "cr"
_NB_HYPHEN, _SOFT_HYPHEN, _SYM = _W + "noBreakHyphen", _W + "softHyphen", _W + "sym"
_TXBX, _VANISH = _W + "txbxContent", _W + "vanish"
_FOOTNOTE_REF, _ENDNOTE_REF = _W + "footnoteReference", _W + "endnoteReference"
_VAL, _TYPE, _ID = _W + "val", _W + "type", _W + "id"
# Subtrees whose text is not the paragraph's own: text boxes are read as blocks of their own,
# VML fallbacks duplicate them, properties hold no text, deleted and moved-away text is gone,
# ruby text is a reading aid above the characters.
_SKIP = frozenset({_TXBX, _MC_FALLBACK, _W + "rPr", _W + "pPr", _W + "del", _W + "moveFrom",
                   _W + "rt", _W + "instrText", _W + "delText"})
_NOTE_PARTS = (("footnotes", "footnote", "footnotePr"), ("endnotes", "endnote", "endnotePr"))
_CHINESE_DIGITS = "〇一二三四五六七八九"
_FALSE = ("0", "false", "off")

# Failures a damaged package makes zipfile and lxml show; anything else is a bug of ours.
_PARSE_ERRORS: tuple[type[BaseException], ...] = (PackageError, RecursionError, *PACKAGE_ERRORS)


def read_docx(data: bytes) -> Content:
    """The text and tables of a .docx. Raises DocumentError (corrupt, encrypted, macro,
    too-large, unsafe, empty)."""
    archive = open_package(data, "docx")
    try:
        with archive:
            package = WordPackage(archive)
            root = parse(package.read(package.main))
            body = root.find(_BODY) if root.tag == _DOCUMENT else None
            if body is None:
                raise PackageError("the main part is not a <w:document> with a <w:body>")
            walker = _Walker(_note_formats(package))
            walker.blocks(body, in_table=False, sink=None)
            for _part, note, _pr in _NOTE_PARTS:
                for partname in package.related(package.main, _part):
                    walker.notes(note, parse(package.read(partname)))
    except _PARSE_ERRORS:
        raise DocumentError(
            "corrupt", "文件已损坏或不是有效的 Word（.docx）文件，无法打开。"
        ) from None
    if not any(text.strip() for text in walker.content.paragraphs):
        raise DocumentError("empty", "文件中没有任何文字内容。")
    return walker.content


def _note_formats(package: WordPackage) -> dict[str, str]:
    """The number format of footnote and endnote marks (Word's defaults: 1 2 3 and i ii iii)."""
    formats = {"footnote": "decimal", "endnote": "lowerRoman"}
    for partname in package.related(package.main, "settings"):
        root = parse(package.read(partname))
        for _part, note, pr in _NOTE_PARTS:
            fmt = root.find(f"{_W}{pr}/{_W}numFmt")
            if fmt is not None and fmt.get(_VAL):
                formats[note] = fmt.get(_VAL, "decimal")
    return formats


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


def _hidden(run: etree._Element) -> bool:
    vanish = run.find(f"{_W}rPr/{_VANISH}")
    return vanish is not None and vanish.get(_VAL, "true").lower() not in _FALSE


def _symbol(element: etree._Element) -> str:
    """The character of a <w:sym>: a code in the symbol font's (private-use) range."""
    try:
        return chr(int(element.get(_W + "char", ""), 16))
    except (ValueError, OverflowError):
        return ""


def _mark(number: int, fmt: str) -> str:
    """A note's reference mark as text. Only Chinese numerals can change the count (十一 is two
    words); every other format is one word, whatever its letters, so it is written as digits."""
    if fmt in ("chineseCounting", "chineseCountingThousand", "ideographTraditional"):
        if number < 10:
            return _CHINESE_DIGITS[number]
        tens, ones = divmod(number, 10)
        head = "" if tens == 1 else _CHINESE_DIGITS[tens % 10]
        return head + "十" + (_CHINESE_DIGITS[ones] if ones else "")
    return str(number)


def _text_boxes(element: etree._Element) -> Iterator[etree._Element]:
    for child in element:
        if child.tag == _TXBX:
            yield child
        elif child.tag != _MC_FALLBACK and isinstance(child.tag, str):
            yield from _text_boxes(child)


class _Walker:
    def __init__(self, note_formats: dict[str, str]) -> None:
        self.content = Content()
        self.note_formats = note_formats
        self.note_counts = {"footnote": 0, "endnote": 0}
        self.in_note = False

    def run_text(self, element: etree._Element) -> Iterator[str]:
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP:
                continue  # comments, processing instructions, text boxes, fallbacks, deletions
            if tag == _TEXT:
                yield child.text or ""
            elif tag in (_TAB, _PTAB):
                yield "\t"
            elif tag in (_BR, _CR):
                yield "\n"
            elif tag == _NB_HYPHEN:
                yield "\u2011"
            elif tag == _SOFT_HYPHEN:
                yield "\u00ad"
            elif tag == _SYM:
                yield _symbol(child)
            elif tag in (_FOOTNOTE_REF, _ENDNOTE_REF):
                yield self.reference(child)
            elif tag == R and _hidden(child):
                continue
            else:
                yield from self.run_text(child)  # runs, hyperlinks, insertions, fields…

    def reference(self, element: etree._Element) -> str:
        """The number a note reference shows; nothing when the author typed a custom mark (it
        follows as ordinary text) or inside a note."""
        if self.in_note or element.get(_W + "customMarkFollows", "0").lower() not in _FALSE:
            return ""
        kind = "footnote" if element.tag == _FOOTNOTE_REF else "endnote"
        self.note_counts[kind] += 1
        return _mark(self.note_counts[kind], self.note_formats[kind])

    def notes(self, kind: str, root: etree._Element) -> None:
        """The paragraphs of every real footnote or endnote (not Word's separator lines)."""
        self.in_note = True
        for note in root.iter(_W + kind):
            if note.get(_TYPE, "normal") == "normal":
                self.blocks(note, in_table=True, sink=None)
        self.in_note = False

    def blocks(self, container: etree._Element, *, in_table: bool, sink: list[str] | None) -> None:
        """Read the paragraphs and tables of a body, cell, text box, note or content control.

        `sink` collects the texts of this container's own paragraphs (a cell's text)."""
        for child in container:
            tag = child.tag
            if tag == P:
                text = "".join(self.run_text(child))
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
