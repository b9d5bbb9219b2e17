"""The campaign's timed work: reminders before the deadline, the final report after it.

Each function is safe to call at any moment and any number of times: what has been done is in
the database (`reminders`, `milestones`), so the scheduler, a restart or `mailbot remind` can
never do it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from mailbot.campaign import reminders
from mailbot.campaign.reminders import PlannedReminder
from mailbot.intake.cycle import Runtime, run_cycle
from mailbot.office import final_report, outbox
from mailbot.store.queries.operations import commit_once

log = logging.getLogger(__name__)


def remind(runtime: Runtime, at: datetime, *, dry_run: bool = False) -> list[PlannedReminder]:
    """The reminders due at `at`; unless `dry_run`, queue them, record them and send them."""
    with runtime.sessions() as session:
        planned = reminders.plan(session, runtime.campaign, at)
        if dry_run or not planned:
            return planned
        queued = []
        for reminder in planned:
            record = partial(reminders.queue, session, runtime.intake.composer,
                             runtime.campaign, reminder, runtime.settings.from_address, now=at,
                             public_url=runtime.settings.public_url)
            if commit_once(session, record):
                queued.append(reminder)
            else:
                # Another worker queued this reminder at the same moment: its unique key
                # (unit, offset) lets one commit win; ours is rolled back, not sent twice.
                log.info("reminder %s for unit %s already queued by another worker",
                         reminder.offset, reminder.unit_id)
    outbox.send_pending(runtime.sessions, runtime.settings)
    log.info("queued %d of %d reminders due", len(queued), len(planned))
    return queued


def report_if_due(runtime: Runtime, now: datetime) -> bool:
    """After the deadline, once: take in the last mail, then report to the office."""
    with runtime.sessions() as session:
        if not final_report.due(session, runtime.campaign, now):
            return False
    run_cycle(runtime)  # mail received just before the deadline belongs in the report
    with runtime.sessions() as session:
        if not final_report.due(session, runtime.campaign, now):
            return False
        if not commit_once(session, partial(final_report.queue, session,
                                            runtime.intake.composer, runtime.campaign,
                                            runtime.settings.office_email, now)):
            log.info("the final report was queued by another worker at the same moment")
            return False  # its milestone is unique: one commit wins, ours rolled back
    outbox.send_pending(runtime.sessions, runtime.settings)
    log.info("final report queued for %s", runtime.settings.office_email)
    return True
