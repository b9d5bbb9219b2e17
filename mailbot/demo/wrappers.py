"""Files wrapped the way applicants' computers wrap them: zips, winmail.dat, forwarded mail.

The counterpart of `mailbot.demo.mailfactory` for what goes *inside* a mail, byte for byte as the
originals: the demo and the test corpus use these, so `mailbot.mail.archives` and
`mailbot.mail.tnef` are
checked against the real formats, not against Python's own (correct) writers.

* `windows_zip` — Explorer's "发送到 > 压缩(zipped)文件夹" on Chinese Windows: names in GBK with
  the UTF-8 flag unset, folder entries, MS-DOS "made by"; `unicode_extra=True` adds the Info-ZIP
  Unicode Path field that WinRAR and 7-Zip write beside the GBK name.
* `macos_zip` — Archive Utility: UTF-8 names in NFD without the flag, `__MACOSX/._name`
  AppleDouble files and a `.DS_Store`.
* `winmail_dat` — a TNEF stream as Outlook writes it on Chinese Windows (OEM code page 936): per
  attachment the title in GBK and the long file name as a MAPI property (Unicode, or GBK in
  "ANSI" mode).
* `forward_as_attachment` — a mail forwarded as a message/rfc822 attachment.
"""

from __future__ import annotations

import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO

from mailbot.demo.mailfactory import ClientStyle, build_mail, message_part

_UTF8_FLAG = 0x800
_DOS, _UNIX = 0, 3
_STAMP = (2022, 10, 9, 16, 20, 6)


class _RawNameInfo(zipfile.ZipInfo):
    """A ZipInfo whose name goes into the archive as the given bytes, flag 11 as given."""

    raw_name: bytes = b""
    utf8_flag: bool = False

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile calls it by this name
        flags = self.flag_bits | _UTF8_FLAG if self.utf8_flag else self.flag_bits & ~_UTF8_FLAG
        return self.raw_name, flags


def _entry(zf: zipfile.ZipFile, raw_name: bytes, data: bytes | None, system: int,
           extra: bytes = b"", utf8_flag: bool = False) -> None:
    info = _RawNameInfo(raw_name.decode("cp437"), date_time=_STAMP)
    info.raw_name, info.utf8_flag = raw_name, utf8_flag
    info.create_system = system
    info.extra = extra
    if data is None:  # a folder entry
        info.external_attr = 0x10 if system == _DOS else (0o40755 << 16) | 0x10
        zf.writestr(info, b"")
        return
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0x20 if system == _DOS else 0o100644 << 16
    zf.writestr(info, data)


def _folders(names: Sequence[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth]) + "/"
            if folder not in found:
                found.append(folder)
    return found


def windows_zip(files: Sequence[tuple[str, bytes]], *, unicode_extra: bool = False) -> bytes:
    """A zip as Chinese Windows makes it: GBK names, no UTF-8 flag. Paths use "/"."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for folder in _folders([name for name, _ in files]):
            _entry(zf, folder.encode("gbk"), None, _DOS)
        for name, data in files:
            raw = name.encode("gbk")
            extra = b""
            if unicode_extra:
                body = b"\x01" + struct.pack("<I", zlib.crc32(raw)) + name.encode("utf-8")
                extra = struct.pack("<HH", 0x7075, len(body)) + body
            _entry(zf, raw, data, _DOS, extra)
    return buffer.getvalue()


def macos_zip(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip as macOS Archive Utility makes it, machinery included."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        names = [name for name, _ in files]
        for folder in _folders(names):
            _entry(zf, _nfd(folder), None, _UNIX)
        for name, data in files:
            _entry(zf, _nfd(name), data, _UNIX)
            folder, _, base = name.rpartition("/")
            fork = f"__MACOSX/{folder + '/' if folder else ''}._{base}"
            _entry(zf, _nfd(fork), b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ", _UNIX)
        top = names[0].split("/")[0] + "/" if "/" in names[0] else ""
        _entry(zf, _nfd(f"{top}.DS_Store"), b"\x00\x00\x00\x01Bud1" + b"\x00" * 32, _UNIX)
    return buffer.getvalue()


def _nfd(name: str) -> bytes:
    return unicodedata.normalize("NFD", name).encode("utf-8")


# --- TNEF ----------------------------------------------------------------------------------
_TNEF_SIGNATURE = 0x223E9F78
_LVL_MESSAGE, _LVL_ATTACHMENT = 1, 2
_ATP_STRING, _ATP_DATE, _ATP_BYTE, _ATP_WORD, _ATP_DWORD = 0x1, 0x3, 0x6, 0x7, 0x8
_PT_LONG, _PT_STRING8, _PT_UNICODE, _PT_BINARY = 0x0003, 0x001E, 0x001F, 0x0102
_PR_ATTACH_DATA_BIN = 0x3701
_PR_ATTACH_EXTENSION, _PR_ATTACH_FILENAME, _PR_ATTACH_METHOD = 0x3703, 0x3704, 0x3705
_PR_ATTACH_LONG_FILENAME, _PR_DISPLAY_NAME, _PR_RENDERING_POSITION = 0x3707, 0x3001, 0x370B
_PR_BODY, _PR_INTERNET_CPID = 0x1000, 0x3FDE


def _attribute(level: int, atp: int, ident: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, ident, atp, len(data)) + data + struct.pack("<H", checksum)


def _padded(data: bytes) -> bytes:
    return struct.pack("<II", 1, len(data)) + data + b"\x00" * (-len(data) % 4)


def _mapi(props: Sequence[tuple[int, int, object]]) -> bytes:
    out = struct.pack("<I", len(props))
    for ptype, ident, value in props:
        out += struct.pack("<HH", ptype, ident)
        if ptype == _PT_LONG:
            out += struct.pack("<I", int(str(value)))
        elif ptype == _PT_UNICODE:
            out += _padded(str(value).encode("utf-16-le") + b"\x00\x00")
        elif ptype == _PT_BINARY:
            out += _padded(value if isinstance(value, bytes) else b"")
        else:
            out += _padded(str(value).encode("gbk") + b"\x00")
    return out


def winmail_dat(files: Sequence[tuple[str, bytes]], *, body: str = "",
                unicode_names: bool = True, data_in_mapi: bool = False,
                when: datetime | None = None) -> bytes:
    """A winmail.dat (TNEF) holding `files`, as Outlook on Chinese Windows writes it;
    `data_in_mapi`: the bytes in PR_ATTACH_DATA_BIN instead of attAttachData, as Exchange does."""
    stamp = when or datetime(*_STAMP)
    date = struct.pack("<7H", stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute,
                       stamp.second, stamp.isoweekday() % 7)
    out = struct.pack("<IH", _TNEF_SIGNATURE, 0x1A2B)
    out += _attribute(_LVL_MESSAGE, _ATP_DWORD, 0x9006, struct.pack("<I", 0x00010000))
    out += _attribute(_LVL_MESSAGE, _ATP_BYTE, 0x9007, struct.pack("<II", 936, 0))
    out += _attribute(_LVL_MESSAGE, _ATP_WORD, 0x8008, b"IPM.Microsoft Mail.Note\x00")
    message_props: list[tuple[int, int, object]] = [(_PT_LONG, _PR_INTERNET_CPID, 936)]
    if body:
        message_props.append((_PT_UNICODE, _PR_BODY, body))
    out += _attribute(_LVL_MESSAGE, _ATP_BYTE, 0x9003, _mapi(message_props))
    for position, (name, data) in enumerate(files):
        _stem, dot, ext = name.rpartition(".")
        short = f"~{position + 1}.{ext[:3].upper()}" if dot else f"~{position + 1}"
        out += _attribute(_LVL_ATTACHMENT, _ATP_BYTE, 0x9002,
                          struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
        out += _attribute(_LVL_ATTACHMENT, _ATP_STRING, 0x8010, name.encode("gbk") + b"\x00")
        out += _attribute(_LVL_ATTACHMENT, _ATP_DATE, 0x8013, date)
        if not data_in_mapi:
            out += _attribute(_LVL_ATTACHMENT, _ATP_BYTE, 0x800F, data)
        long_type = _PT_UNICODE if unicode_names else _PT_STRING8
        out += _attribute(_LVL_ATTACHMENT, _ATP_BYTE, 0x9005, _mapi([
            *([(_PT_BINARY, _PR_ATTACH_DATA_BIN, data)] if data_in_mapi else []),
            (_PT_LONG, _PR_ATTACH_METHOD, 1),
            (_PT_LONG, _PR_RENDERING_POSITION, 0xFFFFFFFF),
            (_PT_STRING8, _PR_ATTACH_FILENAME, short),
            (_PT_STRING8, _PR_ATTACH_EXTENSION, f".{ext}" if dot else ""),
            (long_type, _PR_ATTACH_LONG_FILENAME, name),
            (long_type, _PR_DISPLAY_NAME, name),
        ]))
    return out


# --- forwards ------------------------------------------------------------------------------
def forward_as_attachment(original: bytes, *, sender: str, to: str, subject: str,
                          body: str = "", style: ClientStyle = "thunderbird",
                          name: str = "转发的邮件") -> bytes:
    """`original` forwarded as a message/rfc822 attachment named `name`.eml (Thunderbird's,
    Gmail's and Outlook's "forward as attachment")."""
    return build_mail(sender=sender, to=to, subject=subject, body=body, style=style,
                      extra_parts=[message_part(style, original, f"{name}.eml")])
