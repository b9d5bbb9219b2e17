"""What the intake asks the database: is this mail recorded, which campaign does it belong to,
which UIDs are done (a unit's documents: `store.queries.dossier`; a failed write told apart:
`store.handles`).

Everything runs in the caller's transaction (`store.handles.Session`); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mailbot.store.models import MailboxUid, Message, Reply, UnitAddress
from mailbot.store.scoping import ACROSS_CAMPAIGNS


def recorded_message(session: Session, message_id: str) -> Message | None:
    """The mail recorded under this Message-ID, in any campaign (None: not recorded yet)."""
    return session.scalar(select(Message).where(Message.message_id == message_id)
                          .execution_options(**ACROSS_CAMPAIGNS))


def reply_campaign(session: Session, smtp_message_id: str) -> str | None:
    """The campaign of our reply with this Message-ID (None: no such reply, or none recorded)."""
    return session.scalar(select(Reply.campaign).where(Reply.smtp_message_id == smtp_message_id)
                          .execution_options(**ACROSS_CAMPAIGNS))


def reply_campaigns(session: Session, smtp_message_ids: Iterable[str]) -> dict[str, str | None]:
    """Each of these Message-IDs -> the campaign of our reply sent under it (None: no such
    reply), in one statement: what `reply_campaign` answers for one."""
    asked = set(smtp_message_ids)
    found: dict[str, str | None] = dict.fromkeys(asked)
    for message_id, campaign in session.execute(
            select(Reply.smtp_message_id, Reply.campaign)
            .where(Reply.smtp_message_id.in_(asked)).execution_options(**ACROSS_CAMPAIGNS)):
        found[message_id] = campaign
    return found


def sender_campaigns(session: Session, address: str) -> set[str]:
    """The campaigns with a unit that writes from `address` (bare, lowercased)."""
    return set(session.scalars(select(UnitAddress.campaign)
                               .where(UnitAddress.address == address)
                               .execution_options(**ACROSS_CAMPAIGNS)))


def remember_place(session: Session, message: Message, folder: str, uidvalidity: int,
                   uid: int, *, unknown: bool = False) -> None:
    """Note where on the server `message` was seen, unless that place is noted already
    (`unknown`: the caller knows it is not, and a place noted twice fails on its unique key)."""
    known = None if unknown else session.scalar(select(MailboxUid.id).where(
        MailboxUid.folder == folder, MailboxUid.uidvalidity == uidvalidity, MailboxUid.uid == uid))
    if known is None:
        session.add(MailboxUid(folder=folder, uidvalidity=uidvalidity, uid=uid,
                               message_pk=message.id))


def recorded_uids(session: Session, folder: str, uidvalidity: int) -> dict[int, str]:
    """UID -> the recorded result, of every mail of this folder (and UIDVALIDITY) recorded."""
    return {uid: result for uid, result in session.execute(
        select(MailboxUid.uid, Message.result).join(Message)
        .where(MailboxUid.folder == folder, MailboxUid.uidvalidity == uidvalidity)
        .execution_options(**ACROSS_CAMPAIGNS))}



def begin_writing(session: Session) -> None:
    """Open the session's transaction as a writer's, before anything else runs in it.

    With SQLite this is BEGIN IMMEDIATE: the write lock is taken now (rather than a read
    transaction that may fail to become a writer), and savepoints nest inside one transaction
    — left to itself, the sqlite3 module lets the first SAVEPOINT open the transaction and its
    RELEASE commit it. Other databases begin as usual."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))
