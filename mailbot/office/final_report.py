"""After the deadline: one report to the office — the workbook attached and who stands where.

Sent once: a `milestones` row is written in the same transaction as the queued mail.
"""

from __future__ import annotations

import io
from datetime import datetime

from mailbot.campaign.dossier import COMPLETE, NOT_SUBMITTED, campaign_progress
from mailbot.campaign.rules import Campaign
from mailbot.errors import ConfigError
from mailbot.office import outbox, workbook
from mailbot.office.replies import Composer
from mailbot.store.handles import Session
from mailbot.store.models import QUARANTINED, Milestone
from mailbot.store.queries import office as queries
from mailbot.timefmt import show

MILESTONE = "final-report"


def due(session: Session, campaign: Campaign, at: datetime) -> bool:
    return at > campaign.cutoff and not queries.milestone_done(session, MILESTONE)


def queue(session: Session, composer: Composer, campaign: Campaign, office_email: str,
          now: datetime) -> None:
    """Queue the final report and record that it went (the caller commits both together)."""
    if not office_email:
        raise ConfigError("the final report needs MAILBOT_OFFICE_EMAIL (`office_email`)")
    progress = campaign_progress(session, campaign)
    units = [entry.unit for entry in progress]
    complete, incomplete, silent, late = [], [], [], []
    for entry in progress:
        name = entry.unit.display_name
        if entry.status == COMPLETE:
            studios = f"（{len(entry.studios)} 个工作室）" if campaign.has_studios else ""
            complete.append(f"{name}{studios}")
        elif entry.status == NOT_SUBMITTED:
            if entry.unit.on_roster and not entry.unit.messages:
                silent.append(name)
            else:
                incomplete.append(f"{name}（来信但未附申报材料）")
        else:
            incomplete.append(name)
        if any(m.late for m in entry.unit.messages):
            late.append(name)
    quarantined = queries.count_with_result(session, QUARANTINED)
    context = {
        "office": campaign.office, "campaign": campaign.campaign,
        "deadline": show(campaign.campaign.deadline_at), "now": show(now),
        "complete": complete, "incomplete": incomplete, "silent": silent, "late": late,
        "studios": sum(len(p.studios) for p in progress),
        "paper": sum(1 for u in units if u.paper_received_at is not None),
        "quarantined": quarantined,
    }
    book = io.BytesIO()
    workbook.build(session, campaign).save(book)
    mail = composer.compose("final_report.txt.j2", context, to=office_email,
                            subject=f"【截止汇总】{campaign.campaign.title}收件情况",
                            auto_submitted="auto-generated",
                            attachment=("汇总表.xlsx", book.getvalue()))
    outbox.queue(session, mail, kind="final-report", message_pk=None)
    session.add(Milestone(key=MILESTONE, done_at=now))
