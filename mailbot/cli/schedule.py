"""The campaign's timed work: reminders before the deadline, the final report after it.

Each function is safe to call at any moment and any number of times: what has been done is in
the database (`reminders`, `milestones`), so the scheduler, a restart or `mailbot remind` can
never do it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from mailbot.campaign import reminders
from mailbot.campaign.reminders import PlannedReminder
from mailbot.intake.cycle import Runtime, run_cycle
from mailbot.office import final_report, outbox

log = logging.getLogger(__name__)


def remind(runtime: Runtime, at: datetime, *, dry_run: bool = False) -> list[PlannedReminder]:
    """The reminders due at `at`; unless `dry_run`, queue them, record them and send them."""
    with runtime.sessions() as session:
        planned = reminders.plan(session, runtime.campaign, at)
        if dry_run or not planned:
            return planned
        for reminder in planned:
            reminders.queue(session, runtime.intake.composer, runtime.campaign, reminder,
                            runtime.settings.from_address, now=at,
                            public_url=runtime.settings.public_url)
        session.commit()
    outbox.send_pending(runtime.sessions, runtime.settings)
    log.info("queued %d reminders (offset %s)", len(planned), planned[0].offset)
    return planned


def report_if_due(runtime: Runtime, now: datetime) -> bool:
    """After the deadline, once: take in the last mail, then report to the office."""
    with runtime.sessions() as session:
        if not final_report.due(session, runtime.campaign, now):
            return False
    run_cycle(runtime)  # mail received just before the deadline belongs in the report
    with runtime.sessions.begin() as session:
        if not final_report.due(session, runtime.campaign, now):
            return False
        final_report.queue(session, runtime.intake.composer, runtime.campaign,
                           runtime.settings.office_email, now)
    outbox.send_pending(runtime.sessions, runtime.settings)
    log.info("final report queued for %s", runtime.settings.office_email)
    return True
