"""Look inside binary Office (.doc/.wps/.xls/.et) and OpenDocument files before converting them.

A password-protected or macro-carrying file must be named as such in the correction request,
not reported as "could not be converted". These facts sit in a few bytes, found without
LibreOffice:

* Word 97–2003 (.doc, and WPS Writer's .wps): the File Information Block at the start of the
  WordDocument stream has fEncrypted (bit 8 of the flags at offset 0x0A) — [MS-DOC] 2.5.2;
  macros live in a "Macros" storage.
* Excel 97–2003 (.xls, and WPS Spreadsheets' .et): a FILEPASS record (0x002F) in the workbook
  globals, before their EOF record — [MS-XLS] 2.4.117; macros in "_VBA_PROJECT_CUR".
* OpenDocument: META-INF/manifest.xml lists <manifest:encryption-data> for encrypted entries;
  Basic macros sit under Basic/.

olefile reads the OLE2 container; only the first 4 KiB of the streams are read, and only from
files that already passed the size limit.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import olefile

from mailbot.errors import DocumentError

_HEAD = 4096
_FILEPASS, _EOF, _BOF = 0x002F, 0x000A, 0x0809
_OLE_FORMATS = frozenset({"doc", "wps", "xls", "et"})
_ODF_FORMATS = frozenset({"odt", "ods"})


def inspect(data: bytes, fmt: str) -> None:
    """Raise DocumentError ("encrypted", "macro", "corrupt") for what must not be converted."""
    if fmt in _OLE_FORMATS:
        _inspect_ole(data)
    elif fmt in _ODF_FORMATS:
        _inspect_odf(data)


def _inspect_ole(data: bytes) -> None:
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(path) for path in ole.listdir(streams=True, storages=True)}
            if "EncryptedPackage" in streams or _word_encrypted(ole) or _excel_encrypted(ole):
                raise DocumentError("encrypted", "文件设置了打开密码（已加密），无法读取内容。")
            if any(name.split("/")[0] in ("Macros", "_VBA_PROJECT_CUR", "_VBA_PROJECT")
                   for name in streams):
                raise DocumentError("macro", "文件含有宏（VBA 代码），出于安全考虑不予打开。")
    except (OSError, ValueError, struct.error, IndexError, KeyError):
        raise DocumentError("corrupt", "文件已损坏，无法打开。") from None


def _head(ole: olefile.OleFileIO, name: str) -> bytes | None:
    if not ole.exists(name):
        return None
    with ole.openstream(name) as stream:
        head: bytes = stream.read(_HEAD)
        return head


def _word_encrypted(ole: olefile.OleFileIO) -> bool:
    fib = _head(ole, "WordDocument")
    if fib is None or len(fib) < 0x0C:
        return False
    flags = struct.unpack_from("<H", fib, 0x0A)[0]
    return bool(flags & 0x0100)


def _excel_encrypted(ole: olefile.OleFileIO) -> bool:
    """A FILEPASS record among the workbook globals' first records."""
    book = _head(ole, "Workbook") or _head(ole, "Book")
    if book is None:
        return False
    offset = 0
    while offset + 4 <= len(book):
        kind, length = struct.unpack_from("<HH", book, offset)
        if kind == _FILEPASS:
            return True
        if kind == _EOF or (kind == _BOF and offset > 0):
            return False
        offset += 4 + length
    return False


def _inspect_odf(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            info = archive.getinfo("META-INF/manifest.xml")
            if info.file_size > 1024 * 1024:
                raise DocumentError("too-large", "文件内部清单过大，无法处理。")
            manifest = archive.read(info)
    except KeyError:
        raise DocumentError("corrupt", "文件不是有效的 OpenDocument 文件（缺少清单）。") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError):
        raise DocumentError("corrupt", "文件已损坏，无法打开。") from None
    if b"encryption-data" in manifest:
        raise DocumentError("encrypted", "文件设置了打开密码（已加密），无法读取内容。")
    if any(name.startswith("Basic/") and name.endswith(".xml")
           and not name.endswith(("script-lc.xml", "dialog-lc.xml")) for name in names):
        raise DocumentError("macro", "文件含有宏，出于安全考虑不予打开。")
