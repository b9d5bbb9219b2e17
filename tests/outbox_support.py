"""Mail written header by header, so a test controls exactly how an address is spelled, and
the dashboard opened on a bot's own state."""

from __future__ import annotations

import secrets
from dataclasses import replace
from email.header import Header
from email.utils import format_datetime

from flask.testing import FlaskClient
from intake_support import OFFICE, ON_TIME, Bot
from web_support import PASSWORD, app_for, login

from mailbot.intake.cycle import Runtime

CRLF = "\r\n"


def raw_mail(from_header: str, subject: str = "工作室申报材料咨询", *,
             headers: tuple[tuple[str, str], ...] = (), body: str = "请问申报材料是否收到？"
             ) -> bytes:
    """A plain-text mail; `from_header` goes in as written (UTF-8 where it is not ASCII, as an
    RFC 6532 client writes it). `headers` come first, as a receiving server prepends them."""
    encoded_subject = Header(subject, "utf-8").encode(linesep=CRLF)
    lines = [f"{name}: {value}" for name, value in headers]
    lines += [f"From: {from_header}", f"To: {OFFICE}",
              f"Subject: {encoded_subject}",
              f"Date: {format_datetime(ON_TIME)}",
              f"Message-ID: <{secrets.token_hex(8)}@sender.test.example>",
              "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: 8bit"]
    return (CRLF.join(lines) + CRLF + CRLF + body + CRLF).encode("utf-8")


def deliver(bot: Bot, raw: bytes) -> None:
    bot.dovecot.append(OFFICE, raw, internaldate=ON_TIME)


def dashboard(bot: Bot) -> FlaskClient:
    """The office's dashboard on the bot's state directory, logged in."""
    runtime = Runtime(replace(bot.settings, office_password=PASSWORD), bot.campaign)
    return login(app_for(runtime).test_client())
