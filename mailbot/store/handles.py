"""The handles the rest of mailbot holds on the store (nothing outside `store/` imports SQLAlchemy).

A caller gets a `Sessions` factory from `store.database.open_database` (or a campaign's scoped
one), opens a `Session` from it as a unit of work — add rows, commit, roll back — and asks the
functions in `store.queries` for what it needs. Statements, dialects and SQLAlchemy's own
exceptions stay inside `store/`: a caller that must tell a database failure from its own catches
`StoreFailure`.
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

Sessions: TypeAlias = sessionmaker[Session]
# Whatever the database or its driver reports (a lost connection, a locked file, a constraint).
StoreFailure = SQLAlchemyError



def database_failed(exc: BaseException) -> bool:
    """The database itself failed (gone, locked, disk full, read-only, I/O error), as opposed
    to a statement refused (a constraint) or a bug: never a mail's fault."""
    return isinstance(exc, OperationalError)


def lost_race(exc: BaseException) -> bool:
    """A write refused by a unique key: another worker recorded the same thing first."""
    return isinstance(exc, IntegrityError)


__all__ = ["Session", "Sessions", "StoreFailure", "database_failed", "lost_race"]
