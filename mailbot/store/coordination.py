"""Several workers on one database: leases for a mailbox folder, claims on replies.

Why rows and not PostgreSQL advisory locks: an advisory lock lives as long as one connection,
which a pooled engine does not keep for a whole cycle, and SQLite has none; a row with a holder
and an expiry works the same on both, shows on the dashboard's database who holds what, and is
taken with one atomic conditional UPDATE (or INSERT, whose primary key lets only one win).

Leases and claims only spare work and keep replies single: correctness under any race rests on
the unique keys (a Message-ID is recorded once, a reminder once per unit and offset, the final
report once), which turn the loser's commit into an IntegrityError that is rolled back.

A holder is `host/boot-pidns:pid`. Its lease or claim expires after a while (a machine that
died); on the same host a holder whose process is gone (kill -9) is taken over at once.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailbot.store.models import Lease, Reply
from mailbot.timefmt import utcnow

LEASE_SECONDS = 60  # a folder whose worker died is taken over within a minute
# A reply's claim outlives any one SMTP transaction (four commands of 30 s at most).
CLAIM_SECONDS = 180


@cache
def _here() -> str:
    """This machine and PID namespace: a pid means the same process only within both (two
    containers may share a host name, never a boot id and a PID namespace)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()[:64]  # no /proc: never judged gone, only expired
    return f"{socket.gethostname()[:64]}/{boot}-{namespace}"


def holder(pid: int | None = None) -> str:
    """This process (or process `pid` of this machine), as other workers see it: with its start
    time, since a busy machine hands a dead process's pid to another within minutes."""
    pid = pid or os.getpid()
    return f"{_here()}:{pid}.{_started(pid)}"


def _started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot), "" if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # field 22, counted after the command name


def gone(name: str) -> bool:
    """Whether `name` is a holder on this machine (and PID namespace) whose process is gone:
    no such pid, or a newer process under the same pid."""
    here, _, process = name.rpartition(":")
    pid, _, started = process.partition(".")
    if here != _here() or "/" not in here or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return _started(int(pid)) != started


def take_lease(session: Session, name: str, seconds: int = LEASE_SECONDS,
               now: datetime | None = None) -> bool:
    """Take or renew the lease `name` for this process, in its own transaction; whether it is
    ours now. Free, expired, ours already, or its holder's process gone: it is taken."""
    now = now or utcnow()
    me, until = holder(), now + timedelta(seconds=seconds)
    with session.begin():
        current = session.execute(select(Lease.holder, Lease.expires_at)
                                  .where(Lease.name == name)).first()
        if current is None:
            dialect = session.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            added = session.execute(insert(Lease).values(name=name, holder=me, expires_at=until)
                                    .on_conflict_do_nothing(index_elements=["name"]))
            return bool(added.rowcount)  # type: ignore[attr-defined]  # 0: another was first
        other, expires = current
        if other != me and expires > now and not gone(other):
            return False
        # Conditional on what we read: of two workers taking over at once, one updates.
        taken = session.execute(update(Lease).where(
            Lease.name == name, Lease.holder == other, Lease.expires_at == expires)
            .values(holder=me, expires_at=until))
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str) -> None:
    """Give the lease up (a clean stop), so another worker takes it at once."""
    with session.begin():
        session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder())
                        .values(expires_at=utcnow() - timedelta(seconds=1)))


def claim_replies(session: Session, reply_ids: list[int],
                  now: datetime | None = None) -> list[Reply]:
    """Claim pending replies for sending and count an attempt on each, in the caller's
    transaction (two statements, however many); the rows claimed, in the order asked.

    A reply is claimable when nobody holds it, its claim expired, or its holder's process is
    gone (kill -9: void at once). PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` passes over
    a reply another worker is claiming right now. SQLite has one writer at a time. Either way
    the UPDATE is conditional on the holder seen, so only one worker gets each reply."""
    now = now or utcnow()
    stale = now - timedelta(seconds=CLAIM_SECONDS)
    seen = select(Reply.id, Reply.claimed_by, Reply.claimed_at).where(
        Reply.id.in_(reply_ids), Reply.status == "pending")
    if session.get_bind().dialect.name == "postgresql":
        seen = seen.with_for_update(skip_locked=True)
    # Grouped by the holder seen, and whether its process is gone (asked once per row).
    by_holder: dict[tuple[str, bool], list[int]] = {}
    for reply_id, by, at in session.execute(seen):
        dead = bool(by) and gone(by)
        if not by or at is None or at < stale or dead:
            by_holder.setdefault((by or "", dead), []).append(reply_id)
    taken: set[int] = set()
    for (by, dead), ids in by_holder.items():
        free: ColumnElement[bool] = (  # what was seen still holds (not renewed meanwhile)
            Reply.claimed_by == by if dead else or_(
                Reply.claimed_by == "", Reply.claimed_at.is_(None), Reply.claimed_at < stale))
        claimed = session.execute(update(Reply).where(
            Reply.id.in_(ids), Reply.status == "pending", free)
            .values(claimed_by=holder(), claimed_at=now, attempts=Reply.attempts + 1)
            .returning(Reply.id).execution_options(synchronize_session=False))
        taken.update(claimed.scalars())
    rows = {row.id: row for row in session.scalars(
        select(Reply).where(Reply.id.in_(taken)).execution_options(populate_existing=True))}
    return [rows[reply_id] for reply_id in reply_ids if reply_id in rows]


def claim_still_ours(session: Session, reply: Reply, now: datetime | None = None) -> bool:
    """Before sending a reply claimed a while ago (a batch over a slow server): whether the
    claim is still this process's, renewed (and committed) once it is half way to expiring so
    that no other worker takes it over during the send. A fresh claim costs nothing. Called
    between transactions (the renewal is committed here)."""
    now = now or utcnow()
    if reply.claimed_at is not None and now - reply.claimed_at < timedelta(
            seconds=CLAIM_SECONDS / 2):
        return True
    with session.begin():
        renewed = session.execute(update(Reply).where(
            Reply.id == reply.id, Reply.status == "pending", Reply.claimed_by == holder())
            .values(claimed_at=now).execution_options(synchronize_session=False))
    if not renewed.rowcount:  # type: ignore[attr-defined]
        return False
    reply.claimed_at = now
    return True
