"""What the dashboard reads (the overview, the units, a unit's history, the quarantine, the
status page) and the rows its actions look up; a unit's dossier is `queries.dossier`'s.

Counting is done by the database (GROUP BY), never by loading rows to count them in Python.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from mailbot.store.handles import Session
from mailbot.store.models import (
    INQUIRY,
    QUARANTINED,
    REVIEW_PENDING,
    UNCLASSIFIED,
    Document,
    FindingRow,
    Message,
    OfficeAction,
    Reminder,
    Reply,
    Unit,
)
from mailbot.store.scoping import ACROSS_CAMPAIGNS


def messages_per_unit(session: Session) -> dict[int, int]:
    """Unit id -> how many mails it sent (units that sent none are absent)."""
    return {unit_id: number for unit_id, number in session.execute(
        select(Message.unit_id, func.count()).where(Message.unit_id.is_not(None))
        .group_by(Message.unit_id)) if unit_id is not None}



def count_replies_by_status(session: Session) -> dict[str, int]:
    """Reply status (pending, sent, ...) -> how many replies have it."""
    return {status: number for status, number in session.execute(
        select(Reply.status, func.count()).group_by(Reply.status))}


def recent_messages(session: Session, limit: int) -> list[Message]:
    """The latest mails of the campaign (not the 未归类 ones), newest first."""
    return list(session.scalars(select(Message).where(Message.result != UNCLASSIFIED)
                                .order_by(Message.received_at.desc(), Message.id.desc())
                                .limit(limit)))


def count_quarantined(session: Session) -> int:
    """How many quarantined mails still wait for the office (not dismissed)."""
    return session.scalar(select(func.count()).select_from(Message).where(
        Message.result == QUARANTINED, Message.dismissed_at.is_(None))) or 0


def replies_with_status(session: Session, statuses: Collection[str], limit: int
                        ) -> list[Reply]:
    """Replies in one of `statuses`, newest first, at most `limit`."""
    return list(session.scalars(select(Reply).where(Reply.status.in_(list(statuses)))
                                .order_by(Reply.created_at.desc(), Reply.id.desc())
                                .limit(limit)))


def unit_documents_newest_first(session: Session, unit_id: int, *,
                                by_position: bool = True) -> Sequence[Document]:
    """Every file the unit sent, newest mail first; within a mail in its order in the mail
    (`by_position`), else by id."""
    within = Document.position if by_position else Document.id
    return session.scalars(
        select(Document).join(Message, Document.message_pk == Message.id)
        .where(Document.unit_id == unit_id)
        .order_by(Message.received_at.desc(), within)).all()


def unit_replies(session: Session, unit_id: int) -> list[Reply]:
    """Replies to the unit's mail and reminders sent to it, newest first."""
    reminded = select(Reminder.reply_id).where(Reminder.unit_id == unit_id,
                                               Reminder.reply_id.is_not(None))
    return list(session.scalars(
        select(Reply).outerjoin(Message, Reply.message_pk == Message.id)
        .where(or_(Message.unit_id == unit_id, Reply.id.in_(reminded)))
        .order_by(Reply.created_at.desc(), Reply.id.desc())))


def quarantined_messages(session: Session) -> list[Message]:
    """Quarantined mail still to handle (not dismissed), newest first."""
    return list(session.scalars(select(Message).where(Message.result == QUARANTINED,
                                                      Message.dismissed_at.is_(None))
                                .order_by(Message.received_at.desc())))


def campaign_units(session: Session, campaign_key: str, *,
                   addresses: bool = False) -> Sequence[Unit]:
    """The units of the campaign `campaign_key`, in no particular order; with `addresses`,
    their addresses loaded too (in one more query, not one per unit)."""
    chosen = select(Unit).where(Unit.campaign == campaign_key)
    if addresses:
        chosen = chosen.options(selectinload(Unit.addresses))
    return session.scalars(chosen).all()


def unclassified_messages(session: Session) -> list[Message]:
    """Mail for no campaign (the mailbox's, whatever the session's campaign), newest first."""
    return list(session.scalars(select(Message).where(Message.result == UNCLASSIFIED)
                                .order_by(Message.received_at.desc(), Message.id.desc())
                                .execution_options(**ACROSS_CAMPAIGNS)))


def count_unclassified(session: Session) -> int:
    """How many mails of the mailbox belong to no campaign."""
    return session.scalar(select(func.count()).select_from(Message)
                          .where(Message.result == UNCLASSIFIED)
                          .execution_options(**ACROSS_CAMPAIGNS)) or 0


def count_awaiting_person(session: Session) -> int:
    """How many of the campaign's mails await a person: 待核实 senders and open 咨询."""
    return session.scalar(select(func.count()).select_from(Message).where(or_(
        Message.review == REVIEW_PENDING,
        (Message.result == INQUIRY) & Message.answered_at.is_(None)))) or 0


def office_actions(session: Session, *, message_pk: int | None = None,
                   reply_pk: int | None = None) -> Sequence[OfficeAction]:
    """The office's actions on a mail or on a reply (either, when both are given), oldest
    first; none when neither is given."""
    conditions = []
    if message_pk is not None:
        conditions.append(OfficeAction.message_pk == message_pk)
    if reply_pk is not None:
        conditions.append(OfficeAction.reply_pk == reply_pk)
    if not conditions:
        return []
    return session.scalars(select(OfficeAction).where(or_(*conditions))
                           .order_by(OfficeAction.at, OfficeAction.id)).all()


def office_actions_on_message(session: Session, message_pk: int) -> list[OfficeAction]:
    """The office's actions recorded on one mail, in no particular order."""
    return list(session.scalars(select(OfficeAction)
                                .where(OfficeAction.message_pk == message_pk)))


def campaign_of_status_token(session: Session, token: str) -> str | None:
    """The key of the campaign whose unit holds the status link `token`, if any (across
    campaigns: the link names the unit, not the campaign)."""
    return session.scalar(select(Unit.campaign).where(Unit.status_token == token)
                          .execution_options(**ACROSS_CAMPAIGNS))


def unit_of_status_token(session: Session, token: str) -> Unit | None:
    """The unit (of the session's campaign) holding the status link `token`."""
    return session.scalar(select(Unit).where(Unit.status_token == token))


def findings_of_messages(session: Session, message_pks: Collection[int]) -> Sequence[FindingRow]:
    """The findings recorded on any of the mails `message_pks`."""
    return session.scalars(select(FindingRow).where(
        FindingRow.message_pk.in_(list(message_pks)))).all()
