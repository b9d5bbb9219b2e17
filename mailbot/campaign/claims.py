"""A new address speaking for a unit: told to the unit, and for a roster unit held (待核实).

CONTRACT "Replies": a sender not yet known to a unit that the roster lists with addresses does
not change that unit's set on its own. Its forms are recorded `unconfirmed` (they count for
nothing, see `progress.pick_latest`), its mail is `review = 待核实`, and the unit's known
addresses are told. The office then confirms (the address joins the unit, the forms count) or
rejects (they never count) on the dashboard. Without addresses in the roster a second address
counts at once — colleagues send pieces — and the unit's earlier addresses are only told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from mailbot.campaign.dossier import latest_documents
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import Claim, confirm_address
from mailbot.checks import mail as mail_findings
from mailbot.findings import Finding
from mailbot.office import outbox
from mailbot.office.replies import Composer
from mailbot.store.handles import Session
from mailbot.store.models import REVIEW_CONFIRMED, REVIEW_PENDING, REVIEW_REJECTED, Message, Unit
from mailbot.store.queries import units as queries
from mailbot.timefmt import show, utcnow

if TYPE_CHECKING:
    from mailbot.intake.pipeline import Intake

MAX_NOTICED = 3  # of a unit's earlier addresses, told of a new one
NOTICE_PAUSE = timedelta(hours=1)  # between two notices to one address


def unconfirmed_finding(sender: str, unit: Unit) -> Finding:
    return mail_findings.unconfirmed_sender(sender, unit.display_name)


def tell_unit(session: Session, intake: Intake, message: Message, unit: Unit,
              claim: Claim, files: Sequence[str] | None = None) -> None:
    """A notice to the unit's earlier addresses (the first MAX_NOTICED, roster ones first):
    a new address sent forms for it. `files`: the mail's file names in their order, when the
    caller holds them (else they are read back).

    Once per (unit, new address): an address that joined is known from then on, and one
    still awaiting the office does not set off a notice with every mail it sends. At most one
    notice an hour reaches one address, so a flood of new senders cannot flood the unit."""
    sender = message.from_addr
    # Asked whatever the unit: mail is held back only for a roster unit (`units.claim_unit`),
    # but a unit can leave the roster after its mail was held.
    if not sender or queries.held_back_before(session, unit.id, sender, message.id):
        return
    names = queries.attachment_names(session, message.id) if files is None else files
    context = {"office": intake.campaign.office, "campaign": intake.campaign.campaign,
               "unit_name": unit.display_name, "sender": sender,
               "received_at": show(message.received_at), "subject": message.subject,
               "files": [name or "（未命名附件）" for name in names],
               "pending": claim.unconfirmed}
    told = claim.earlier[:MAX_NOTICED]
    # Asked once for all of them: the addresses are distinct, so a notice queued below
    # cannot change the answer for another.
    recently = queries.noticed_since(session, told, utcnow() - NOTICE_PAUSE)
    for address in told:
        if address in recently:
            continue  # told within the hour already: many new addresses are one alarm
        mail = intake.composer.outgoing(
            "address_notice.txt.j2", context, to=address,
            subject=f"【告知】{unit.display_name}收到来自新邮箱 {sender} 的申报材料",
            auto_submitted="auto-generated")
        outbox.queue(session, mail, kind="address-notice", message_pk=message.id)


def awaiting_review(session: Session) -> list[Message]:
    """Mails whose sender the office still has to confirm or reject, oldest first."""
    return queries.awaiting_review(session)


def review(session: Session, campaign: Campaign, composer: Composer, message: Message,
           accept: bool) -> str:
    """The office's decision on a 待核实 mail; the sender is told. Returns the flash text."""
    unit = message.unit
    if message.review != REVIEW_PENDING or unit is None:
        return "这封邮件已经处理过了。"
    documents = queries.documents_of_message(session, message.id)
    if accept:
        confirm_address(session, unit, message.from_addr)
        for document in documents:
            document.unconfirmed = False
        # Other mail held from the same address for the same unit counts from now on too.
        for other in queries.pending_from(session, unit.id, message.from_addr, message.id):
            other.review = REVIEW_CONFIRMED
            for document in queries.documents_of_message(session, other.id):
                document.unconfirmed = False
    message.review = REVIEW_CONFIRMED if accept else REVIEW_REJECTED
    session.flush()
    held = [f"{_label(campaign, d.kind)}：{d.filename}"
            for d in latest_documents(session, unit, campaign)]
    context = {"office": campaign.office, "campaign": campaign.campaign, "accepted": accept,
               "unit_name": unit.display_name, "received_at": show(message.received_at),
               "held": held}
    to = message.reply_to or message.from_addr
    if to:
        mail = composer.compose("review_result.txt.j2", context, to=to,
                                subject=f"【{'已确认' if accept else '未能确认'}】"
                                        f"{message.subject or campaign.campaign.title}",
                                in_reply_to=message.message_id,
                                references=message.references.split())
        outbox.queue(session, mail, kind="sender-review", message_pk=message.id)
    if accept:
        return f"已确认：{message.from_addr} 为{unit.display_name}的邮箱，材料已计入。"
    return f"已驳回：{message.from_addr} 发送的材料不计入{unit.display_name}。"


def _label(campaign: Campaign, kind: str) -> str:
    return campaign.spec(kind).display if campaign.has(kind) else "未识别"
