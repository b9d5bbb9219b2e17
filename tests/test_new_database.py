"""A new database is built from the models in one transaction, without Alembic (issue 14: a
fresh `mailbot poll` starts faster), and is the very database the revisions would have built:
same tables, columns, defaults, keys, indexes and constraint names, same rows, the same
alembic_version, which Alembic itself then reads and upgrades like any other. On SQLite and
PostgreSQL; a kill at any point of the build leaves the database empty, and a second process
starting at the same moment waits, then finds it built and does nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pgserver import PostgresCluster
from sqlalchemy import create_engine, inspect, text

from mailbot.store import migrations
from mailbot.store.models import Base

KEY = "laomo-gongjiang-2022"
ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "mailbot" / "store" / "migrations" / "versions"


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of new empty databases of one kind: SQLite files, then PostgreSQL databases."""
    count = iter(range(100))

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'new-{next(count)}.sqlite3'}"
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        return cluster.new_database()

    return make


def plain(value: object) -> object:
    """A reflected value comparable across two databases (clauses as their SQL text)."""
    if isinstance(value, dict):
        return [(key, plain(value[key])) for key in sorted(value)]
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def schema(url: str) -> dict[str, Any]:
    """Everything SQLAlchemy reflects of a database: per table its columns (type, nullability,
    server default, autoincrement), primary key, indexes (expressions and conditions too),
    unique, foreign-key and check constraints with their names; the sequences; the rows of
    alembic_version and receipt_counters; on SQLite the SQL of every index as stored."""
    engine = create_engine(url)
    try:
        with warnings.catch_warnings(), engine.connect() as connection:
            warnings.simplefilter("ignore")  # SQLite cannot reflect the expression index: below
            found = inspect(connection)
            tables = {table: {
                "columns": sorted((plain(c) for c in found.get_columns(table)), key=repr),
                "primary key": plain(found.get_pk_constraint(table)),
                "indexes": sorted((plain(i) for i in found.get_indexes(table)), key=repr),
                "unique": sorted((plain(u) for u in found.get_unique_constraints(table)), key=repr),
                "foreign keys": sorted((plain(f) for f in found.get_foreign_keys(table)), key=repr),
                "checks": sorted((plain(c) for c in found.get_check_constraints(table)), key=repr),
            } for table in found.get_table_names()}
            rows = {table: sorted(tuple(row) for row in connection.execute(
                text(f"SELECT * FROM {table}"))) for table in ("alembic_version",
                                                               "receipt_counters")}
            if engine.dialect.name == "sqlite":
                stored = sorted(tuple(row) for row in connection.exec_driver_sql(
                    "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"))
            else:
                stored = [(name,) for name in sorted(found.get_sequence_names())]
        return {"tables": tables, "rows": rows, "stored": stored}
    finally:
        engine.dispose()


def differences(url: str) -> list[object]:
    """What Alembic's autogenerate finds between the database and the models."""
    engine = create_engine(url)
    try:
        with warnings.catch_warnings(), engine.connect() as connection:
            warnings.simplefilter("ignore")
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))
    finally:
        engine.dispose()


def built_new(url: str) -> bool:
    engine = create_engine(url)
    try:
        return migrations.upgrade(engine, KEY)
    finally:
        engine.dispose()


def built_by_the_revisions(url: str) -> bool:
    engine = create_engine(url)
    try:
        return migrations.run_revisions(engine, KEY)
    finally:
        engine.dispose()


def test_a_database_built_new_is_the_one_the_revisions_build(new_url: Callable[[], str]) -> None:
    new, revised = new_url(), new_url()
    assert built_new(new) and built_by_the_revisions(revised)
    assert schema(new) == schema(revised)
    found = schema(new)
    assert found["rows"] == {"alembic_version": [(migrations.HEAD,)],
                             "receipt_counters": [(KEY, 0)]}
    assert set(found["tables"]) == {*Base.metadata.tables, "alembic_version"}
    assert differences(new) == [] and differences(revised) == []
    assert not built_new(new)  # current: only read


# Alembic as an administrator runs it (alembic.ini's env.py, the `alembic` commands) on a copy
# of mailbot's revisions with one more that drops a unique constraint by its name and adds a
# column: a database built new must take it exactly like one the revisions built.
ENV_PY = """\
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""
PROBE = '''\
import sqlalchemy as sa
from alembic import op

revision = "0006probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    name = ("uq_messages_message_id" if op.get_bind().dialect.name == "sqlite"
            else "messages_message_id_key")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(name, type_="unique")
        batch.add_column(sa.Column("probe", sa.String(16), nullable=False, server_default=""))
'''


def alembic(tmp_path: Path, url: str, *args: str) -> str:
    """Run an `alembic` command on `url` with the scripts in tmp_path/scripts; its output."""
    scripts = tmp_path / "scripts"
    if not scripts.exists():
        shutil.copytree(VERSIONS, scripts / "versions",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (scripts / "env.py").write_text(ENV_PY)
    output = io.StringIO()
    config = Config(stdout=output)
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("sqlalchemy.url", url)
    getattr(command, args[0])(config, *args[1:])
    return output.getvalue()


def test_alembic_upgrades_a_database_built_new_as_one_the_revisions_built(
        new_url: Callable[[], str], tmp_path: Path) -> None:
    new, revised = new_url(), new_url()
    built_new(new)
    built_by_the_revisions(revised)
    for url in (new, revised):
        assert alembic(tmp_path, url, "current").split() == [migrations.HEAD, "(head)"]
    before = schema(new)
    alembic(tmp_path, new, "upgrade", "head")  # at head already: nothing to do
    engine = create_engine(new)
    migrations.run_revisions(engine, KEY)  # nor through mailbot's own way to the revisions
    engine.dispose()
    assert schema(new) == before
    (tmp_path / "scripts" / "versions" / "v0006_probe.py").write_text(
        PROBE.format(head=migrations.HEAD))
    for url in (new, revised):
        alembic(tmp_path, url, "upgrade", "head")
        assert alembic(tmp_path, url, "current").split() == ["0006probe", "(head)"]
    after = schema(new)
    assert after == schema(revised)
    columns = after["tables"]["messages"]["columns"]
    assert any(("name", "probe") in column for column in columns)
    assert after["tables"]["messages"]["unique"] == []


CHILD = textwrap.dedent("""\
    import os, signal, sys
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from mailbot.store.database import open_database

    url, role, at, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    created, seen = [], []

    @event.listens_for(Engine, "before_cursor_execute")
    def before(connection, cursor, statement, *rest):
        if statement.lstrip().startswith("CREATE"):
            created.append(statement)
        if role == "second" and statement.lstrip().startswith(at):
            print("waiting", flush=True)  # for the lock the first one holds

    @event.listens_for(Engine, "after_cursor_execute")
    def after(connection, cursor, statement, *rest):
        if statement.lstrip().startswith(at):
            seen.append(statement)
            if role == "killed" and len(seen) == nth:
                os.kill(os.getpid(), signal.SIGKILL)
            if role == "first":
                print("locked", flush=True)
                sys.stdin.readline()

    open_database(url, "laomo-gongjiang-2022")
    print(len(created), "alembic" in sys.modules, flush=True)
""")


def child(url: str, role: str = "plain", at: str = "-", nth: int = 1) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    return subprocess.Popen([sys.executable, "-c", CHILD, url, role, at, str(nth)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def lock_statement(url: str) -> str:
    return "BEGIN IMMEDIATE" if url.startswith("sqlite") else "SELECT pg_advisory_xact_lock"


def test_opening_a_new_database_does_not_load_alembic(new_url: Callable[[], str]) -> None:
    url = new_url()
    out, err = child(url).communicate(timeout=120)
    created, loaded = out.split()
    assert int(created) > len(Base.metadata.tables) and loaded == "False", err
    assert differences(url) == []
    out, err = child(url).communicate(timeout=120)  # and one that is current, nothing written
    assert out.split() == ["0", "False"], err


def tables_in(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize(("at", "nth"), [("CREATE TABLE", 1), ("CREATE TABLE", 7),
                                         ("CREATE INDEX", 4), ("CREATE UNIQUE INDEX", 1),
                                         ("INSERT INTO alembic_version", 1),
                                         ("INSERT INTO receipt_counters", 1)])
def test_a_build_killed_at_any_point_leaves_the_database_empty(new_url: Callable[[], str],
                                                               at: str, nth: int) -> None:
    url = new_url()
    killed = child(url, "killed", at, nth)
    _out, err = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, err  # killed where asked: it got that far
    assert tables_in(url) == []
    built_new(url)  # and the next start builds it whole
    assert differences(url) == []
    assert schema(url)["rows"] == {"alembic_version": [(migrations.HEAD,)],
                                   "receipt_counters": [(KEY, 0)]}


def test_a_second_process_starting_at_once_waits_then_does_nothing(
        new_url: Callable[[], str]) -> None:
    url = new_url()
    lock = lock_statement(url)
    first = child(url, "first", lock)
    second = None
    try:
        assert first.stdout is not None and first.stdin is not None
        assert first.stdout.readline().strip() == "locked"  # it builds now, holding the lock
        second = child(url, "second", lock)
        assert second.stdout is not None
        # The second found the database empty too (the first has not committed) and asks for
        # the lock; the first goes on only now.
        assert second.stdout.readline().strip() == "waiting"
        assert tables_in(url) == []
        first.stdin.write("\n")
        first.stdin.flush()
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0 and int(out.split()[0]) > 0, err
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert out.split() == ["0", "False"]  # it created nothing: the database was current
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=60)
    assert differences(url) == []
    assert schema(url)["rows"]["receipt_counters"] == [(KEY, 0)]
