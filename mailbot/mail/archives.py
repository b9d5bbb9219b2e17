"""Open the .zip archives applicants attach, so the forms inside count like plain attachments.

`expand_archive` turns one zip attachment into the files it holds, each an `Attachment` named by
its member's base name, decoded exactly. What real zips look like:

* Chinese Windows (Explorer's "发送到 > 压缩文件夹", old WinRAR/360压缩/好压): member names in
  GBK, *without* the UTF-8 flag (general purpose bit 11). Python hands those out decoded as
  cp437 mojibake; the bytes are recovered and decoded as UTF-8 when they are valid UTF-8, else
  as GB18030 (the rule of `mailbot.mail.filenames`). 7-Zip and WinRAR may add an Info-ZIP
  Unicode Path
  field (0x7075) holding the UTF-8 name: it wins when its CRC matches the stored name.
* macOS Archive Utility: UTF-8 names without the flag, decomposed (NFD); `__MACOSX/` resource
  forks, `._name` AppleDouble files and `.DS_Store` — machinery, skipped. Names are given in NFC.
* Folders inside, backslashes as separators, and a zip inside a zip (opened too, to a depth).

Hostile zips: nothing is ever extracted to disk by a member's path (members with `..` or absolute
paths keep only their base name), and the limits below are checked against the sizes the archive
declares *before* anything is inflated. A member that lies about its size cannot hurt either:
`zipfile` never inflates more than the declared size, then fails its CRC check.

What cannot be opened (RAR, 7z, encrypted, damaged, over a limit) stays the attachment it was and
becomes a `Finding`: the applicant is asked for plain attachments or a .zip.
"""

from __future__ import annotations

import io
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field

from mailbot.checks import mail as mail_findings
from mailbot.findings import Finding
from mailbot.mail.filenames import decode_bytes
from mailbot.mail.sniff import detect_format

DEFAULT_MAX_MEMBERS = 200  # files, over all nested archives of one attachment
DEFAULT_MAX_TOTAL_BYTES = 100 * 1024 * 1024  # inflated, over all nested archives; in memory
DEFAULT_MAX_RATIO = 200  # inflated / compressed, per member; real documents stay far below
DEFAULT_MAX_DEPTH = 3  # a zip in a zip in a zip
_UNICODE_PATH_FIELD = 0x7075
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
# Files the operating system leaves in archives; nobody sends them on purpose.
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".localized", "icon\r"})
# What we cannot open, by the format `sniff.detect_format` reports.
UNSUPPORTED = {"rar": "RAR", "7z": "7z", "gzip": "gzip"}
# A document that sniffs as a plain zip is a damaged document, not an archive to open: the
# document reader reports it as unreadable, in words about the document.
DOCUMENT_EXTENSIONS = (".docx", ".docm", ".dotx", ".xlsx", ".xlsm", ".xltx", ".pptx", ".odt",
                       ".ods", ".wps", ".et")


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = DEFAULT_MAX_MEMBERS
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO
    max_depth: int = DEFAULT_MAX_DEPTH


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class Member:
    """One file found in an archive: its base name, its path for display, its bytes."""

    filename: str  # base name, decoded exactly, NFC
    path: str  # "材料.zip/计算机学院/附件1.docx": the archive's name, then the path inside
    data: bytes
    format: str


@dataclass
class Expansion:
    """The files an archive holds (`opened`), or why it stays closed; findings either way (a
    damaged zip inside a good one is kept as a file and reported)."""

    opened: bool = False
    members: list[Member] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # machinery: __MACOSX, .DS_Store…


class _Refused(Exception):
    """The archive cannot be opened; the message is the finding for the applicant."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_archive(filename: str, fmt: str) -> bool:
    """Whether an attachment is an archive (to open or to refuse), not a (damaged) document."""
    if filename.lower().endswith(DOCUMENT_EXTENSIONS):
        return False
    return fmt == "zip" or fmt in UNSUPPORTED


def expand_archive(filename: str, data: bytes, fmt: str,
                   limits: ArchiveLimits = DEFAULT_LIMITS) -> Expansion:
    """The files inside an archive attachment, or findings saying why it stays closed."""
    shown = filename or "压缩包"
    if fmt in UNSUPPORTED:
        return Expansion(findings=[mail_findings.archive_unsupported(shown, UNSUPPORTED[fmt],
                                                                      filename)])
    result = Expansion(opened=True)
    budget = _Budget(limits)
    try:
        _expand(shown, data, result, budget, depth=1)
    except _Refused as refused:
        return Expansion(findings=[_finding(refused, filename)])
    if not result.members:
        return Expansion(findings=[mail_findings.archive_empty(shown, filename)],
                         skipped=result.skipped)
    return result


def _finding(refused: _Refused, document: str) -> Finding:
    return mail_findings.archive_refused(refused.code, str(refused), document)


@dataclass
class _Budget:
    limits: ArchiveLimits
    members: int = 0
    total: int = 0

    def take(self, archive: str, info: zipfile.ZipInfo) -> None:
        self.members += 1
        self.total += info.file_size
        if self.members > self.limits.max_members:
            raise _Refused("archive-limit", f"压缩包“{archive}”中的文件超过 "
                           f"{self.limits.max_members} 个，未予解压。")
        if self.total > self.limits.max_total_bytes:
            raise _Refused("archive-limit", f"压缩包“{archive}”解压后超过 "
                           f"{self.limits.max_total_bytes // (1024 * 1024)} MB，未予解压。")
        compressed = max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and info.file_size / compressed > self.limits.max_ratio:
            raise _Refused("archive-limit", f"压缩包“{archive}”的压缩比异常（疑似“压缩炸弹”），"
                           "未予解压。")


def _expand(archive: str, data: bytes, result: Expansion, budget: _Budget, depth: int) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # hostile bytes: zipfile raises a dozen kinds (versions, UTF-8…)
        raise _Refused("archive-damaged", f"压缩包“{archive}”已损坏，无法打开（{exc}）。") from exc
    with zf:
        for info in zf.infolist():
            parts = _path_parts(member_name(info))
            if info.is_dir() or not parts:
                continue
            if _is_junk(parts):
                result.skipped.append(f"{archive}/{'/'.join(parts)}")
                continue
            budget.take(archive, info)
            if info.flag_bits & _ENCRYPTED_FLAG:
                raise _Refused("archive-encrypted",
                               f"压缩包“{archive}”中的“{parts[-1]}”设有密码，无法打开。")
            content = _read(zf, info, archive)
            path = f"{archive}/{'/'.join(parts)}"
            fmt = detect_format(content, parts[-1])
            if is_archive(parts[-1], fmt) and fmt == "zip" and depth < budget.limits.max_depth:
                try:
                    _expand(path, content, result, budget, depth + 1)
                    continue
                except _Refused as refused:
                    if refused.code == "archive-limit":
                        raise  # a bomb inside: the whole attachment stays closed
                    result.findings.append(_finding(refused, parts[-1]))
            result.members.append(Member(parts[-1], path, content, fmt))


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: str) -> bytes:
    try:
        with zf.open(info) as handle:
            return handle.read(info.file_size + 1)
    except Exception as exc:  # CRC errors, exotic compression, truncation: all "damaged"
        name = _path_parts(member_name(info))[-1]
        raise _Refused("archive-damaged",
                       f"压缩包“{archive}”中的“{name}”无法解压（{exc}）。") from exc


def member_name(info: zipfile.ZipInfo) -> str:
    """A member's name exactly as its creator meant it, whatever encoding it was stored in."""
    if info.flag_bits & _UTF8_FLAG:
        return unicodedata.normalize("NFC", info.orig_filename)
    # Without the flag, zipfile decoded the bytes as cp437, which maps every byte: undo it.
    raw = info.orig_filename.encode("cp437")
    unicode_path = _unicode_path_field(info.extra, raw)
    name = unicode_path if unicode_path is not None else decode_bytes(raw)
    return unicodedata.normalize("NFC", name)


def _unicode_path_field(extra: bytes, raw_name: bytes) -> str | None:
    """The UTF-8 name of an Info-ZIP Unicode Path extra field, if it belongs to `raw_name`."""
    offset = 0
    while offset + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + size]
        offset += 4 + size
        if kind != _UNICODE_PATH_FIELD or len(body) < 5 or body[0] != 1:
            continue
        # The CRC says which name the field was written for; a renamed entry keeps a stale one.
        if struct.unpack_from("<I", body, 1)[0] != zlib.crc32(raw_name):
            continue
        try:
            return body[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _path_parts(name: str) -> list[str]:
    """The path's safe parts: no drive, no root, no `.`/`..`, no control characters."""
    parts = []
    for part in name.replace("\\", "/").split("/"):
        part = "".join(ch for ch in part if unicodedata.category(ch) != "Cc").strip()
        if part in ("", ".", "..") or (len(part) == 2 and part[1] == ":"):
            continue
        parts.append(part)
    return parts


def _is_junk(parts: list[str]) -> bool:
    base = parts[-1]
    return (parts[0] == "__MACOSX" or base.lower() in _JUNK_NAMES or base.startswith("._")
            or base.startswith("~$"))  # Word's lock file of an open document
