"""Logging in to the mail servers, and what a refusal tells the office: one line, then stop.

A server that refuses the configured user name or password refuses it again at every retry, so
`poll` and `run` check both logins before any other work (`check`) and stop with exit status 2
and ONE line naming the server (host:port), the user and, for the providers whose web password
is not accepted by mail programs (QQ, NetEase 163/126/yeah, Tencent Exmail), what to use
instead: the 授权码 / 客户端专用密码. A network failure is another matter: `run` waits and tries
again (`wait_for_logins`), and `poll` goes on as before (the cycle reports it).

What counts as a refusal: IMAP `NO` to LOGIN/AUTHENTICATE, except `[UNAVAILABLE]` (RFC 5530:
the server's own back end is down, try later); SMTP 5xx to AUTH, or a server offering no AUTH
we can use. SMTP 4xx (454 temporary authentication failure) is retried like a network failure.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading

import aiosmtplib

from mailbot.config import Settings
from mailbot.errors import MailboxError, MailboxLoginRefused, SendError, SendLoginRefused

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 200  # what the server said, shortened: the line must stay one line
TEMPORARY_IMAP_CODES = ("[UNAVAILABLE]", "[INUSE]")

# Server or address domain -> the hint. Exmail first: its hosts end in qq.com too.
PROVIDER_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("exmail.qq.com",),
     "腾讯企业邮箱开启安全登录后须使用客户端专用密码（授权码），不能用网页登录密码："
     "在网页版“设置 → 账户 → 安全设置”中生成，并确认已开启 IMAP/SMTP 服务。"),
    (("qq.com", "foxmail.com", "vip.qq.com"),
     "QQ 邮箱须使用授权码，不能用 QQ 密码：在网页版“设置 → 账号”中开启 IMAP/SMTP 服务，"
     "按提示生成授权码，填作密码。"),
    (("163.com", "126.com", "yeah.net", "vip.163.com", "vip.126.com"),
     "网易邮箱须使用授权码，不能用登录密码：在网页版“设置 → POP3/SMTP/IMAP”中开启 IMAP/SMTP "
     "服务并新增授权码，填作密码。"),
)


def provider_hint(host: str, user: str) -> str:
    """The 授权码 hint for a QQ/NetEase/Exmail server or address; "" for any other."""
    names = [host.strip().lower().rstrip("."), user.strip().lower().rpartition("@")[2]]
    for suffixes, hint in PROVIDER_HINTS:
        for name in names:
            if any(name == s or name.endswith("." + s) for s in suffixes):
                return hint
    return ""


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Server text as one short line: line breaks and runs of spaces become one space."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def refusal(protocol: str, host: str, port: int, user: str, said: str, setting: str) -> str:
    """The one line for the office: which server refused whom, what it said, what to do."""
    hint = provider_hint(host, user)
    line = (f"{protocol} 登录被拒绝：{host}:{port}，用户 {user or '（未设置）'}"
            f"（服务器答复：{one_line(said) or '无'}）。请检查 {setting}。{hint}")
    return one_line(line, limit=1000)


def imap_refused(settings: Settings, said: str) -> MailboxLoginRefused:
    server = settings.imap
    setting = ("imap.oauth2_token / imap.oauth2_token_command" if server.auth == "xoauth2"
               else "MAILBOT_IMAP_USER 和 MAILBOT_IMAP_PASSWORD")
    return MailboxLoginRefused(refusal("IMAP", server.host, server.port_for("imap"),
                                       server.user, said, setting))


def imap_temporary(said: str) -> bool:
    return any(code in said.upper() for code in TEMPORARY_IMAP_CODES)


async def smtp_login(client: aiosmtplib.SMTP, settings: Settings) -> None:
    """AUTH on a connected client. A refusal raises SendLoginRefused; a temporary failure or a
    broken connection raises aiosmtplib's own error, which callers treat as the network."""
    server = settings.smtp
    try:
        await client.login(server.user, server.password)
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code < 500:
            raise
        raise _smtp_refused(settings, f"{exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        raise
    except aiosmtplib.SMTPException as exc:  # no AUTH offered, no mechanism we share
        raise _smtp_refused(settings, str(exc)) from exc


def _smtp_refused(settings: Settings, said: str) -> SendLoginRefused:
    server = settings.smtp
    return SendLoginRefused(refusal("SMTP", server.host, server.port_for("smtp"), server.user,
                                    said, "MAILBOT_SMTP_USER 和 MAILBOT_SMTP_PASSWORD"))


def check(settings: Settings) -> str:
    """Log in to IMAP and, when a user is set, to SMTP, and out again.

    Raises LoginRefused (one line, for `friendly`) when a server refuses; returns "" when the
    IMAP login worked, else the network problem, for the caller to report or retry. An SMTP
    server out of reach is left to the outbox, which keeps replies queued until it answers."""
    from mailbot.mail.imap import Mailbox

    problem = ""
    try:
        with Mailbox(settings):
            pass
    except MailboxLoginRefused:
        raise
    except MailboxError as exc:
        problem = str(exc)
    if settings.smtp.host and settings.smtp.user:
        try:
            asyncio.run(_smtp_check(settings))
        except SendError as exc:
            if isinstance(exc, SendLoginRefused):
                raise
            log.warning("%s", exc)
    return problem


async def _smtp_check(settings: Settings) -> None:
    from mailbot.office.outbox import smtp_client

    client = smtp_client(settings)
    server = settings.smtp
    try:
        await client.connect()
        await smtp_login(client, settings)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP {server.host}:{server.port_for('smtp')} unreachable: "
                        f"{one_line(str(exc) or type(exc).__name__)}") from exc
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


def wait_for_logins(settings: Settings, stopping: threading.Event,
                    first_delay: float = 1.0) -> bool:
    """`run` at startup: check the logins until IMAP answers, waiting 1 s, 2 s, 4 s… (at most
    `poll_seconds`) between network failures. True once logged in; False when `stopping` was
    set meanwhile. A refusal raises LoginRefused at once."""
    delay = first_delay
    while not stopping.is_set():
        problem = check(settings)
        if not problem:
            return True
        log.warning("%s; retrying in %.0f s", one_line(problem), delay)
        stopping.wait(delay)
        delay = min(delay * 2, float(settings.poll_seconds))
    return False
