"""Where each unit stands, derived from the database: the one place that knows "the current set".

The intake loop uses it to check a unit's set after each mail; the workbook, the dashboard and
the status command show the same thing through `UnitProgress.forms` and `UnitProgress.status`,
in the status words of CONTRACT.md. Nothing here is stored: it is all derived from the rows, so
two screens cannot disagree (a received form is never shown as missing).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from mailbot.campaign.rules import Campaign
from mailbot.checks import Held
from mailbot.checks.completeness import match_studios, missing, nominated
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.store.models import REVIEW_PENDING, Document, Message, Unit

# Status words (CONTRACT.md): one vocabulary for replies, workbook, dashboard and `status`.
RECEIVED, TO_CORRECT, TO_VERIFY, NOT_RECEIVED = "已收", "待更正", "待核实", "未收"
COMPLETE, INCOMPLETE, NOT_SUBMITTED = "已齐全", "未齐全", "未提交"
UNIT_WORDS = (COMPLETE, INCOMPLETE, NOT_SUBMITTED)


@dataclass(frozen=True)
class FormState:
    """One form of a unit's set: how many of the wanted copies are held, in a status word."""

    key: str
    label: str  # 附件2
    per_unit: bool
    have: int  # received, editable (a scan beside it is not another form)
    good: int  # of those, without an error of their own
    want: int  # 1 per unit, or one per nominated studio
    unconfirmed: bool = False  # a copy came from an address the office has not confirmed

    @property
    def word(self) -> str:
        if self.have == 0:
            return TO_VERIFY if self.unconfirmed else NOT_RECEIVED
        return RECEIVED if self.good == self.have else TO_CORRECT

    @property
    def complete(self) -> bool:
        return self.good >= self.want

    @property
    def text(self) -> str:
        """As a cell shows it: 已收 / 待更正 / 未收, or 1/2（待更正） for a per-studio form."""
        if self.have == 0 or self.per_unit:
            return self.word
        shown = f"{min(self.have, self.want)}/{self.want}"
        return shown if self.word == RECEIVED else f"{shown}（{self.word}）"


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

    forms: list[FormState] = field(default_factory=list)

    @property
    def status(self) -> str:
        """已齐全, 未齐全 or 未提交 (no usable form received yet)."""
        if not self.latest:
            return NOT_SUBMITTED
        return COMPLETE if self.complete else INCOMPLETE

    def count(self, kind: str) -> int:
        return sum(1 for d in self.latest if d.kind == kind and d.ok)

    def form(self, key: str) -> FormState | None:
        return next((f for f in self.forms if f.key == key), None)


def held_of(doc: Document) -> Held:
    return Held(kind=doc.kind, filename=doc.filename, studio_key=doc.studio_key,
                studio_name=doc.studio_name, ok=doc.ok,
                listed_studios=tuple(json.loads(doc.studios_json or "[]")),
                scan=doc.format in SCAN_FORMATS)


def latest_documents(session: Session, unit: Unit,
                     campaign: Campaign) -> list[Document]:
    """The version of each form that counts: one of a per-unit form, one per studio of the rest.

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


@dataclass(slots=True)  # not frozen: 30,000 of them are made per page, and frozen ones cost 3×
class Version:
    """The columns that decide which version of a form counts, as one plain row: the whole
    campaign's are read as tuples (no ORM object per document), and only the versions that
    count are loaded as `Document`s afterwards."""

    id: int
    unit_id: int | None
    kind: str
    studio_key: str
    scan: bool
    ok: bool
    unconfirmed: bool
    on_time: bool  # received by the deadline (plus grace)
    pending: bool  # its mail awaits the office's confirmation of the sender (待核实)


def version_columns(campaign: Campaign) -> tuple[Any, ...]:
    """The columns of a `Version`, in its order; lateness is compared in SQL (one boolean per
    row instead of a converted datetime)."""
    return (Document.id, Document.unit_id, Document.kind, Document.studio_key, Document.format,
            Document.ok, Document.unconfirmed,
            (Message.received_at <= campaign.cutoff).label("on_time"), Message.review)


def version_of(row: Any) -> Version:
    """A `Version` from a tuple of `version_columns`."""
    (pk, unit_id, kind, key, form, ok, unconfirmed, on_time, review) = row
    return Version(id=pk, unit_id=unit_id, kind=kind, studio_key=key or "",
                   scan=form in SCAN_FORMATS, ok=bool(ok), unconfirmed=bool(unconfirmed),
                   on_time=bool(on_time), pending=review == REVIEW_PENDING)


def _version(doc: Document, campaign: Campaign) -> Version:
    return version_of((doc.id, doc.unit_id, doc.kind, doc.studio_key, doc.format, doc.ok,
                       doc.unconfirmed, doc.message.received_at <= campaign.cutoff,
                       doc.message.review))


def pick_latest(rows: Iterable[Document], campaign: Campaign) -> list[Document]:
    """`latest_documents` of one unit's rows, given oldest first (received, then id)."""
    documents = {doc.id: doc for doc in rows}
    versions = [_version(doc, campaign) for doc in documents.values()]
    return [documents[v.id] for v in pick_versions(versions, campaign)]


def pick_versions(rows: Iterable[Version], campaign: Campaign) -> list[Version]:
    """The versions that count of one unit's rows, given oldest first (received, then id)."""
    refuse_late = campaign.campaign.late_policy == "refuse"
    latest: dict[tuple[str, str, bool], Version] = {}
    for row in rows:
        if row.unconfirmed:
            continue  # 待核实: nothing counts until the office confirms the sender
        # A scan (the stamped copy) sits beside the editable file, never replaces it.
        key = (row.kind, "" if campaign.per_unit(row.kind) else row.studio_key, row.scan)
        current = latest.get(key)
        if not row.on_time and (refuse_late or (current is not None and current.on_time)):
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
    return [_progress(unit, rows[unit.id], campaign) for unit in units]


def campaign_progress(session: Session, campaign: Campaign) -> list[UnitProgress]:
    """Every unit's progress, in unit order, from a few queries whatever the number of units
    or mails: the versions are picked from plain column tuples, and only the picked ones (a few
    per unit, not every version ever received) become `Document` objects."""
    units = session.scalars(select(Unit).order_by(Unit.id)
                            .options(selectinload(Unit.addresses))).all()
    versions: dict[int | None, list[Version]] = defaultdict(list)
    # 待核实 rows never count (pick_versions skips them): only their kinds are wanted.
    for row in session.execute(select(*version_columns(campaign))
                               .join(Message, Document.message_pk == Message.id)
                               .where(Document.kind != "unknown", Document.unconfirmed.is_(False))
                               .order_by(Message.received_at, Document.id)):
        versions[row[1]].append(version_of(row))
    pending: dict[int | None, set[str]] = defaultdict(set)
    for unit_id, kind in session.execute(
            select(Document.unit_id, Document.kind).distinct()
            .join(Message, Document.message_pk == Message.id)
            .where(Document.kind != "unknown", Document.unconfirmed.is_(True),
                   Message.review == REVIEW_PENDING)):
        pending[unit_id].add(kind)
    picked = {unit.id: pick_versions(versions[unit.id], campaign) for unit in units}
    documents, mails = _load([v.id for chosen in picked.values() for v in chosen], session)
    return [progress_of(unit, [documents[v.id] for v in picked[unit.id]], campaign,
                        pending=pending[unit.id], mails=mails) for unit in units]


def _load(ids: Sequence[int], session: Session
          ) -> tuple[dict[int, Document], dict[int, tuple[datetime, bool]]]:
    """The documents of `ids`, and of each of their mails only what progress shows (received,
    late) as plain values: not a Message object per mail. In bounded IN lists."""
    documents: dict[int, Document] = {}
    for start in range(0, len(ids), 500):
        documents.update((doc.id, doc) for doc in session.scalars(
            select(Document).where(Document.id.in_(ids[start:start + 500]))))
    wanted = sorted({doc.message_pk for doc in documents.values()})
    mails: dict[int, tuple[datetime, bool]] = {}
    for start in range(0, len(wanted), 500):
        mails.update((pk, (received, bool(late))) for pk, received, late in session.execute(
            select(Message.id, Message.received_at, Message.late)
            .where(Message.id.in_(wanted[start:start + 500]))))
    return documents, mails


def _pending(rows: Iterable[Version]) -> set[str]:
    """The kinds held only as 待核实 (their mail awaits the office)."""
    return {row.kind for row in rows if row.unconfirmed and row.pending}


def unit_progress(session: Session, unit: Unit, campaign: Campaign) -> UnitProgress:
    rows = session.scalars(_documents_in_order().where(Document.unit_id == unit.id)).all()
    return _progress(unit, rows, campaign)


def _progress(unit: Unit, rows: Sequence[Document], campaign: Campaign) -> UnitProgress:
    """From all of one unit's rows, oldest first: forms held as 待核实 are shown as such."""
    return progress_of(unit, pick_latest(rows, campaign), campaign,
                       pending=_pending(_version(row, campaign) for row in rows))


def progress_of(unit: Unit, latest: list[Document], campaign: Campaign,
                pending: Collection[str] = (),
                mails: Mapping[int, tuple[datetime, bool]] | None = None) -> UnitProgress:
    """Where the unit stands, given its `latest_documents`; `mails`: each document's mail's
    (received_at, late) by its key, when they were read without loading the mails."""
    held = [held_of(d) for d in latest]
    by_held = dict(zip(held, latest, strict=True))
    names = nominated(held)
    studios = [StudioProgress(name) for name in names]
    for kind in {h.kind for h in held if not campaign.per_unit(h.kind)}:
        matched = match_studios(names, [h for h in held if h.kind == kind])
        for studio in studios:
            if studio.name in matched:
                studio.documents[kind] = by_held[matched[studio.name]]
    if not names:  # no usable 附件1 yet: show each named studio form on its own
        for doc in latest:
            if not campaign.per_unit(doc.kind):
                name = doc.studio_name or "（未注明工作室名称）"
                existing = next((s for s in studios if s.name == name), None)
                if existing is None:
                    existing = StudioProgress(name)
                    studios.append(existing)
                existing.documents[doc.kind] = doc
    summary = next((d for d in latest if campaign.lists_studios(d.kind)), None)
    for studio in studios:
        if summary is not None:
            studio.documents.setdefault(summary.kind, summary)
    complete = bool(latest) and all(h.ok for h in held) and not missing(campaign, held)
    times = ([mails[d.message_pk] for d in latest] if mails is not None
             else [(d.message.received_at, d.message.late) for d in latest])
    return UnitProgress(unit=unit, latest=latest, studios=studios, complete=complete,
                        last_received=max(t for t, _late in times) if times else None,
                        late=any(late for _t, late in times),
                        forms=form_states(latest, len(studios), campaign, pending))


def form_states(latest: Sequence[Document], studios: int, campaign: Campaign,
                pending: Collection[str] = ()) -> list[FormState]:
    """Each form of the campaign, in the order of the rules, as held in `latest`; `pending`:
    the kinds received only from an address the office has not confirmed (待核实)."""
    states = []
    for spec in campaign.documents:
        present = [d for d in latest if d.kind == spec.key and d.format not in SCAN_FORMATS]
        per_unit = spec.per == "unit"
        states.append(FormState(key=spec.key, label=spec.label, per_unit=per_unit,
                                have=len(present), good=sum(1 for d in present if d.ok),
                                want=1 if per_unit else max(studios, 1),
                                unconfirmed=spec.key in pending))
    return states
