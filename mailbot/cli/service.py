"""`mailbot run`: the service — APScheduler jobs until SIGTERM or SIGINT.

    poll       every `poll_seconds`: the intake cycle (fetch, record, replies)
    workbook   every 2 s: the workbook, when a cycle changed something and the mailbox has been
               quiet for a few seconds, or at the latest `workbook_seconds` after the change
    outbox     every minute: retry replies that could not be sent (SMTP down…)
    reminders  every minute: the reminders due now, if any (each sent once, ever)
    report     every minute: after the deadline, the final report to the office, once
    imap-idle  a thread waiting with IMAP IDLE (mailbot.mail.idle): new mail runs `poll` at once

The workbook is not written in every cycle: its cost grows with the campaign (seconds at 10,000
mails) and a reply waiting behind it would too; it is derived from the database, and the
dashboard builds its download fresh, so a lag of a few seconds loses nothing. It is written
once more when the service stops.

All jobs share one lock, so a cycle never overlaps another job (one writer for SQLite, one
IMAP session at a time); each is coalesced, so a slow job delays the next instead of piling up.
A failing job is logged and retried at its next tick: it never ends the service — except a
refused login (mailbot.mail.logins), which no retry can fix: the service stops and `mailbot run`
exits 2 with one line. Before anything starts, the logins are checked; a server out of reach
is tried again, 1 s, 2 s, 4 s… apart.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from mailbot import details
from mailbot.campaign.rules import Campaign
from mailbot.cli import schedule
from mailbot.config import Settings
from mailbot.errors import LoginRefused, MailbotError
from mailbot.intake.cycle import Runtime, run_cycle
from mailbot.mail.idle import IdleWatcher
from mailbot.mail.logins import one_line, wait_for_logins
from mailbot.office import outbox
from mailbot.timefmt import utcnow

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 60
WORKBOOK_CHECK_SECONDS = 2
QUIET_SECONDS = 3.0  # no cycle for this long: the mailbox is quiet, the workbook may be written
# After SIGTERM the running job may finish; one still running this long after (a network call
# that hangs) is abandoned: the service must stop, and every step is safe to cut (kill -9 tested).
STOP_GRACE_SECONDS = 45


class Service:
    def __init__(self, settings: Settings, campaign: Campaign,
                 campaigns: Sequence[Campaign] = ()) -> None:
        self.runtime = Runtime(settings, campaign, campaigns=campaigns)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.halt = threading.Event()  # set when the service must end: a signal, a refusal
        self.refused: LoginRefused | None = None
        self.scheduler = BackgroundScheduler(timezone=UTC)
        # IMAP IDLE: a new mail runs the same guarded cycle within seconds (mailbot.mail.idle).
        self.idle = IdleWatcher(settings, self.guarded("poll", self.cycle),
                                on_refused=self.refuse)
        self.idle_thread = threading.Thread(target=self.idle.run, name="imap-idle", daemon=True)
        # When the workbook last fell behind the database (None: it is current), and when the
        # last cycle ended; read and written under `lock`. Stale at start: written once anyway.
        self.stale_since: float | None = time.monotonic()
        self.last_cycle = 0.0

    def cycle(self) -> None:
        report = run_cycle(self.runtime, write_workbook=False)
        self.last_cycle = time.monotonic()
        if (report.fetched or report.handled) and self.stale_since is None:
            self.stale_since = self.last_cycle
        for problem in (report.mailbox_error, report.storage_error):
            if problem:
                log.error("%s (retrying at the next tick)", problem)
        log.info("cycle: %d fetched, results %s, replies sent %d, pending %d", report.fetched,
                 dict(report.results), report.replies.sent, report.replies.pending)

    def write_workbook(self, *, force: bool = False) -> None:
        """The workbook, if a cycle changed the database since it was written, once the
        mailbox is quiet or it has lagged `workbook_seconds`; `force`: whenever it is stale."""
        if self.stale_since is None:
            return
        now = time.monotonic()
        quiet = now - self.last_cycle >= QUIET_SECONDS
        overdue = now - self.stale_since >= self.runtime.settings.workbook_seconds
        if force or quiet or overdue:
            self.stale_since = None  # a cycle during the write makes it stale again
            try:
                self.runtime.write_workbook()
            except MailbotError:
                self.stale_since = now  # tried again at the next check
                raise

    def send_outbox(self) -> None:
        sent = outbox.send_pending(self.runtime.sessions, self.runtime.settings)
        if sent.sent or sent.failed:
            log.info("outbox: %d sent, %d failed, %d pending", sent.sent, sent.failed,
                     sent.pending)

    def remind(self) -> None:
        for lane in self.runtime.lanes.values():  # each campaign its own reminders
            schedule.remind(lane, utcnow())

    def report(self) -> None:
        for lane in self.runtime.lanes.values():  # and its own final report
            schedule.report_if_due(lane, utcnow())

    def guarded(self, name: str, job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            with self.lock:
                if not self.stopping.is_set():  # a stop asked while it waited: not started
                    self._logged(name, job)
        return run

    def _logged(self, name: str, job: Callable[[], None]) -> None:
        try:
            job()
        except LoginRefused as exc:  # no retry can help: end the service
            self.refuse(exc)
        except MailbotError as exc:  # a known condition: one clear line
            log.error("job %s: %s (retrying at its next tick)", name, exc)
        except Exception as exc:  # the service outlives any one bad job
            # One line in the journal; the traceback goes to state/mailbot.log.
            where = details.keep(self.runtime.settings.state_dir, f"job {name}", exc)
            log.error("job %s failed (%s: %s; details in %s); retrying at its next tick",
                      name, type(exc).__name__, one_line(str(exc)), where)

    def refuse(self, exc: LoginRefused) -> None:
        """A server refused our login: stop everything; `run` reports it (one line, exit 2)."""
        if self.refused is None:
            self.refused = exc
        self.halt.set()

    def start(self) -> None:
        now = datetime.now(UTC)
        jobs = [("poll", self.cycle, self.runtime.settings.poll_seconds),
                ("workbook", self.write_workbook, WORKBOOK_CHECK_SECONDS),
                ("outbox", self.send_outbox, HOUSEKEEPING_SECONDS),
                ("reminders", self.remind, HOUSEKEEPING_SECONDS)]
        if self.runtime.settings.office_email:
            jobs.append(("report", self.report, HOUSEKEEPING_SECONDS))
        else:
            log.warning("no MAILBOT_OFFICE_EMAIL: the final report after the deadline is off")
        for name, job, seconds in jobs:
            self.scheduler.add_job(self.guarded(name, job), "interval", seconds=seconds, id=name,
                                   max_instances=1, coalesce=True, next_run_time=now)
        self.scheduler.start()
        if self.runtime.settings.idle:
            self.idle_thread.start()

    def stop(self) -> bool:
        """Let the running job finish, then write the workbook of everything recorded; False
        when a job was still running after STOP_GRACE_SECONDS (the caller ends the process)."""
        self.stopping.set()
        self.idle.stop()
        self.scheduler.shutdown(wait=False)  # no new runs; the one running holds the lock
        if self.idle_thread.is_alive():
            self.idle_thread.join(timeout=10)
        if not self.lock.acquire(timeout=STOP_GRACE_SECONDS):
            log.error("a job was still running %d s after the stop; stopping without it",
                      STOP_GRACE_SECONDS)
            return False
        try:  # the last job: the workbook of everything recorded
            self._logged("workbook", lambda: self.write_workbook(force=True))
        finally:
            self.lock.release()
        return True


def serve_forever(settings: Settings, campaign: Campaign,
                  campaigns: Sequence[Campaign] = ()) -> None:
    """Run until SIGTERM/SIGINT. Raises LoginRefused (one line, exit 2) when a server refuses
    the configured login, at startup or later."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping after the current job", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if not wait_for_logins(settings, stop):  # nothing is written before the logins hold
        return
    service = Service(settings, campaign, campaigns)
    service.halt = stop  # a signal or a refusal: the same way out
    service.start()
    log.info("mailbot running: polling %s every %d s", settings.imap_folder,
             settings.poll_seconds)
    stop.wait()
    finished = service.stop()
    if service.refused is not None:
        raise service.refused
    log.info("mailbot stopped")
    if not finished:  # a hung job's thread would keep the interpreter from exiting
        logging.shutdown()
        os._exit(0)
