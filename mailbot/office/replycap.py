"""The global hourly cap: the bot as a whole never sends more than `reply_limit_total_per_hour`.

The per-mailbox limit (`mailbot.intake.screening`) stops one address being flooded; this stops
the bot
being used to flood many — a burst of forged mail, each from another victim's address. Counted
by the wall clock: replies *sent* in the last hour. Above the cap, replies are not dropped: they
stay pending, oldest first, and go out as the hour rolls on.

The office is told once per exceedance, not once per reply: the first time replies have to wait,
a notice is queued (and sent at once: it is the one mail the cap never holds back, and it does not
count towards it) and the milestone `reply-cap-notified` is recorded; the first run that finds
nothing waiting for the cap deletes the milestone, so the next exceedance is told again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage

from mailbot.config import Settings
from mailbot.mail import addresses
from mailbot.office.replies import Composer
from mailbot.store.handles import Session
from mailbot.store.models import Milestone
from mailbot.store.queries import outbox as queries
from mailbot.store.queries.office import milestone_done

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
NOTICE_KIND = "office-cap"
NOTICE_KEY = "reply-cap-notified"
NOTICE_SENDER_NAME = "申报收件系统"


def sent_recently(session: Session, now: datetime) -> int:
    """Mail sent in the hour before `now`, the cap's own notices aside."""
    return queries.sent_since(session, now - WINDOW, besides_kind=NOTICE_KIND)


def plan(session: Session, settings: Settings, pending: list[int],
         now: datetime) -> tuple[list[int], EmailMessage | None]:
    """Which of the `pending` replies (oldest first) may go now — the rest wait — and the
    notice to the office to queue first, when replies start waiting. The caller commits."""
    limit = settings.reply_limit_total_per_hour
    sent = sent_recently(session, now)
    room = max(limit - sent, 0)
    chosen, waiting = pending[:room], len(pending) - room
    if waiting <= 0:
        queries.forget_milestone(session, NOTICE_KEY)
        return pending, None
    log.warning("hourly cap of %d replies reached (%d sent in the last hour): %d replies wait",
                limit, sent, waiting)
    if milestone_done(session, NOTICE_KEY):
        return chosen, None  # the office already knows about this exceedance
    session.add(Milestone(key=NOTICE_KEY, done_at=now))
    if not settings.office_email:
        log.warning("no office e-mail configured: nobody is told that replies wait for the cap")
        return chosen, None
    composer = Composer(settings.templates_dir, settings.from_address, NOTICE_SENDER_NAME)
    context = {"sent": sent, "waiting": waiting, "limit": limit}
    subject = f"【请留意】一小时内自动回复已达上限，{waiting} 封回复排队等待"
    notice = composer.compose("reply_cap_office.txt.j2", context,
                              to=addresses.key(settings.office_email), subject=subject,
                              auto_submitted="auto-generated")
    return chosen, notice
