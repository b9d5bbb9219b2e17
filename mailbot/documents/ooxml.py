"""Look at an OOXML package (.docx, .xlsx) from the outside before any parser touches it.

Attachments come from anyone who can send mail, so a file is judged by its zip directory first:
sizes there are what zipfile will enforce while inflating (a member that inflates past its
declared size fails its CRC check), so refusing on the directory bounds memory and time before
the .docx reader or openpyxl read a byte of XML. openpyxl reads every part into memory.

A part that declares a DTD (``<!DOCTYPE``, where entity declarations live) is refused before any
parser sees it: no Office program writes one, and it is how XML entity bombs ("billion laughs")
and external-entity tricks begin. The parsers below would stop them too, but with a message that
could only say "corrupt"; the applicant deserves to hear what is wrong.

XML parsing itself is safe by construction, checked for the installed versions: the .docx
reader parses with ``lxml.etree.XMLParser(resolve_entities=False, no_network=True,
huge_tree=False)`` (documents/opc.py: no entities, no network, depth and text-node limits);
openpyxl parses with the same lxml settings and reads worksheets with the standard library's
expat ``iterparse``, which resolves no external entities and has expansion limits (expat ≥ 2.4).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from typing import Literal

from lxml import etree

from mailbot.errors import DocumentError

# What a damaged package makes the zip, XML and Office libraries raise while reading; each
# reader adds its library's own. Anything else is a bug of ours and must not be hidden.
PACKAGE_ERRORS: tuple[type[BaseException], ...] = (
    KeyError, ValueError, TypeError, AttributeError, IndexError, etree.XMLSyntaxError,
    zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError, NotImplementedError,
)

Flavour = Literal["docx", "xlsx"]

# One XML part, uncompressed (document.xml, sheet1.xml…). A 2000-字 material is about 0.2 MB;
# parsing costs some 35 bytes of memory per byte of XML (benchmarks/documents.py), so 8 MB
# keeps the worst accepted file near 300 MB.
MAX_XML_PART = 8 * 1024 * 1024
MAX_TOTAL = 100 * 1024 * 1024  # the whole package, uncompressed (images included)
MAX_RATIO = 100  # uncompressed / compressed, for members big enough for it to matter
RATIO_FLOOR = 1024 * 1024  # small parts may compress very well legitimately
MAX_MEMBERS = 5000
MAX_PROLOG = 64 * 1024  # bytes before a part's root element; Office writes about 60
_GLANCE = 512  # what is inflated of each part first: its prolog, almost always

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Password-protected .docx/.xlsx are OLE compound files holding this stream (MS-OFFCRYPTO).
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")

_MAIN_TYPE: dict[Flavour, re.Pattern[bytes]] = {
    "docx": re.compile(rb"wordprocessingml\.document\.main\+xml"),
    "xlsx": re.compile(rb"spreadsheetml\.(sheet|template)\.main\+xml"),
}
_MACRO_MAIN = re.compile(rb"macroEnabled\.main\+xml")
_PART: dict[Flavour, str] = {"docx": "正文", "xlsx": "工作表"}
_WHAT: dict[Flavour, str] = {"docx": "Word（.docx）", "xlsx": "Excel（.xlsx）"}
# What may come before the root element: the XML declaration, processing instructions,
# comments and whitespace. A DOCTYPE is refused; a root element ends the prolog.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_UNSAFE = "文件中含有不安全的 XML 结构（DTD 或实体声明，常见于“XML 炸弹”），出于安全考虑不予打开。"


def is_encrypted_ooxml(data: bytes) -> bool:
    """True for a password-protected Office 2007+ file (an OLE container, not a zip)."""
    return data.startswith(OLE_MAGIC) and _ENCRYPTED_STREAM in data


def check_package(data: bytes, flavour: Flavour) -> None:
    """Raise DocumentError unless `data` is a plausible, bounded, macro-free OOXML package.

    Codes: "encrypted", "corrupt" (not a zip, or a zip that is not this kind of package),
    "macro" (a VBA project inside), "too-large" (a limit above exceeded).
    """
    open_package(data, flavour).close()


def open_package(data: bytes, flavour: Flavour) -> zipfile.ZipFile:
    """The package as an open zip once check_package's checks have passed (the caller closes
    it), so a reader that takes the parts out itself opens the zip only once."""
    what = _WHAT[flavour]
    if is_encrypted_ooxml(data):
        raise DocumentError("encrypted", "文件设置了打开密码（已加密），无法读取内容。")
    if data.startswith(OLE_MAGIC):
        # An old binary .doc/.xls renamed, or saved by software that only looks like Word.
        raise DocumentError(
            "corrupt", f"文件是旧版 Office 格式（.doc/.xls），不是有效的 {what}文件。"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise DocumentError("corrupt", f"文件已损坏或不是有效的 {what}文件，无法打开。") from None
    try:
        content_types = _check_archive(archive, what)
        # The main part is found by its content type, not its path: some producers put it
        # elsewhere.
        if _MACRO_MAIN.search(content_types):
            raise DocumentError("macro", "文件是启用宏的文档，出于安全考虑不予打开。")
        if not _MAIN_TYPE[flavour].search(content_types):
            raise DocumentError(
                "corrupt", f"文件不是有效的 {what}文件（其中没有{_PART[flavour]}）。")
    except BaseException:
        archive.close()
        raise
    return archive


def _check_archive(archive: zipfile.ZipFile, what: str) -> bytes:
    """The checks on the zip directory and the XML prologs; the [Content_Types].xml bytes."""
    infos = archive.infolist()
    _check_bounds(infos)
    if any(info.flag_bits & 0x1 for info in infos):  # a zip-level password
        raise DocumentError("encrypted", "文件设置了密码（已加密），无法读取内容。")
    if any(info.filename.lower().endswith("vbaproject.bin") for info in infos):
        raise DocumentError("macro", "文件含有宏（VBA 代码），出于安全考虑不予打开。")
    try:
        content_types = archive.read("[Content_Types].xml")
    except KeyError:
        raise DocumentError("corrupt", f"文件不是有效的 {what}文件（缺少内容类型清单）。") from None
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError):
        raise DocumentError("corrupt", f"文件已损坏，不是有效的 {what}文件。") from None
    _check_prologs(archive, infos)
    return content_types


def _check_bounds(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise DocumentError("too-large", f"文件内部包含的部件过多（{len(infos)} 个），无法处理。")
    total = 0
    for info in infos:
        total += info.file_size
        name = info.filename.lower()
        if name.endswith((".xml", ".rels")) and info.file_size > MAX_XML_PART:
            raise DocumentError(
                "too-large",
                f"文件内容过大（{info.filename} 解压后 {info.file_size // 2**20} MB），无法处理。",
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise DocumentError("too-large", "文件压缩比异常（疑似压缩炸弹），无法处理。")
    if total > MAX_TOTAL:
        raise DocumentError("too-large", f"文件解压后过大（共 {total // 2**20} MB），无法处理。")


def _check_prologs(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse any XML part whose prolog holds a DOCTYPE (or does not end within MAX_PROLOG).

    Only the start of each part is inflated (_GLANCE bytes, enough for Office's prologs; up to
    MAX_PROLOG only when the root element has not begun by then); a damaged stream is left for
    the reader to report.
    """
    for info in infos:
        if not info.filename.lower().endswith((".xml", ".rels")) or info.is_dir():
            continue
        try:
            with archive.open(info) as handle:
                head = handle.read(_GLANCE)
                if len(head) == _GLANCE and not _root_begins(head):
                    head += handle.read(MAX_PROLOG + 1 - _GLANCE)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError,
                RuntimeError):
            continue
        if not _prolog_is_safe(head):
            raise DocumentError("unsafe", _UNSAFE)


def _root_begins(head: bytes) -> bool:
    """True when `head` (maybe cut short) shows the prolog's items and then a start tag."""
    rest = _after_prolog(head)
    return rest[:1] == b"<" and rest[1:2] not in (b"", b"?", b"!")


def _after_prolog(head: bytes) -> bytes:
    """What follows the XML declaration, processing instructions, comments and whitespace."""
    text = head.removeprefix(b"\xef\xbb\xbf")
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = text.decode("utf-16", errors="replace").encode("utf-8")  # legal, if unusual
    position = 0
    while True:
        item = _PROLOG_ITEM.match(text, position)
        if item is None or item.end() == position:
            break
        position = item.end()
    return text[position:]


def _prolog_is_safe(head: bytes) -> bool:
    rest = _after_prolog(head)
    if rest.startswith(b"<!"):
        return False  # <!DOCTYPE …> (or anything else that is not an element)
    return bool(rest) or len(head) <= MAX_PROLOG  # a prolog too long to end is refused
