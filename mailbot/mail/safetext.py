"""Text from mail made safe to store, show and put back into a mail header.

Everything a mail says passes through here once, where raw mail becomes a parsed message
(`mailbot.mail.parse`) and where a mail that broke the parser is quarantined
(`mailbot.intake.pipeline`):

* valid Unicode only: lone surrogates (what a ``utf-7`` or ``unicode_escape`` label, or a
  stray raw byte, leaves behind) become U+FFFD, which SQLite, PostgreSQL and openpyxl accept;
* no NUL and no other control characters but tab and newline (PostgreSQL refuses NUL, the
  workbook's XML refuses the rest);
* a header value is one line: CR, LF, U+2028, U+2029, NEL, VT, FF and the other characters
  Python counts as line breaks become a space — the stdlib refuses a header holding any of
  them, which sent complete sets to 隔离 only for their subject;
* bounded: a header value of megabytes is cut (with "…"), a file name keeps its extension.
"""

from __future__ import annotations

import re

MAX_HEADER_CHARS = 998  # RFC 5322's line limit: more is an attack or a broken client
MAX_NAME_CHARS = 255  # a file name, as file systems allow
MAX_ADDRESS_CHARS = 254  # RFC 5321's path limit; stored with a prefix in 320-character columns
MAX_DISPLAY_NAME_CHARS = 200  # the database's columns for a sender's (or unit's) name

_SURROGATES = re.compile("[\ud800-\udfff]")
# Python's str.splitlines() boundaries, and what the email package refuses in a header.
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def valid_text(text: str) -> str:
    """Body text: valid Unicode, lines kept, no NUL or other control characters."""
    text = _SURROGATES.sub("\ufffd", text)
    return _CONTROLS.sub("", text).replace("\x0b", "\n").replace("\x0c", "\n")


def one_line(text: str, limit: int = MAX_HEADER_CHARS) -> str:
    """A header value: valid, on one line, at most `limit` characters (blanks are kept: a
    file name is shown exactly as the sender wrote it)."""
    text = _LINE_BREAKS.sub(" ", valid_text(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def file_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """A file name as one line of at most `limit` characters, keeping its extension."""
    name = one_line(name, limit=len(name) + 1)
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        return name[: limit - 1] + "…"
    return stem[: limit - len(ext) - 2] + "…." + ext


def ascii_token(text: str, limit: int = MAX_HEADER_CHARS) -> str:
    """A Message-ID or a mail address for our own headers: printable ASCII or nothing."""
    text = text.strip()
    return text if len(text) <= limit and re.fullmatch(r"[!-~]*", text) else ""
