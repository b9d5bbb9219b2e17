"""隔离: recording a mail the pipeline could not handle, from its raw bytes alone, and telling
the sender and the office. Whatever the mail holds, recording it cannot fail on its content."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email import message_from_bytes
from email.policy import compat32
from email.utils import parseaddr
from typing import TYPE_CHECKING

from mailbot.intake import screening
from mailbot.mail import addresses
from mailbot.mail.filenames import decode_8bit, decode_header_text, raw_header
from mailbot.mail.safemail import address, first_message_id, safe_message_id
from mailbot.mail.safetext import one_line, valid_text
from mailbot.office import outbox
from mailbot.office.replies import shorten
from mailbot.store.handles import Session
from mailbot.store.models import QUARANTINED, Message
from mailbot.store.queries import mailbox as recorded
from mailbot.timefmt import show, utcnow

if TYPE_CHECKING:
    from mailbot.intake.pipeline import Intake


def quarantine(session: Session, intake: Intake, raw: bytes, raw_path: str,
               received_at: datetime, reason: str) -> Message:
    """Record a mail the pipeline could not handle; tell the sender and the office.

    Read from the raw bytes alone, and every string made safe first (`mailbot.mail.safetext`):
    whatever the mail holds, recording it cannot fail on its content."""
    headers = loose_headers(raw)
    sender = address(parseaddr(headers.get("From", ""))[1].lower())
    mailbox = addresses.normalise(sender)
    given_id = first_message_id(headers.get("Message-ID"))
    message_id = safe_message_id(given_id) if given_id else synthetic_id(raw)
    reason = valid_text(reason)
    existing = recorded.message_with_id(session, message_id)
    if existing is not None:  # a retry of a mail already quarantined
        return existing
    message = Message(message_id=message_id, received_at=received_at, from_addr=sender,
                      subject=headers.get("Subject", ""), raw_path=raw_path, size=len(raw),
                      result=QUARANTINED, reason=reason, processed_at=utcnow())
    session.add(message)
    session.flush()
    office = intake.campaign.office
    context = {"office": office, "received_at": show(received_at), "greeting": "老师",
               "sender": sender or "（无法识别）", "subject": message.subject,
               "reason": reason, "raw_path": raw_path}
    if mailbox is not None and screening.may_answer(session, intake.settings, sender, raw,
                                                    utcnow()):
        mail = intake.composer.outgoing(
            "quarantine_sender.txt.j2", context, to=mailbox.address,
            subject=f"【已转人工处理】{shorten(message.subject) or '您的来信'}",
            in_reply_to=message_id if given_id else None)
        outbox.queue(session, mail, kind="quarantine", message_pk=message.id,
                     held=screening.auth_hold(intake.settings, raw) is not None)
    if intake.settings.office_email:
        notice = intake.composer.compose("quarantine_office.txt.j2", context,
                                         to=intake.settings.office_email,
                                         subject=f"【需人工处理】一封邮件已隔离：{message.subject}",
                                         auto_submitted="auto-generated",
                                         attachment=("原始邮件.eml", raw))
        outbox.queue(session, notice, kind="office-quarantine", message_pk=message.id)
    return message


def loose_headers(raw: bytes) -> dict[str, str]:
    """Headers of a mail that broke the parser, read as leniently as possible."""
    try:
        msg = message_from_bytes(raw[:256 * 1024], policy=compat32)
        # Decoded (RFC 2047, GB labels as GB18030): 收件记录.主题 and the dashboard show it.
        # One line, valid Unicode: a garbled value must not break the notices' headers.
        found = {name: raw_header(msg, name) for name in ("From", "Subject", "Message-ID")}
        return {name: one_line(decode_header_text(value) if name == "Subject"
                               else decode_8bit(value))
                for name, value in found.items() if value is not None}
    except Exception:
        return {}


def synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@mailbot.invalid>"
