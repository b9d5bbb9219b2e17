"""The outbox: replies are queued in the database with the verdict, then sent by this step.

A reply row is committed in the same transaction as the verdict it reports, so a crash never
loses a reply. Each attempt is committed before the SMTP transaction and the result right after
the server's answer; the only way to send a reply twice is a kill between the server's
acceptance and that commit — a window SMTP itself cannot close (RFC 1047). A reply sent twice
always shows `attempts` > 1, and carries the same Message-ID both times, so clients that
de-duplicate by Message-ID show it once.

Each reply fails on its own. Every queued mail is addressed to normalised mailboxes
(`mailbot.mail.addresses`: an IDN domain as punycode); a non-ASCII local part goes over SMTPUTF8
when the server offers it, else the reply is `failed` with the reason in Chinese. Whatever a
send raises is written on that reply (`last_error`, `attempts`), the connection is reset or
opened anew, and the next reply goes out. Replies may also wait: `held` until the office
releases them (sender authentication failed), or pending above the hourly cap (`replycap`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

import aiosmtplib

from mailbot.config import Settings
from mailbot.errors import SendError, StateError
from mailbot.mail import addresses, logins
from mailbot.office import plainmail, replycap
from mailbot.office.plainmail import Outgoing
from mailbot.store import coordination
from mailbot.store.handles import Session, Sessions, StoreFailure, database_failed
from mailbot.store.models import Reply
from mailbot.store.queries import outbox as queries
from mailbot.timefmt import utcnow

log = logging.getLogger(__name__)

DEFAULT_SMTP_TIMEOUT = 30.0
MAX_ATTEMPTS = 10  # after that a reply is `failed` and shown to the office, not retried forever
SMTP_CONNECTIONS = 3  # at once; mail providers throttle more than a few per client
CLAIM_AHEAD = 8  # replies a connection claims in one commit before sending them one by one


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0  # not sent this time: retried later, waiting for the cap included
    waiting: int = 0  # of those, left for later by the hourly cap


class Undeliverable(SendError):
    """A reply no retry can send (an address that is no mailbox, SMTPUTF8 not offered)."""


def queue(session: Session, mail: EmailMessage | Outgoing, *, kind: str,
          message_pk: int | None, held: bool = False) -> Reply:
    """Record a reply to be sent (or, `held`, to wait for the office's release); the caller's
    transaction commits it with the verdict. A mail built with the email package is written
    as `plainmail.from_message` says (its To normalised; UTF-8 headers only when a recipient
    needs them, sent over SMTPUTF8)."""
    out = mail if isinstance(mail, Outgoing) else plainmail.from_message(mail)
    reply = Reply(message_pk=message_pk, kind=kind, to_addr=out.to, subject=out.subject,
                  smtp_message_id=out.message_id, raw=out.raw,
                  status="held" if held else "pending", created_at=utcnow())
    session.add(reply)
    return reply


def send_pending(sessions: Sessions, settings: Settings) -> SendReport:
    """Send the pending replies, oldest first, as far as the hourly cap allows
    (`mailbot.office.replycap`: the rest wait). An unreachable server leaves them pending; a reply
    that cannot be sent fails on its own, with the reason on its row, and the others go out.

    Any number of processes may send at once, on any machines (`mailbot run`, a `poll`, the
    dashboard's reprocess): each reply is claimed in the database before its SMTP transaction
    (`store.coordination.claim_replies`), so no two send the same reply."""
    with sessions() as session:
        ids = queries.pending_reply_ids(session)
    report = SendReport()
    if not ids:
        return report
    settings.require_smtp()
    try:
        chosen = _within_cap(sessions, settings, ids)
        report.pending = report.waiting = len(set(ids) - set(chosen))
        if not chosen:
            return report
        return asyncio.run(_send_all(sessions, settings, chosen, report))
    except StoreFailure as exc:
        if not database_failed(exc):
            raise
        raise StateError(f"cannot record sent replies in the database: {exc}") from exc


def _within_cap(sessions: Sessions, settings: Settings, ids: list[int]) -> list[int]:
    """The replies the hourly cap lets go now, the office's notice first when there is one."""
    with sessions.begin() as session:
        chosen, notice = replycap.plan(session, settings, ids, utcnow())
        if notice is None:
            return chosen
        row = queue(session, notice, kind=replycap.NOTICE_KIND, message_pk=None)
        session.flush()
        return [row.id, *chosen]


async def _send_all(sessions: Sessions, settings: Settings, ids: list[int],
                    report: SendReport) -> SendReport:
    """Send over a few connections at once: the wait for each server answer dominates."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for reply_id in ids:
        queue.put_nowait(reply_id)
    workers = min(SMTP_CONNECTIONS, len(ids))
    await asyncio.gather(*(_worker(sessions, settings, queue, report) for _ in range(workers)))
    report.pending += queue.qsize()  # left when every connection failed
    return report


async def _worker(sessions: Sessions, settings: Settings,
                  queue: asyncio.Queue[int], report: SendReport) -> None:
    """Send from the queue over one connection, opening a new one when a reply's failure
    cost the old one; stop (leaving the rest queued) when the server cannot be reached.
    Replies are claimed a few at a time, in one commit (one fsync, not one per reply)."""
    client: aiosmtplib.SMTP | None = None
    try:
        while not queue.empty():
            if client is None or not client.is_connected:
                client = await _connect(settings, queue.qsize())
                if client is None:
                    return
            ahead = [queue.get_nowait() for _ in range(min(CLAIM_AHEAD, queue.qsize()))]
            if not ahead:
                break  # the other connections took the rest while this one was opened
            with sessions() as session:
                claimed = _claim(session, ahead)
                for index, reply in enumerate(claimed):
                    if not client.is_connected:  # the last reply's failure cost it
                        client = await _connect(settings, len(claimed) - index + queue.qsize())
                        if client is None:
                            _release(session, claimed[index:], report)
                            return
                    await _send_claimed(session, settings, client, reply, report)
    finally:
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def _connect(settings: Settings, queued: int) -> aiosmtplib.SMTP | None:
    client = smtp_client(settings)
    try:
        await client.connect()
        if settings.smtp.user:
            await logins.smtp_login(client, settings)  # a refusal raises SendLoginRefused
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("SMTP %s:%s unreachable, %d replies stay queued: %s", settings.smtp.host,
                    settings.smtp.port_for("smtp"), queued, exc)
        client.close()
        return None
    return client


def _claim(session: Session, reply_ids: list[int]) -> list[Reply]:
    """Claim these replies for this process and count an attempt on each, in one commit made
    before any is sent: a reply found pending with an attempt on record may have reached the
    server (a kill between its acceptance and our next commit). Those another worker holds,
    or that were sent or failed meanwhile, are left out."""
    with session.begin():
        return coordination.claim_replies(session, reply_ids)


def _release(session: Session, replies: list[Reply], report: SendReport) -> None:
    """Claimed but never handed to the server (it could not be reached): free again, the
    attempt not counted, pending for the next cycle of any worker."""
    with session.begin():
        for reply in replies:
            reply.claimed_by, reply.attempts = "", max(reply.attempts - 1, 0)
    report.pending += len(replies)


async def _send_claimed(session: Session, settings: Settings, client: aiosmtplib.SMTP,
                        reply: Reply, report: SendReport) -> None:
    """One claimed reply over `client`, its result committed right after the server's answer.
    The row is the one claimed (the sessions keep their objects after a commit): only the
    worker holding its claim changes it."""
    if not coordination.claim_still_ours(session, reply):
        return  # held so long (slow server) that another worker took it over
    with session.begin():
        try:
            await _transmit(settings, client, reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever it is, it is this reply's alone
            _record_failure(reply, exc, report)
            await _reset(client)
        else:
            queries.record_sent(session, reply.id, utcnow())
            report.sent += 1


async def _transmit(settings: Settings, client: aiosmtplib.SMTP, reply: Reply) -> None:
    """One SMTP transaction for `reply`; raises `Undeliverable` for what no retry can fix."""
    sender = addresses.normalise(settings.from_address)
    if sender is None:
        raise Undeliverable(f"发件地址 {settings.from_address} 不是有效的邮件地址，"
                            "请检查设置 MAILBOT_FROM")
    recipients = []
    for _name, written in getaddresses([reply.to_addr]):
        mailbox = addresses.normalise(written)
        if mailbox is None:
            raise Undeliverable(f"收件地址 {written or reply.to_addr} 不是有效的邮件地址")
        recipients.append(mailbox)
    if not recipients:
        raise Undeliverable(f"找不到收件地址（{reply.to_addr or '空'}）")
    head = reply.raw.split(b"\r\n\r\n", 1)[0]  # an 8-bit body needs 8BITMIME, not this
    utf8 = (sender.needs_smtputf8 or any(r.needs_smtputf8 for r in recipients)
            or not head.isascii())
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()  # what the server offers (SMTPUTF8) is known only after EHLO
    if utf8 and not client.supports_extension("smtputf8"):
        wide = [m.address for m in (sender, *recipients) if m.needs_smtputf8]
        what = f"地址 {'、'.join(wide)} 含" if wide else "邮件头含"
        raise Undeliverable(f"{what}中文等非 ASCII 字符，发信服务器（{settings.smtp.host}）"
                            "不支持国际化邮箱地址（SMTPUTF8），无法发送；请人工联系发件人")
    await client.sendmail(sender.address, [r.address for r in recipients], reply.raw,
                          mail_options=["SMTPUTF8"] if utf8 else [])


def _record_failure(reply: Reply, exc: Exception, report: SendReport) -> None:
    """Write why `reply` was not sent on its row: failed for good, or pending for a retry."""
    permanent = isinstance(exc, Undeliverable | aiosmtplib.SMTPRecipientsRefused) or not (
        isinstance(exc, aiosmtplib.SMTPException | OSError))
    reason = _reason(exc)
    reply.claimed_by = ""  # free again: for the next cycle of any worker, or a resend
    if permanent or reply.attempts >= MAX_ATTEMPTS:
        reply.status = "failed"
        reply.last_error = reason if permanent else f"已尝试 {reply.attempts} 次仍未发出：{reason}"
        report.failed += 1
    else:
        reply.last_error = f"第 {reply.attempts} 次发送未成功，稍后重试：{reason}"
        report.pending += 1
    unexpected = not isinstance(exc, Undeliverable | aiosmtplib.SMTPException | OSError)
    log.warning("reply %s to %s not sent: %s", reply.smtp_message_id, reply.to_addr, reason,
                exc_info=unexpected)  # a bug somewhere: keep the traceback for the log


def _reason(exc: Exception) -> str:
    """Why a send failed, for the office (the server's own words kept as they are)."""
    if isinstance(exc, Undeliverable):
        return str(exc)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = "；".join(f"{r.recipient}（{r.code} {r.message}）" for r in exc.recipients)
        return f"收件服务器拒收：{refused}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"发信服务器拒绝：{exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return f"与发信服务器的连接出错：{exc}"
    return f"发送时出错（{type(exc).__name__}: {exc}）"


async def _reset(client: aiosmtplib.SMTP) -> None:
    """After a failure the server may hold half an envelope: reset it, or drop the connection
    (the worker opens a new one for the next reply)."""
    if not client.is_connected:
        return
    try:
        await client.rset()
    except Exception:  # any doubt about the connection: start afresh
        client.close()


def smtp_client(settings: Settings) -> aiosmtplib.SMTP:
    server = settings.smtp
    security = server.security
    return aiosmtplib.SMTP(
        hostname=server.host, port=server.port_for("smtp"), timeout=DEFAULT_SMTP_TIMEOUT,
        use_tls=security == "ssl", start_tls=security == "starttls",
        tls_context=ssl.create_default_context() if security != "none" else None,
    )
