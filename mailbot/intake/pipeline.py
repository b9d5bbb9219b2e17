"""The intake of one received mail, as one short explicit pipeline:

    parse → screen (duplicate? automatic?) → route (the campaign's? else 未归类, left alone)
          → no documents? 咨询 → unit → read attachments → document checks
          → the unit's set → set checks → decide → record → queue the reply

Everything happens inside the caller's transaction; the caller commits, and only then marks the
mail handled on the server. A mail that breaks any step is quarantined (`quarantine`) by the
caller in a fresh transaction, so one bad mail never stops the poll.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.campaign import claims, routing, statuslink
from mailbot.campaign.dossier import held_of, latest_documents
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import Claim, claim_unit, name_key
from mailbot.checks import DOCUMENT_CHECKS, SET_CHECKS, Held, Submission, run_checks
from mailbot.config import Settings
from mailbot.documents import ReadDocument, read_document, studio_key
from mailbot.findings import Finding
from mailbot.intake import assignment, inquiry, screening
from mailbot.mail import addresses
from mailbot.mail.parse import Attachment, ParsedMessage, parse_message
from mailbot.office import outbox
from mailbot.office.replies import WORD_RULE, Composer, shorten
from mailbot.store import blobs
from mailbot.store.database import next_receipt
from mailbot.store.models import (
    ACCEPTED,
    CORRECTION,
    IGNORED,
    QUARANTINED,
    REVIEW_PENDING,
    UNCLASSIFIED,
    Document,
    FindingRow,
    Message,
    Reply,
    Unit,
    UnitAddress,
)
from mailbot.store.scoping import ACROSS_CAMPAIGNS, file_under
from mailbot.timefmt import show, utcnow

UNRECOGNISED_LABEL = "未识别"


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

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign  # the one the checks read for (the mail's, once routed)
        self._read: dict[tuple[int, str], ReadDocument] = {}

    def document(self, attachment: Attachment, campaign: Campaign | None = None) -> ReadDocument:
        campaign = campaign or self.campaign
        key = (id(attachment), campaign.campaign.key)
        if key not in self._read:
            self._read[key] = read_document(attachment.filename, attachment.data,
                                            attachment.format, campaign)
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
           assigned: bool = False, unit: Unit | None = None) -> tuple[Message, bool]:
    """Process one mail; returns its flushed Message row and whether it is new.

    A mail whose Message-ID is already recorded (the same mail delivered twice, or seen again
    after the server renumbered its UIDs) is not processed again. A mail for no campaign is
    recorded as 未归类 and nothing else; `assigned`: the office handed it to the campaign;
    `unit`: the office assigned it to that unit (mailbot.intake.assignment)."""
    parsed = parse_message(raw, intake.settings.own_addresses)
    if unit is not None:
        parsed, assigned = assignment.for_unit(parsed, unit), True
    existing = session.scalar(select(Message).where(Message.message_id == parsed.message_id)
                              .execution_options(**ACROSS_CAMPAIGNS))  # in any campaign
    if existing is not None:
        return existing, False
    parsed = screening.screen(session, intake.settings, parsed, omitted)  # own mail, too large
    reader = _Reader(intake.campaign)
    quoted = routing.quoted_ids(raw) if parsed.automatic else ()
    if not assigned:
        decision = route(session, intake, parsed, received_at, reader, quoted)
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
    return _process(session, intake, parsed, raw, raw_path, received_at, reader, unit), True


def route(session: Session, intake: Intake, parsed: ParsedMessage, received_at: datetime,
          reader: _Reader | None = None, quoted: tuple[str, ...] = ()) -> routing.Decision:
    """Which campaign the mail is for (routing.route), with what the database knows."""
    key = intake.campaign.campaign.key
    several = len(intake.open_campaigns) > 1

    def thread(mid: str) -> str | None:  # whichever campaign sent the reply
        found = session.scalar(select(Reply.campaign).where(Reply.smtp_message_id == mid)
                               .execution_options(**ACROSS_CAMPAIGNS))
        return None if found is None else found if several else key

    def senders(address: str) -> set[str]:  # the campaigns whose units write from there
        found = set(session.scalars(select(UnitAddress.campaign)
                                    .where(UnitAddress.address == address)
                                    .execution_options(**ACROSS_CAMPAIGNS)))
        return found if several else {key} & {key for _ in found}

    known = routing.Known(thread=thread, senders=senders)
    return routing.route(parsed, received_at, intake.open_campaigns, known,
                         shared=intake.settings.shared_mailbox,
                         recognise=(reader or _Reader(intake.campaign)).recognise,
                         quoted=quoted)


def _process(session: Session, intake: Intake, parsed: ParsedMessage, raw: bytes,
             raw_path: str, received_at: datetime, reader: _Reader,
             assigned_unit: Unit | None = None) -> Message:
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
    read = [(doc, _keep_attachment(session, intake, message, position, attachment, doc, unit,
                                   ok=not any(f.is_error and f.document == doc.filename
                                              for f in findings),
                                   unconfirmed=claim.unconfirmed))
            for position, (attachment, doc) in enumerate(zip(parsed.attachments, documents,
                                                             strict=True))]
    session.flush()

    latest = latest_documents(session, unit, intake.campaign)  # the reply lists it too
    if claim.unconfirmed:  # the unit's set is not this sender's to change: no set checks
        message.review = REVIEW_PENDING
        findings.insert(0, claims.unconfirmed_finding(message.from_addr, unit))
    else:
        this_mail = {row.id for _doc, row in read}
        held = tuple(_held(row, earlier=row.id not in this_mail) for row in latest)
        findings += run_checks(SET_CHECKS, Submission(intake.campaign, received_at, documents,
                                                      held))

    _verdict(session, intake, message, parsed, raw, unit, documents, findings, latest)
    if claim.earlier:
        claims.tell_unit(session, intake, message, unit, claim)
    session.flush()
    return message


def _verdict(session: Session, intake: Intake, message: Message, parsed: ParsedMessage,
             raw: bytes, unit: Unit, documents: tuple[ReadDocument, ...],
             findings: list[Finding], latest: list[Document]) -> None:
    """The steps after the checks: the result and its findings recorded, then the reply queued
    unless a limit holds it (or held for the office when the sender failed authentication)."""
    message.receipt_no = _next_receipt(session, intake.campaign)  # first: one UPDATE, not two
    message.late = any(f.code == "late" for f in findings)
    message.result = CORRECTION if any(f.is_error for f in findings) else ACCEPTED
    session.add_all(FindingRow(message_pk=message.id, code=f.code, severity=f.severity.value,
                               message=f.message, fix=f.fix, document=f.document or "")
                    for f in findings)
    hold = screening.reply_hold(session, intake.settings, parsed, utcnow())  # loops, limits
    unverified = screening.auth_hold(intake.settings, raw)  # answered once the office releases
    for noted in (hold, unverified):
        if noted is not None:
            session.add(FindingRow(message_pk=message.id, code=noted.code,
                                   severity=noted.severity.value, message=noted.message,
                                   fix=noted.fix))
    if hold is None:
        _queue_verdict(session, intake, message, parsed, unit, documents, findings, latest,
                       held=unverified is not None)


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


def _keep_attachment(session: Session, intake: Intake, message: Message, position: int,
                     attachment: Attachment, doc: ReadDocument, unit: Unit,
                     ok: bool, unconfirmed: bool = False) -> Document:
    """The attachment on disk, and its row (what was read in it) in the session."""
    relative = f"files/{message.id}/{_safe_name(position, attachment.filename)}"
    if not intake.dry_run:  # poll --dry-run writes no file
        store = blobs.for_session(session, intake.settings.state_dir)
        if position == 0 and isinstance(store, blobs.LocalBlobs):
            # Left by a transaction that was killed before its commit: its row never existed.
            shutil.rmtree(store.path(relative).parent, ignore_errors=True)
        store.put(relative, attachment.data, session)  # kept only if the rows are committed
    listing = intake.campaign.lists_studios(doc.kind)
    studio = doc.studios[0] if not listing and doc.studios else None
    row = Document(message_pk=message.id, unit=unit, ok=ok, position=position,
                   unconfirmed=unconfirmed,
                   filename=attachment.filename, format=attachment.format, kind=doc.kind,
                   sha256=hashlib.sha256(attachment.data).hexdigest(),
                   stored_path=relative, size=len(attachment.data),
                   word_count=doc.word_count,
                   studio_name=studio.name if studio else "",
                   studio_key=_studio_key(intake.campaign, doc),
                   unit_name=doc.unit_name or "",
                   leader=studio.leader if studio else "", phone=studio.phone if studio else "",
                   studio_keys="".join(f"|{studio_key(s.name)}" for s in doc.studios) + "|"
                   if listing and doc.studios else "",
                   studios_json=json.dumps([s.name for s in doc.studios] if listing
                                           else [], ensure_ascii=False))
    session.add(row)
    return row


def _held(row: Document, *, earlier: bool) -> Held:
    return replace(held_of(row), earlier=earlier)


def _next_receipt(session: Session, campaign: Campaign) -> str:
    number = next_receipt(session, campaign.campaign.key)  # a counter row, never COUNT(*)+1
    return f"{campaign.campaign.receipt_prefix}-{number:04d}"


def _queue_verdict(session: Session, intake: Intake, message: Message, parsed: ParsedMessage,
                   unit: Unit, documents: tuple[ReadDocument, ...],
                   findings: list[Finding], latest: list[Document], *, held: bool) -> None:
    campaign = intake.campaign
    accepted = message.result == ACCEPTED
    name = _unit_name(unit)
    context = {
        "campaign": campaign.campaign,
        "office": campaign.office,
        "greeting": shorten(name) or "老师",  # the unit, never the sender's display name
        "unit_name": shorten(name) or "贵单位",
        "received_at": show(message.received_at),
        "receipt_no": message.receipt_no,
        "deadline": show(campaign.campaign.deadline_at),
        "word_rule": WORD_RULE,
        "documents": [{"filename": d.filename or "（未命名附件）", "word_count": d.word_count,
                       "label": _label(campaign, d.kind)} for d in documents],
        "held": [_held_line(campaign, row) for row in latest],
        "errors": [f for f in findings if f.is_error],
        "warnings": [f for f in findings if not f.is_error],
        "campaign_documents": [{"display": s.display, "per": s.per, "max_words": s.max_words,
                                "formats_text": "、".join("." + f for f in s.formats)}
                               for s in campaign.documents],
        "status_url": statuslink.url_for_unit(intake.settings.public_url, unit),
    }
    template = "acknowledgement.txt.j2" if accepted else "correction.txt.j2"
    tag = "已受理" if accepted else "需补正"
    if message.review == REVIEW_PENDING:  # not 受理 whatever the forms: the office decides
        template, tag = "unconfirmed.txt.j2", "待核实"
        context["greeting"] = "老师"  # not yet known to speak for the unit it names
    topic = shorten(parsed.subject) or campaign.campaign.title
    subject = f"【{tag}】{topic}（回执编号 {message.receipt_no}）"
    # The one normalised mailbox the hourly limit counted (screening.reply_hold).
    to = addresses.key(parsed.reply_to or parsed.from_addr)
    mail = intake.composer.compose(template, context, to=to, subject=subject,
                                   in_reply_to=parsed.message_id, references=parsed.references)
    kind = "acknowledgement" if accepted else "correction"
    outbox.queue(session, mail, kind="unconfirmed" if tag == "待核实" else kind,
                 message_pk=message.id, held=held)


def _unit_name(unit: Unit) -> str:
    """The unit's name as a reply may say it: the roster's, or one the unit's own forms give
    (推荐单位). A new sender's unit may be named after its display name — attacker text — and
    is then not named at all."""
    if unit.on_roster:
        return unit.name
    named = any(name_key(d.unit_name) == unit.name_key for d in unit.documents if d.unit_name)
    return unit.name if unit.name and named else ""


def _label(campaign: Campaign, kind: str) -> str:
    return campaign.spec(kind).display if campaign.has(kind) else UNRECOGNISED_LABEL


def _held_line(campaign: Campaign, row: Document) -> str:
    listing = campaign.lists_studios(row.kind)
    studio = f"（{row.studio_name}）" if row.studio_name and not listing else ""
    # The 字数 is stated for the texts it is limited for (附件3), whatever their key.
    limited = campaign.has(row.kind) and campaign.spec(row.kind).max_words is not None
    counted = limited and row.word_count is not None
    words = f"，{row.word_count} 字" if counted else ""
    state = "" if row.ok else "，待更正"
    return f"{_label(campaign, row.kind)}{studio}：{row.filename}{words}{state}"


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
