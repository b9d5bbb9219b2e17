"""What the intake asks the store about the mailbox's mail: is this one of our own replies, how many
answers went to a mailbox lately, which questions wait for the office, a mail by its Message-ID,
the findings on a mail, and where known mail sits after the server renumbered a folder.

Asked by `intake.screening`, `intake.inquiry`, `intake.quarantine`, `intake.dryrun` and
`intake.resync`. What belongs to the mailbox rather than to one campaign (our own replies, the
hourly limit of a recipient, a Message-ID already recorded under any campaign) is asked
`ACROSS_CAMPAIGNS`; the rest sees what the session's campaign sees.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.store.models import INQUIRY, FindingRow, MailboxUid, Message, Reply
from mailbot.store.scoping import ACROSS_CAMPAIGNS


def reply_sent_as(session: Session, smtp_message_id: str) -> bool:
    """Whether one of our replies, of any campaign, went out under this Message-ID."""
    return session.scalar(select(Reply.id).where(Reply.smtp_message_id == smtp_message_id)
                          .execution_options(**ACROSS_CAMPAIGNS)) is not None


def answers_queued_to(session: Session, mailbox_key: str, since: datetime,
                      not_counting: Collection[str]) -> int:
    """Replies to received mail (reminders not counted) queued since `since` to the mailbox whose
    normal form is `mailbox_key`, of any campaign, leaving out the kinds in `not_counting`.

    Replies are addressed to the normal form, so comparing lower case counts every spelling."""
    return session.scalar(
        select(func.count()).select_from(Reply).where(
            func.lower(Reply.to_addr) == mailbox_key,
            Reply.message_pk.is_not(None),
            Reply.kind.not_in(tuple(not_counting)),
            Reply.created_at >= since)
        .execution_options(**ACROSS_CAMPAIGNS)) or 0  # one mailbox, whichever campaign


def open_inquiries(session: Session) -> list[Message]:
    """Questions (咨询) no person has answered yet, oldest first."""
    return list(session.scalars(select(Message).where(Message.result == INQUIRY,
                                                      Message.answered_at.is_(None))
                                .order_by(Message.received_at, Message.id)))


def message_with_id(session: Session, message_id: str) -> Message | None:
    """The recorded mail with this Message-ID, as far as the session's campaign sees."""
    return session.scalar(select(Message).where(Message.message_id == message_id))


def finding_texts(session: Session, message_pk: int) -> tuple[str, ...]:
    """What the findings on one mail say, in the order they were recorded."""
    return tuple(session.scalars(select(FindingRow.message)
                                 .where(FindingRow.message_pk == message_pk)
                                 .order_by(FindingRow.id)))


def folder_uidvalidities(session: Session, folder: str) -> list[int]:
    """Every UIDVALIDITY under which mail of this folder was recorded (each once)."""
    return list(session.scalars(select(MailboxUid.uidvalidity).where(
        MailboxUid.folder == folder).distinct()).all())


def message_pks(session: Session, message_ids: Iterable[str]) -> dict[str, int]:
    """The primary keys of the recorded mail among these Message-IDs, of any campaign."""
    return {message_id: pk for message_id, pk in session.execute(
        select(Message.message_id, Message.id).where(
            Message.message_id.in_(set(message_ids)))
        .execution_options(**ACROSS_CAMPAIGNS))}
