"""`mailbot run`: the intake cycle on an APScheduler schedule, until SIGTERM or SIGINT.

One job at a time (max_instances=1, coalesce): a slow cycle delays the next instead of
overlapping it. A failing cycle is logged and retried at the next tick; it never ends the service.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from mailbot.config import Settings
from mailbot.poller import Runtime, run_cycle
from mailbot.rules import Campaign

log = logging.getLogger(__name__)


def serve_forever(settings: Settings, campaign: Campaign) -> None:
    runtime = Runtime(settings, campaign)
    stop = threading.Event()

    def cycle() -> None:
        try:
            report = run_cycle(runtime)
            if report.mailbox_error:
                log.error("%s (retrying at the next tick)", report.mailbox_error)
            log.info("cycle: %d fetched, results %s, replies sent %d pending %d",
                     report.fetched, dict(report.results), report.replies.sent,
                     report.replies.pending)
        except Exception:
            log.exception("intake cycle failed; retrying at the next tick")

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(cycle, "interval", seconds=settings.poll_seconds, id="poll",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping after the current cycle", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    scheduler.start()
    log.info("mailbot running: polling %s every %d s", settings.imap_folder,
             settings.poll_seconds)
    stop.wait()
    scheduler.shutdown(wait=True)
    log.info("mailbot stopped")
