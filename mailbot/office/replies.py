"""Replies as people read them: Jinja2 templates in `templates/`, one file per kind of mail.

Rendered with StrictUndefined (a missing value is a bug, not a blank), built as a UTF-8 text
mail, threaded to the mail it answers, and marked `Auto-Submitted` so that well-behaved
auto-responders never answer us back (RFC 3834).
"""

from __future__ import annotations

import copy
import mimetypes
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from mailbot.errors import ConfigError
from mailbot.mail.safetext import ascii_token, one_line
from mailbot.office import plainmail
from mailbot.office.plainmail import Outgoing
from mailbot.timefmt import utcnow

SUBJECT_QUOTE_LIMIT = 40  # characters of the sender's subject a reply's subject repeats

WORD_RULE = ("按 Word、WPS 和 LibreOffice 的“字数统计”计算：每个汉字计 1 字，"
             "每个中文（全角）标点计 1 字，"
             "每个英文单词或一串连续的数字、字母（如 2022、3.14、网址、邮箱地址）计 1 字，"
             "空格、换行和破折号不计；正文、表格、文本框、脚注和尾注中的文字都计入，"
             "页眉、页脚和自动编号不计入。")


def shorten(text: str, limit: int = SUBJECT_QUOTE_LIMIT) -> str:
    """`text` on one line, cut to `limit` characters with "…": a reply quotes the sender's
    subject only so far, so the bot cannot be made to carry a stranger's message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def _no_encoded_words(value: str) -> str:
    return value.replace("=?", "= ?")


class Composer:
    """Renders a template and wraps it in a mail from the office's reply address."""

    def __init__(self, templates_dir: Path, from_address: str, from_name: str) -> None:
        if not templates_dir.is_dir():
            raise ConfigError(f"templates directory not found: {templates_dir}")
        self.env = Environment(loader=FileSystemLoader(str(templates_dir)),
                               undefined=StrictUndefined, keep_trailing_newline=True,
                               autoescape=False)
        self.from_address = from_address
        self.from_name = from_name

    def signed(self, from_name: str) -> Composer:
        """The same templates, sent under `from_name`: each campaign's mail under its own
        office's name, whichever campaign's composer the intake was built with."""
        if from_name == self.from_name:
            return self
        other = copy.copy(self)  # the Jinja environment (and its template cache) is shared
        other.from_name = from_name
        return other

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        # Every mail to a unit may carry its status link; mail with none simply has no line.
        context = {"status_url": "", **context}
        try:
            return self.env.get_template(template).render(**context)
        except TemplateError as exc:
            raise ConfigError(f"mail template {template}: {exc}") from exc

    def compose(self, template: str, context: Mapping[str, Any], *, to: str, subject: str,
                in_reply_to: str | None = None, references: Sequence[str] = (),
                auto_submitted: str = "auto-replied",
                attachment: tuple[str, bytes] | None = None) -> EmailMessage:
        headers = self._headers(to, subject, in_reply_to, references, auto_submitted)
        return self._built(headers, self.render(template, context), attachment)

    def outgoing(self, template: str, context: Mapping[str, Any], *, to: str, subject: str,
                 in_reply_to: str | None = None, references: Sequence[str] = (),
                 auto_submitted: str = "auto-replied") -> Outgoing:
        """The mail `compose` builds, as the outbox keeps it: written directly when it is a
        plain one (office.plainmail), which every reply of the intake is."""
        headers = self._headers(to, subject, in_reply_to, references, auto_submitted)
        body = self.render(template, context)
        if self.from_address.isascii():
            # The display name encoded on its own: the address must stay outside any encoded word.
            plain = [("From", formataddr((self.from_name, self.from_address), "utf-8")),
                     *headers[1:]]
            raw = plainmail.plain_raw(plain, body)
            if raw is not None:
                fields = dict(headers)
                return Outgoing(to=fields["To"], subject=fields["Subject"],
                                message_id=fields["Message-ID"], raw=raw)
        return plainmail.from_message(self._built(headers, body))

    @staticmethod
    def _built(headers: list[tuple[str, str]], body: str,
               attachment: tuple[str, bytes] | None = None) -> EmailMessage:
        """The mail, by the email package's modern API."""
        mail = EmailMessage(policy=SMTP)
        for name, value in headers:
            mail[name] = value
        mail.set_content(body, charset="utf-8", cte="base64")
        if attachment is not None:
            name, data = attachment
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if kind.startswith("message/"):
                # A mail goes as an opaque .eml: a message/rfc822 part would be re-encoded.
                kind = "application/octet-stream"
            maintype, subtype = kind.split("/", 1)
            mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return mail

    def _headers(self, to: str, subject: str, in_reply_to: str | None, references: Sequence[str],
                 auto_submitted: str) -> list[tuple[str, str]]:
        """A reply's headers, From first, in the order they are written."""
        domain = self.from_address.rpartition("@")[2] or "mailbot.invalid"
        headers = [
            ("From", formataddr((self.from_name, self.from_address))),
            # The subject quotes the sender's: one line, whatever it held (the email package
            # refuses a header with a line break, U+2028 included); not cut, the receipt number
            # comes last. "=?" is broken up: the email package would decode what looks like an
            # encoded word with the codec it names (utf-7, unicode_escape…) and then fail.
            ("To", _no_encoded_words(one_line(to))),
            ("Subject", _no_encoded_words(one_line(subject, limit=len(subject) + 1))),
            ("Date", format_datetime(utcnow())),
            ("Message-ID", make_msgid(idstring="mailbot", domain=domain)),
        ]
        in_reply_to = ascii_token(in_reply_to or "")
        if in_reply_to:
            thread = [ref for ref in map(ascii_token, references) if ref]
            headers += [("In-Reply-To", in_reply_to),
                        ("References", " ".join([*thread, in_reply_to][-10:]))]
        headers += [("Auto-Submitted", auto_submitted),
                    # Asks Exchange/Outlook not to send out-of-office or read receipts back.
                    ("X-Auto-Response-Suppress", "All"), ("Precedence", "auto_reply")]
        return headers
