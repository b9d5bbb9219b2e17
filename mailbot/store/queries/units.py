"""What the campaign layer asks about units, their addresses, senders under review and reminders.

`campaign.units` matches a sender to a unit with these, `campaign.claims` looks up what a new
address sent and whom it was told to, `campaign.reminders` which offsets a unit has had. Each
function answers one question and leaves the session's transaction to the caller.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session, joinedload

from mailbot.store.models import (
    REVIEW_PENDING,
    REVIEW_REJECTED,
    Document,
    Message,
    Reminder,
    Reply,
    Unit,
    UnitAddress,
)


def unit_by_key(session: Session, key: str) -> Unit | None:
    """The unit whose key ("roster:<name>", "address:<address>") is `key`."""
    return session.scalar(select(Unit).where(Unit.key == key))


def unit_with_addresses(session: Session, unit_id: int) -> Unit | None:
    """The unit `unit_id` with its addresses, loaded in the same statement."""
    # A joined load is one row per address: every row is read, or the list is cut short.
    units = session.scalars(select(Unit).where(Unit.id == unit_id)
                            .options(joinedload(Unit.addresses))).unique().all()
    return units[0] if units else None


def unit_of_address(session: Session, address: str) -> Unit | None:
    """The unit `address` (already lower-cased) is a known address of."""
    return session.scalar(select(Unit).join(UnitAddress).where(UnitAddress.address == address))


def units_for_sender(session: Session, address: str, keys: Collection[str],
                     name_keys: Collection[str]) -> list[tuple[Unit, bool]]:
    """The units a mail may be for, oldest first, each with its addresses and whether `address`
    (already lower-cased; "" for none) is one of them as the database holds them: that unit,
    those whose key is one of `keys`, and those off the roster whose tolerant name key is one
    of `name_keys` — in one statement."""
    known = (Unit.id.in_(select(UnitAddress.unit_id).where(UnitAddress.address == address))
             if address else false())
    chosen = or_(known, Unit.key.in_(list(keys)),
                 and_(Unit.on_roster.is_(False), Unit.name_key.in_(list(name_keys))))
    # A joined load is one row per address: `unique` makes them one unit each again.
    rows = session.execute(select(Unit, known).where(chosen).order_by(Unit.id)
                           .options(joinedload(Unit.addresses))).unique()
    return [(unit, bool(by_address)) for unit, by_address in rows]


def address_known(session: Session, address: str) -> bool:
    """Whether `address` (already lower-cased) belongs to some unit already."""
    return session.scalar(select(UnitAddress).where(UnitAddress.address == address)) is not None


def unit_off_roster_named(session: Session, name_keys: Collection[str]) -> Unit | None:
    """The first (oldest) unit not on the roster whose tolerant name key is one of `name_keys`."""
    return session.scalar(select(Unit).where(Unit.on_roster.is_(False),
                                             Unit.name_key.in_(name_keys)).order_by(Unit.id))


def studio_owners(session: Session, studio_keys: Collection[str]) -> set[int]:
    """The ids of the units whose counted forms nominate one of `studio_keys`: an approval form
    for the studio, or a summary listing it (`Document.studio_keys` holds "|key|key|")."""
    listed = or_(*(Document.studio_keys.contains(f"|{key}|", autoescape=True)
                   for key in studio_keys))
    return set(session.scalars(select(Document.unit_id).where(
        or_(Document.studio_key.in_(studio_keys), listed), Document.kind != "unknown",
        Document.unconfirmed.is_(False),
        Document.unit_id.is_not(None))))


def units_in_order(session: Session) -> list[Unit]:
    """Every unit, in the order they were created."""
    return list(session.scalars(select(Unit).order_by(Unit.id)))


def held_back_before(session: Session, unit_id: int, sender: str, message_id: int) -> bool:
    """Whether `sender` sent the unit another mail, besides `message_id`, that is still awaiting
    the office (待核实) or was rejected: the unit was told of this address then already."""
    return session.scalar(select(Message.id).where(
        Message.unit_id == unit_id, Message.from_addr == sender, Message.id != message_id,
        Message.review.in_((REVIEW_PENDING, REVIEW_REJECTED)))) is not None


def attachment_names(session: Session, message_pk: int) -> list[str]:
    """The file names of a mail's documents, in the order they came in the mail."""
    return list(session.scalars(select(Document.filename).where(Document.message_pk == message_pk)
                                .order_by(Document.position)))


def names_given(session: Session, unit_id: int) -> set[str]:
    """The unit names (推荐单位) the unit's documents give, each once, none empty."""
    return set(session.scalars(select(Document.unit_name).where(
        Document.unit_id == unit_id, Document.unit_name != "").distinct()))


def noticed_since(session: Session, addresses: Collection[str], since: datetime) -> set[str]:
    """Which of `addresses` an address notice (a new address wrote for your unit) went to at or
    after `since`: one statement for all of a unit's addresses."""
    if not addresses:
        return set()
    return set(session.scalars(select(Reply.to_addr).where(
        Reply.kind == "address-notice", Reply.to_addr.in_(list(addresses)),
        Reply.created_at >= since).distinct()))


def awaiting_review(session: Session) -> list[Message]:
    """Mails whose sender the office still has to confirm or reject, oldest first."""
    return list(session.scalars(select(Message).where(Message.review == REVIEW_PENDING)
                                .order_by(Message.received_at, Message.id)))


def documents_of_message(session: Session, message_pk: int) -> list[Document]:
    """Every document that came with the mail `message_pk`."""
    return list(session.scalars(select(Document).where(Document.message_pk == message_pk)))


def pending_from(session: Session, unit_id: int, sender: str, besides: int) -> list[Message]:
    """The unit's other mails from `sender` (not `besides`) still awaiting the office."""
    return list(session.scalars(select(Message).where(
        Message.unit_id == unit_id, Message.from_addr == sender,
        Message.review == REVIEW_PENDING, Message.id != besides)))


def reminder_offsets(session: Session, unit_id: int) -> set[str]:
    """The reminder offsets ("3d", "1d"…) recorded for the unit, sent or skipped."""
    return set(session.scalars(select(Reminder.offset).where(Reminder.unit_id == unit_id)))
