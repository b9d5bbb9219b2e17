"""What the outbox and the hourly cap ask the database: the replies to send, the replies sent
in the last hour, and forgetting the milestone that says the office was told about the cap.

Claiming a reply before its SMTP transaction is `store.coordination.claim_replies`.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, select, update

from mailbot.store.handles import Session
from mailbot.store.models import Milestone, Reply
from mailbot.store.scoping import ACROSS_CAMPAIGNS


def pending_reply_ids(session: Session) -> list[int]:
    """The replies waiting to be sent (not held, not sent, not failed), oldest first."""
    return list(session.scalars(select(Reply.id).where(Reply.status == "pending")
                                .order_by(Reply.id)))


def record_sent(session: Session, reply_id: int, at: datetime) -> None:
    """A reply the server accepted, recorded as sent (one statement: this commit follows every
    server's 250, so it is kept short)."""
    # On the table, past the ORM: its bulk-update machinery cost four times the statement.
    replies = cast(Table, Reply.__table__)
    session.connection().execute(update(replies).where(replies.c.id == reply_id)
                                 .values(status="sent", sent_at=at, last_error=""))


def sent_since(session: Session, since: datetime, *, besides_kind: str) -> int:
    """Mail the bot as a whole (every campaign) sent from `since` on, mail of `besides_kind`
    aside."""
    return session.scalar(select(func.count()).select_from(Reply).where(
        Reply.sent_at >= since, Reply.kind != besides_kind)
        .execution_options(**ACROSS_CAMPAIGNS)) or 0



def forget_milestone(session: Session, key: str) -> None:
    """Delete the milestone `key`, so that what it records can happen again."""
    session.execute(delete(Milestone).where(Milestone.key == key))
