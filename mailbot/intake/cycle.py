"""One intake cycle: fetch new mail, process it, send due replies, write the workbook.

The order inside the cycle is what makes it safe to kill at any moment:
  1. the raw mail is kept (`state/raw/`, or the database: store.blobs) before anything else;
  2. it is processed and recorded in one database transaction (with its reply in the outbox);
  3. only after that commit is it marked handled on the server;
  4. the outbox is sent; 5. the workbook is rewritten atomically.
Several workers may run this cycle against one database server: the folder is fetched under
its lease (one worker at a time, `FolderLease`), and a mail two workers record at once is one
row all the same (its Message-ID is unique: the loser rolls back and finds the winner's row).
Replies go before the workbook because rewriting it grows with the campaign, and an applicant's
reply must not wait for that; the workbook is derived from the database, so it can always be
written later (the next cycle, or `mailbot export`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailbot import details
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import sync_roster
from mailbot.config import Settings
from mailbot.errors import ConfigError, LoginRefused, MailbotError, MailboxError, StateError
from mailbot.intake import pipeline, quarantine
from mailbot.intake.lease import FolderLease
from mailbot.intake.resync import adopt_renumbered
from mailbot.mail.fetched import omission_note
from mailbot.mail.imap import Mailbox
from mailbot.mail.parse import BrokenMail
from mailbot.mail.safetext import one_line
from mailbot.office import outbox, workbook
from mailbot.office.replies import Composer
from mailbot.store import blobs, statedir
from mailbot.store.database import open_database
from mailbot.store.models import DEFAULT_CAMPAIGN, UNCLASSIFIED, MailboxUid, Message
from mailbot.store.scoping import ACROSS_CAMPAIGNS, scope

log = logging.getLogger(__name__)

# Failures of our own storage: never the mail's fault, so never a reason to quarantine it.
MARK_EVERY = 50  # recorded mails marked on the server in one STORE
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _is_storage_failure(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):  # disk full, database locked, I/O error
        return True
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


@dataclass
class CycleReport:
    fetched: int = 0
    duplicates: int = 0
    results: Counter[str] = field(default_factory=Counter)
    replies: outbox.SendReport = field(default_factory=outbox.SendReport)
    workbook: Path | None = None  # the first campaign's
    workbooks: list[Path] = field(default_factory=list)  # one per campaign
    mailbox_error: str = ""
    storage_error: str = ""
    handled: list[int] = field(default_factory=list)  # Message primary keys, in order
    unrecorded: int = 0  # mails that could not even be quarantined: unmarked, tried next cycle
    leased_elsewhere: bool = False  # another worker was fetching the folder


class Runtime:
    """Everything a cycle needs, built once: settings, campaign, database, composer.

    With several campaigns on the mailbox (`campaigns`), this is the first one's and `lanes`
    holds one Runtime per campaign, each seeing only its campaign's rows (store.scoping); the
    intake routes each mail to one of them."""

    def __init__(self, settings: Settings, campaign: Campaign, *,
                 campaigns: Sequence[Campaign] = (),
                 database: sessionmaker[Session] | None = None, reading: bool = False) -> None:
        if database is None:
            statedir.guard(settings.state_dir, settings.database)  # before anything is written
            statedir.prepare(settings.state_dir)
        self.settings = settings
        self.campaign = campaign
        self.campaigns = tuple(campaigns) or (campaign,)
        key = campaign.campaign.key
        blobs.check_files_url(settings.files_url)
        base = database or open_database(settings.database, legacy_owner(self.campaigns))
        self.sessions: sessionmaker[Session] = scope(base, key) if self.several else base
        self.blobs = blobs.store_for(self.sessions.kw["bind"], settings.state_dir, settings)
        composer = Composer(settings.templates_dir, settings.from_address or "mailbot@localhost",
                            campaign.office.name)
        self.intake = pipeline.Intake(settings, campaign, composer, campaigns=self.campaigns)
        if not reading:  # a reader (`status`) adds no roster unit: it counts them unsaved
            with self.sessions.begin() as session:
                sync_roster(session, campaign)
        self.lanes: dict[str, Runtime] = {key: self}
        if database is None:
            for other in self.campaigns:
                if other.campaign.key != key:
                    self.lanes[other.campaign.key] = Runtime(
                        settings, other, campaigns=self.campaigns, database=base,
                        reading=reading)

    @property
    def several(self) -> bool:
        return len(self.campaigns) > 1

    def lane(self, key: str | None) -> Runtime:
        """The campaign `key`'s Runtime (None: this one, when it is the only campaign)."""
        if key is None and not self.several:
            return self
        if key is not None and key in self.lanes:
            return self.lanes[key]
        keys = "、".join(self.lanes)
        if key is None:
            raise ConfigError(f"配置了多个活动，请用 --campaign 指定其一：{keys}")
        raise ConfigError(f"没有活动 {key!r}；已配置的活动：{keys}")

    @property
    def workbook_path(self) -> Path:
        """state/汇总表.xlsx, or with several campaigns state/<key>/汇总表.xlsx."""
        path = self.settings.workbook_path
        return path.parent / self.campaign.campaign.key / path.name if self.several else path

    def write_workbook(self, path: Path | None = None) -> Path:
        target = path or self.workbook_path
        try:
            with self.sessions() as session:
                return workbook.write(session, self.campaign, target)
        except OSError as exc:
            raise StateError(f"cannot write the workbook {target}: {exc.strerror or exc}"
                             ) from exc


def legacy_owner(campaigns: Sequence[Campaign]) -> str:
    """The campaign rows of release 0.1 (one campaign, no key stored) are filed under when the
    database is upgraded: that release's campaign when it is configured, else the first —
    never whichever one a command happens to be asked about."""
    keys = [c.campaign.key for c in campaigns]
    return DEFAULT_CAMPAIGN if DEFAULT_CAMPAIGN in keys else keys[0]


def run_cycle(runtime: Runtime, *, write_workbook: bool = True) -> CycleReport:
    """One cycle. A server or disk problem stops the fetching, not the rest: what is queued is
    still sent and the workbook still written where possible. The caller reports the errors
    (one line from `poll`, a log line from `run`). Without `write_workbook` the caller writes
    it later (`mailbot run` does, off the reply path: mailbot.cli.service)."""
    report = CycleReport()
    try:
        _fetch_and_process(runtime, report)
    except LoginRefused:
        raise  # retrying cannot help: the caller stops with one line (mailbot.mail.logins)
    except MailboxError as exc:
        report.mailbox_error = str(exc)
    except StateError as exc:
        report.storage_error = str(exc)
    for lane in runtime.lanes.values():  # each campaign's replies, then each one's workbook
        try:
            sent = outbox.send_pending(lane.sessions, lane.settings)
            for name in ("sent", "failed", "pending", "waiting"):
                setattr(report.replies, name, getattr(report.replies, name) + getattr(sent, name))
        except StateError as exc:
            report.storage_error = report.storage_error or str(exc)
    if not write_workbook:
        return report
    for lane in runtime.lanes.values():
        try:
            written = lane.write_workbook()
            report.workbook = report.workbook or written
            report.workbooks.append(written)
        except StateError as exc:
            report.storage_error = report.storage_error or str(exc)
    return report


def _fetch_and_process(runtime: Runtime, report: CycleReport) -> None:
    """Fetch under the folder's lease (store.coordination): of several workers on one
    database, one fetches a folder at a time; the others skip to sending this cycle."""
    lease = FolderLease(runtime.sessions, runtime.settings, runtime.campaign.campaign.key)
    if not lease.take():
        log.info("another worker is fetching %s; this cycle only sends", lease.name)
        report.leased_elsewhere = True
        return
    try:
        _fetch_leased(runtime, report, lease)
    finally:
        lease.release()


def _fetch_leased(runtime: Runtime, report: CycleReport, lease: FolderLease) -> None:
    settings = runtime.settings
    with Mailbox(settings) as box:
        uidvalidity = box.open_folder()
        pending = box.pending_uids()
        adopt_renumbered(runtime.sessions, box, uidvalidity, pending)  # new UIDVALIDITY
        recorded = recorded_uids(runtime, box.folder, uidvalidity)
        # Recorded by a run that stopped before marking it; 未归类 mail is never marked.
        box.mark_all([(uid, "") for uid in pending
                      if uid in recorded and recorded[uid] != UNCLASSIFIED])
        # Marks go in batches, each mail's only after its commit: a stop in between leaves
        # recorded mail unmarked, which the next cycle marks (above) without recording again.
        marks: list[tuple[int, str]] = []
        try:
            _record_all(runtime, box, uidvalidity, [u for u in pending if u not in recorded],
                        report, marks, lease)
        except BaseException:
            with contextlib.suppress(MailboxError):  # what was committed, if the server answers
                box.mark_all(marks)
            raise
        box.mark_all(marks)


def _record_all(runtime: Runtime, box: Mailbox, uidvalidity: int, uids: list[int],
                report: CycleReport, marks: list[tuple[int, str]], lease: FolderLease) -> None:
    settings = runtime.settings
    # Several mails per round trip; one removed from the server meanwhile is left out.
    for fetched in box.fetch_all(uids, header_only_before=header_only_before(runtime)):
        if not lease.still_ours():
            log.warning("the lease of %s went to another worker; it fetches the rest",
                        lease.name)
            return
        uid = fetched.uid
        report.fetched += 1
        raw_path = save_raw(settings.state_dir, fetched.raw, runtime.blobs)
        note = omission_note(fetched, box.folder)  # too large, or early: header only
        if note:
            runtime.blobs.put(omitted_key(raw_path), note.encode("utf-8"))
        try:
            message, new = record(runtime, fetched.raw, raw_path, fetched.received_at,
                                  place=(box.folder, uidvalidity, uid),
                                  omitted=fetched.omitted)
        except NotRecorded as exc:
            # One line each cycle it happens: never a silent loop, never the others' loss.
            log.error("could not record UID %d (%s), left unmarked, tried again next "
                      "cycle: %s", uid, raw_path, exc)
            report.unrecorded += 1
            continue
        if new:
            report.results[message.result] += 1
            report.handled.append(message.id)
        else:
            report.duplicates += 1
        if message.result != UNCLASSIFIED:
            marks.append((uid, message.result))
            if len(marks) >= MARK_EVERY:
                box.mark_all(marks)
                marks.clear()


def header_only_before(runtime: Runtime) -> datetime | None:
    """In a shared mailbox, mail received before every campaign opened is nobody's: only its
    header is fetched (enough to list it as 未归类)."""
    opens = [c.campaign.opens_at for c in runtime.campaigns]
    if not runtime.settings.shared_mailbox or any(moment is None for moment in opens):
        return None
    return min(moment for moment in opens if moment is not None)


class NotRecorded(MailbotError):
    """Not even the quarantine could record a mail (a bug of ours, not the mail's fault); the
    mail stays unmarked on the server and is tried again next cycle."""


def record(runtime: Runtime, raw: bytes, raw_path: str, received_at: datetime,
           place: tuple[str, int, int] | None = None, omitted: int = 0) -> tuple[Message, bool]:
    """Process and commit one mail; (its Message, whether it is new).

    Raises StateError when our own storage fails, NotRecorded when even quarantining the mail
    failed; never for what the mail holds."""
    try:
        return _record_once(runtime, raw, raw_path, received_at, place, omitted)
    except Exception as exc:
        if isinstance(exc, IntegrityError):
            # Lost a race twice over (another worker kept committing the same rows): the
            # mail is not at fault; it stays unmarked and is tried again next cycle.
            raise NotRecorded(one_line(f"{type(exc).__name__}: {exc}")) from exc
        if _is_storage_failure(exc):
            # Our own disk or database failed, not the mail: stop, leave it unmarked, retry.
            raise StateError(f"cannot record the mail ({raw_path}): {exc}") from exc
        reason = f"处理时出错（{type(exc).__name__}: {exc}）"
        if isinstance(exc, BrokenMail):
            reason = f"无法自动处理：{exc}"
        # An expected outcome: one line; the traceback goes to state/mailbot.log.
        where = details.keep(runtime.settings.state_dir, f"quarantined {raw_path}: {reason}", exc)
        log.warning("quarantined %s: %s (details in %s)", raw_path, one_line(reason), where)
    try:
        with runtime.sessions.begin() as session:
            message = quarantine.quarantine(session, runtime.intake, raw, raw_path, received_at,
                                          reason)
            _remember_place(session, message, place)
            return message, True
    except Exception as exc:
        if _is_storage_failure(exc):
            raise StateError(f"cannot record the mail ({raw_path}): {exc}") from exc
        raise NotRecorded(one_line(f"{type(exc).__name__}: {exc}")) from exc


def _record_once(runtime: Runtime, raw: bytes, raw_path: str, received_at: datetime,
                 place: tuple[str, int, int] | None, omitted: int) -> tuple[Message, bool]:
    """Process and commit one mail. Another worker recording the same mail at the same moment
    makes our commit fail on a unique key (its Message-ID, its UID): rolled back, and the mail
    processed once more, which now finds the other's row and records nothing."""
    for attempt in (1, 2):
        try:
            with runtime.sessions.begin() as session:
                message, new = pipeline.handle(session, runtime.intake, raw, raw_path,
                                               received_at, omitted)
                _remember_place(session, message, place)
                return message, new
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("%s was recorded by another worker at the same moment; checking again",
                     raw_path)
    raise AssertionError("unreachable")


def _remember_place(session: Session, message: Message,
                    place: tuple[str, int, int] | None) -> None:
    if place is None:
        return
    folder, uidvalidity, uid = place
    known = session.scalar(select(MailboxUid).where(
        MailboxUid.folder == folder, MailboxUid.uidvalidity == uidvalidity, MailboxUid.uid == uid))
    if known is None:
        session.add(MailboxUid(folder=folder, uidvalidity=uidvalidity, uid=uid,
                               message_pk=message.id))


def recorded_uids(runtime: Runtime, folder: str, uidvalidity: int) -> dict[int, str]:
    """UIDs of this folder already recorded, with their results. Read once per cycle, not once
    per mail: a mail another process records meanwhile is still known by its Message-ID
    (`intake.handle`), so the set going stale costs a fetch, never a second record or reply."""
    with runtime.sessions() as session:
        return {uid: result for uid, result in session.execute(
            select(MailboxUid.uid, Message.result).join(Message)
            .where(MailboxUid.folder == folder, MailboxUid.uidvalidity == uidvalidity)
            .execution_options(**ACROSS_CAMPAIGNS))}


def omitted_key(raw_path: str) -> str:
    """The note beside a raw mail kept without its body."""
    return raw_path.removesuffix(".eml") + ".omitted.txt"


def save_raw(state_dir: Path, raw: bytes, store: blobs.Blobs | None = None) -> str:
    """Keep the mail exactly as received, named by its content (in `store`: the state dir by
    default, the database with a database server); returns its key, the relative path."""
    digest = hashlib.sha256(raw).hexdigest()
    relative = f"raw/{digest[:2]}/{digest}.eml"
    store = store or blobs.LocalBlobs(state_dir)
    try:
        if not store.exists(relative):
            store.put(relative, raw)
    except OSError as exc:
        raise StateError(f"cannot keep the raw mail in {state_dir}: "
                         f"{exc.strerror or exc}") from exc
    return relative
