"""Deadline reminders: at each offset before the deadline, one mail to each unfinished unit.

"Unfinished" is derived, never stored: a unit still missing a form, holding a form that needs
correcting, or whose paper copy has not arrived — and every roster unit that has not written at
all. The `reminders` table records each (unit, offset) once, in the same transaction as the
queued mail, so a restart never repeats one; when several offsets are due at once (the bot was
down), only the latest is sent and the earlier ones are recorded as skipped: never two at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.campaign import statuslink
from mailbot.campaign.dossier import held_of, latest_documents
from mailbot.campaign.rules import Campaign
from mailbot.checks import mail as mail_findings
from mailbot.checks.completeness import missing
from mailbot.findings import Finding
from mailbot.office import outbox
from mailbot.office.replies import Composer
from mailbot.store.handles import Session
from mailbot.store.models import Reminder, Unit
from mailbot.store.queries import units as queries
from mailbot.timefmt import show


@dataclass(frozen=True)
class PlannedReminder:
    unit_id: int
    unit_name: str
    offset: str
    due_at: datetime
    to: tuple[str, ...]
    silent: bool  # never wrote at all
    missing: tuple[Finding, ...]
    skipped: tuple[tuple[str, datetime], ...]  # earlier offsets this one stands in for


def plan(session: Session, campaign: Campaign, at: datetime) -> list[PlannedReminder]:
    """The reminders due at `at` that have not been sent yet."""
    if at > campaign.cutoff:
        return []
    due = [(offset, moment) for offset, moment in
           campaign.reminders.schedule(campaign.campaign.deadline_at) if moment <= at]
    if not due:
        return []
    offset, moment = due[-1]
    planned = []
    for unit in queries.units_in_order(session):
        done = queries.reminder_offsets(session, unit.id)
        if offset in done:
            continue
        needs = outstanding(session, unit, campaign)
        addresses = tuple(a.address for a in unit.addresses)
        if not needs or not addresses:
            continue
        planned.append(PlannedReminder(
            unit_id=unit.id, unit_name=unit.display_name, offset=offset, due_at=moment,
            to=addresses, silent=not unit.messages, missing=tuple(needs),
            skipped=tuple(pair for pair in due[:-1] if pair[0] not in done)))
    return planned


def outstanding(session: Session, unit: Unit, campaign: Campaign) -> list[Finding]:
    """Everything the unit still owes, as findings a person can act on."""
    held = [held_of(doc) for doc in latest_documents(session, unit, campaign)]
    needs = missing(campaign, held)
    for doc in held:
        if not doc.ok:
            spec = campaign.spec(doc.kind)
            needs.append(mail_findings.unresolved_form(spec.display, doc.filename))
    if unit.paper_received_at is None:
        needs.append(mail_findings.paper_copy_missing(campaign.office.paper_copies))
    return needs


def queue(session: Session, composer: Composer, campaign: Campaign, reminder: PlannedReminder,
          reply_address: str, now: datetime, public_url: str = "") -> None:
    """Queue one reminder and record it (and the offsets it stands in for) in one go."""
    info = campaign.campaign
    paper = next((f.fix for f in reminder.missing if f.code == "paper-copy"), "")
    context = {
        "greeting": reminder.unit_name, "campaign": info, "office": campaign.office,
        "deadline": show(info.deadline_at), "time_left": _time_left(info.deadline_at - now),
        "now": show(now), "silent": reminder.silent, "paper": paper,
        "missing": reminder.missing,
        "reply_address": reply_address,
        "status_url": statuslink.url_for_unit(public_url, session.get(Unit, reminder.unit_id)),
        "campaign_documents": [{"display": s.display, "per": s.per, "max_words": s.max_words,
                                "formats_text": "、".join("." + f for f in s.formats)}
                               for s in campaign.documents],
    }
    mail = composer.compose("reminder.txt.j2", context, to=", ".join(reminder.to),
                            subject=f"【提醒】{info.title}将于 {show(info.deadline_at)} 截止",
                            auto_submitted="auto-generated")
    reply = outbox.queue(session, mail, kind="reminder", message_pk=None)
    session.flush()
    session.add(Reminder(unit_id=reminder.unit_id, offset=reminder.offset,
                         due_at=reminder.due_at, sent=True, reply_id=reply.id, created_at=now))
    session.add_all(Reminder(unit_id=reminder.unit_id, offset=offset, due_at=due_at, sent=False,
                             reply_id=None, created_at=now)
                    for offset, due_at in reminder.skipped)


def _time_left(left: timedelta) -> str:
    days, rest = divmod(max(int(left.total_seconds()), 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f" {days} 天 {hours} 小时"
    if hours:
        return f" {hours} 小时 {minutes} 分钟"
    return f" {minutes} 分钟"

