"""The steps after the checks, as one table read in one place (as `mailbot.checks` lists the
checks): what happens to a mail for a campaign once its documents and its unit's set are checked.

    AFTER_CHECKS = record → keep files → hold? → queue the reply → tell the unit

Each step works on the `Verdict` inside the mail's transaction. The step that follows them all
is the cycle's, after the commit: the mail is marked handled on the server (`intake.cycle`),
never before its record is committed. Mail that gets no verdict takes a shorter road: 忽略
(automatic), 咨询 (`intake.inquiry`), 未归类 and 隔离 (`intake.quarantine`).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailbot.campaign import claims, statuslink
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import Claim, name_key
from mailbot.documents import ReadDocument
from mailbot.findings import Finding
from mailbot.intake import screening
from mailbot.intake.history import UnitHistory
from mailbot.mail import addresses
from mailbot.mail.parse import ParsedMessage
from mailbot.office import outbox
from mailbot.office.replies import WORD_RULE, shorten
from mailbot.store import blobs
from mailbot.store.database import next_receipt
from mailbot.store.handles import Session
from mailbot.store.models import (
    ACCEPTED,
    CORRECTION,
    REVIEW_PENDING,
    Document,
    FindingRow,
    Message,
    Unit,
)
from mailbot.timefmt import show, utcnow

if TYPE_CHECKING:
    from mailbot.intake.pipeline import Intake

UNRECOGNISED_LABEL = "未识别"


@dataclass
class Verdict:
    """One mail for a campaign after its checks: what the steps read and fill in."""

    session: Session
    intake: Intake
    message: Message  # flushed: it has its id
    parsed: ParsedMessage
    raw: bytes
    claim: Claim  # its unit, and whether the sender is new to it
    documents: tuple[ReadDocument, ...]  # as read, in the mail's order
    files: list[tuple[Document, bytes]]  # each attachment's row and its content, to keep
    findings: list[Finding]  # of the documents, then of the unit's set
    latest: list[Document]  # the unit's versions that count, this mail's included
    hold: Finding | None = None  # why no reply goes out (loops, limits)
    unverified: Finding | None = None  # why the reply waits for the office (authentication)
    history: UnitHistory | None = None  # the cycle's: the unit names its documents give

    @property
    def unit(self) -> Unit:
        return self.claim.unit


Step = Callable[[Verdict], None]


def record(verdict: Verdict) -> None:
    """The result on the mail's row: 受理 or 补正, late or not, its receipt number, and one
    row per finding."""
    message, campaign = verdict.message, verdict.intake.campaign
    number = next_receipt(verdict.session, campaign.campaign.key)  # a counter row, one UPDATE
    message.receipt_no = f"{campaign.campaign.receipt_prefix}-{number:04d}"
    message.late = any(f.code == "late" for f in verdict.findings)
    message.result = CORRECTION if any(f.is_error for f in verdict.findings) else ACCEPTED
    _note(verdict, verdict.findings)


def keep_files(verdict: Verdict) -> None:
    """Each attachment kept beside its row (the state directory, or the database with a
    database server): kept only if the transaction commits. `poll --dry-run` writes none."""
    if verdict.intake.dry_run or not verdict.files:
        return
    store = blobs.for_session(verdict.session, verdict.intake.settings.state_dir)
    if isinstance(store, blobs.LocalBlobs):
        # Left by a transaction that was killed before its commit: its rows never existed.
        shutil.rmtree(store.path(verdict.files[0][0].stored_path).parent, ignore_errors=True)
    for row, data in verdict.files:
        store.put(row.stored_path, data, verdict.session)


def hold_reply(verdict: Verdict) -> None:
    """Whether the reply may go: not to a loop, a machine or over the hourly limits (no reply
    at all), and only once the office releases it when the sender failed authentication.
    Either reason is noted as a finding, for the office."""
    intake = verdict.intake
    verdict.hold = screening.reply_hold(verdict.session, intake.settings, verdict.parsed,
                                        utcnow())
    # The header alone: parsing the whole mail a second time only to reach it cost as much
    # as reading the mail did.
    verdict.unverified = screening.auth_hold(intake.settings, header_block(verdict.raw))
    _note(verdict, [f for f in (verdict.hold, verdict.unverified) if f is not None])


def queue_reply(verdict: Verdict) -> None:
    """The acknowledgement (受理), correction request (补正) or, for a sender the office has to
    confirm, the 待核实 notice, into the outbox — unless a hold stops it."""
    if verdict.hold is not None:
        return
    intake, message, parsed = verdict.intake, verdict.message, verdict.parsed
    campaign = intake.campaign
    accepted = message.result == ACCEPTED
    context = _reply_context(verdict)
    template = "acknowledgement.txt.j2" if accepted else "correction.txt.j2"
    tag, kind = ("已受理", "acknowledgement") if accepted else ("需补正", "correction")
    if message.review == REVIEW_PENDING:  # not 受理 whatever the forms: the office decides
        template, tag, kind = "unconfirmed.txt.j2", "待核实", "unconfirmed"
        context["greeting"] = "老师"  # not yet known to speak for the unit it names
    topic = shorten(parsed.subject) or campaign.campaign.title
    subject = f"【{tag}】{topic}（回执编号 {message.receipt_no}）"
    # The one normalised mailbox the hourly limit counted (screening.reply_hold).
    to = addresses.key(parsed.reply_to or parsed.from_addr)
    mail = intake.composer.outgoing(template, context, to=to, subject=subject,
                                    in_reply_to=parsed.message_id, references=parsed.references)
    outbox.queue(verdict.session, mail, kind=kind, message_pk=message.id,
                 held=verdict.unverified is not None)


def tell_unit(verdict: Verdict) -> None:
    """A new address sent forms for a unit that wrote from others: those are told."""
    if verdict.claim.earlier:
        claims.tell_unit(verdict.session, verdict.intake, verdict.message, verdict.unit,
                         verdict.claim, files=[row.filename for row, _data in verdict.files])


# The order, read here and nowhere else.
AFTER_CHECKS: tuple[Step, ...] = (
    record,  # 受理/补正, receipt number, lateness, findings: on the mail's rows
    keep_files,  # the attachments kept with their rows (only if the transaction commits)
    hold_reply,  # loops, hourly limits, failed authentication: noted as findings
    queue_reply,  # the reply into the outbox, sent after the commit (office.outbox)
    tell_unit,  # a new address for a known unit: its other addresses told
)


def run_steps(verdict: Verdict) -> None:
    """The steps, in order. No step asks the database about what an earlier step of the same
    mail wrote (a receipt number, findings, the reply), so nothing is flushed between them:
    what they write goes in one flush after them all (the pipeline's), not one per question."""
    with verdict.session.no_autoflush:
        for step in AFTER_CHECKS:
            step(verdict)


def header_block(raw: bytes) -> bytes:
    """The mail's header, up to and with the empty line that ends it (all of it if there is
    none): what a header parser reads of a mail, without the megabytes of attachments."""
    end = re.search(rb"\n\r?\n", raw)
    return raw if end is None else raw[:end.end()]


def _note(verdict: Verdict, findings: list[Finding]) -> None:
    verdict.session.add_all(
        FindingRow(message_pk=verdict.message.id, code=f.code, severity=f.severity.value,
                   message=f.message, fix=f.fix, document=f.document or "") for f in findings)


def _reply_context(verdict: Verdict) -> dict[str, object]:
    campaign, message, unit = verdict.intake.campaign, verdict.message, verdict.unit
    name = _unit_name(verdict)
    findings = verdict.findings
    return {
        "campaign": campaign.campaign,
        "office": campaign.office,
        "greeting": shorten(name) or "老师",  # the unit, never the sender's display name
        "unit_name": shorten(name) or "贵单位",
        "received_at": show(message.received_at),
        "receipt_no": message.receipt_no,
        "deadline": show(campaign.campaign.deadline_at),
        "word_rule": WORD_RULE,
        "documents": [{"filename": d.filename or "（未命名附件）", "word_count": d.word_count,
                       "label": _label(campaign, d.kind)} for d in verdict.documents],
        "held": [_held_line(campaign, row) for row in verdict.latest],
        "errors": [f for f in findings if f.is_error],
        "warnings": [f for f in findings if not f.is_error],
        "campaign_documents": [{"display": s.display, "per": s.per, "max_words": s.max_words,
                                "formats_text": "、".join("." + f for f in s.formats)}
                               for s in campaign.documents],
        "status_url": statuslink.url_for_unit(verdict.intake.settings.public_url, unit),
    }


def _unit_name(verdict: Verdict) -> str:
    """The unit's name as a reply may say it: the roster's, or one the unit's own forms give
    (推荐单位). A new sender's unit may be named after its display name — attacker text — and
    is then not named at all."""
    unit = verdict.unit
    if unit.on_roster:
        return unit.name
    given = (verdict.history.names(verdict.session, unit) if verdict.history is not None
             else {d.unit_name for d in unit.documents if d.unit_name})
    named = any(name_key(name) == unit.name_key for name in given)
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
