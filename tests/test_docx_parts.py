"""The .docx reader without python-docx's package object reads exactly what it read with it.

`reference` below is the reader as it was: python-docx opens the package, the same walker reads
the body and the notes. Both are run on the sample forms, the blank official forms, the .docx
files of the mail corpus, hand-made documents with every part the reader walks, and damaged
packages; the Content (every paragraph, every table cell) and the values the forms are read
for must be equal, and a damaged package must give the same finding.
"""

from __future__ import annotations

import email
import io
import zipfile
from email import policy
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.parser import parse_xml

from mailbot.campaign.rules import load_rules
from mailbot.demo import docx_build as build
from mailbot.demo import samples
from mailbot.documents import docx_reader as reader
from mailbot.documents import read_document
from mailbot.documents.ooxml import PACKAGE_ERRORS, check_package
from mailbot.documents.tables import APPROVAL_LABELS, Content, key_values, summary_entries
from mailbot.errors import DocumentError

ROOT = Path(__file__).resolve().parents[1]
SEED_FORMS = Path("/work/shared/seed/forms")  # the blank official forms, when present
CAMPAIGN = load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")
STUDIOS = samples.SAMPLE_STUDIOS
P = build.paragraph


def reference(data: bytes) -> Content:
    """The reader as it was before: python-docx's package, the same walker."""
    check_package(data, "docx")
    try:
        document = docx.Document(io.BytesIO(data))
        roots = {}
        for suffix in ("footnotes", "endnotes", "settings"):
            roots[suffix] = [parse_xml(rel.target_part.blob)
                             for rel in document.part.rels.values()
                             if not rel.is_external and rel.reltype.endswith("/" + suffix)]
        formats = {"footnote": "decimal", "endnote": "lowerRoman"}
        for root in roots["settings"]:
            for _part, note, pr in reader._NOTE_PARTS:
                fmt = root.find(f"{reader._W}{pr}/{reader._W}numFmt")
                if fmt is not None and fmt.get(reader._VAL):
                    formats[note] = fmt.get(reader._VAL, "decimal")
        walker = reader._Walker(formats)
        walker.blocks(document.element.body, in_table=False, sink=None)
        for part, note, _pr in reader._NOTE_PARTS:
            for root in roots[part]:
                walker.notes(note, root)
    except (PackageNotFoundError, RecursionError, *PACKAGE_ERRORS):
        raise DocumentError("corrupt", "文件已损坏。") from None
    if not any(text.strip() for text in walker.content.paragraphs):
        raise DocumentError("empty", "文件中没有任何文字内容。")
    return walker.content


def outcome(read: object, data: bytes) -> Content | str:
    """The Content, or the problem code."""
    try:
        return read(data)  # type: ignore[operator, no-any-return]
    except DocumentError as exc:
        return exc.code


def _features() -> list[bytes]:
    """Hand-made documents with every part and construct the walker reads."""
    box = build.text_box("文本框里的一段话", build.table([["框中表", "格"]]))
    nested = build.cell(build.table([["内层", "表格"], ["第二行", "x"]]))
    merged = build.table([["标题跨两列"], ["左", "右"]], columns=2)
    return [
        build.docx([P("正文一段", build.footnote_reference(1)), box,
                    P("尾注在此", build.endnote_reference(1))],
                   footnotes=["脚注的内容。"], endnotes=["尾注的内容。"]),
        build.docx([P("修订：", build.inserted("插入的字"), build.deleted("删掉的字")), merged,
                    build.table([["外层", nested]])],
                   header="页眉不计", footer="页脚不计", comments=["批注不计"], numbering=True),
        build.docx([P(build.run("隐藏的字", "<w:vanish/>"), "看得见的字")]),
    ]


def _corpus_docx() -> list[bytes]:
    found = []
    for path in sorted((ROOT / "tests" / "corpus").rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        for part in message.walk():
            name = part.get_filename() or ""
            payload = part.get_payload(decode=True)
            if name.lower().endswith(".docx") and isinstance(payload, bytes):
                found.append(payload)
    return found


def _samples() -> list[bytes]:
    return [samples.summary_docx("中德智能制造学院", STUDIOS),
            samples.summary_docx(STUDIOS[1].unit, [STUDIOS[1]]),
            *(samples.approval_docx(studio) for studio in STUDIOS),
            samples.approval_docx(STUDIOS[2], blank=("领衔人姓名", "联系电话")),
            samples.material_docx(STUDIOS[3], 1800),
            samples.material_docx(STUDIOS[0], 900, outline=False)]


def test_the_same_content_as_through_python_docx() -> None:
    readable = _samples() + _features() + [path.read_bytes()
                                           for path in sorted(SEED_FORMS.glob("*.docx"))]
    for data in readable:
        new = reader.read_docx(data)
        assert new == reference(data) and new.paragraphs
    corpus = [outcome(reader.read_docx, data) for data in _corpus_docx()]
    assert corpus == [outcome(reference, data) for data in _corpus_docx()]
    assert sum(isinstance(content, Content) for content in corpus) >= 10  # mostly real forms


def test_the_forms_give_the_same_values() -> None:
    """The approval form's key–value fields (merged cells) and the summary table's rows."""
    for studio in STUDIOS:
        data = samples.approval_docx(studio)
        new, old = reader.read_docx(data), reference(data)
        fields = key_values(new.tables, APPROVAL_LABELS)
        assert fields == key_values(old.tables, APPROVAL_LABELS)
        assert fields["工作室名称"] == studio.name and fields["领衔人姓名"] == studio.leader
    data = samples.summary_docx("中德智能制造学院", STUDIOS)
    new, old = reader.read_docx(data), reference(data)
    entries = summary_entries(new.tables, "工作室名称")
    assert entries == summary_entries(old.tables, "工作室名称")
    assert [entry.name for entry in entries] == [studio.name for studio in STUDIOS]
    for path in sorted(SEED_FORMS.glob("*.docx")):
        new, old = reader.read_docx(path.read_bytes()), reference(path.read_bytes())
        assert key_values(new.tables, APPROVAL_LABELS) == key_values(old.tables, APPROVAL_LABELS)
        assert summary_entries(new.tables, "工作室名称") == summary_entries(old.tables, "工作室名称")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _changed(data: bytes, changes: dict[str, bytes | None]) -> bytes:
    """`data` with members replaced (a value) or removed (None)."""
    members = _members(data)
    for name, payload in changes.items():
        if payload is None:
            members.pop(name, None)
        else:
            members[name] = payload
    return _zip(members)


PLAIN = build.docx([P("一段正文")], footnotes=["脚注"], header="页眉")
_TYPES = _members(PLAIN)["[Content_Types].xml"]
_DOC_RELS = _members(PLAIN)["word/_rels/document.xml.rels"]
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

_DOCUMENT, _TYPES_NAME = "word/document.xml", "[Content_Types].xml"
_NOT_A_DOCUMENT = f"<w:body {W}><w:p><w:r><w:t>字</w:t></w:r></w:p></w:body>".encode()
_EMPTY_BODY = f"<w:document {W}><w:body><w:p/></w:body></w:document>".encode()
_TEMPLATE = (_TYPES.replace(b"document.main+xml", b"template.main+xml")
             + b"<!-- document.main+xml -->")  # past ooxml's look at the content types
DAMAGED: dict[str, bytes] = {
    "not a zip": b"this is not a zip file at all",
    "a zip that is no Office file": _zip({"readme.txt": b"hello"}),
    "a zip without word/document.xml": _changed(PLAIN, {_DOCUMENT: None}),
    "no package relationships": _changed(PLAIN, {"_rels/.rels": None}),
    "a relationship to a missing header": _changed(PLAIN, {"word/header1.xml": None}),
    "a part without a content type": _changed(PLAIN, {_TYPES_NAME: _TYPES.replace(
        b'<Default Extension="xml" ContentType="application/xml"/>', b"").replace(
        b'PartName="/word/header1.xml"', b'PartName="/word/other.xml"')}),
    "a template, not a document": _changed(PLAIN, {_TYPES_NAME: _TEMPLATE}),
    "malformed footnotes": _changed(PLAIN, {"word/footnotes.xml": b"<w:footnotes>"}),
    "malformed relationships": _changed(PLAIN, {"word/_rels/document.xml.rels": _DOC_RELS[:-20]}),
    "a root that is not w:document": _changed(PLAIN, {_DOCUMENT: _NOT_A_DOCUMENT}),
    "a document without a body": _changed(PLAIN, {_DOCUMENT: f"<w:document {W}/>".encode()}),
    "an empty body": _changed(build.docx([P()]), {_DOCUMENT: _EMPTY_BODY}),
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_damaged_packages_give_the_same_finding(name: str) -> None:
    data = DAMAGED[name]
    new, old = outcome(reader.read_docx, data), outcome(reference, data)
    assert new == old
    assert new == ("empty" if name == "an empty body" else "corrupt")


@pytest.mark.parametrize("part", ["word/styles.xml", "word/header1.xml"])
def test_a_damaged_part_that_is_not_read_is_no_longer_fatal(part: str) -> None:
    """The one deliberate difference: python-docx parsed styles, headers… on opening and
    failed on a damaged one; now only the parts read are parsed (Word repairs such a file)."""
    data = _changed(PLAIN, {part: b"<w:hdr><w:p></w:hdr>"})
    assert outcome(reference, data) == "corrupt"
    assert outcome(reader.read_docx, data) == reader.read_docx(PLAIN)


def test_a_zip_without_the_document_is_a_corrupt_word_file() -> None:
    """What the applicant reads for a zip that is not a Word file, and for a non-zip."""
    for data in (DAMAGED["a zip without word/document.xml"], DAMAGED["not a zip"],
                 DAMAGED["a zip that is no Office file"]):
        [problem] = read_document("附件2.docx", data, "docx", CAMPAIGN).problems
        assert problem.code == "corrupt" and "Word" in problem.message and problem.fix


@pytest.mark.parametrize("prolog", [
    "<!--" + "长注释" * 300 + "-->",  # the DOCTYPE comes after the first glance at the part
    "<?pi " + "x" * 509 + "?>",  # a processing instruction cut by the first glance
    " " * 2000,
])
def test_a_dtd_after_a_long_prolog_is_still_refused(prolog: str) -> None:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<!DOCTYPE w:document [<!ENTITY a "字">]>'
           f"<w:document {W}><w:body><w:p><w:r><w:t>&a;</w:t></w:r></w:p></w:body></w:document>")
    assert outcome(reader.read_docx, _changed(PLAIN, {_DOCUMENT: xml.encode()})) == "unsafe"
    safe = xml.replace('<!DOCTYPE w:document [<!ENTITY a "字">]>', "").replace("&a;", "字")
    assert outcome(reader.read_docx, _changed(PLAIN, {_DOCUMENT: safe.encode()})) != "unsafe"
