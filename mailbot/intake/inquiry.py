"""咨询: a mail for the campaign with no documents at all — a question, not a submission.

The sender gets the call's facts at once (what to send, the deadline, where the paper copies
go, whom to call) and the word that a person will answer. The mail waits on the dashboard
until the office answers from there; the answer goes out threaded through the outbox and is
recorded on the mail (`answer`, `answered_at`). The sender becomes a unit only if it already is
one (the roster's address, or a unit that wrote before): a question puts nobody on the
reminder list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import known_unit
from mailbot.intake import screening
from mailbot.mail import addresses
from mailbot.mail.parse import ParsedMessage
from mailbot.office import outbox
from mailbot.office.replies import Composer, shorten
from mailbot.store.handles import Session
from mailbot.store.models import INQUIRY, FindingRow, Message, Reply
from mailbot.store.queries import mailbox as recorded
from mailbot.timefmt import show, utcnow

if TYPE_CHECKING:
    from mailbot.intake.pipeline import Intake

MAX_ANSWER_CHARS = 10_000


def facts(campaign: Campaign) -> dict[str, object]:
    """What every 咨询 reply says about the call."""
    return {
        "campaign": campaign.campaign, "office": campaign.office,
        "deadline": show(campaign.campaign.deadline_at),
        "campaign_documents": [{"display": s.display, "per": s.per, "max_words": s.max_words,
                                "formats_text": "、".join("." + f for f in s.formats)}
                               for s in campaign.documents],
    }


def record(session: Session, intake: Intake, message: Message, parsed: ParsedMessage,
           raw: bytes) -> Message:
    """Record the question (咨询) and queue the facts; never makes its sender a unit."""
    message.unit = known_unit(session, parsed.from_addr or parsed.reply_to)
    message.result = INQUIRY
    session.add(message)
    session.flush()
    hold = screening.reply_hold(session, intake.settings, parsed, utcnow())
    if hold is not None:
        session.add(FindingRow(message_pk=message.id, code=hold.code, severity=hold.severity.value,
                               message=hold.message, fix=hold.fix))
        session.flush()
        return message
    unverified = screening.auth_hold(intake.settings, raw)  # answered once the office releases
    if unverified is not None:
        session.add(FindingRow(message_pk=message.id, code=unverified.code,
                               severity=unverified.severity.value, message=unverified.message,
                               fix=unverified.fix))
    context = {**facts(intake.campaign), "received_at": show(message.received_at),
               "greeting": message.unit.name if message.unit and message.unit.on_roster
               else "老师"}  # never the display name: attacker text
    mail = intake.composer.outgoing(
        "inquiry.txt.j2", context, to=addresses.key(parsed.reply_to or parsed.from_addr),
        subject=f"【已收到】{shorten(parsed.subject) or intake.campaign.campaign.title}",
        in_reply_to=parsed.message_id, references=parsed.references)
    outbox.queue(session, mail, kind="inquiry", message_pk=message.id,
                 held=unverified is not None)
    session.flush()
    return message


def awaiting(session: Session) -> list[Message]:
    """Questions no person has answered yet, oldest first."""
    return recorded.open_inquiries(session)


def answer(session: Session, campaign: Campaign, composer: Composer, message: Message,
           text: str) -> Reply:
    """The office's answer to a question: threaded, queued, recorded on the mail.

    Raises ValueError (in Chinese) for an empty or overlong answer or a mail that is not an
    open question."""
    text = text.strip()
    if message.result != INQUIRY or message.answered_at is not None:
        raise ValueError("这封邮件不是待答复的咨询（可能已经答复过）。")
    if not text:
        raise ValueError("请填写答复内容。")
    if len(text) > MAX_ANSWER_CHARS:
        raise ValueError(f"答复内容过长（不超过 {MAX_ANSWER_CHARS} 字）。")
    to = message.reply_to or message.from_addr
    if not to:
        raise ValueError("这封邮件没有可回复的地址。")
    context = {"office": campaign.office, "campaign": campaign.campaign, "answer": text,
               "received_at": show(message.received_at), "subject": message.subject}
    # Written by a person: not an automatic reply (RFC 3834 "no").
    mail = composer.compose("office_answer.txt.j2", context, to=to,
                            subject=f"回复：{message.subject or campaign.campaign.title}",
                            in_reply_to=message.message_id,
                            references=message.references.split(), auto_submitted="no")
    reply = outbox.queue(session, mail, kind="office-answer", message_pk=message.id)
    message.answer, message.answered_at = text, utcnow()
    session.flush()
    return reply
