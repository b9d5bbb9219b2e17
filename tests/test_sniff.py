"""File types by content: what applicants really attach, whatever the extension says."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import docx
import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail.sniff import OLE_MAGIC, detect_format

KINDS = {
    "docx", "xlsx", "pptx", "docm", "xlsm", "odt", "ods", "zip", "doc", "xls", "wps", "et",
    "ole", "encrypted-ooxml", "pdf", "rtf", "png", "jpeg", "gif", "bmp", "tiff", "webp", "rar",
    "7z", "gzip", "exe", "text", "empty", "unknown",
}

CT_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
MAIN_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "docm": "application/vnd.ms-word.document.macroEnabled.main+xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}
MAIN_PART = {"docx": "word/document.xml", "docm": "word/document.xml", "xlsx": "xl/workbook.xml",
             "xlsm": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}


def ooxml(kind: str, *, content_types: bool = True, extra: tuple[str, ...] = ()) -> bytes:
    """A minimal OOXML package: the content types and the main part, nothing else."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        part = MAIN_PART[kind]
        if content_types:
            zf.writestr("[Content_Types].xml", f'{CT_HEAD}<Override PartName="/{part}" '
                        f'ContentType="{MAIN_TYPES[kind]}"/></Types>')
        zf.writestr(part, "<x/>")
        for name in extra:
            zf.writestr(name, b"\0" * 10)
    return buffer.getvalue()


def odf(mimetype: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", mimetype)  # stored first and uncompressed, as ODF requires
        zf.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def cfb(entries: list[tuple[str, int, int, int, int]]) -> bytes:
    """A minimal compound file: one FAT sector, one directory sector of four entries.

    `entries` are (name, type, left, right, child) after the root; type 1 = storage,
    2 = stream. The root's child is entry 1.
    """
    header = bytearray(512)
    header[0:8] = OLE_MAGIC
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([FREESECT] * 108))
    fat = struct.pack("<128I", FATSECT, ENDOFCHAIN, *([FREESECT] * 126))
    directory = bytearray()
    for name, kind, left, right, child in [("Root Entry", 5, NOSTREAM, NOSTREAM, 1), *entries]:
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\0\0"
        entry[: len(encoded)] = encoded
        struct.pack_into("<HBBIII", entry, 64, len(encoded), kind, 1, left, right, child)
        struct.pack_into("<II", entry, 116, ENDOFCHAIN, 0)
        directory += entry
    directory += b"\0" * (512 - len(directory))
    return bytes(header) + fat + bytes(directory)


def streams(*names: str) -> bytes:
    """A compound file whose root holds the given streams as a chain of right siblings."""
    entries = [
        (name, 2, NOSTREAM, index + 2 if index + 1 < len(names) else NOSTREAM, NOSTREAM)
        for index, name in enumerate(names)
    ]
    return cfb(entries)


def real_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("劳模和工匠人才创新工作室申报材料")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def real_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "推荐单位"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        pytest.param(ooxml("docx"), "附件3.docx", "docx", id="docx"),
        pytest.param(ooxml("docx"), "附件3.doc", "docx", id="docx-named-doc"),
        pytest.param(ooxml("docx", content_types=False), "", "docx", id="docx-by-members"),
        pytest.param(ooxml("docx", extra=("word/vbaProject.bin",)), "", "docm", id="docx-macros"),
        pytest.param(ooxml("docm"), "a.docx", "docm", id="docm"),
        pytest.param(ooxml("xlsx"), "附件1.xlsx", "xlsx", id="xlsx"),
        pytest.param(ooxml("xlsm"), "", "xlsm", id="xlsm"),
        pytest.param(ooxml("xlsx", content_types=False, extra=("xl/vbaProject.bin",)), "",
                     "xlsm", id="xlsx-members-macros"),
        pytest.param(ooxml("pptx"), "", "pptx", id="pptx"),
        pytest.param(odf("application/vnd.oasis.opendocument.text"), "", "odt", id="odt"),
        pytest.param(odf("application/vnd.oasis.opendocument.spreadsheet"), "", "ods", id="ods"),
        pytest.param(odf("application/vnd.oasis.opendocument.graphics"), "", "zip", id="odg"),
        pytest.param(real_docx(), "x.docx", "docx", id="python-docx"),
        pytest.param(real_xlsx(), "x.xlsx", "xlsx", id="openpyxl"),
        pytest.param(streams("WordDocument", "1Table", "\x05SummaryInformation"), "附件2.doc",
                     "doc", id="ole-doc"),
        pytest.param(streams("WordDocument", "1Table"), "附件2.docx", "doc", id="doc-named-docx"),
        pytest.param(streams("Workbook"), "附件1.xls", "xls", id="ole-xls"),
        pytest.param(streams("Book"), "", "xls", id="ole-xls-biff5"),
        pytest.param(streams("WordDocument", "1Table"), "附件2.wps", "wps", id="wps"),
        pytest.param(streams("Workbook"), "附件1.et", "et", id="et"),
        pytest.param(streams("Contents"), "附件1.et", "et", id="et-other-streams"),
        pytest.param(streams("PowerPoint Document"), "a.ppt", "ole", id="ole-other"),
        pytest.param(streams("EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"),
                     "附件3.docx", "encrypted-ooxml", id="encrypted-ooxml"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a.docx", "pdf", id="pdf"),
        pytest.param(b"\r\n\r\n%PDF-1.4\n", "", "pdf", id="pdf-after-junk"),
        pytest.param(b"{\\rtf1\\ansi\\ansicpg936 hello}", "a.doc", "rtf", id="rtf-named-doc"),
        pytest.param(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "", "png", id="png"),
        pytest.param(b"\xff\xd8\xff\xe0\0\x10JFIF\0", "scan.pdf", "jpeg", id="jpeg"),
        pytest.param(b"GIF89a\x01\0\x01\0", "", "gif", id="gif"),
        pytest.param(b"BM" + struct.pack("<IHHII", 70, 0, 0, 54, 40) + b"\0" * 40, "", "bmp",
                     id="bmp"),
        pytest.param(b"II*\0\x08\0\0\0", "", "tiff", id="tiff"),
        pytest.param(b"RIFF\x24\0\0\0WEBPVP8 ", "", "webp", id="webp"),
        pytest.param(b"Rar!\x1a\x07\x01\0", "附件.rar", "rar", id="rar"),
        pytest.param(b"7z\xbc\xaf\x27\x1c\0\x04", "", "7z", id="7z"),
        pytest.param(gzip.compress(b"hello"), "", "gzip", id="gzip"),
        pytest.param(b"MZ\x90\0" + b"\0" * 56 + struct.pack("<I", 64) + b"PE\0\0", "a.docx",
                     "exe", id="exe"),
        pytest.param(b"\x7fELF\x02\x01\x01", "", "exe", id="elf"),
        pytest.param("劳模工作室申报材料\n共 1800 字\n".encode(), "a.docx", "text", id="utf8-text"),
        pytest.param("劳模工作室申报材料\r\n".encode("gbk"), "a.txt", "text", id="gbk-text"),
        pytest.param("申报".encode("utf-16"), "", "text", id="utf16-bom-text"),
        pytest.param(b"BMW 320i\n", "", "text", id="text-starting-BM"),
        pytest.param(b"", "附件1.docx", "empty", id="empty"),
        pytest.param(bytes(range(256)) * 4, "", "unknown", id="binary-junk"),
    ],
)
def test_detect_format(data: bytes, filename: str, expected: str) -> None:
    assert detect_format(data, filename) == expected


def test_only_the_top_level_of_an_ole_file_counts() -> None:
    # A Word file with an embedded Excel chart: ObjectPool/_1/Workbook is one storage down.
    word_with_chart = cfb([
        ("WordDocument", 2, NOSTREAM, 2, NOSTREAM),
        ("ObjectPool", 1, NOSTREAM, NOSTREAM, 3),
        ("Workbook", 2, NOSTREAM, NOSTREAM, NOSTREAM),
    ])
    assert detect_format(word_with_chart) == "doc"
    excel_with_doc = cfb([
        ("Workbook", 2, NOSTREAM, 2, NOSTREAM),
        ("MBD0001", 1, NOSTREAM, NOSTREAM, 3),
        ("WordDocument", 2, NOSTREAM, NOSTREAM, NOSTREAM),
    ])
    assert detect_format(excel_with_doc) == "xls"


def test_damaged_ole_falls_back_to_scanning_directory_entries() -> None:
    data = bytearray(streams("WordDocument", "1Table"))
    struct.pack_into("<I", data, 0x4C, 9999)  # the FAT now lies far beyond the end
    assert detect_format(bytes(data), "a.doc") == "doc"
    # The same name in document text (not on a directory entry boundary) is not a stream.
    text_only = bytes(OLE_MAGIC) + b"\0" * 600 + b"x" + "Workbook".encode("utf-16-le") + b"\0\0"
    assert detect_format(text_only) == "ole"


def test_corrupt_and_truncated_zips() -> None:
    document = ooxml("docx")
    assert detect_format(document[: len(document) // 2], "a.docx") == "zip"
    assert detect_format(b"PK\x03\x04" + b"\0" * 10) == "zip"
    assert detect_format(b"PK\x05\x06" + b"\0" * 18) == "zip"  # an empty archive


def test_a_zip_of_the_forms_is_a_zip() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("附件1.docx", ooxml("docx"))
        zf.writestr("附件3.docx", ooxml("docx"))
    assert detect_format(buffer.getvalue(), "申报材料.docx") == "zip"


def test_huge_content_types_member_is_not_inflated() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", b" " * (3 << 20))  # 3 MiB of nothing: a bomb's cousin
        zf.writestr("word/document.xml", "<x/>")
    assert detect_format(buffer.getvalue()) == "docx"  # decided by member names instead


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", OLE_MAGIC, b"PK\x03\x04", b"%PDF-", b"MZ", b"BM", b"RIFF"]),
    body=st.binary(max_size=2048),
    filename=st.sampled_from(["", "a.docx", "a.wps", "a.et"]),
)
def test_never_raises(prefix: bytes, body: bytes, filename: str) -> None:
    assert detect_format(prefix + body, filename) in KINDS
