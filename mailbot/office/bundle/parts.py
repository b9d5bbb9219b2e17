"""What goes into the print bundle, in the order of the forms: per unit its 附件1, then for each
studio (in the order of the unit's 附件1) its 附件2 and 附件3, each editable file before its scan.

The versions are the ones that count (`progress`), as in materials.zip and the workbook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mailbot.campaign.dossier import UnitProgress, all_progress
from mailbot.campaign.rules import Campaign
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.documents import studio_key
from mailbot.store import blobs
from mailbot.store.blobs import Kept
from mailbot.store.handles import Session
from mailbot.store.models import Document
from mailbot.store.queries import office as queries


@dataclass(frozen=True)
class Part:
    unit: str
    label: str  # 附件1, 附件2, 附件3 (the rules' labels), or 未识别
    title: str  # 推荐汇总表…, as the rules name the form
    studio: str  # the studio it is for; "" for a form per unit
    filename: str  # as the sender named it
    path: Kept  # the stored file (store.blobs)
    format: str  # detected from the content: docx, xlsx, doc, pdf, png…


def unit_parts(session: Session, campaign: Campaign, state_dir: Path,
               unit_id: int | None = None) -> list[Part]:
    """The files of one unit (`unit_id`) or of every unit with files, in bundle order."""
    found: list[Part] = []
    store = blobs.for_session(session, state_dir)
    for progress in _progress(session, campaign, unit_id):
        found += [_part(doc, progress, campaign, store) for doc in ordered(progress, campaign)]
    return found


def ordered(progress: UnitProgress, campaign: Campaign) -> list[Document]:
    """The unit's counting versions in the order of the forms (see the module docstring)."""
    placed: list[Document] = []

    def place(docs: Sequence[Document | None]) -> None:
        for doc in docs:
            if doc is not None and all(doc is not seen for seen in placed):
                placed.append(doc)

    by_kind = [spec for spec in campaign.documents]
    for spec in by_kind:
        if spec.per == "unit":
            place(_editable_first([d for d in progress.latest if d.kind == spec.key]))
    for studio in progress.studios:
        key = studio_key(studio.name)
        for spec in by_kind:
            if spec.per != "unit":
                place([studio.doc(spec.key)])
                place([d for d in progress.latest if d.kind == spec.key
                       and d.format in SCAN_FORMATS and d.studio_key == key])
    # What matched no studio (a form naming another studio, a scan naming none) comes last.
    order: dict[str, int] = {spec.key: index for index, spec in enumerate(by_kind)}
    rest: list[Document] = sorted(progress.latest, key=lambda d: order.get(d.kind, len(order)))
    place(rest)
    return placed


def _editable_first(docs: list[Document]) -> list[Document]:
    return sorted(docs, key=lambda d: d.format in SCAN_FORMATS)


def _part(doc: Document, progress: UnitProgress, campaign: Campaign, store: blobs.Blobs) -> Part:
    known = campaign.has(doc.kind)
    spec = campaign.spec(doc.kind) if known else None
    studio = "" if spec is None or spec.per == "unit" else _studio_of(doc, progress)
    return Part(unit=progress.unit.display_name, label=spec.label if spec else "未识别",
                title=spec.title if spec else "", studio=studio, filename=doc.filename,
                path=Kept(store, doc.stored_path), format=doc.format)


def _studio_of(doc: Document, progress: UnitProgress) -> str:
    for studio in progress.studios:
        if any(held is doc for held in studio.documents.values()):
            return studio.name
    return doc.studio_name


def _progress(session: Session, campaign: Campaign, unit_id: int | None) -> list[UnitProgress]:
    units, documents = queries.units_with_documents(session, unit_id)
    return [p for p in all_progress(units, documents, campaign) if p.latest]
