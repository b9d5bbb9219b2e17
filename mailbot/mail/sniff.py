"""What a file really is, judged by its content, never by its name.

Applicants rename files freely (a .doc saved as .docx, a zip of all three forms called
附件1.docx, a WPS file with any extension), so the checks ask `detect_format` instead of
trusting the extension. The extension is used only where the content cannot tell: WPS Writer
and ET files are OLE2 containers with the same streams as Word and Excel files.

Only small parts of a file are ever read: zip members are opened only when small
(`[Content_Types].xml`, `mimetype`), OLE2 files only have their directory parsed. Stdlib only.
"""

from __future__ import annotations

import codecs
import io
import struct
import zipfile
import zlib

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_SMALL_MEMBER = 1 << 20  # never inflate more than this much of any zip member

# (content type fragment, kind), checked in order: the macro-enabled types must win over
# their plain counterparts, whose names they do not contain but whose files they resemble.
_OOXML_TYPES = (
    ("application/vnd.ms-word.document.macroenabled.main+xml", "docm"),
    ("application/vnd.ms-word.template.macroenabledtemplate.main+xml", "docm"),
    ("wordprocessingml.document.main+xml", "docx"),
    # Templates are reported as documents: they hold the same parts, and a .dotx sent instead
    # of a .docx is a person's slip, not a different kind of submission.
    ("wordprocessingml.template.main+xml", "docx"),
    ("application/vnd.ms-excel.sheet.macroenabled.main+xml", "xlsm"),
    ("application/vnd.ms-excel.template.macroenabled.main+xml", "xlsm"),
    ("spreadsheetml.sheet.main+xml", "xlsx"),
    ("spreadsheetml.template.main+xml", "xlsx"),
    ("presentation.main+xml", "pptx"),  # also .pptm: there is no macro kind for slides
    ("presentationml.slideshow.main+xml", "pptx"),
    ("presentationml.template.main+xml", "pptx"),
)
_ODF_TYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}

_MAXREGSECT = 0xFFFFFFFA  # OLE2 sector ids above this are markers (free, end of chain, …)
_OLE_NAMES = ("EncryptedPackage", "WordDocument", "Workbook", "Book")


def detect_format(data: bytes, filename: str = "") -> str:
    """The file's real type: "docx", "doc", "pdf", "encrypted-ooxml", …, "unknown". Never raises."""
    try:
        return _detect(bytes(data), filename.lower())
    except Exception:
        return "unknown"


def _detect(data: bytes, name: str) -> str:
    if not data:
        return "empty"
    head = data[:16]
    if head.startswith(_ZIP_MAGICS):
        return _zip_kind(data)
    if head.startswith(OLE_MAGIC):
        return _ole_kind(data, name)
    # Acrobat accepts junk before the header within the first KiB; so do we.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    simple = (
        (b"{\\rtf", "rtf"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"Rar!\x1a\x07", "rar"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"\x1f\x8b", "gzip"),
        (b"\x7fELF", "exe"),
    )
    for magic, kind in simple:
        if head.startswith(magic):
            return kind
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    # "BM" alone is too weak (a text may start so): require a known DIB header size.
    dib_sizes = (12, 40, 52, 56, 64, 108, 124)
    if (head.startswith(b"BM") and data[14:15] and data[14] in dib_sizes
            and data[15:18] == b"\0" * 3):
        return "bmp"
    if head.startswith(b"MZ") and _is_executable(data):
        return "exe"
    if _looks_like_text(data):
        return "text"
    return "unknown"


def _is_executable(data: bytes) -> bool:
    if len(data) >= 64:
        offset = struct.unpack_from("<I", data, 0x3C)[0]
        if data[offset : offset + 4] == b"PE\x00\x00":
            return True
    return b"This program cannot be run in DOS mode" in data[:1024] or not _looks_like_text(data)


def _looks_like_text(data: bytes) -> bool:
    """Plain text (UTF-8, GB18030 or UTF-16 with BOM) with hardly any control characters."""
    head = data[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if b"\x00" in head:
        return False
    text = None
    for codec in ("utf-8", "gb18030"):
        try:
            text = head.decode(codec)
            break
        except UnicodeDecodeError as err:
            if len(data) > len(head) and err.start >= len(head) - 4:
                text = head[: err.start].decode(codec, errors="replace")  # cut mid-character
                break
    if text is None:
        return False
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f\x1b")
    return controls * 100 <= len(text)


def _small_member(zf: zipfile.ZipFile, member: str) -> str | None:
    """A zip member's text when present and small; never inflates a large (or lying) member."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        return None
    if info.file_size > _SMALL_MEMBER:
        return None
    with zf.open(info) as handle:  # reads at most the declared size, which we bounded
        return handle.read(_SMALL_MEMBER).decode("utf-8", errors="replace")


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            try:
                content_types = _small_member(zf, "[Content_Types].xml")
                mimetype = _small_member(zf, "mimetype")
            except (RuntimeError, NotImplementedError, zlib.error, zipfile.BadZipFile, OSError):
                # Encrypted member, exotic compression or a corrupt stream: names must do.
                content_types = mimetype = None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        return "zip"  # looks like a zip but cannot be read as one: damaged or truncated

    if mimetype is not None:
        return _ODF_TYPES.get(mimetype.strip(), "zip")
    kind = None
    if content_types:
        lowered = content_types.lower()
        kind = next((k for fragment, k in _OOXML_TYPES if fragment in lowered), None)
    if kind is None:
        if "word/document.xml" in names:
            kind = "docx"
        elif "xl/workbook.xml" in names:
            kind = "xlsx"
        elif "ppt/presentation.xml" in names:
            kind = "pptx"
        else:
            return "zip"
    # A macro project makes a document macro-enabled whatever its declared type says.
    if kind == "docx" and "word/vbaProject.bin" in names:
        return "docm"
    if kind == "xlsx" and "xl/vbaProject.bin" in names:
        return "xlsm"
    return kind


def _ole_kind(data: bytes, name: str) -> str:
    streams = _ole_top_level_names(data)
    if streams is None:
        streams = _ole_scan_names(data)
    if "EncryptedPackage" in streams:
        return "encrypted-ooxml"  # a password-protected docx/xlsx: Office wraps it in OLE2
    # WPS Office writes .wps/.et in the Word/Excel binary formats, so only the extension
    # tells them apart from .doc/.xls.
    if "WordDocument" in streams:
        return "wps" if name.endswith((".wps", ".wpt")) else "doc"
    if "Workbook" in streams or "Book" in streams:
        return "et" if name.endswith((".et", ".ett")) else "xls"
    if name.endswith((".wps", ".wpt")):
        return "wps"
    if name.endswith((".et", ".ett")):
        return "et"
    return "ole"


def _ole_top_level_names(data: bytes) -> set[str] | None:
    """Names of the root storage's children, read through the FAT; None if the file is damaged.

    Only the top level counts: a Word file with an embedded Excel chart holds a "Workbook"
    stream too, one storage down.
    """
    try:
        shift = struct.unpack_from("<H", data, 0x1E)[0]
        if shift not in (9, 12):
            return None
        size = 1 << shift
        per_sector = size // 4
        max_sectors = len(data) // size + 1  # bounds every chain walk below
        fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < _MAXREGSECT]
        difat, seen = struct.unpack_from("<I", data, 0x44)[0], set[int]()
        while difat < _MAXREGSECT and difat not in seen and len(seen) < max_sectors:
            seen.add(difat)
            entries = struct.unpack_from(f"<{per_sector}I", data, (difat + 1) * size)
            fat_sectors += [s for s in entries[:-1] if s < _MAXREGSECT]
            difat = entries[-1]
        fat: list[int] = []
        for sector in fat_sectors:
            fat += struct.unpack_from(f"<{per_sector}I", data, (sector + 1) * size)

        entries_raw: list[bytes] = []
        sector, visited = struct.unpack_from("<I", data, 0x30)[0], set[int]()
        while sector < _MAXREGSECT and sector not in visited and len(visited) < max_sectors:
            visited.add(sector)
            chunk = data[(sector + 1) * size : (sector + 2) * size]
            entries_raw += [chunk[i : i + 128] for i in range(0, len(chunk) - 127, 128)]
            sector = fat[sector] if sector < len(fat) else _MAXREGSECT + 1
        if not entries_raw:
            return None

        names: set[str] = set()
        stack, done = [struct.unpack_from("<I", entries_raw[0], 76)[0]], set()
        while stack:  # the root's children form a red-black tree of left/right siblings
            index = stack.pop()
            if index >= len(entries_raw) or index in done:
                continue
            done.add(index)
            entry = entries_raw[index]
            length = min(struct.unpack_from("<H", entry, 64)[0], 64)
            if entry[66] in (1, 2):  # storage or stream
                names.add(entry[: max(length - 2, 0)].decode("utf-16-le", errors="replace"))
            stack += struct.unpack_from("<II", entry, 68)
        return names
    except struct.error:  # truncated: a sector lies beyond the end of the file
        return None


def _ole_scan_names(data: bytes) -> set[str]:
    """Fallback for damaged files: look for directory entries of known streams anywhere.

    A directory entry starts on a 128-byte boundary of the file (sectors are 512 or 4096
    bytes after a 512-byte header) with the UTF-16LE name, its length at +64 and its type at
    +66; checking all three makes a hit in ordinary document text practically impossible.
    """
    found: set[str] = set()
    for stream in _OLE_NAMES:
        needle = stream.encode("utf-16-le") + b"\x00\x00"
        start = data.find(needle)
        while start >= 0:
            if (
                start % 128 == 0
                and len(data) >= start + 67
                and struct.unpack_from("<H", data, start + 64)[0] == len(needle)
                and data[start + 66] in (1, 2)
            ):
                found.add(stream)
                break
            start = data.find(needle, start + 1)
    return found
