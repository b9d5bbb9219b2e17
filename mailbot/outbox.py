"""The outbox: replies are queued in the database with the verdict, then sent by this step.

A reply row is committed in the same transaction as the verdict it reports, so a crash never
loses a reply. Each attempt is committed before the SMTP transaction and the result right after
the server's answer; the only way to send a reply twice is a kill between the server's
acceptance and that commit — a window SMTP itself cannot close (RFC 1047). A reply sent twice
always shows `attempts` > 1, and carries the same Message-ID both times, so clients that
de-duplicate by Message-ID show it once.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailbot import logins
from mailbot.config import Settings
from mailbot.errors import StateError
from mailbot.store import Reply
from mailbot.timefmt import utcnow

log = logging.getLogger(__name__)

DEFAULT_SMTP_TIMEOUT = 30.0
MAX_ATTEMPTS = 10  # after that a reply is `failed` and shown to the office, not retried forever
SMTP_CONNECTIONS = 3  # at once; mail providers throttle more than a few per client


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0


def queue(session: Session, mail: EmailMessage, *, kind: str, message_pk: int | None) -> Reply:
    """Record a reply to be sent; the caller's transaction commits it with the verdict."""
    reply = Reply(message_pk=message_pk, kind=kind, to_addr=str(mail["To"]),
                  subject=str(mail["Subject"]), smtp_message_id=str(mail["Message-ID"]),
                  raw=mail.as_bytes(), status="pending", created_at=utcnow())
    session.add(reply)
    return reply


def send_pending(sessions: sessionmaker[Session], settings: Settings) -> SendReport:
    """Send every pending reply, oldest first. An unreachable server leaves them pending.

    One process sends at a time (`mailbot run`, a `poll`, the dashboard's reprocess): an OS
    lock on the state directory, released by the kernel if its holder dies, so two senders
    can never pick up the same reply."""
    with sessions() as session:
        ids = list(session.scalars(select(Reply.id).where(Reply.status == "pending")
                                   .order_by(Reply.id)))
    report = SendReport()
    if not ids:
        return report
    settings.require_smtp()
    with _sender_lock(settings.state_dir) as mine:
        if not mine:
            log.info("another mailbot process is sending; %d replies wait for it", len(ids))
            report.pending = len(ids)
            return report
        try:
            return asyncio.run(_send_all(sessions, settings, ids, report))
        except OperationalError as exc:
            raise StateError(f"cannot record sent replies in the database: {exc}") from exc


@contextmanager
def _sender_lock(state_dir: Path) -> Iterator[bool]:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / "outbox.lock", "a+b")  # noqa: SIM115 - held across the yield
    except OSError as exc:
        raise StateError(f"cannot open the outbox lock in {state_dir}: {exc}") from exc
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


async def _send_all(sessions: sessionmaker[Session], settings: Settings, ids: list[int],
                    report: SendReport) -> SendReport:
    """Send over a few connections at once: the wait for each server answer dominates."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for reply_id in ids:
        queue.put_nowait(reply_id)
    workers = min(SMTP_CONNECTIONS, len(ids))
    await asyncio.gather(*(_worker(sessions, settings, queue, report) for _ in range(workers)))
    report.pending += queue.qsize()  # left when every connection failed
    return report


async def _worker(sessions: sessionmaker[Session], settings: Settings,
                  queue: asyncio.Queue[int], report: SendReport) -> None:
    client = smtp_client(settings)
    try:
        await client.connect()
        if settings.smtp.user:
            await logins.smtp_login(client, settings)  # a refusal raises SendLoginRefused
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("SMTP %s:%s unreachable, %d replies stay queued: %s", settings.smtp.host,
                    settings.smtp.port_for("smtp"), queue.qsize(), exc)
        return
    try:
        while not queue.empty() and client.is_connected:
            await _send_one(sessions, settings, client, queue.get_nowait(), report)
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass


async def _send_one(sessions: sessionmaker[Session], settings: Settings,
                    client: aiosmtplib.SMTP, reply_id: int, report: SendReport) -> None:
    with sessions() as session:
        with session.begin():
            reply = session.get(Reply, reply_id)
            if reply is None or reply.status != "pending":
                return
            # The attempt is committed before the send: a reply found pending with an attempt
            # on record may have reached the server (a kill before our commit).
            reply.attempts += 1
        # The same row, still loaded (the sessions keep their objects after a commit): only
        # the process holding the sender lock changes it.
        with session.begin():
            try:
                recipients = [a for _n, a in getaddresses([reply.to_addr]) if a]
                await client.sendmail(settings.from_address, recipients, reply.raw)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                reply.status, reply.last_error = "failed", str(exc)
                report.failed += 1
            except (aiosmtplib.SMTPException, OSError) as exc:
                reply.last_error = str(exc)
                if reply.attempts >= MAX_ATTEMPTS:
                    reply.status = "failed"
                    report.failed += 1
                else:
                    report.pending += 1
                log.warning("reply %s to %s not sent: %s", reply.smtp_message_id, reply.to_addr,
                            exc)
            else:
                reply.status, reply.sent_at, reply.last_error = "sent", utcnow(), ""
                report.sent += 1


def smtp_client(settings: Settings) -> aiosmtplib.SMTP:
    server = settings.smtp
    security = server.security
    return aiosmtplib.SMTP(
        hostname=server.host, port=server.port_for("smtp"), timeout=DEFAULT_SMTP_TIMEOUT,
        use_tls=security == "ssl", start_tls=security == "starttls",
        tls_context=ssl.create_default_context() if security != "none" else None,
    )
