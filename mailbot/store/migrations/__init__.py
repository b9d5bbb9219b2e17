"""The database's schema history (Alembic), run from code: no alembic.ini is needed.

`upgrade(engine, campaign)` brings any database to the newest revision:
- an empty one is built by running every revision;
- one written by release 0.1 (its tables, no alembic_version) is stamped 0001, then upgraded;
- one at the newest revision is only read, never written.
`campaign` is the key of the configured campaign: revision 0002 files existing rows under it.

Revisions live in `versions/`, one module each, written by hand and never edited once released.
A model change in mailbot/store/models.py needs a new one: `versions/v0003_<what>.py` with
`down_revision = "0002"`, ops in batch mode (`op.batch_alter_table`) so SQLite can follow, and
`HEAD` below moved to it. tests/test_migrations.py fails until models and revisions agree.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from mailbot.errors import StateError

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
        if to == "head" and is_current(engine):
            return False
    except SQLAlchemyError as exc:  # a server that is down, a file that cannot be opened
        raise StateError(f"无法打开数据库 {engine.url.render_as_string()}：{one_line(exc)}"
                         ) from exc
    from alembic.config import Config

    _backup(engine)
    directory = script()
    config = Config()
    config.attributes["campaign"] = campaign
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_ddl_in_transactions(connection)
        try:
            _run(connection, directory, config, to)
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
    return True


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
    own handling off, `_run` issues BEGIN IMMEDIATE itself and a kill rolls everything back."""
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction, or ignored:
    connection.rollback()  # batch mode drops rebuilt tables, which enforced keys would refuse
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.isolation_level = None


def _run(connection: Connection, directory: ScriptDirectory, config: Config, to: str) -> None:
    """Run the revisions after the database's own, in one transaction that holds the write
    lock from its start: a second process starting at the same moment waits, then finds the
    database current and does nothing."""

    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext

    def steps(revision: Any, _context: MigrationContext) -> Any:
        return directory._upgrade_revs(to, revision)

    with EnvironmentContext(config, directory, fn=steps, destination_rev=to) as env, \
            connection.begin():
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        # Configured inside the transaction, Alembic takes it as the caller's and never commits
        # on its own between revisions (it would on SQLite, which it thinks cannot roll back DDL).
        env.configure(connection=connection, render_as_batch=True)
        start = current(connection)
        if start is not None and MigrationContext.configure(
                connection).get_current_revision() is None:
            env.get_context().stamp(directory, start)  # release 0.1: no alembic_version
        env.run_migrations()
