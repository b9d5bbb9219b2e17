"""The database's schema history (Alembic), run from code: no alembic.ini is needed.

`upgrade(engine, campaign)` brings any database to the newest revision:
- an empty one is built from the models' tables and stamped HEAD, in one transaction and without
  loading Alembic: Alembic's cookbook recipe "building an up to date database from scratch",
  several times faster than running every revision (issue 14: a fresh `mailbot poll`);
- one written by release 0.1 (its tables, no alembic_version) is stamped 0001, then upgraded;
- one at the newest revision is only read, never written.
`campaign` is the key of the configured campaign: revision 0002 files existing rows under it.

Revisions live in `versions/`, one module each, written by hand and never edited once released.
A model change in mailbot/store/models.py needs a new one: `versions/v0003_<what>.py` with
`down_revision = "0002"`, ops in batch mode (`op.batch_alter_table`) so SQLite can follow, and
`HEAD` below moved to it. tests/test_migrations.py fails until models and revisions agree, and
tests/test_new_database.py until a database built from the models is the one the revisions
build (a revision that adds rows to an empty database needs the same rows in `_build`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from mailbot.errors import StateError
from mailbot.store.models import Base, ReceiptCounter

if TYPE_CHECKING:  # Alembic itself is imported only to upgrade: every start only reads
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
V01 = "0001"
HEAD = "0005"  # the newest revision in versions/ (a test holds the two together)
# A table every 0.1 database has: its presence without alembic_version means "release 0.1".
V01_MARKER = "messages"
_LOCK = 0x6D61696C626F74  # PostgreSQL advisory lock of upgrades: "mailbot"
# Alembic's own version table (alembic.ddl.impl.DefaultImpl.version_table_impl), made here for a
# database built from the models, so that later upgrades find their starting point in it.
VERSION_TABLE = Table("alembic_version", MetaData(),
                      Column("version_num", String(32), nullable=False),
                      PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
# On SQLite revision 0002 rebuilt these tables (batch mode) under its naming convention, which
# named the unique constraints the models leave unnamed (uq_messages_message_id…): a database
# built new gets the same names, so a later revision can drop them by name on either.
# (PostgreSQL names them itself, <table>_<column>_key, either way.)
SQLITE_RENAMED = ("messages", "replies")
# v0002's NAMING, and SQLAlchemy's own for indexes (a convention given replaces the default)
SQLITE_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", "ix": "ix_%(column_0_label)s"}
_T = TypeVar("_T")


@cache
def script() -> ScriptDirectory:
    """The revisions in versions/ (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(HERE))


def head() -> str:
    return HEAD


def current(connection: Connection) -> str | None:
    """The database's revision: None for an empty database, "0001" for one from release 0.1."""
    found = inspect(connection)
    if found.has_table("alembic_version"):
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return next(iter(versions), None)
    return V01 if found.has_table(V01_MARKER) else None


def is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        return current(connection) == HEAD


def upgrade(engine: Engine, campaign: str, to: str = "head") -> bool:
    """Bring the database to revision `to` (the newest); returns whether anything was done."""
    try:
        with engine.connect() as connection:
            start = current(connection)
    except SQLAlchemyError as exc:  # a server that is down, a file that cannot be opened
        raise StateError(f"无法打开数据库 {engine.url.render_as_string()}：{one_line(exc)}"
                         ) from exc
    if to == "head" and start == HEAD:
        return False
    if to == "head" and start is None:
        found = _write_locked(engine, lambda connection: _build(connection, campaign))
        if found is None:
            return True  # built
        if found == HEAD:
            return False  # built meanwhile by another process
    return run_revisions(engine, campaign, to)  # a database that exists, or one wanted older


def run_revisions(engine: Engine, campaign: str, to: str = "head") -> bool:
    """Upgrade by running Alembic's revisions (an empty database: all of them) up to `to`."""
    from alembic.config import Config

    _backup(engine)
    directory = script()
    config = Config()
    config.attributes["campaign"] = campaign
    _write_locked(engine, lambda connection: _run(connection, directory, config, to))
    return True


def _write_locked(engine: Engine, work: Callable[[Connection], _T]) -> _T:
    """Do `work` in one transaction that holds the write lock from its start: a second process
    starting at the same moment waits, then finds the database current (`work` checks again)."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_ddl_in_transactions(connection)
        try:
            with connection.begin():
                if sqlite:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                elif connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                       {"key": _LOCK})
                return work(connection)
        except Exception as exc:
            where = engine.url.render_as_string()  # the password hidden
            raise StateError(f"数据库升级失败，数据库未作任何改动（{where}）：{one_line(exc)}"
                             ) from exc
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
                connection.invalidate()  # its driver settings were changed: not for the pool


def _build(connection: Connection, campaign: str) -> str | None:
    """Build an empty database from the models, at HEAD, with the rows the revisions would have
    added to it; returns the revision found instead if it is no longer empty (then nothing is
    done). Inside `_write_locked`'s transaction: a kill leaves the database as empty as it was."""
    found = current(connection)
    if found is not None:
        return found
    # Not checkfirst: a table already there (no database of ours) fails the build as a whole.
    for table in _sqlite_tables() if connection.dialect.name == "sqlite" else _tables():
        table.create(connection, checkfirst=False)
    VERSION_TABLE.create(connection)
    connection.execute(VERSION_TABLE.insert().values(version_num=HEAD))
    # Revision 0002 starts the campaign's counter above the receipts issued: none here.
    connection.execute(insert(ReceiptCounter).values(campaign=campaign, last_number=0))
    return None


def one_line(exc: BaseException) -> str:
    """The first line of an error (SQLAlchemy's add the statement and a link below it)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _backup(engine: Engine) -> None:
    """A copy of a SQLite database before its first upgrade to this head: SQLite cannot undo a
    half-done schema change, so the copy is what "never loses a row" rests on if one fails."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return
    with engine.connect() as connection:
        if current(connection) is None:
            return  # a new database: nothing to keep
    target = Path(f"{path}.before-{head()}")
    if not target.exists():
        with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)


def _sqlite_ddl_in_transactions(connection: Connection) -> None:
    """Make a SQLite upgrade all or nothing. Python's sqlite3 driver opens transactions only
    for INSERT/UPDATE/DELETE, so a killed upgrade would leave half a schema: with the driver's
    own handling off, `_write_locked` issues BEGIN IMMEDIATE itself and a kill rolls everything
    back."""
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction, or ignored:
    connection.rollback()  # batch mode drops rebuilt tables, which enforced keys would refuse
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.isolation_level = None


def _tables() -> list[Table]:
    """The models' tables, each after those it refers to."""
    return Base.metadata.sorted_tables


@cache
def _sqlite_tables() -> list[Table]:
    """The models' tables as revision 0002 left them on SQLite (`SQLITE_RENAMED`)."""
    copied: set[str] = set()  # those tables, and those they refer to (their keys resolve there)
    pending = [Base.metadata.tables[name] for name in SQLITE_RENAMED]
    while pending:
        table = pending.pop()
        if table.name not in copied:
            copied.add(table.name)
            pending.extend(key.column.table for key in table.foreign_keys)
    named = MetaData(naming_convention=SQLITE_NAMING)
    for table in _tables():
        if table.name in copied:
            table.to_metadata(named)
    return [named.tables[t.name] if t.name in SQLITE_RENAMED else t for t in _tables()]


def _run(connection: Connection, directory: ScriptDirectory, config: Config, to: str) -> None:
    """Run the revisions after the database's own (inside `_write_locked`'s transaction)."""

    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext

    def steps(revision: Any, _context: MigrationContext) -> Any:
        return directory._upgrade_revs(to, revision)

    with EnvironmentContext(config, directory, fn=steps, destination_rev=to) as env:
        # Configured inside the transaction, Alembic takes it as the caller's and never commits
        # on its own between revisions (it would on SQLite, which it thinks cannot roll back DDL).
        env.configure(connection=connection, render_as_batch=True)
        start = current(connection)
        if start is not None and MigrationContext.configure(
                connection).get_current_revision() is None:
            env.get_context().stamp(directory, start)  # release 0.1: no alembic_version
        env.run_migrations()
