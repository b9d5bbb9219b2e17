"""The parsed mail made safe in one place, before anything stores, shows or answers it.

`made_safe` is the last step of `mailbot.mail.parse.parse_message`: every string the rest of the
bot reads from a mail passes through `mailbot.mail.safetext` here, so no later step (the database,
the workbook, the reply's headers) can fail on what a sender wrote. Message-IDs that are no
printable ASCII are replaced by a stable stand-in made from them (so a second delivery is
still recognised), references that are not are dropped (our own replies' ids are ASCII).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from typing import TYPE_CHECKING

from mailbot.checks import mail as mail_findings
from mailbot.findings import Finding
from mailbot.mail import addresses
from mailbot.mail.safetext import (
    MAX_ADDRESS_CHARS,
    MAX_DISPLAY_NAME_CHARS,
    ascii_token,
    file_name,
    one_line,
    valid_text,
)

if TYPE_CHECKING:
    from mailbot.mail.parse import ParsedMessage

_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")
MAX_DEFECTS = 50  # one line per distinct problem; a hostile mail could make thousands
MAX_REFERENCES = 50
MAX_SOURCE_CHARS = 2000  # "a.zip/folder/…/b.docx": where an attachment came from

ENCRYPTED = mail_findings.ENCRYPTED


def made_safe(parsed: ParsedMessage) -> ParsedMessage:
    """`parsed` with every text field safe to store, show and put into a header."""
    from_addr, reply_to = address(parsed.from_addr), address(parsed.reply_to)
    unprocessable = parsed.unprocessable
    if not (from_addr or reply_to) and unprocessable is None:  # both were unusable
        unprocessable = "找不到发件人地址：发件人地址过长或无法识别，无法确定申报单位，也无法回复"
    return replace(
        parsed,
        message_id=safe_message_id(parsed.message_id),
        subject=one_line(parsed.subject),
        from_addr=from_addr,
        from_name=display_name(parsed.from_name),
        reply_to=reply_to or from_addr,
        in_reply_to=ascii_token(parsed.in_reply_to or "") or None,
        references=tuple(ref for ref in map(ascii_token, parsed.references) if ref)
        [-MAX_REFERENCES:],
        body_text=valid_text(parsed.body_text),
        attachments=tuple(replace(a, filename=file_name(a.filename),
                                  source=one_line(a.source, MAX_SOURCE_CHARS))
                          for a in parsed.attachments),
        automatic=_optional(parsed.automatic),
        defects=tuple(dict.fromkeys(one_line(d) for d in parsed.defects))[:MAX_DEFECTS],
        findings=tuple(safe_finding(f) for f in parsed.findings),
        unprocessable=_optional(unprocessable),
        no_reply=_optional(parsed.no_reply),
    )


def first_message_id(value: str | None) -> str | None:
    """The first ``<id>`` of a Message-ID, In-Reply-To or References header, as written."""
    if not value or not value.strip():
        return None
    found = re.search(r"<[^<>\s]+>", value)
    if found:
        return found.group(0)
    return f"<{value.strip().split()[0]}>"


def safe_message_id(value: str) -> str:
    """A Message-ID as printable ASCII in angle brackets; else a stable stand-in made from it."""
    token = ascii_token(value)
    if token.startswith("<") and token.endswith(">") and len(token) > 2:
        return token
    digest = hashlib.sha256(value.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"<{digest}@mailbot.invalid>"


def address(value: str) -> str:
    """A mail address as read, or "" when it is none: one ``local@domain`` without blanks,
    brackets, quotes or encoded words (the stdlib would decode ``=?charset?…?=`` in a reply's
    To with whatever codec it names), bounded. Non-ASCII is kept: sending it is the outbox's
    business."""
    value = one_line(value, MAX_ADDRESS_CHARS + 1)
    if len(value) > MAX_ADDRESS_CHARS or "=?" in value:
        return ""
    if _ADDRESS.fullmatch(value):
        return value
    # A quoted or escaped local part ("v\\ictim"@x) still names one real mailbox: read it in
    # its normal form (the one the reply limits count) rather than losing the sender.
    mailbox = addresses.normalise(value)
    plain = f"{mailbox.local}@{mailbox.domain}" if mailbox is not None else ""
    return plain if _ADDRESS.fullmatch(plain) else ""


def display_name(value: str) -> str:
    """A sender's name, bounded so that it fits its columns even in NFKC form (the unit's
    name key): a few characters expand eighteen-fold."""
    value = one_line(value, MAX_DISPLAY_NAME_CHARS)
    while len(unicodedata.normalize("NFKC", value)) > MAX_DISPLAY_NAME_CHARS:
        value = value[: len(value) * 2 // 3]
    return value


def safe_finding(finding: Finding) -> Finding:
    return replace(finding, message=valid_text(finding.message), fix=valid_text(finding.fix),
                   document=None if finding.document is None else file_name(finding.document))


def _optional(value: str | None) -> str | None:
    return None if value is None else one_line(value)
