"""Unpack `winmail.dat`: the TNEF wrapper Outlook/Exchange put around a "rich text" mail.

When Outlook sends in Rich Text format (or Exchange decides the recipient understands TNEF),
the attachments do not travel as MIME parts but inside one `application/ms-tnef` part named
winmail.dat. Clients other than Outlook show only that opaque file, so the bot opens it with
tnefparse and counts the files inside as the sender's attachments.

Names: the long file name from the attachment's MAPI properties (PR_ATTACH_LONG_FILENAME, which
tnefparse decodes) is preferred; failing that the `attAttachTitle` bytes, decoded with the
message's OEM code page (936 on Chinese Windows, read as GB18030) — tnefparse would decode those
as UTF-8 and fail on every Chinese name. A winmail.dat holding only the rich-text body has no
files and is not an attachment at all; a named file without content is kept (0 bytes), so that
the reply names it as empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tnefparse
from tnefparse import properties

from mailbot.mail.filenames import clean_filename, codec_for, decode_bytes
from mailbot.mail.sniff import OLE_MAGIC, detect_format

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_ATT_ATTACH_RENDDATA = 0x9002  # starts each attachment's attributes
_ATT_ATTACH_TITLE = 0x8010
_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACH_TRANSPORT_FILENAME = 0x9001
_LVL_ATTACHMENT = 0x02
MAX_DEPTH = 3  # Outlook items attached to Outlook items

# tnefparse logs (at ERROR) what it could not decode; the finding we return says it better.
logging.getLogger("tnefparse").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class TnefFile:
    filename: str
    data: bytes
    format: str


class TnefError(ValueError):
    """The winmail.dat cannot be read."""


def is_tnef(filename: str, content_type: str, data: bytes) -> bool:
    """Whether an attachment is a TNEF container (by type, by name or by its signature)."""
    return (content_type in TNEF_TYPES or filename.lower() == "winmail.dat"
            or data[:4] == TNEF_SIGNATURE)


def unpack(data: bytes) -> list[TnefFile]:
    """The files inside a winmail.dat, in order; raises TnefError when it cannot be read."""
    if data[:4] != TNEF_SIGNATURE:
        raise TnefError("not a TNEF file (wrong signature)")
    try:
        container = tnefparse.TNEF(data, do_checksum=False)
    except Exception as exc:  # tnefparse raises bare ValueError/struct.error/IndexError
        raise TnefError(f"{type(exc).__name__}: {exc}") from exc
    return _files(container, depth=1)


def _files(container: tnefparse.TNEF, depth: int) -> list[TnefFile]:
    codec = codec_for(container.codepage) if container.codepage else None
    titles = _attributes(container, _ATT_ATTACH_TITLE)
    transport = _attributes(container, _ATT_ATTACH_TRANSPORT_FILENAME)
    plain_data = _attributes(container, _ATT_ATTACH_DATA)
    found: list[TnefFile] = []
    for index, attachment in enumerate(container.attachments):
        embedded = getattr(attachment, "embed", None)
        if embedded is not None and depth < MAX_DEPTH:
            found += _files(embedded, depth + 1)  # an attached Outlook item: its files count
            continue
        data = bytes(attachment.data or b"")
        if data and (index >= len(plain_data) or not plain_data[index]):
            data = _restore_trailing_zeros(data)  # it came from a MAPI property: see below
        name = (_long_name(attachment) or _decoded(transport, index, codec)
                or _decoded(titles, index, codec))
        if not data and not name:
            continue  # rendering data of a picture in the rich-text body: nothing attached
        # A named file without bytes stays: the reader reports it as empty, by its name,
        # instead of the sender's file vanishing without a word.
        found.append(TnefFile(name, data, detect_format(data, name)))
    return found


def _decoded(values: list[bytes], index: int, codec: str | None) -> str:
    raw = values[index] if index < len(values) else b""
    return clean_filename(decode_bytes(raw, codec).rstrip("\x00"))


def _attributes(container: tnefparse.TNEF, wanted: int) -> list[bytes]:
    """The raw bytes of one attribute for each attachment, in order (b"" where it is absent)."""
    values: list[bytes] = []
    for obj in container.objects:
        if obj.name == _ATT_ATTACH_RENDDATA:
            values.append(b"")
        elif obj.level == _LVL_ATTACHMENT and obj.name == wanted and values:
            values[-1] = bytes(obj.data)
    return values


def _restore_trailing_zeros(data: bytes) -> bytes:
    """Undo tnefparse's rstrip of NUL bytes from attachment data kept in PR_ATTACH_DATA_BIN
    (Exchange writes files there): a zip (docx, xlsx) ends with its end-of-central-directory
    record, whose last fields are often zero; an OLE2 file (doc, xls) is whole 512-byte sectors."""
    if data.startswith(b"PK"):
        end = data.rfind(b"PK\x05\x06")
        if end >= 0:
            comment = int.from_bytes(data[end + 20 : end + 22].ljust(2, b"\x00"), "little")
            return data.ljust(end + 22 + comment, b"\x00")
    if data.startswith(OLE_MAGIC):
        return data.ljust(-(-len(data) // 512) * 512, b"\x00")
    return data


def _long_name(attachment: tnefparse.tnef.TNEFAttachment) -> str:
    for attr in attachment.mapi_attrs:
        if attr.name == properties.MAPI_ATTACH_LONG_FILENAME:
            value = attr.data
            if isinstance(value, str):
                return clean_filename(value.rstrip("\x00"))
    return ""
