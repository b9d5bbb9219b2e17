"""What mailbot remembers: SQLAlchemy 2 models and the session factory.

SQLite in the state directory by default; any SQLAlchemy URL works. The database is the one source
of truth: the workbook, the dashboard and the replies are all derived from these rows.

    Unit ──< UnitAddress      (addresses the unit writes from; roster addresses too)
      │──< Reminder         (one per unit per offset before the deadline)
      └──< Message ──< Document
                │   └──< FindingRow
                ├──< MailboxUid     (where the message sat on the server: folder, UIDVALIDITY, UID)
                └──< Reply          (the outbox: recorded with the verdict, sent afterwards)
    Milestone               (once-per-campaign events: the final report)
    ReceiptCounter          (the last receipt number issued, per campaign)

Every table of campaign data carries `campaign` (its key); the schema's history is in
mailbot.store.migrations (Alembic): `open_database` upgrades a database; only a new, empty one
is built from these models directly (and must come out as the revisions would build it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
)

from mailbot.store.statedir import written_with

# Results of a received message (收件记录.处理结果); exactly these five, see CONTRACT.md.
ACCEPTED = "受理"
CORRECTION = "补正"
INQUIRY = "咨询"  # a question, no documents: the call's facts now, a person's answer later
IGNORED = "忽略"
QUARANTINED = "隔离"
RESULTS = (ACCEPTED, CORRECTION, INQUIRY, IGNORED, QUARANTINED)
# Not a 处理结果: a mail in a shared mailbox that belongs to no campaign. Recorded only so that
# it is not examined again and the office can list it; never answered, marked or in a workbook.
UNCLASSIFIED = "未归类"
# Message.review: a sender not yet known to a roster unit with addresses claimed that unit.
REVIEW_PENDING, REVIEW_CONFIRMED, REVIEW_REJECTED = "待核实", "已确认", "已驳回"
# The campaign rows are filed under when nobody says otherwise: release 0.1's only campaign.
DEFAULT_CAMPAIGN = "laomo-gongjiang-2022"


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out, on every database.

    SQLite keeps no time zone and hands back naive values; comparing those with aware ones
    (INTERNALDATE, the deadline) would fail or, worse, be silently wrong."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times must be aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


class Unit(Base):
    """An applying unit (学院、部门、基层工会): from the roster in the rules, or a new sender.

    `key` is "roster:<name>" for a roster unit and "address:<address>" for one that wrote in
    without being on the roster (shown flagged in 单位进度)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("campaign", "key", name="uq_units_campaign"),
                      UniqueConstraint("status_token", name="uq_units_status_token"))
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    key: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    name_key: Mapped[str] = mapped_column(String(200), default="", index=True)  # units.name_key
    on_roster: Mapped[bool] = mapped_column(Boolean, default=False)
    paper_received_at: Mapped[datetime | None] = mapped_column(default=None)  # 纸质版
    # The personal status link's token (mailbot.campaign.statuslink); None: no link, or revoked.
    status_token: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column()
    addresses: Mapped[list[UnitAddress]] = relationship(back_populates="unit",
                                                        order_by="UnitAddress.id")
    messages: Mapped[list[Message]] = relationship(back_populates="unit", order_by="Message.id")
    documents: Mapped[list[Document]] = relationship(back_populates="unit", order_by="Document.id")

    @property
    def email(self) -> str:
        """The unit's contact addresses, as shown to the office."""
        return ", ".join(a.address for a in self.addresses)

    @property
    def display_name(self) -> str:
        return self.name or (self.addresses[0].address if self.addresses else self.key)


class UnitAddress(Base):
    """An address the unit writes from (or that the roster gives); mail from it is the unit's."""

    __tablename__ = "unit_addresses"
    __table_args__ = (UniqueConstraint("campaign", "address", name="uq_unit_addresses_campaign"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    unit: Mapped[Unit] = relationship(back_populates="addresses")


class Message(Base):
    """One received mail, recorded once however often the server delivered it."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64), index=True)  # the campaign's key
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    received_at: Mapped[datetime] = mapped_column()  # IMAP INTERNALDATE
    date_header: Mapped[datetime | None] = mapped_column()
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")  # space-separated, for threading
    raw_path: Mapped[str] = mapped_column(Text)  # relative to the state directory
    size: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str] = mapped_column(String(8))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")  # why 忽略 or 隔离
    receipt_no: Mapped[str] = mapped_column(String(40), default="")
    processed_at: Mapped[datetime] = mapped_column()
    # "" or REVIEW_*: the office's decision on a sender claiming a roster unit (待核实).
    review: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # 咨询: the office's own answer (sent through the outbox) and when; None: still awaiting.
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    answer: Mapped[str] = mapped_column(Text, default="", server_default="")
    # 隔离 set aside by the office (its reason is in OfficeAction); None: still to handle.
    dismissed_at: Mapped[datetime | None] = mapped_column(default=None)

    unit: Mapped[Unit | None] = relationship(back_populates="messages")
    documents: Mapped[list[Document]] = relationship(back_populates="message",
                                                     order_by="Document.id")
    findings: Mapped[list[FindingRow]] = relationship(back_populates="message_row",
                                                      order_by="FindingRow.id")
    uids: Mapped[list[MailboxUid]] = relationship(back_populates="message")
    replies: Mapped[list[Reply]] = relationship(back_populates="message")


class MailboxUid(Base):
    """A place on the IMAP server where a message was seen; a second delivery adds a row."""

    __tablename__ = "mailbox_uids"
    __table_args__ = (UniqueConstraint("folder", "uidvalidity", "uid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    marked: Mapped[bool] = mapped_column(Boolean, default=False)  # flagged/moved on the server
    message: Mapped[Message] = relationship(back_populates="uids")


class Document(Base):
    """One attachment as received, with what was recognised in it."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # order in the mail
    filename: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # summary | approval | material | unknown
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(Text)  # relative to the state directory
    size: Mapped[int] = mapped_column(Integer)
    word_count: Mapped[int | None] = mapped_column(Integer)
    studio_name: Mapped[str] = mapped_column(Text, default="")
    studio_key: Mapped[str] = mapped_column(String(400), default="", index=True)
    unit_name: Mapped[str] = mapped_column(Text, default="")
    leader: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(Text, default="")
    studios_json: Mapped[str] = mapped_column(Text, default="[]")  # summary rows
    # Summary: the tolerant keys of the studios it lists, as "|key|key|", so a unit can be
    # found by a studio it nominated without reading every summary.
    studio_keys: Mapped[str] = mapped_column(Text, default="")
    ok: Mapped[bool] = mapped_column(Boolean, default=True)  # no error finding of its own
    # 待核实: sent from an address the office has not confirmed for this (roster) unit; it
    # counts for nothing until confirmed.
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    message: Mapped[Message] = relationship(back_populates="documents")
    unit: Mapped[Unit | None] = relationship(back_populates="documents")


class FindingRow(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text, default="")
    document: Mapped[str] = mapped_column(Text, default="")
    # `message` is the finding's text, so the relationship needs another name.
    message_row: Mapped[Message] = relationship(back_populates="findings")


class Reply(Base):
    """The outbox. A reply is written with the verdict in one transaction and sent later,
    so a crash between the two loses nothing; `status` says where it is."""

    __tablename__ = "replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64), index=True)  # the campaign's key
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # acknowledgement | correction | quarantine…
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    smtp_message_id: Mapped[str] = mapped_column(String(998), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # pending | sent | failed | held (waits for the office's release: sender not authenticated)
    # | dropped (a failed reply the office gave up, with a note in OfficeAction)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # Which worker is sending it, since when (store.coordination.claim_replies): no other sends it
    # meanwhile; a claim whose holder died is taken over (at once on the same machine).
    claimed_by: Mapped[str] = mapped_column(String(128), default="", server_default="")
    claimed_at: Mapped[datetime | None] = mapped_column()
    message: Mapped[Message | None] = relationship(back_populates="replies")


# The hourly reply limit counts a recipient's replies for every mail (screening.recent_replies):
# without this index each count read the whole outbox, raw mails and all.
Index("ix_replies_recipient", func.lower(Reply.to_addr))
# The global hourly cap counts what was sent in the last hour (office.replycap) on every send.
Index("ix_replies_sent_at", Reply.sent_at)


class OfficeAction(Base):
    """What the office did from the dashboard, who (the client it came from) and when: one row
    per action on a mail or a reply (assign, dismiss, forward, resend, give up)."""

    __tablename__ = "office_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    kind: Mapped[str] = mapped_column(String(24))  # mailbot.web.actions: dismiss, forward…
    actor: Mapped[str] = mapped_column(String(200))  # the office's client, as the web saw it
    note: Mapped[str] = mapped_column(Text, default="")  # the reason, the new address…
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    reply_pk: Mapped[int | None] = mapped_column(ForeignKey("replies.id"), index=True)
    at: Mapped[datetime] = mapped_column()


class Reminder(Base):
    """One reminder per unit per offset, ever: the unique key is what survives a restart."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("campaign", "unit_id", "offset",
                                       name="uq_reminders_campaign"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    offset: Mapped[str] = mapped_column(String(16))  # as written in the rules, e.g. "3d"
    due_at: Mapped[datetime] = mapped_column()
    sent: Mapped[bool] = mapped_column(Boolean)  # False: skipped (a later offset was due too)
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    created_at: Mapped[datetime] = mapped_column()


class Milestone(Base):
    """A once-per-campaign event, such as the final report; its key makes it happen once."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("campaign", "key", name="uq_milestones_campaign"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))  # the campaign's key
    key: Mapped[str] = mapped_column(String(64))
    done_at: Mapped[datetime] = mapped_column()


class ReceiptCounter(Base):
    """The last receipt number issued in a campaign: the next one is taken by one atomic UPDATE
    of this row, so two processes never issue the same number and none is ever reused."""

    __tablename__ = "receipt_counters"
    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Lease(Base):
    """Work only one worker should do at a time (a campaign's mailbox folder): held by
    `holder` until `expires_at`, renewed each cycle, taken over once it expired or, on the same
    machine, as soon as its holder's process is gone (store.coordination)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()


class Blob(Base):
    """One kept file (raw mail or a received attachment) when the database keeps them
    (store.blobs: with a database server); with SQLite they stay files in the state dir."""

    __tablename__ = "blobs"
    key: Mapped[str] = mapped_column(String(512), primary_key=True)  # raw/ab/….eml, files/…
    data: Mapped[bytes] = mapped_column(LargeBinary)


# A receipt number is given once per campaign (an empty one means "no receipt").
Index("uq_messages_campaign_receipt", Message.campaign, Message.receipt_no, unique=True,
      sqlite_where=Message.receipt_no != "", postgresql_where=Message.receipt_no != "")


__all__ = [
    "ACCEPTED",
    "CORRECTION",
    "DEFAULT_CAMPAIGN",
    "IGNORED",
    "INQUIRY",
    "QUARANTINED",
    "RESULTS",
    "REVIEW_CONFIRMED",
    "REVIEW_PENDING",
    "REVIEW_REJECTED",
    "UNCLASSIFIED",
    "Base",
    "Blob",
    "Document",
    "FindingRow",
    "Lease",
    "MailboxUid",
    "Message",
    "Milestone",
    "OfficeAction",
    "ReceiptCounter",
    "Reminder",
    "Reply",
    "Unit",
    "UnitAddress",
    "written_with",
]
