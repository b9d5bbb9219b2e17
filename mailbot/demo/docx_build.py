"""Write .docx packages from WordprocessingML fragments, for tests, benchmarks and the demo.

python-docx cannot write text boxes, footnotes, tracked changes or ruby, and its template says
``w:eastAsia="en-US"``; the 字数 oracle tests need exactly those constructs, written the way
Word writes them. A document here is a list of blocks — `paragraph(...)` and `table(...)`
strings — and optional notes, header, footer and comments; `docx(...)` packages them with the
language settings of Word in China (``w:val="en-US" w:eastAsia="zh-CN"``).

Every builder returns a `Fragment` (XML); a plain `str` given to `paragraph` or `table` is text,
whatever it looks like, so generated text such as "<https://…" can never break the XML. Text may
hold "\\t" and "\\n": they become <w:tab/> and <w:br/>, as Word stores a tab and a line break
inside a paragraph.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape

NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml" mc:Ignorable="wps"'
)
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml."
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_PART_TYPES = {"footnotes": "footnotes", "endnotes": "endnotes", "header1": "header",
               "footer1": "footer", "comments": "comments", "numbering": "numbering"}
# One-level lists: decimal "1." and Chinese "一、", as applicants number their headings.
_NUMBERING = (
    '<w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
    '<w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl></w:abstractNum>'
    '<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
    '<w:numFmt w:val="chineseCounting"/><w:lvlText w:val="%1、"/></w:lvl></w:abstractNum>'
    '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
    '<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>'
)
DECIMAL_LIST, CHINESE_LIST = 1, 2


class Fragment(str):
    """WordprocessingML, as opposed to text."""


def run(text: str, properties: str = "") -> Fragment:
    """One run; `properties` is the inside of <w:rPr> (e.g. "<w:vanish/>")."""
    parts = []
    for piece in re.split(r"(\t|\n)", text):
        if piece == "\t":
            parts.append("<w:tab/>")
        elif piece == "\n":
            parts.append("<w:br/>")
        elif piece:
            parts.append(f'<w:t xml:space="preserve">{escape(piece)}</w:t>')
    rpr = f"<w:rPr>{properties}</w:rPr>" if properties else ""
    return Fragment(f"<w:r>{rpr}{''.join(parts)}</w:r>")


def paragraph(*content: str, numbered: int | None = None) -> Fragment:
    """A paragraph of plain strings (made runs) and XML fragments (kept as they are)."""
    ppr = (f'<w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="{numbered}"/></w:numPr></w:pPr>'
           if numbered else "")
    inner = "".join(item if isinstance(item, Fragment) else run(item) for item in content)
    return Fragment(f"<w:p>{ppr}{inner}</w:p>")


def cell(*blocks: str, span: int = 1, merge: str | None = None) -> Fragment:
    """A table cell holding paragraphs and tables; `span` grid columns; `merge` "restart" or
    "continue" for a vertical merge."""
    props = (f'<w:gridSpan w:val="{span}"/>' if span > 1 else "") + (
        f'<w:vMerge w:val="{merge}"/>' if merge else "")
    content = "".join(blocks)
    if not content.endswith("</w:p>") and not content.endswith("<w:p/>"):
        content += "<w:p/>"  # Word requires a cell to end with a paragraph
    return Fragment(f"<w:tc><w:tcPr>{props}</w:tcPr>{content}</w:tc>")


def table(rows: Sequence[Sequence[str]], columns: int | None = None) -> Fragment:
    """A table of rows of `cell(...)` strings (a plain string is one paragraph in a cell)."""
    width = columns or max((len(row) for row in rows), default=1)
    grid = "".join('<w:gridCol w:w="1000"/>' for _ in range(width))
    body = "".join(
        "<w:tr>" + "".join(c if isinstance(c, Fragment) else cell(paragraph(c)) for c in row)
        + "</w:tr>" for row in rows)
    return Fragment(f'<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid>'
                    f"{grid}</w:tblGrid>{body}</w:tbl>")


def text_box(*blocks: str) -> Fragment:
    """A floating text box as Word 2010+ writes it: the DrawingML shape and its VML fallback
    (the same text twice in the file, once on the page)."""
    content = "".join(blocks)
    box = f"<w:txbxContent>{content}</w:txbxContent>"
    return Fragment(
        '<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing>'
        '<wp:anchor distT="0" distB="0" distL="0" distR="0" simplePos="0" relativeHeight="1" '
        'behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/>'
        '<wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH>'
        '<wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV>'
        '<wp:extent cx="1828800" cy="914400"/><wp:wrapNone/><wp:docPr id="1" name="文本框 1"/>'
        '<a:graphic><a:graphicData '
        'uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp>'
        '<wps:cNvSpPr txBox="1"/><wps:spPr><a:xfrm><a:off x="0" y="0"/>'
        '<a:ext cx="1828800" cy="914400"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/>'
        f"</a:prstGeom></wps:spPr><wps:txbx>{box}</wps:txbx><wps:bodyPr/></wps:wsp>"
        "</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice><mc:Fallback>"
        f'<w:pict><v:shape style="width:144pt;height:72pt"><v:textbox>{box}</v:textbox>'
        "</v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"
    )


def footnote_reference(number: int) -> Fragment:
    return Fragment(f'<w:r><w:footnoteReference w:id="{number}"/></w:r>')


def endnote_reference(number: int) -> Fragment:
    return Fragment(f'<w:r><w:endnoteReference w:id="{number}"/></w:r>')


def comment_reference(number: int) -> Fragment:
    return Fragment(f'<w:r><w:commentReference w:id="{number}"/></w:r>')


def inserted(text: str) -> Fragment:
    """Text inserted with Track Changes on."""
    return Fragment(f'<w:ins w:id="901" w:author="审阅人" w:date="2022-10-01T00:00:00Z">'
                    f"{run(text)}</w:ins>")


def deleted(text: str) -> Fragment:
    """Text deleted with Track Changes on (still in the file, struck through on screen)."""
    return Fragment(f'<w:del w:id="902" w:author="审阅人" w:date="2022-10-01T00:00:00Z"><w:r>'
                    f'<w:delText xml:space="preserve">{escape(text)}</w:delText></w:r></w:del>')


def _notes(kind: str, texts: Sequence[str]) -> str:
    reference = f"<w:r><w:{kind}Ref/></w:r>"
    separators = (f'<w:{kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r>'
                  f'</w:p></w:{kind}><w:{kind} w:type="continuationSeparator" w:id="0"><w:p>'
                  f"<w:r><w:continuationSeparator/></w:r></w:p></w:{kind}>")
    notes = "".join(f'<w:{kind} w:id="{number}"><w:p>{reference}{run(" " + text)}</w:p>'
                    f"</w:{kind}>" for number, text in enumerate(texts, start=1))
    return f"{_DECL}<w:{kind}s {NAMESPACES}>{separators}{notes}</w:{kind}s>"


def docx(blocks: Sequence[str], *, footnotes: Sequence[str] = (), endnotes: Sequence[str] = (),
         header: str | None = None, footer: str | None = None,
         comments: Sequence[str] = (), numbering: bool = False) -> bytes:
    """A complete .docx of `blocks`, with the parts asked for."""
    parts: dict[str, str] = {}
    if footnotes:
        parts["footnotes"] = _notes("footnote", footnotes)
    if endnotes:
        parts["endnotes"] = _notes("endnote", endnotes)
    if header is not None:
        parts["header1"] = f"{_DECL}<w:hdr {NAMESPACES}>{paragraph(header)}</w:hdr>"
    if footer is not None:
        parts["footer1"] = f"{_DECL}<w:ftr {NAMESPACES}>{paragraph(footer)}</w:ftr>"
    if comments:
        body = "".join(f'<w:comment w:id="{number}" w:author="审阅人">{paragraph(text)}</w:comment>'
                       for number, text in enumerate(comments))
        parts["comments"] = f"{_DECL}<w:comments {NAMESPACES}>{body}</w:comments>"
    if numbering:
        parts["numbering"] = f"{_DECL}<w:numbering {NAMESPACES}>{_NUMBERING}</w:numbering>"
    section = "<w:sectPr>" + (
        '<w:headerReference w:type="default" r:id="rIdheader1"/>' if header is not None else ""
    ) + ('<w:footerReference w:type="default" r:id="rIdfooter1"/>' if footer is not None
         else "") + '<w:pgSz w:w="11906" w:h="16838"/></w:sectPr>'
    document = f"{_DECL}<w:document {NAMESPACES}><w:body>{''.join(blocks)}{section}</w:body>" \
               "</w:document>"
    styles = (f"{_DECL}<w:styles {NAMESPACES}><w:docDefaults><w:rPrDefault><w:rPr>"
              '<w:lang w:val="en-US" w:eastAsia="zh-CN" w:bidi="ar-SA"/></w:rPr></w:rPrDefault>'
              "</w:docDefaults></w:styles>")
    content_types = (
        f'{_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/word/document.xml" ContentType="{_TYPE}document.main+xml"/>'
        f'<Override PartName="/word/styles.xml" ContentType="{_TYPE}styles+xml"/>'
        + "".join(f'<Override PartName="/word/{name}.xml" '
                  f'ContentType="{_TYPE}{_PART_TYPES[name]}+xml"/>' for name in parts)
        + "</Types>")
    package_rels = (
        f'{_DECL}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{_REL}officeDocument" '
        'Target="word/document.xml"/></Relationships>')
    document_rels = (
        f'{_DECL}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rIdstyles" Type="{_REL}styles" Target="styles.xml"/>'
        + "".join(f'<Relationship Id="rId{name}" Type="{_REL}{_PART_TYPES[name]}" '
                  f'Target="{name}.xml"/>' for name in parts)
        + "</Relationships>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", package_rels)
        archive.writestr("word/_rels/document.xml.rels", document_rels)
        archive.writestr("word/document.xml", document)
        archive.writestr("word/styles.xml", styles)
        for name, xml in parts.items():
            archive.writestr(f"word/{name}.xml", xml)
    return buffer.getvalue()
