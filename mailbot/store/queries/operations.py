"""What the commands around the intake ask: `status` counts, `doctor` checks, the demo looks up.

Also the one place a "someone else did it first" unique-key clash is told from a real failure
(`commit_once`): the scheduler's reminders and final report rely on it to happen once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.store.models import Message

log = logging.getLogger(__name__)


def count_messages_by_result(session: Session) -> dict[str, int]:
    """How many mails carry each 处理结果 (only results that occur are keys)."""
    rows = session.execute(select(Message.result, func.count()).group_by(Message.result))
    return {result: number for result, number in rows}



def commit_once(session: Session, work: Callable[[], object]) -> bool:
    """Do `work` in the session and commit. False, rolled back, when a unique key says that
    another worker did the same at the same moment (its commit won); any other failure raises."""
    try:
        work()
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        log.debug("unique key taken: %s", exc.orig)
        return False
    return True


@dataclass(frozen=True)
class DatabaseAddress:
    """A database URL as `doctor` shows it: the password hidden, a SQLite file named."""

    url: str
    shown: str
    sqlite_file: str  # the file of a SQLite URL; "" for a database server (or none named)


def read_database_url(url: str) -> DatabaseAddress:
    """`url` understood; a URL SQLAlchemy cannot read raises `StoreFailure` (ArgumentError)."""
    parsed = make_url(url)
    sqlite_file = (parsed.database or "") if parsed.get_backend_name() == "sqlite" else ""
    return DatabaseAddress(url, parsed.render_as_string(hide_password=True), sqlite_file)


@dataclass(frozen=True)
class DatabaseSurvey:
    """What an existing database holds, seen without changing it."""

    tables: int
    messages: int  # rows in `messages`; 0 when there is no such table yet


def survey_database(url: str) -> DatabaseSurvey:
    """Connect to `url` and count its tables and recorded mails, writing nothing (no schema is
    created or upgraded). Raises `StoreFailure` when it cannot be opened, ImportError when its
    driver is not installed."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            messages = (connection.execute(text("SELECT count(*) FROM messages")).scalar_one()
                        if "messages" in tables else 0)
    finally:
        engine.dispose()
    return DatabaseSurvey(len(tables), int(messages))
