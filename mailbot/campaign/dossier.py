"""Where each unit stands, derived from the database: the one place that knows "the current set".

The intake loop uses it to check a unit's set after each mail; the workbook, the dashboard and
the status command show the same thing through `UnitProgress.forms` and `UnitProgress.status`,
in the status words of CONTRACT.md. Nothing here is stored: it is all derived from the rows, so
two screens cannot disagree (a received form is never shown as missing).

The computation is pure (`pick_versions`, `pick_latest`, `progress_of`, `progress_from`,
`all_progress`): it reads rows handed to it. What loads them is `store.queries.dossier`;
`latest_documents`, `unit_progress` and `campaign_progress` are the short ways to load and
compute at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import unsaved_roster
from mailbot.checks import Held
from mailbot.checks.completeness import match_studios, missing, nominated
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.store.handles import Session
from mailbot.store.models import REVIEW_PENDING, Document, Unit
from mailbot.store.queries import dossier as queries

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

    @property
    def standing(self) -> Standing:
        return Standing(unit=self.unit, counting=tuple(d.id for d in self.latest),
                        studios=tuple(s.name for s in self.studios), complete=self.complete,
                        last_received=self.last_received, late=self.late,
                        forms=tuple(self.forms))


@dataclass(frozen=True)
class Standing:
    """A `UnitProgress` without its documents: what a list of every unit shows, computed by
    the same functions from plain rows (`campaign_standings`), or taken from one
    (`UnitProgress.standing`)."""

    unit: Unit
    counting: tuple[int, ...]  # the ids of the versions that count, oldest first
    studios: tuple[str, ...]  # the studios' names, as `UnitProgress.studios`
    complete: bool
    last_received: datetime | None
    late: bool
    forms: tuple[FormState, ...]

    @property
    def status(self) -> str:
        """已齐全, 未齐全 or 未提交, as `UnitProgress.status`."""
        if not self.counting:
            return NOT_SUBMITTED
        return COMPLETE if self.complete else INCOMPLETE


def held_of(doc: Document | queries.CopyRow) -> Held:
    """What the checks see of a version: from a `Document`, or from the plain row of one."""
    return Held(kind=doc.kind, filename=doc.filename, studio_key=doc.studio_key,
                studio_name=doc.studio_name, ok=doc.ok,
                listed_studios=tuple(json.loads(doc.studios_json or "[]")),
                scan=doc.format in SCAN_FORMATS)


def latest_documents(session: Session, unit: Unit,
                     campaign: Campaign) -> list[Document]:
    """The version of each form that counts: one of a per-unit form, one per studio of the rest.

    That is the latest version received by the deadline (plus grace); a form that only came
    late counts too, flagged, unless the rules refuse late mail. Older versions stay in the
    database and on disk, visible in 收件记录 and on the dashboard. (Loads through
    `store.queries.dossier`; `pick_latest` is the computation.)"""
    return pick_latest(queries.unit_documents(session, unit.id), campaign)


@dataclass(slots=True)  # not frozen: thousands of them are made per page, and frozen ones cost 3×
class Version:
    """The columns that decide which version of a form counts, as one plain row."""

    id: int
    unit_id: int | None
    kind: str
    studio_key: str
    scan: bool
    ok: bool
    unconfirmed: bool
    on_time: bool  # received by the deadline (plus grace)
    pending: bool  # its mail awaits the office's confirmation of the sender (待核实)


def _version(doc: Document, on_time: bool, review: str = "") -> Version:
    return Version(id=doc.id, unit_id=doc.unit_id, kind=doc.kind, studio_key=doc.studio_key or "",
                   scan=doc.format in SCAN_FORMATS, ok=bool(doc.ok),
                   unconfirmed=bool(doc.unconfirmed), on_time=on_time,
                   pending=review == REVIEW_PENDING)


def _version_with_mail(doc: Document, campaign: Campaign) -> Version:
    return _version(doc, doc.message.received_at <= campaign.cutoff, doc.message.review)


def pick_latest(rows: Iterable[Document], campaign: Campaign) -> list[Document]:
    """`latest_documents` of one unit's rows (with their mails), given oldest first (received,
    then id)."""
    documents = {doc.id: doc for doc in rows}
    versions = [_version_with_mail(doc, campaign) for doc in documents.values()]
    return [documents[v.id] for v in pick_versions(versions, campaign)]


def pick_versions(rows: Iterable[Version], campaign: Campaign) -> list[Version]:
    """The versions that count of one unit's rows, given oldest first (received, then id)."""
    refuse_late = campaign.campaign.late_policy == "refuse"
    per_studio = _per_studio(campaign)
    latest: dict[tuple[str, str, bool], Version] = {}
    for row in rows:
        if row.unconfirmed:
            continue  # 待核实: nothing counts until the office confirms the sender
        # A scan (the stamped copy) sits beside the editable file, never replaces it.
        key = (row.kind, row.studio_key if row.kind in per_studio else "", row.scan)
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


def _per_studio(campaign: Campaign) -> frozenset[str]:
    """The kinds held one per studio (`Campaign.per_unit` is false for them)."""
    return frozenset(spec.key for spec in campaign.documents if not campaign.per_unit(spec.key))


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
    """Every unit's progress, in unit order, from a fixed number of queries whatever the number
    of units or mails (`store.queries.dossier.campaign_versions`); `progress_from` computes."""
    loaded = queries.campaign_versions(session, campaign.cutoff, _per_studio(campaign),
                                       SCAN_FORMATS)
    return progress_from(loaded, campaign)


def progress_from(loaded: queries.CampaignVersions, campaign: Campaign) -> list[UnitProgress]:
    """Every unit's progress from the campaign's versions (oldest first, 待核实 ones left out:
    they never count, `loaded.pending` names their kinds)."""
    versions: dict[int | None, list[Version]] = defaultdict(list)
    documents: dict[int, Document] = {}
    mails: dict[int, tuple[datetime, bool]] = {}
    for row in loaded.versions:
        doc = row.document
        versions[doc.unit_id].append(_version(doc, row.on_time))
        documents[doc.id] = doc
        mails[doc.message_pk] = (row.received_at, row.late)
    return [progress_of(unit, [documents[v.id] for v in pick_versions(versions[unit.id], campaign)],
                        campaign, pending=loaded.pending.get(unit.id, ()), mails=mails)
            for unit in loaded.units]


def unsaved_progress(campaign: Campaign, held: Iterable[Unit]) -> list[UnitProgress]:
    """The progress of the roster units missing from `held` (every unit the store holds: the
    rules gained them since the last poll), each 未提交: what a reader (`status`, the dashboard
    and its downloads) counts and lists without writing them (`units.unsaved_roster`)."""
    return [progress_of(unit, [], campaign) for unit in unsaved_roster(campaign, held)]


def campaign_standings(session: Session, campaign: Campaign) -> list[Standing]:
    """Every unit's standing, in unit order, from plain column tuples in a fixed number of
    queries (`store.queries.dossier.campaign_copies`): no `Document` object is made."""
    loaded = queries.campaign_copies(session, campaign.cutoff, _per_studio(campaign),
                                     SCAN_FORMATS)
    return standings_from(loaded, campaign)


def standings_from(loaded: queries.CampaignCopies, campaign: Campaign) -> list[Standing]:
    """Every unit's standing from the campaign's versions as plain rows (oldest first, 待核实
    ones left out: `loaded.pending` names their kinds)."""
    versions: dict[int, list[Version]] = defaultdict(list)
    copies: dict[int, queries.CopyRow] = {}
    for row in loaded.copies:
        versions[row.unit_id].append(Version(
            id=row.id, unit_id=row.unit_id, kind=row.kind, studio_key=row.studio_key,
            scan=row.format in SCAN_FORMATS, ok=row.ok, unconfirmed=False, on_time=row.on_time,
            pending=False))
        copies[row.id] = row
    standings = []
    for unit in loaded.units:
        latest = [copies[v.id] for v in pick_versions(versions[unit.id], campaign)]
        shape = _shape([held_of(c) for c in latest], campaign, loaded.pending.get(unit.id, ()))
        standings.append(Standing(
            unit=unit, counting=tuple(c.id for c in latest),
            studios=tuple(name for name, _kinds in shape.studios), complete=shape.complete,
            last_received=max((c.received_at for c in latest), default=None),
            late=any(c.late for c in latest), forms=tuple(shape.forms)))
    return standings


def _pending(rows: Iterable[Version]) -> set[str]:
    """The kinds held only as 待核实 (their mail awaits the office)."""
    return {row.kind for row in rows if row.unconfirmed and row.pending}


def unit_progress(session: Session, unit: Unit, campaign: Campaign) -> UnitProgress:
    """Where one unit stands (loads through `store.queries.dossier`)."""
    return _progress(unit, queries.unit_documents(session, unit.id), campaign)


def _progress(unit: Unit, rows: Sequence[Document], campaign: Campaign) -> UnitProgress:
    """From all of one unit's rows, oldest first: forms held as 待核实 are shown as such."""
    return progress_of(unit, pick_latest(rows, campaign), campaign,
                       pending=_pending(_version_with_mail(row, campaign) for row in rows))


def progress_of(unit: Unit, latest: list[Document], campaign: Campaign,
                pending: Collection[str] = (),
                mails: Mapping[int, tuple[datetime, bool]] | None = None) -> UnitProgress:
    """Where the unit stands, given its `latest_documents`; `mails`: each document's mail's
    (received_at, late) by its key, when they were read without loading the mails."""
    held = [held_of(d) for d in latest]
    shape = _shape(held, campaign, pending)
    studios = [StudioProgress(name, {kind: latest[index] for kind, index in kinds.items()})
               for name, kinds in shape.studios]
    times = ([mails[d.message_pk] for d in latest] if mails is not None
             else [(d.message.received_at, d.message.late) for d in latest])
    return UnitProgress(unit=unit, latest=latest, studios=studios, complete=shape.complete,
                        last_received=max(t for t, _late in times) if times else None,
                        late=any(late for _t, late in times), forms=shape.forms)


@dataclass(frozen=True)
class _Shape:
    """What the held forms make of a unit: its studios, whether it is complete, its forms."""

    studios: list[tuple[str, dict[str, int]]]  # studio name, kind -> index of its version
    complete: bool
    forms: list[FormState]


def _shape(held: Sequence[Held], campaign: Campaign, pending: Collection[str]) -> _Shape:
    """From the held versions (oldest first): the part of `progress_of` that needs no row."""
    index = {h: number for number, h in enumerate(held)}  # equal ones: the later wins
    names = nominated(held)
    studios: dict[str, dict[str, int]] = {name: {} for name in names}
    for kind in {h.kind for h in held if not campaign.per_unit(h.kind)}:
        matched = match_studios(names, [h for h in held if h.kind == kind])
        for name in names:
            if name in matched:
                studios[name][kind] = index[matched[name]]
    if not names:  # no usable 附件1 yet: show each named studio form on its own
        for number, h in enumerate(held):
            if not campaign.per_unit(h.kind):
                studios.setdefault(h.studio_name or "（未注明工作室名称）", {})[h.kind] = number
    summary = next((number for number, h in enumerate(held) if campaign.lists_studios(h.kind)),
                   None)
    for kinds in studios.values():
        if summary is not None:
            kinds.setdefault(held[summary].kind, summary)
    complete = bool(held) and all(h.ok for h in held) and not missing(campaign, held)
    return _Shape(list(studios.items()), complete,
                  form_states(held, len(studios), campaign, pending))


def form_states(latest: Sequence[Held], studios: int, campaign: Campaign,
                pending: Collection[str] = ()) -> list[FormState]:
    """Each form of the campaign, in the order of the rules, as held in `latest`; `studios`:
    how many the unit nominated; `pending`: the kinds received only from an address the office
    has not confirmed (待核实)."""
    states = []
    for spec in campaign.documents:
        present = [h for h in latest if h.kind == spec.key and not h.scan]
        per_unit = spec.per == "unit"
        states.append(FormState(key=spec.key, label=spec.label, per_unit=per_unit,
                                have=len(present), good=sum(1 for h in present if h.ok),
                                want=1 if per_unit else max(studios, 1),
                                unconfirmed=spec.key in pending))
    return states
