"""What the office's exports ask the database: the workbook, materials.zip, the print bundle,
the final report.

Each export reads the whole campaign, so the answers come in a few flat queries whatever the
number of units or mails, as plain tuples where no ORM object is needed (an object per mail cost
more than the queries: benchmarks/workbook_export.py). The unit's progress itself is the
dossier's (`campaign.dossier`); what is here is what the exports show beside it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from mailbot.store.models import UNCLASSIFIED, Document, FindingRow, Message, Milestone, Unit


@dataclass(frozen=True, slots=True)
class MailRow:
    """A received mail as 收件记录 shows it (and what 汇总 needs of it): no ORM object."""

    id: int
    unit_id: int | None
    received_at: datetime
    from_addr: str
    subject: str
    result: str
    late: bool
    reason: str
    receipt_no: str


def workbook_mails(session: Session) -> list[MailRow]:
    """Every mail of the campaign's workbook, oldest first (未归类 mail is in no workbook)."""
    rows = session.execute(
        select(Message.id, Message.unit_id, Message.received_at, Message.from_addr,
               Message.subject, Message.result, Message.late, Message.reason,
               Message.receipt_no)
        .where(Message.result != UNCLASSIFIED).order_by(Message.received_at, Message.id))
    return [MailRow(pk, unit_id, received, sender, subject, result, bool(late), reason, receipt)
            for pk, unit_id, received, sender, subject, result, late, reason, receipt in rows]


def mail_files(session: Session) -> dict[int, list[tuple[str, str]]]:
    """Per mail (its key): (file name, kind) of each attachment, in the order they were kept."""
    files: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for message_pk, filename, kind in session.execute(
            select(Document.message_pk, Document.filename, Document.kind).order_by(Document.id)):
        files[message_pk].append((filename, kind))
    return files


def mail_problems(session: Session) -> dict[int, list[str]]:
    """Per mail (its key): the text of each of its findings, in the order they were found."""
    problems: dict[int, list[str]] = defaultdict(list)
    for message_pk, text in session.execute(select(FindingRow.message_pk, FindingRow.message)
                                            .order_by(FindingRow.id)):
        problems[message_pk].append(text)
    return problems



def units_with_documents(session: Session, unit_id: int | None = None
                         ) -> tuple[list[Unit], list[Document]]:
    """The units (all, or only `unit_id`) with their addresses, and all their documents with
    each one's mail loaded in the same query: what `dossier.all_progress` takes."""
    units_query = select(Unit).order_by(Unit.id).options(selectinload(Unit.addresses))
    documents_query = (select(Document).join(Message, Document.message_pk == Message.id)
                       .options(contains_eager(Document.message)).order_by(Document.id))
    if unit_id is not None:
        units_query = units_query.where(Unit.id == unit_id)
        documents_query = documents_query.where(Document.unit_id == unit_id)
    return list(session.scalars(units_query)), list(session.scalars(documents_query))


def milestone_done(session: Session, key: str) -> bool:
    """Whether the once-per-campaign event `key` (the final report) has happened."""
    return session.scalar(select(Milestone.id).where(Milestone.key == key)) is not None


def count_with_result(session: Session, result: str) -> int:
    """How many of the campaign's mails have this 处理结果 (隔离, …)."""
    return session.scalar(select(func.count()).select_from(Message)
                          .where(Message.result == result)) or 0
