"""A composed mail as the outbox keeps it (`Outgoing`), and the quick way to write a plain one.

Every reply the intake queues is a UTF-8 text mail to plain ASCII mailboxes, with a handful of
headers. The email package's modern API parses each header value it is given, only to write it
out again: three quarters of a millisecond a reply, a tenth of a backfill's intake. `plain_raw`
writes the same mail directly — the same headers in the same order, non-ASCII text as RFC 2047
encoded words (`email.header`), the body base64 in CRLF lines exactly as `set_content` writes
it — and declines (None) whatever it does not handle plainly: a non-ASCII or unusual address, a
header line it could not keep within SMTP's limit. The caller then builds the mail with the
modern API, as before.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import getaddresses

from mailbot.mail import addresses

FOLD_AT = 78  # where header lines are folded (RFC 5322's "should")
LINE_LIMIT = 998  # what no line may exceed (RFC 5322's "must")
_BASE64_CHUNK = FOLD_AT // 4 * 3  # the bytes one body line encodes, as `set_content` cuts them
# Mailboxes the quick way writes as they are: plain ASCII, no display name, no quoting.
_PLAIN_MAILBOXES = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+"
                              r"(?:, [A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+)*")


@dataclass(frozen=True)
class Outgoing:
    """A mail ready for the outbox: its bytes and what its row shows (`outbox.queue`)."""

    to: str  # each mailbox in its normal form (IDN domains as punycode), ", " between
    subject: str
    message_id: str
    raw: bytes


def normalised_to(written: str) -> str:
    """`To:` rewritten to the normal form of each mailbox, so the header, the envelope and the
    hourly limits all name the same mailboxes; as written when one is no mailbox (refused at
    sending time, with the reason on the row)."""
    found = [address for _name, address in getaddresses([written]) if address]
    boxes = [addresses.normalise(address) for address in found]
    if not found or None in boxes:
        return written
    return ", ".join(box.address for box in boxes if box is not None)


def from_message(mail: EmailMessage) -> Outgoing:
    """A mail built with the email package, as the outbox keeps it. A recipient with a non-ASCII
    local part (`测试@example.test`) can only be written in a UTF-8 header (RFC 6532): such a
    mail is written so, and sent only over SMTPUTF8."""
    written = str(mail["To"])
    to = normalised_to(written)
    if to != written:
        mail.replace_header("To", to)
    raw = mail.as_bytes(policy=SMTPUTF8) if not to.isascii() else mail.as_bytes()
    return Outgoing(to=to, subject=str(mail["Subject"]), message_id=str(mail["Message-ID"]),
                    raw=raw)


def plain_raw(headers: Sequence[tuple[str, str]], body: str) -> bytes | None:
    """The bytes of a UTF-8 text mail with these headers (To among them), the body base64;
    None when the quick way does not apply (see the module's docstring)."""
    lines = []
    for name, value in headers:
        if name == "To" and (not _PLAIN_MAILBOXES.fullmatch(value)
                             or normalised_to(value) != value):
            return None
        lines.append(_header(name, value))
    lines += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64",
              "MIME-Version: 1.0"]
    head = "\r\n".join(lines)
    if not head.isascii() or any(len(line) > LINE_LIMIT for line in head.split("\r\n")):
        return None
    data = b"\r\n".join(body.encode("utf-8").splitlines()) + b"\r\n"
    encoded = b"".join(binascii.b2a_base64(data[start:start + _BASE64_CHUNK])[:-1] + b"\r\n"
                       for start in range(0, len(data), _BASE64_CHUNK))
    return head.encode("ascii") + b"\r\n\r\n" + encoded


def _header(name: str, value: str) -> str:
    """One header, folded: ASCII text at its spaces (unfolding gives back every character),
    other text as UTF-8 encoded words (`email.header` decides where they split)."""
    if not value.isascii():
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(
            linesep="\r\n", maxlinelen=FOLD_AT)
    first, *words = value.split(" ")
    lines, line = [], f"{name}: {first}"
    for word in words:
        if len(line) + 1 + len(word) > FOLD_AT and line.strip():
            lines.append(line)
            line = " " + word  # the space it was split at begins the continuation line
        else:
            line += " " + word
    return "\r\n".join([*lines, line])
