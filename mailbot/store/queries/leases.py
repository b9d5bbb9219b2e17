"""Taking and giving up a named lease (`store.coordination`) each in a session of its own, with a
database that cannot write the lease row right now (locked, connection lost) answered rather than
raised: the lease only spares work, so the intake goes on without it (see `intake.lease`).

Only `OperationalError` is answered this way — any other database failure is a defect and raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.store import coordination


@dataclass(frozen=True)
class LeaseAnswer:
    """Whether the lease is ours now; `unwritable` is the database's reason when it could not
    record the lease at all (then `ours` is False and says nothing)."""

    ours: bool
    unwritable: str | None = None


def take_lease(sessions: sessionmaker[Session], name: str) -> LeaseAnswer:
    """Take or renew the lease `name` for this process, in a session of its own."""
    try:
        with sessions() as session:
            return LeaseAnswer(coordination.take_lease(session, name))
    except OperationalError as exc:
        return LeaseAnswer(False, str(exc))


def release_lease(sessions: sessionmaker[Session], name: str) -> bool:
    """Give the lease `name` up, in a session of its own; False when the database could not
    write it now (the lease then expires by itself)."""
    try:
        with sessions() as session:
            coordination.release_lease(session, name)
    except OperationalError:
        return False
    return True
