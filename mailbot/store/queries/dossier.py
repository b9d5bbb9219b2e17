"""What a unit's dossier is computed from (`campaign.dossier`): its documents' versions, for one
unit or for every unit of the campaign at once.

The dossier itself is pure; these functions only load. For the whole campaign they load in a
fixed number of queries whatever the number of units or mails, and leave out in SQL the
versions that can never count, so that a page of 500 units does not turn 30,000 rows into
Python objects to keep 5,500 of them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, Subquery, case, func, literal, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from mailbot.store.models import REVIEW_PENDING, Document, Message, Unit


class VersionRow(NamedTuple):
    """A document that may count, with what of its mail decides whether it does."""

    document: Document  # its `message` is not loaded: the values below are what is needed
    received_at: datetime
    late: bool  # the mail's own flag (Message.late), as shown
    on_time: bool  # received by the cutoff (deadline plus grace), compared in SQL


class CampaignVersions(NamedTuple):
    """Everything `campaign.dossier.campaign_progress` computes from."""

    units: Sequence[Unit]  # in id order, with their addresses
    versions: Sequence[VersionRow]  # all units', oldest first (received, then id)
    pending: dict[int, set[str]]  # unit id -> the kinds it holds only as 待核实


def unit_documents(session: Session, unit_id: int) -> Sequence[Document]:
    """Every document of the unit that is a form (not "unknown"), with its mail, oldest first
    (received, then id): what `pick_latest` reads."""
    # Each row's mail comes in the same query (contains_eager): asking for `row.message` one
    # row at a time was one SELECT per earlier mail of the unit.
    statement: Select[Document] = (
        select(Document).join(Message, Document.message_pk == Message.id)
        .options(contains_eager(Document.message))
        .where(Document.kind != "unknown", Document.unit_id == unit_id)
        .order_by(Message.received_at, Document.id))
    return session.scalars(statement).all()


def campaign_versions(session: Session, cutoff: datetime, per_studio: Collection[str],
                      scans: Collection[str]) -> CampaignVersions:
    """The units, and every confirmed version of a form that may still count (`_may_count`)
    as a `Document`, in a fixed number of queries."""
    ranked = _may_count(cutoff, per_studio, scans)
    found = session.execute(
        select(Document, ranked.c.received_at, ranked.c.late, ranked.c.on_time)
        .join(ranked, ranked.c.id == Document.id)
        .where(or_(ranked.c.newer == 1, ranked.c.on_time.is_(False)))
        .order_by(ranked.c.received_at, ranked.c.id))
    versions = [VersionRow(doc, received, bool(late), bool(timely))
                for doc, received, late, timely in found]
    return CampaignVersions(_units(session), versions, pending_kinds(session))


class CopyRow(NamedTuple):
    """A document that may count as plain values: what a unit's standing is computed from."""

    id: int
    unit_id: int
    kind: str
    studio_key: str
    format: str
    ok: bool
    filename: str
    studio_name: str
    studios_json: str
    received_at: datetime
    late: bool  # the mail's own flag (Message.late), as shown
    on_time: bool  # received by the cutoff (deadline plus grace), compared in SQL


class CampaignCopies(NamedTuple):
    """Everything `campaign.dossier.campaign_standings` computes from: no `Document` object."""

    units: Sequence[Unit]  # in id order, with their addresses
    copies: Sequence[CopyRow]  # all units', oldest first (received, then id)
    pending: dict[int, set[str]]  # unit id -> the kinds it holds only as 待核实


def campaign_copies(session: Session, cutoff: datetime, per_studio: Collection[str],
                    scans: Collection[str]) -> CampaignCopies:
    """As `campaign_versions`, but the versions as plain tuples of the columns the standing of
    a unit needs: what a page listing every unit reads."""
    ranked = _may_count(cutoff, per_studio, scans)
    found = session.execute(
        select(Document.id, Document.unit_id, Document.kind, Document.studio_key,
               Document.format, Document.ok, Document.filename, Document.studio_name,
               Document.studios_json, ranked.c.received_at, ranked.c.late, ranked.c.on_time)
        .join(ranked, ranked.c.id == Document.id)
        .where(or_(ranked.c.newer == 1, ranked.c.on_time.is_(False)))
        .order_by(ranked.c.received_at, ranked.c.id))
    copies = [CopyRow(pk, unit_id, kind, key or "", form, bool(ok), filename, name or "",
                      listed or "[]", received, bool(late), bool(timely))
              for (pk, unit_id, kind, key, form, ok, filename, name, listed, received, late,
                   timely) in found]
    return CampaignCopies(_units(session), copies, pending_kinds(session))


def _units(session: Session) -> Sequence[Unit]:
    return session.scalars(select(Unit).order_by(Unit.id)
                           .options(selectinload(Unit.addresses))).all()


def _may_count(cutoff: datetime, per_studio: Collection[str],
               scans: Collection[str]) -> Subquery:
    """Every confirmed version of a form of a unit, each with its mail's received_at, late and
    on_time, and `newer`: 1 for the last of its form among the on-time or the late ones.

    `per_studio`: the kinds of which a unit holds one per studio (the others, one per unit);
    `scans`: the formats of a scanned copy, which sits beside the editable file. A caller keeps
    `newer == 1 or not on_time`, leaving out the on-time versions followed by a later on-time
    version of the same form (same unit, kind, studio for a per-studio kind, scan or not): mail
    is read in order of arrival and every on-time mail comes before every late one, so such a
    version is replaced before anything could depend on it (`campaign.dossier.pick_versions`;
    tests/test_dossier_loading.py holds the result to that of the full list). Late versions
    are all kept: whether one counts depends on what came before it."""
    on_time = Message.received_at <= cutoff
    studio = (case((Document.kind.in_(list(per_studio)), func.coalesce(Document.studio_key, "")),
                   else_=literal(""))
              if per_studio else literal(""))
    return (
        select(Document.id.label("id"), Message.received_at.label("received_at"),
               Message.late.label("late"), on_time.label("on_time"),
               func.row_number().over(
                   partition_by=(Document.unit_id, Document.kind, studio,
                                 Document.format.in_(list(scans)), on_time),
                   order_by=(Message.received_at.desc(), Document.id.desc())).label("newer"))
        .join(Message, Document.message_pk == Message.id)
        .where(Document.kind != "unknown", Document.unconfirmed.is_(False),
               Document.unit_id.is_not(None))
        .subquery())


def pending_kinds(session: Session) -> dict[int, set[str]]:
    """Unit id -> the kinds of form it holds from a sender awaiting the office (待核实)."""
    pending: dict[int, set[str]] = {}
    for unit_id, kind in session.execute(
            select(Document.unit_id, Document.kind).distinct()
            .join(Message, Document.message_pk == Message.id)
            .where(Document.kind != "unknown", Document.unconfirmed.is_(True),
                   Message.review == REVIEW_PENDING, Document.unit_id.is_not(None))):
        if unit_id is not None:
            pending.setdefault(unit_id, set()).add(kind)
    return pending
