"""The intake of one received mail, as one short explicit pipeline:

    parse → screen (duplicate? automatic?) → route (the campaign's? else 未归类, left alone)
          → no documents? 咨询 → unit → read attachments → document checks
          → the unit's set → set checks → the steps after them (`steps.AFTER_CHECKS`:
            record → keep files → hold? → queue the reply → tell the unit)

Everything happens inside the caller's transaction (the cycle's savepoint for this mail); the
caller commits, and only then marks the mail handled on the server. A mail that breaks any step
is rolled back and quarantined (`quarantine`) by the caller, so one bad mail never stops the
poll.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from mailbot.campaign import claims, routing
from mailbot.campaign.dossier import held_of
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import Claim, claim_unit
from mailbot.checks import DOCUMENT_CHECKS, SET_CHECKS, Held, Submission, run_checks
from mailbot.config import Settings
from mailbot.documents import ReadDocument, read_document, studio_key
from mailbot.intake import assignment, inquiry, screening, steps
from mailbot.intake.history import CycleMemory, ReadDocuments, UnitHistory
from mailbot.mail.parse import Attachment, ParsedMessage, parse_message
from mailbot.office.replies import Composer
from mailbot.store.handles import Session
from mailbot.store.models import (
    IGNORED,
    QUARANTINED,
    REVIEW_PENDING,
    UNCLASSIFIED,
    Document,
    Message,
    Unit,
)
from mailbot.store.queries import intake as queries
from mailbot.store.scoping import file_under
from mailbot.timefmt import utcnow


@dataclass(frozen=True)
class Intake:
    """What the pipeline needs besides the mail: settings, the campaign and the composer."""

    settings: Settings
    campaign: Campaign
    composer: Composer
    dry_run: bool = False  # `poll --dry-run`: the caller rolls back; no file is written either
    # Every campaign open on the mailbox (empty: `campaign` alone); a mail goes to one of them.
    campaigns: tuple[Campaign, ...] = ()

    @property
    def open_campaigns(self) -> tuple[Campaign, ...]:
        return self.campaigns or (self.campaign,)


class _Reader:
    """Each attachment read once, whether routing or the checks ask first."""

    def __init__(self, campaign: Campaign, documents: ReadDocuments | None = None) -> None:
        self.campaign = campaign  # the one the checks read for (the mail's, once routed)
        self._read: dict[tuple[int, str], ReadDocument] = {}
        self._documents = documents or ReadDocuments()  # the cycle's, by content

    def document(self, attachment: Attachment, campaign: Campaign | None = None) -> ReadDocument:
        campaign = campaign or self.campaign
        key = (id(attachment), campaign.campaign.key)
        if key not in self._read:
            self._read[key] = self._documents.read(read_document, attachment.filename,
                                                   attachment.data, attachment.format, campaign)
        return self._read[key]

    def recognise(self, attachment: Attachment, campaign: Campaign) -> bool:
        if routing.by_name(attachment, campaign):
            return True
        # Content only of files in the forms' formats: a personal .pdf or photo is not read.
        formats = {f for spec in campaign.documents for f in spec.formats}
        return (attachment.format in formats
                and self.document(attachment, campaign).kind != "unknown")


def handle(session: Session, intake: Intake, raw: bytes, raw_path: str,
           received_at: datetime, omitted: int = 0, *,
           assigned: bool = False, unit: Unit | None = None,
           memory: CycleMemory | None = None) -> tuple[Message, bool]:
    """Process one mail; returns its Message row (flushed: it has its id) and whether it is new.

    A mail whose Message-ID is already recorded (the same mail delivered twice, or seen again
    after the server renumbered its UIDs) is not processed again. A mail for no campaign is
    recorded as 未归类 and nothing else; `assigned`: the office handed it to the campaign;
    `unit`: the office assigned it to that unit (mailbot.intake.assignment). `memory`: what the
    cycle remembers from its earlier mails (intake.history; default: nothing)."""
    parsed = parse_message(raw, intake.settings.own_addresses)
    if unit is not None:
        parsed, assigned = assignment.for_unit(parsed, unit), True
    existing = queries.recorded_message(session, parsed.message_id)  # in any campaign
    if existing is not None:
        return existing, False
    # Whether the mail is one of our replies, or answers one: asked once for all its IDs.
    sent = queries.reply_campaigns(session, (parsed.message_id, parsed.in_reply_to or "",
                                             *parsed.references))
    parsed = screening.screen(session, intake.settings, parsed, omitted,  # own mail, too large
                              sent=sent)
    memory = memory or CycleMemory()
    reader = _Reader(intake.campaign, memory.documents)
    quoted = routing.quoted_ids(raw) if parsed.automatic else ()
    if not assigned:
        decision = route(session, intake, parsed, received_at, reader, quoted, sent)
        if decision.campaign is None:
            message = _new_message(parsed, raw, raw_path, received_at)
            message.result, message.reason = UNCLASSIFIED, "不属于本次申报（共用邮箱中的其他邮件）"
            session.add(message)
            session.flush()
            return message, True
        if decision.campaign is not intake.campaign:  # another campaign on the same mailbox
            intake = replace(intake, campaign=decision.campaign,  # its wording, its name
                             composer=intake.composer.signed(decision.campaign.office.name))
            reader.campaign = decision.campaign
            file_under(session, decision.campaign.campaign.key)
    return _process(session, intake, parsed, raw, raw_path, received_at, reader, unit,
                    memory.units), True


def route(session: Session, intake: Intake, parsed: ParsedMessage, received_at: datetime,
          reader: _Reader | None = None, quoted: tuple[str, ...] = (),
          sent: Mapping[str, str | None] | None = None) -> routing.Decision:
    """Which campaign the mail is for (routing.route), with what the database knows (`sent`:
    our replies' campaigns by Message-ID, as far as the caller asked already)."""
    key = intake.campaign.campaign.key
    several = len(intake.open_campaigns) > 1
    asked = sent or {}

    def thread(mid: str) -> str | None:  # whichever campaign sent the reply
        found = asked[mid] if mid in asked else queries.reply_campaign(session, mid)
        return None if found is None else found if several else key

    def senders(address: str) -> set[str]:  # the campaigns whose units write from there
        found = queries.sender_campaigns(session, address)
        return found if several else {key} & {key for _ in found}

    known = routing.Known(thread=thread, senders=senders)
    return routing.route(parsed, received_at, intake.open_campaigns, known,
                         shared=intake.settings.shared_mailbox,
                         recognise=(reader or _Reader(intake.campaign)).recognise,
                         quoted=quoted)


def _process(session: Session, intake: Intake, parsed: ParsedMessage, raw: bytes,
             raw_path: str, received_at: datetime, reader: _Reader,
             assigned_unit: Unit | None = None, history: UnitHistory | None = None) -> Message:
    message = _new_message(parsed, raw, raw_path, received_at)
    if parsed.automatic:
        session.add(message)
        message.result, message.reason = IGNORED, parsed.automatic
        session.flush()
        return message
    if not parsed.attachments and not parsed.findings:
        return inquiry.record(session, intake, message, parsed, raw)

    documents = tuple(reader.document(a) for a in parsed.attachments)
    campaign = intake.campaign
    # The forms that name the applying unit (推荐单位, 所在单位): by the rules, whatever the key.
    named = [doc.unit_name or "" for doc in documents
             if campaign.has(doc.kind) and campaign.spec(doc.kind).unit_label is not None]
    studios = [_studio_key(campaign, doc) for doc in documents]
    claim = Claim(assigned_unit) if assigned_unit is not None else claim_unit(
        session, intake.campaign, parsed.from_addr or parsed.reply_to, named, studios,
        parsed.from_name)
    unit = claim.unit
    message.unit = unit

    findings = run_checks(DOCUMENT_CHECKS, Submission(intake.campaign, received_at, documents, ()))
    findings[:0] = parsed.findings  # archives that could not be opened; too large to fetch
    # Recorded only now, with its unit and verdicts known: inserted whole, never updated after.
    session.add(message)
    session.flush()  # its id names the folder its files are kept in
    files = [(_document_row(intake, message, position, attachment, doc, unit,
                            ok=not any(f.is_error and f.document == doc.filename
                                       for f in findings),
                            unconfirmed=claim.unconfirmed), attachment.data)
             for position, (attachment, doc) in enumerate(zip(parsed.attachments, documents,
                                                              strict=True))]
    session.add_all(row for row, _data in files)
    session.flush()

    rows = [row for row, _data in files]
    history = history or UnitHistory()
    latest = history.latest(session, unit, campaign, rows)
    if claim.unconfirmed:  # the unit's set is not this sender's to change: no set checks
        message.review = REVIEW_PENDING
        findings.insert(0, claims.unconfirmed_finding(message.from_addr, unit))
    else:
        this_mail = {row.id for row in rows}
        held = tuple(_held(row, earlier=row.id not in this_mail) for row in latest)
        findings += run_checks(SET_CHECKS, Submission(intake.campaign, received_at, documents,
                                                      held))

    steps.run_steps(steps.Verdict(session, intake, message, parsed, raw, claim, documents,
                                  files, findings, latest, history=history))
    # What the steps wrote is flushed by the caller's next statement (the batch's, with the
    # mail's place on the server): one flush, not two.
    return message


def _new_message(parsed: ParsedMessage, raw: bytes, raw_path: str,
                 received_at: datetime) -> Message:
    return Message(message_id=parsed.message_id, received_at=received_at,
                   date_header=parsed.date_header, from_addr=parsed.from_addr,
                   from_name=parsed.from_name, reply_to=parsed.reply_to, subject=parsed.subject,
                   references=" ".join(parsed.references), raw_path=raw_path, size=len(raw),
                   result=QUARANTINED, processed_at=utcnow())


def _studio_key(campaign: Campaign, doc: ReadDocument) -> str:
    """The studio a form other than 附件1 is for, as a tolerant key ("" if it names none)."""
    listing = campaign.lists_studios(doc.kind)
    return studio_key(doc.studios[0].name) if not listing and doc.studios else ""


def _document_row(intake: Intake, message: Message, position: int, attachment: Attachment,
                  doc: ReadDocument, unit: Unit, ok: bool, unconfirmed: bool = False) -> Document:
    """The attachment's row: what was read in it, and where its file is kept (by the step
    `steps.keep_files`, after the checks)."""
    listing = intake.campaign.lists_studios(doc.kind)
    studio = doc.studios[0] if not listing and doc.studios else None
    return Document(message=message, message_pk=message.id, unit=unit, ok=ok,
                    position=position, unconfirmed=unconfirmed,
                    filename=attachment.filename, format=attachment.format, kind=doc.kind,
                    sha256=hashlib.sha256(attachment.data).hexdigest(),
                    stored_path=f"files/{message.id}/{_safe_name(position, attachment.filename)}",
                    size=len(attachment.data), word_count=doc.word_count,
                    studio_name=studio.name if studio else "",
                    studio_key=_studio_key(intake.campaign, doc),
                    unit_name=doc.unit_name or "",
                    leader=studio.leader if studio else "",
                    phone=studio.phone if studio else "",
                    studio_keys="".join(f"|{studio_key(s.name)}" for s in doc.studios) + "|"
                    if listing and doc.studios else "",
                    studios_json=json.dumps([s.name for s in doc.studios] if listing
                                            else [], ensure_ascii=False))


def _held(row: Document, *, earlier: bool) -> Held:
    return replace(held_of(row), earlier=earlier)


def _safe_name(position: int, filename: str) -> str:
    """A file name that is safe on disk: no directories, no control characters, bounded."""
    name = unicodedata.normalize("NFC", filename).replace("/", "_").replace("\\", "_")
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip(" .") or "attachment.bin"
    return f"{position:02d}-{shortened(name, 180)}"


def shortened(name: str, limit: int) -> str:
    """`name` cut to at most `limit` UTF-8 bytes, keeping its extension (".docx" tells the
    office, and every program that opens the file, what it is)."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = dot + ext if dot and stem and len(ext.encode("utf-8")) <= 16 else ""
    stem = stem if suffix else name
    budget = limit - len(suffix.encode("utf-8"))
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(" .") + suffix
