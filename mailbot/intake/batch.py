"""Recording mails: several in one database transaction, each in a savepoint of its own.

A commit waits for the disk (fsync), and with one commit per mail the waiting was a fifth of a
backfill. Here up to `BATCH_MAILS` mails, or as many as come within `BATCH_SECONDS`, share one
commit; each mail still succeeds or fails alone (its savepoint), so a mail that breaks the
pipeline is rolled back and quarantined without touching the others. The guarantees are those
of one mail per transaction:

* the raw mail is on disk (fsynced) before the commit that records it — written by a few threads
  meanwhile, since a fsync waits for the disk, not for us (`cycle.RawKeeper`);
* a mail is marked handled on the server only after the commit that recorded it (the caller
  marks what `commit` returns);
* a kill at any moment loses at most the batch's uncommitted mails, which are neither recorded
  nor marked, so the next cycle fetches and records them again;
* files written for a mail whose savepoint is rolled back are removed at once, and those of a
  batch that is rolled back with it (store.statedir);
* the received files are written by the same threads as the raw mail (their writes wait for the
  disk; a tenth of a backfill when the intake waited for them) and are all on disk before the
  commit; one that cannot be written is our storage failing: the batch is not committed.

With SQLite the batch takes the database's write lock when it starts (`begin_writing`) and holds
it until its commit, at most about `BATCH_SECONDS`: the dashboard's own writes wait that long.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from mailbot import details
from mailbot.errors import MailbotError, StateError
from mailbot.intake import pipeline, quarantine
from mailbot.intake.history import CycleMemory
from mailbot.mail.parse import BrokenMail
from mailbot.mail.safetext import one_line
from mailbot.store import statedir
from mailbot.store.handles import Session, database_failed, lost_race
from mailbot.store.models import Message
from mailbot.store.queries import intake as queries
from mailbot.store.scoping import file_under

if TYPE_CHECKING:
    from mailbot.intake.cycle import RawKeeper, Runtime

# Recording is the cycle's work: its lines keep the cycle's logger name, which operators (and
# their log filters) know.
log = logging.getLogger("mailbot.intake.cycle")

BATCH_MAILS = 50  # mails recorded under one commit, at most
BATCH_SECONDS = 1.0  # and for about this long at most: other writers wait for the lock

T = TypeVar("T")
# Failures of our own storage: never the mail's fault, so never a reason to quarantine it.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


class NotRecorded(MailbotError):
    """Not even the quarantine could record a mail (a bug of ours, not the mail's fault); the
    mail stays unmarked on the server and is tried again next cycle."""


@dataclass(frozen=True)
class Recorded:
    """One mail recorded in a batch: what the cycle counts and marks once it is committed."""

    message_pk: int
    result: str
    new: bool
    uid: int | None


def is_storage_failure(exc: BaseException) -> bool:
    """Our own disk or database failed, not the mail: never a reason to quarantine it."""
    if database_failed(exc):  # disk full, database locked, I/O error
        return True
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


class Batch:
    """One transaction over several mails (`record` each, then `commit`; a `with` block
    commits at its end and rolls back on an exception)."""

    def __init__(self, runtime: Runtime, memory: CycleMemory | None = None,
                 raws: RawKeeper | None = None) -> None:
        self.runtime = runtime
        self.memory = memory or CycleMemory()
        self.history = self.memory.units
        self.raws = raws  # the raw mails this batch records: on disk before the commit
        self.session: Session = runtime.sessions()
        try:
            self.session.begin()
            queries.begin_writing(self.session)  # with SQLite, waits for another writer
        except Exception as exc:
            self.session.close()
            if is_storage_failure(exc):  # locked past the busy timeout, disk failing
                raise StateError(f"cannot record mail: {exc}") from exc
            raise
        if raws is not None:  # the received files, too, by its threads (on disk by the commit)
            statedir.write_in_background(self.session, raws.executor)
        self.started = time.monotonic()
        self.recorded: list[Recorded] = []

    @property
    def due(self) -> bool:
        """Time to commit: enough mails, or enough time, under this transaction."""
        return (len(self.recorded) >= BATCH_MAILS
                or time.monotonic() - self.started >= BATCH_SECONDS)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is None:
            self.commit()
        else:
            self.rollback()

    def commit(self) -> list[Recorded]:
        """Commit every mail recorded so far; returns them, to count and mark."""
        try:
            if self.raws is not None:
                self.raws.wait()
            statedir.settle(self.session)
            self.session.commit()
        except Exception as exc:
            self.rollback()
            if is_storage_failure(exc):
                raise StateError(f"cannot record the mails: {exc}") from exc
            raise
        finally:
            self.session.close()
        return self.recorded

    def rollback(self) -> None:
        self.history.clear()  # what it remembered of this transaction never happened
        self.session.rollback()
        self.session.close()

    def record(self, raw: bytes, raw_path: str, received_at: datetime,
               place: tuple[str, int, int] | None = None, omitted: int = 0, *,
               new_place: bool = False) -> tuple[Message, bool]:
        """Process one mail in a savepoint of its own; (its Message, whether it is new).

        Raises StateError when our own storage fails, NotRecorded when even quarantining the
        mail failed; never for what the mail holds. Another worker recording the same mail
        at the same moment makes our savepoint fail on a unique key (its Message-ID, its UID):
        rolled back, and the mail processed once more, which now finds the other's row.
        `new_place`: the caller knows that no mail was recorded at `place` when it looked
        (`cycle.recorded_uids`), so the first attempt notes it without asking again."""
        intake = self.runtime.intake
        careful = not new_place  # asks whether the place is noted before noting it

        def process(session: Session) -> tuple[Message, bool]:
            message, new = pipeline.handle(session, intake, raw, raw_path, received_at,
                                           omitted, memory=self.memory)
            _remember_place(session, message, place, careful)
            return message, new

        def set_aside(session: Session) -> tuple[Message, bool]:
            message = quarantine.quarantine(session, intake, raw, raw_path, received_at,
                                            reason)
            _remember_place(session, message, place, careful=True)
            return message, True

        reason = ""
        for attempt in (1, 2):
            # Another worker noting the place meanwhile fails the first attempt on the place's
            # unique key, as a race on the Message-ID does; the second asks first.
            careful = careful or attempt > 1
            try:
                return self._counted(self._savepoint(process), place)
            except Exception as exc:
                if lost_race(exc) and attempt == 1:
                    log.info("%s was recorded by another worker at the same moment; checking "
                             "again", raw_path)
                    continue
                if lost_race(exc):
                    # Lost a race twice over (another worker kept committing the same rows):
                    # the mail is not at fault; it stays unmarked and is tried next cycle.
                    raise NotRecorded(one_line(f"{type(exc).__name__}: {exc}")) from exc
                if is_storage_failure(exc):
                    raise StateError(f"cannot record the mail ({raw_path}): {exc}") from exc
                reason = _quarantine_reason(self.runtime, raw_path, exc)
                break
        try:
            return self._counted(self._savepoint(set_aside), place)
        except Exception as exc:
            if is_storage_failure(exc):
                raise StateError(f"cannot record the mail ({raw_path}): {exc}") from exc
            raise NotRecorded(one_line(f"{type(exc).__name__}: {exc}")) from exc

    def _counted(self, outcome: tuple[Message, bool],
                 place: tuple[str, int, int] | None) -> tuple[Message, bool]:
        message, new = outcome
        self.recorded.append(Recorded(message.id, message.result, new,
                                      place[2] if place else None))
        return message, new

    def _savepoint(self, work: Callable[[Session], T]) -> T:
        session = self.session
        file_under(session, self.runtime.campaign.campaign.key)  # the last mail may have moved it
        written = statedir.files_written(session)
        try:
            with session.begin_nested():
                done = work(session)
                session.flush()
        except BaseException:
            self.history.forget()
            statedir.drop_files_since(session, written)  # no kept file without its row
            raise
        self.history.keep()
        return done


def _remember_place(session: Session, message: Message,
                    place: tuple[str, int, int] | None, careful: bool) -> None:
    if place is not None:
        queries.remember_place(session, message, *place, unknown=not careful)


def _quarantine_reason(runtime: Runtime, raw_path: str, exc: Exception) -> str:
    reason = f"处理时出错（{type(exc).__name__}: {exc}）"
    if isinstance(exc, BrokenMail):
        reason = f"无法自动处理：{exc}"
    # An expected outcome: one line; the traceback goes to state/mailbot.log.
    where = details.keep(runtime.settings.state_dir, f"quarantined {raw_path}: {reason}", exc)
    log.warning("quarantined %s: %s (details in %s)", raw_path, one_line(reason), where)
    return reason
