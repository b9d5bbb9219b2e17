"""One intake cycle: fetch new mail, process it, send due replies, write the workbook.

The order inside the cycle is what makes it safe to kill at any moment:
  1. the raw mail is kept (`state/raw/`, or the database: store.blobs), on disk before the
     commit that records it;
  2. it is processed and recorded in a savepoint of its own (with its reply in the outbox),
     several mails to one transaction, one commit (intake.batch);
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
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import sync_roster
from mailbot.config import Settings
from mailbot.errors import ConfigError, LoginRefused, MailboxError, StateError
from mailbot.intake import pipeline
from mailbot.intake.batch import Batch, NotRecorded, Recorded
from mailbot.intake.history import CycleMemory
from mailbot.intake.lease import FolderLease
from mailbot.intake.resync import adopt_renumbered
from mailbot.mail.fetched import FetchedMail, omission_note
from mailbot.mail.imap import Mailbox
from mailbot.office import outbox, workbook
from mailbot.office.replies import Composer
from mailbot.store import blobs, statedir
from mailbot.store.database import open_database
from mailbot.store.handles import Sessions
from mailbot.store.models import DEFAULT_CAMPAIGN, UNCLASSIFIED, Message
from mailbot.store.queries import intake as queries
from mailbot.store.scoping import scope

log = logging.getLogger(__name__)

RAW_WRITERS = 4  # threads keeping raw mail: their fsyncs overlap, and overlap our work


@dataclass
class CycleTally:
    """What one cycle did, in figures: mails fetched and recorded, replies sent, workbooks
    written, and what stopped it (`poll` prints one line of it, `run` logs one)."""

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
                 database: Sessions | None = None, reading: bool = False) -> None:
        if database is None:
            statedir.guard(settings.state_dir, settings.database)  # before anything is written
            statedir.prepare(settings.state_dir)
        self.settings = settings
        self.campaign = campaign
        self.campaigns = tuple(campaigns) or (campaign,)
        key = campaign.campaign.key
        blobs.check_files_url(settings.files_url)
        base = database or open_database(settings.database, legacy_owner(self.campaigns))
        self.sessions: Sessions = scope(base, key) if self.several else base
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


def run_cycle(runtime: Runtime, *, write_workbook: bool = True) -> CycleTally:
    """One cycle. A server or disk problem stops the fetching, not the rest: what is queued is
    still sent and the workbook still written where possible. The caller reports the errors
    (one line from `poll`, a log line from `run`). Without `write_workbook` the caller writes
    it later (`mailbot run` does, off the reply path: mailbot.cli.service)."""
    tally = CycleTally()
    try:
        _fetch_and_process(runtime, tally)
    except LoginRefused:
        raise  # retrying cannot help: the caller stops with one line (mailbot.mail.logins)
    except MailboxError as exc:
        tally.mailbox_error = str(exc)
    except StateError as exc:
        tally.storage_error = str(exc)
    for lane in runtime.lanes.values():  # each campaign's replies, then each one's workbook
        try:
            sent = outbox.send_pending(lane.sessions, lane.settings)
            for name in ("sent", "failed", "pending", "waiting"):
                setattr(tally.replies, name, getattr(tally.replies, name) + getattr(sent, name))
        except StateError as exc:
            tally.storage_error = tally.storage_error or str(exc)
    if not write_workbook:
        return tally
    for lane in runtime.lanes.values():
        try:
            written = lane.write_workbook()
            tally.workbook = tally.workbook or written
            tally.workbooks.append(written)
        except StateError as exc:
            tally.storage_error = tally.storage_error or str(exc)
    return tally


def _fetch_and_process(runtime: Runtime, tally: CycleTally) -> None:
    """Fetch under the folder's lease (store.coordination): of several workers on one
    database, one fetches a folder at a time; the others skip to sending this cycle."""
    lease = FolderLease(runtime.sessions, runtime.settings, runtime.campaign.campaign.key)
    if not lease.take():
        log.info("another worker is fetching %s; this cycle only sends", lease.name)
        tally.leased_elsewhere = True
        return
    try:
        _fetch_leased(runtime, tally, lease)
    finally:
        lease.release()


def _fetch_leased(runtime: Runtime, tally: CycleTally, lease: FolderLease) -> None:
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
                        tally, marks, lease)
        except BaseException:
            with contextlib.suppress(MailboxError):  # what was committed, if the server answers
                box.mark_all(marks)
            raise
        box.mark_all(marks)


def _record_all(runtime: Runtime, box: Mailbox, uidvalidity: int, uids: list[int],
                tally: CycleTally, marks: list[tuple[int, str]], lease: FolderLease) -> None:
    """Record the mails several to a transaction (intake.batch); after each commit, mark the
    mails it recorded on the server."""
    memory = CycleMemory()  # each unit's documents, and each file, read once this cycle
    raws = (RawKeeper(runtime.settings.state_dir, runtime.blobs)
            if isinstance(runtime.blobs, blobs.LocalBlobs) else None)
    batch: Batch | None = None
    try:
        # Several mails per round trip; one removed from the server meanwhile is left out.
        for fetched in box.fetch_all(uids, header_only_before=header_only_before(runtime)):
            # Renewed between batches only: a batch holds SQLite's write lock, which the
            # renewal (another connection) would wait for. A batch lasts about a second.
            if batch is None and not lease.still_ours():
                log.warning("the lease of %s went to another worker; it fetches the rest",
                            lease.name)
                break
            tally.fetched += 1
            batch = batch or Batch(runtime, memory, raws)
            _record_fetched(runtime, batch, box, uidvalidity, fetched, raws, tally)
            # The first mail alone: a database's first row must follow its raw mail at once,
            # or a kill would leave kept mail and an empty database (store.statedir.guard).
            if batch.due or tally.fetched == 1:
                _counted(batch.commit(), tally, marks)
                batch = None
                box.mark_all(marks)
                marks.clear()
        if batch is not None:
            _counted(batch.commit(), tally, marks)
            batch = None
    except MailboxError:
        if batch is not None:  # what is recorded stays recorded; the next cycle marks it
            _counted(batch.commit(), tally, marks)
            batch = None
        raise
    finally:
        if batch is not None:
            batch.rollback()
        if raws is not None:
            raws.close()


def _record_fetched(runtime: Runtime, batch: Batch, box: Mailbox, uidvalidity: int,
                    fetched: FetchedMail, raws: RawKeeper | None, tally: CycleTally) -> None:
    """One fetched mail: its raw kept (on disk before the batch commits), then recorded."""
    raw_path = (raws.keep(fetched.raw) if raws is not None
                else save_raw(runtime.settings.state_dir, fetched.raw, runtime.blobs))
    note = omission_note(fetched, box.folder)  # too large, or early: header only
    if note:
        runtime.blobs.put(omitted_key(raw_path), note.encode("utf-8"))
    try:
        batch.record(fetched.raw, raw_path, fetched.received_at,  # a UID not recorded yet
                     place=(box.folder, uidvalidity, fetched.uid), omitted=fetched.omitted,
                     new_place=True)
    except NotRecorded as exc:
        # One line each cycle it happens: never a silent loop, never the others' loss.
        log.error("could not record UID %d (%s), left unmarked, tried again next cycle: %s",
                  fetched.uid, raw_path, exc)
        tally.unrecorded += 1


def _counted(recorded: list[Recorded], tally: CycleTally,
             marks: list[tuple[int, str]]) -> None:
    """Committed mails counted, and those for a campaign to be marked on the server."""
    for mail in recorded:
        if mail.new:
            tally.results[mail.result] += 1
            tally.handled.append(mail.message_pk)
        else:
            tally.duplicates += 1
        if mail.result != UNCLASSIFIED and mail.uid is not None:
            marks.append((mail.uid, mail.result))


def header_only_before(runtime: Runtime) -> datetime | None:
    """In a shared mailbox, mail received before every campaign opened is nobody's: only its
    header is fetched (enough to list it as 未归类)."""
    opens = [c.campaign.opens_at for c in runtime.campaigns]
    if not runtime.settings.shared_mailbox or any(moment is None for moment in opens):
        return None
    return min(moment for moment in opens if moment is not None)


def record(runtime: Runtime, raw: bytes, raw_path: str, received_at: datetime,
           place: tuple[str, int, int] | None = None, omitted: int = 0) -> tuple[Message, bool]:
    """Process and commit one mail; (its Message, whether it is new).

    Raises StateError when our own storage fails, NotRecorded when even quarantining the mail
    failed; never for what the mail holds."""
    with Batch(runtime) as batch:
        return batch.record(raw, raw_path, received_at, place, omitted)


def recorded_uids(runtime: Runtime, folder: str, uidvalidity: int) -> dict[int, str]:
    """UIDs of this folder already recorded, with their results. Read once per cycle, not once
    per mail: a mail another process records meanwhile is still known by its Message-ID
    (`intake.handle`), so the set going stale costs a fetch, never a second record or reply."""
    with runtime.sessions() as session:
        return queries.recorded_uids(session, folder, uidvalidity)


def omitted_key(raw_path: str) -> str:
    """The note beside a raw mail kept without its body."""
    return raw_path.removesuffix(".eml") + ".omitted.txt"


def save_raw(state_dir: Path, raw: bytes, store: blobs.Blobs | None = None) -> str:
    """Keep the mail exactly as received, named by its content (in `store`: the state dir by
    default, the database with a database server); returns its key, the relative path."""
    relative = raw_key(raw)
    store = store or blobs.LocalBlobs(state_dir)
    try:
        if not store.exists(relative):
            store.put(relative, raw)
    except OSError as exc:
        raise StateError(f"cannot keep the raw mail in {state_dir}: "
                         f"{exc.strerror or exc}") from exc
    return relative


def raw_key(raw: bytes) -> str:
    """Where a raw mail is kept: named by its content, so the same mail is kept once."""
    digest = hashlib.sha256(raw).hexdigest()
    return f"raw/{digest[:2]}/{digest}.eml"


class RawKeeper:
    """Raw mail kept by a few threads while the intake goes on; `wait` before the commit that
    records them. The same mail twice (one content, one key) is written once."""

    def __init__(self, state_dir: Path, store: blobs.Blobs) -> None:
        self.state_dir, self.store = state_dir, store
        self._pool = ThreadPoolExecutor(RAW_WRITERS, thread_name_prefix="raw")
        self._pending: dict[str, Future[str]] = {}

    def keep(self, raw: bytes) -> str:
        """Start keeping `raw`; returns its key at once (the name comes from the content)."""
        key = raw_key(raw)
        if key not in self._pending:
            self._pending[key] = self._pool.submit(save_raw, self.state_dir, raw, self.store)
        return key

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Its threads, which write a batch's received files too (store.statedir)."""
        return self._pool

    def wait(self) -> None:
        """Every mail started is on disk; raises StateError (the first) if one could not be."""
        pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
