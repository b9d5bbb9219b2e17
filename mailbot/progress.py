"""Where each unit stands, derived from the database: the one place that knows "the current set".

The intake loop uses it to check a unit's set after each mail; the workbook and the status
command use it to show the same thing. Nothing here is stored: it is all derived from the rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager

from mailbot.checks import Held
from mailbot.checks.completeness import match_studios, missing, nominated
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.rules import Campaign
from mailbot.store import ACCEPTED, CORRECTION, Document, Message, Unit

NOT_SUBMITTED = "未提交"


@dataclass
class StudioProgress:
    name: str
    documents: dict[str, Document] = field(default_factory=dict)  # kind -> latest row

    def doc(self, kind: str) -> Document | None:
        return self.documents.get(kind)


@dataclass
class UnitProgress:
    unit: Unit
    latest: list[Document]  # the latest version of each form, oldest first
    studios: list[StudioProgress]
    complete: bool
    last_received: datetime | None
    late: bool

    @property
    def status(self) -> str:
        if not self.latest:
            return NOT_SUBMITTED
        return ACCEPTED if self.complete else CORRECTION

    def count(self, kind: str) -> int:
        return sum(1 for d in self.latest if d.kind == kind and d.ok)


def held_of(doc: Document) -> Held:
    return Held(kind=doc.kind, filename=doc.filename, studio_key=doc.studio_key,
                studio_name=doc.studio_name, ok=doc.ok,
                listed_studios=tuple(json.loads(doc.studios_json or "[]")),
                scan=doc.format in SCAN_FORMATS)


def latest_documents(session: Session, unit: Unit,
                     campaign: Campaign) -> list[Document]:
    """The version of each form that counts: one summary, one per studio for the rest.

    That is the latest version received by the deadline (plus grace); a form that only came
    late counts too, flagged, unless the rules refuse late mail. Older versions stay in the
    database and on disk, visible in 收件记录 and on the dashboard."""
    rows = session.scalars(_documents_in_order().where(Document.unit_id == unit.id)).all()
    return pick_latest(rows, campaign)


def _documents_in_order() -> Select[Document]:
    # Each row's mail comes in the same query (contains_eager): asking for `row.message` one
    # row at a time was one SELECT per earlier mail of the unit.
    return (select(Document).join(Message, Document.message_pk == Message.id)
            .options(contains_eager(Document.message))
            .where(Document.kind != "unknown")
            .order_by(Message.received_at, Document.id))


def pick_latest(rows: Iterable[Document], campaign: Campaign) -> list[Document]:
    """`latest_documents` of one unit's rows, given oldest first (received, then id)."""
    refuse_late = campaign.campaign.late_policy == "refuse"
    latest: dict[tuple[str, str, bool], Document] = {}
    for row in rows:
        if row.unconfirmed:
            continue  # 待核实: nothing counts until the office confirms the sender
        # A scan (the stamped copy) sits beside the editable file, never replaces it.
        key = (row.kind, "" if row.kind == "summary" else row.studio_key,
               row.format in SCAN_FORMATS)
        on_time = row.message.received_at <= campaign.cutoff
        current = latest.get(key)
        current_on_time = current is not None and current.message.received_at <= campaign.cutoff
        if not on_time and (refuse_late or current_on_time):
            continue  # a late version never replaces one that came in time
        latest.pop(key, None)  # re-insert so the dict stays "oldest first"
        latest[key] = row
        # A form that could not be read (so named no studio) is settled by the next one of its
        # kind; otherwise its problem would be reported again with every mail.
        for stale in [k for k, r in latest.items()
                      if k[0] == row.kind and not k[1] and not r.ok and r is not row]:
            del latest[stale]
    return list(latest.values())


def all_progress(units: Sequence[Unit], documents: Iterable[Document],
                 campaign: Campaign) -> list[UnitProgress]:
    """`unit_progress` of each of `units`, from documents already loaded with their mails
    (all documents of those units; any others are left out): no query per unit."""
    mine = {unit.id for unit in units}
    rows: dict[int | None, list[Document]] = defaultdict(list)
    for row in sorted((d for d in documents if d.unit_id in mine and d.kind != "unknown"),
                      key=lambda d: (d.message.received_at, d.id)):  # as latest_documents
        rows[row.unit_id].append(row)
    return [progress_of(unit, pick_latest(rows[unit.id], campaign), campaign) for unit in units]


def unit_progress(session: Session, unit: Unit, campaign: Campaign) -> UnitProgress:
    return progress_of(unit, latest_documents(session, unit, campaign), campaign)


def progress_of(unit: Unit, latest: list[Document], campaign: Campaign) -> UnitProgress:
    """Where the unit stands, given its `latest_documents`."""
    held = [held_of(d) for d in latest]
    by_held = dict(zip(held, latest, strict=True))
    names = nominated(held)
    studios = [StudioProgress(name) for name in names]
    for kind in {h.kind for h in held} - {"summary"}:
        matched = match_studios(names, [h for h in held if h.kind == kind])
        for studio in studios:
            if studio.name in matched:
                studio.documents[kind] = by_held[matched[studio.name]]
    if not names:  # no usable 附件1 yet: show each named studio form on its own
        for doc in latest:
            if doc.kind != "summary":
                name = doc.studio_name or "（未注明工作室名称）"
                existing = next((s for s in studios if s.name == name), None)
                if existing is None:
                    existing = StudioProgress(name)
                    studios.append(existing)
                existing.documents[doc.kind] = doc
    summary = next((d for d in latest if d.kind == "summary"), None)
    for studio in studios:
        if summary is not None:
            studio.documents.setdefault("summary", summary)
    complete = bool(latest) and all(h.ok for h in held) and not missing(campaign, held)
    received = [d.message.received_at for d in latest]
    return UnitProgress(unit=unit, latest=latest, studios=studios, complete=complete,
                        last_received=max(received) if received else None,
                        late=any(d.message.late for d in latest))
