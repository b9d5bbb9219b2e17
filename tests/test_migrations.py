"""Upgrades lose nothing: a state directory written by release 0.1 (tests/fixtures/v0.1-state,
made by that release's own code: tests/fixtures/make_v01_state.py) opens with the current code
— automatically when a command starts, and by `mailbot db upgrade` — with every mail, verdict,
receipt number, reply and reminder intact, and the next receipt number one never issued.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import warnings
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pgserver import PostgresCluster
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.campaign.rules import load_rules
from mailbot.config import Settings
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.errors import StateError
from mailbot.intake import pipeline
from mailbot.intake.cycle import Runtime, save_raw
from mailbot.store import migrations
from mailbot.store.database import next_receipt, open_database
from mailbot.store.models import Base, Message, ReceiptCounter

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "v0.1-state"
RULES = ROOT / "rules" / "laomo-gongjiang-2022.toml"
KEY = "laomo-gongjiang-2022"
MAILBOT = [sys.executable, "-m", "mailbot"]
RELEASE_0_1 = "cc57918"

# What must survive an upgrade, table by table: the columns that carry the office's records.
KEPT = {
    "messages": "id, message_id, unit_id, result, receipt_no, late, raw_path, reason, "
                "received_at, subject, from_addr",
    "documents": "id, message_pk, unit_id, filename, kind, stored_path, sha256, word_count, ok",
    "findings": "id, message_pk, code, severity, message",
    "replies": "id, message_pk, kind, to_addr, status, smtp_message_id, attempts, sent_at, "
               "last_error, length(raw)",
    "reminders": "id, unit_id, \"offset\", due_at, sent, reply_id",
    "milestones": "id, key, done_at",
    "units": "id, key, name, on_roster",
    "unit_addresses": "id, unit_id, address",
    "mailbox_uids": "id, folder, uidvalidity, uid, message_pk, marked",
}


def snapshot(database: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(database)) as connection:
        return {table: connection.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
                for table, columns in KEPT.items()}


def environment(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(MAILBOT_STATE_DIR=str(state), MAILBOT_RULES=str(RULES))
    return env


def mailbot(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILBOT, *args], cwd=state.parent, env=environment(state),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def old_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    return state


def test_the_fixture_is_a_release_0_1_state(old_state: Path) -> None:
    """What the other tests upgrade: 0.1's tables, no alembic_version, the mix of verdicts.
    (Tests open copies only: SQLite writes -wal/-shm beside a database it reads.)"""
    rows = snapshot(old_state / "mailbot.sqlite3")
    with closing(sqlite3.connect(old_state / "mailbot.sqlite3")) as connection:
        tables = {name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" not in tables and "receipt_counters" not in tables
    assert {m[3] for m in rows["messages"]} == {"受理", "补正", "忽略", "隔离"}
    assert [m[4] for m in rows["messages"] if m[4]][-1].endswith("-0007")
    assert {r[4] for r in rows["replies"]} == {"sent", "failed", "pending"}
    assert rows["reminders"] and rows["milestones"]
    assert any((FIXTURE / "raw").rglob("*.eml")) and any((FIXTURE / "files").rglob("*.docx"))


def assert_upgraded_intact(state: Path, before: dict[str, list[tuple[object, ...]]]) -> None:
    database = state / "mailbot.sqlite3"
    assert snapshot(database) == before  # every row, every key column, unchanged
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrations.head(),)]
        for table in ("messages", "documents", "findings", "replies", "reminders", "milestones",
                      "units", "unit_addresses"):
            assert connection.execute(f"SELECT DISTINCT campaign FROM {table}").fetchall() == [
                (KEY,)], table
        assert connection.execute("SELECT campaign, last_number FROM receipt_counters"
                                  ).fetchall() == [(KEY, 7)]
    for row in before["documents"]:
        assert (state / str(row[5])).is_file()  # the kept files are where the rows say


def test_a_command_upgrades_a_release_0_1_state_automatically(old_state: Path) -> None:
    before = snapshot(old_state / "mailbot.sqlite3")
    done = mailbot(old_state, "status")
    assert done.returncode == 0, done.stderr
    assert "受理" in done.stdout
    assert_upgraded_intact(old_state, before)
    assert (old_state / f"mailbot.sqlite3.before-{migrations.head()}").is_file()  # the backup


def test_db_upgrade_upgrades_a_release_0_1_state(old_state: Path) -> None:
    before = snapshot(old_state / "mailbot.sqlite3")
    done = mailbot(old_state, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"升级到 {migrations.head()}" in done.stdout
    assert_upgraded_intact(old_state, before)
    again = mailbot(old_state, "db", "upgrade")
    assert again.returncode == 0 and "无需升级" in again.stdout
    assert_upgraded_intact(old_state, before)


def _complete_set(n: int) -> bytes:
    studio = SAMPLE_STUDIOS[4]
    return build_mail(sender="e@unit-e.test.example", to="office@test.example",
                      subject="申报材料", body="请查收。", style="outlook",
                      message_id=f"<after-upgrade-{n}@client.test.example>",
                      attachments=[("附件1.docx", summary_docx(studio.unit, [studio])),
                                   ("附件2.docx", approval_docx(studio)),
                                   ("附件3.docx", material_docx(studio, 300))])


def test_the_next_receipt_after_an_upgrade_was_never_issued(old_state: Path) -> None:
    issued = {m[4] for m in snapshot(old_state / "mailbot.sqlite3")["messages"] if m[4]}
    runtime = Runtime(Settings(from_address="office@test.example", state_dir=old_state),
                      load_rules(RULES))
    new: list[str] = []
    for n in range(2):
        raw = _complete_set(n)
        with runtime.sessions.begin() as session:
            message, _ = pipeline.handle(session, runtime.intake, raw,
                                         save_raw(old_state, raw), datetime.now(UTC))
            new.append(message.receipt_no)
    assert new == ["GZS2022-0008", "GZS2022-0009"]
    assert not issued & set(new)
    with runtime.sessions() as session:
        assert session.get(ReceiptCounter, KEY).last_number == 9  # type: ignore[union-attr]
        # A receipt number is unique in its campaign, whatever code writes the row.
        first = session.scalars(select(Message).where(Message.receipt_no == new[0])).one()
        clash = Message(message_id="<clash@test>", received_at=first.received_at,
                        raw_path="raw/x", result="受理", receipt_no=new[0],
                        processed_at=first.processed_at)
        session.add(clash)
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_counter_lost_is_restarted_above_every_receipt_issued(old_state: Path) -> None:
    """The counter row is the source, but without it numbering still never starts over."""
    runtime = Runtime(Settings(from_address="office@test.example", state_dir=old_state),
                      load_rules(RULES))
    with runtime.sessions.begin() as session:
        session.delete(session.get(ReceiptCounter, KEY))
    raw = _complete_set(0)
    with runtime.sessions.begin() as session:
        message, _ = pipeline.handle(session, runtime.intake, raw, save_raw(old_state, raw),
                                     datetime.now(UTC))
    assert message.receipt_no == "GZS2022-0008"


def _schema(url: str) -> dict[str, object]:
    """Tables, columns (name, type, nullable), indexes, unique constraints and foreign keys."""
    engine = create_engine(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite cannot reflect the expression index
        found = inspect(engine)
        schema = {table: (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)),
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                   for i in found.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            sorted((tuple(f["constrained_columns"]), f["referred_table"])
                   for f in found.get_foreign_keys(table)))
            for table in found.get_table_names() if table != "alembic_version"}
    engine.dispose()
    return schema


def test_revision_0001_is_exactly_the_release_0_1_schema(tmp_path: Path, old_state: Path
                                                         ) -> None:
    url = f"sqlite:///{tmp_path / 'at-0001.sqlite3'}"
    engine = create_engine(url)
    migrations.upgrade(engine, KEY, to="0001")
    engine.dispose()
    assert _schema(url) == _schema(f"sqlite:///{old_state / 'mailbot.sqlite3'}")


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expression indexes are compared by name below
        with engine.connect() as connection:
            found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            indexes = {i["name"] for i in inspect(connection).get_indexes("replies")}
    engine.dispose()
    assert "ix_replies_recipient" in indexes or engine.dialect.name == "sqlite"
    return list(found)


def test_a_new_database_is_built_by_the_migrations_and_matches_the_models(
        tmp_path: Path) -> None:
    """Every revision from an empty database: the models' schema. (`open_database` builds a new
    one from the models instead; tests/test_new_database.py holds the two ways to one schema.)"""
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    engine = create_engine(url)
    assert migrations.run_revisions(engine, KEY)
    engine.dispose()
    assert _differences(url) == []
    open_database(url, KEY, upgrade=False)  # current


def test_an_upgraded_release_0_1_database_matches_the_models(old_state: Path) -> None:
    """The same schema whether built new or upgraded: a model change without a migration, or a
    migration that forgets a constraint, fails here."""
    url = f"sqlite:///{old_state / 'mailbot.sqlite3'}"
    open_database(url, KEY)
    assert _differences(url) == []
    fresh = old_state.parent / "fresh.sqlite3"
    open_database(f"sqlite:///{fresh}", KEY)
    assert _schema(url) == _schema(f"sqlite:///{fresh}")


def test_the_fixture_can_be_regenerated_with_release_0_1(tmp_path: Path,
                                                         old_state: Path) -> None:
    """The fixture is reproducible: release 0.1's own code, taken from git, makes the same rows."""
    release = tmp_path / "release-0.1"
    release.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", RELEASE_0_1, "mailbot",
                                  "rules", "templates"], capture_output=True, check=True,
                                 timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"release 0.1 ({RELEASE_0_1}) is not in this checkout's history: {exc}")
    subprocess.run(["tar", "-x", "-C", str(release)], input=archive, check=True, timeout=60)
    made = tmp_path / "made"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env["PYTHONPATH"] = str(release)
    done = subprocess.run([sys.executable, str(ROOT / "tests/fixtures/make_v01_state.py"),
                           str(made)], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ours, theirs = snapshot(made / "mailbot.sqlite3"), snapshot(old_state / "mailbot.sqlite3")
    assert {t: len(r) for t, r in ours.items()} == {t: len(r) for t, r in theirs.items()}
    assert [m[3:5] for m in ours["messages"]] == [m[3:5] for m in theirs["messages"]]


# PostgreSQL: the same migrations on a private cluster (tests/postgres.py).
ORDER = ("units", "unit_addresses", "messages", "mailbox_uids", "documents", "findings",
         "replies", "reminders", "milestones")


@pytest.fixture
def cluster(postgres_cluster: PostgresCluster) -> PostgresCluster:
    """The session's private PostgreSQL (tests/pgserver.py, started by conftest)."""
    return postgres_cluster


def pg_snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {table: [tuple(row) for row in connection.execute(
            text(f"SELECT {columns} FROM {table} ORDER BY id"))]
            for table, columns in KEPT.items()}
    engine.dispose()
    return found


def release_0_1_on_postgresql(url: str, fixture: Path) -> None:
    """What release 0.1 left in PostgreSQL: its tables (revision 0001 is exactly them), the
    fixture's rows, no alembic_version."""
    engine = create_engine(url)
    migrations.upgrade(engine, KEY, to="0001")
    source = create_engine(f"sqlite:///{fixture}")
    old, new = MetaData(), MetaData()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite cannot reflect the expression index
        old.reflect(source)
    new.reflect(engine)
    with source.connect() as reading, engine.begin() as writing:
        for table in ORDER:
            rows = [dict(row._mapping) for row in reading.execute(old.tables[table].select())]
            writing.execute(new.tables[table].insert(), rows)
            writing.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))"))
        writing.execute(text("DROP TABLE alembic_version"))
    source.dispose()
    engine.dispose()


def closed(sessions: sessionmaker[Session]) -> None:
    """Close the pool's connections now (an open one left to the collector is a warning)."""
    sessions.kw["bind"].dispose()


def test_a_new_postgresql_database_is_built_by_the_migrations_and_matches_the_models(
        cluster: PostgresCluster) -> None:
    url = cluster.new_database()
    engine = create_engine(url)
    assert migrations.run_revisions(engine, KEY)  # every revision, as on SQLite above
    engine.dispose()
    assert _differences(url) == []
    closed(open_database(url, KEY, upgrade=False))  # current


def test_a_release_0_1_postgresql_database_upgrades_intact(cluster: PostgresCluster, tmp_path: Path,
                                                           old_state: Path) -> None:
    url = cluster.new_database()
    release_0_1_on_postgresql(url, old_state / "mailbot.sqlite3")
    before = pg_snapshot(url)
    assert len(before["messages"]) == len(snapshot(old_state / "mailbot.sqlite3")["messages"])
    runtime = Runtime(Settings(from_address="office@test.example",
                               state_dir=tmp_path / "pg-state", database_url=url),
                      load_rules(RULES))  # upgrades on opening
    assert pg_snapshot(url) == before
    assert _differences(url) == []
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT campaign, last_number FROM receipt_counters")
                                  ).fetchall() == [(KEY, 7)]
        assert connection.execute(text("SELECT DISTINCT campaign FROM messages")
                                  ).fetchall() == [(KEY,)]
    engine.dispose()
    raw = _complete_set(0)
    with runtime.sessions.begin() as session:
        message, _ = pipeline.handle(session, runtime.intake, raw,
                                     save_raw(runtime.settings.state_dir, raw),
                                     datetime.now(UTC))
    assert message.receipt_no == "GZS2022-0008"
    closed(runtime.sessions)


def test_two_writers_on_postgresql_never_share_a_receipt_number(cluster: PostgresCluster) -> None:
    """The counter row is locked by the first UPDATE until its transaction ends: the second
    writer waits, then takes the next number."""
    url = cluster.new_database()
    sessions = open_database(url, KEY)
    first = sessions()
    number = next_receipt(first, KEY)
    taken: list[int] = []
    started = threading.Event()

    def second_writer() -> None:
        with sessions.begin() as session:
            started.set()
            taken.append(next_receipt(session, KEY))

    worker = threading.Thread(target=second_writer)
    worker.start()
    assert started.wait(30)
    worker.join(timeout=1.0)  # it must still be waiting for the first transaction
    assert worker.is_alive() and taken == []
    first.commit()
    first.close()
    worker.join(timeout=30)
    assert (number, taken) == (1, [2])
    closed(sessions)


def test_a_failed_upgrade_changes_nothing(old_state: Path) -> None:
    """The whole upgrade is one transaction, on SQLite too: here it fails at its last step (two
    mails with one receipt number, which 0.1 could write with two processes on a server
    database), and the database is exactly the 0.1 one it was, with one line saying why."""
    database = old_state / "mailbot.sqlite3"
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("UPDATE messages SET receipt_no = 'GZS2022-0001' WHERE id = 2")
        connection.commit()
    with closing(sqlite3.connect(database)) as connection:
        schema = connection.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    before = snapshot(database)
    done = mailbot(old_state, "db", "upgrade")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "数据库升级失败" in done.stderr
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert snapshot(database) == before


def test_two_commands_starting_at_once_upgrade_once(old_state: Path) -> None:
    before = snapshot(old_state / "mailbot.sqlite3")
    children = [subprocess.Popen([*MAILBOT, *command], cwd=old_state.parent,
                                 env=environment(old_state), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
                for command in (("db", "upgrade"), ("status",), ("db", "upgrade"))]
    for child in children:
        _out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    assert_upgraded_intact(old_state, before)


def test_opening_without_upgrading_refuses_a_database_that_is_behind(old_state: Path) -> None:
    database = old_state / "mailbot.sqlite3"
    before = database.read_bytes()
    with pytest.raises(StateError, match="请先运行 mailbot db upgrade"):
        open_database(f"sqlite:///{database}", KEY, upgrade=False)
    assert database.read_bytes() == before


@pytest.mark.parametrize("build", ["from the models", "by the revisions"])
def test_building_a_new_database_is_all_or_nothing(tmp_path: Path, build: str) -> None:
    """A new database is built in one transaction, from the models (`open_database`) or by the
    revisions (0001 and 0002 in one): when a late step fails (here a table in its way), nothing
    of the earlier ones is left either — a kill at any moment is the same
    (tests/test_new_database.py kills one)."""
    database = tmp_path / "new.sqlite3"
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE receipt_counters (in_the_way INTEGER)")
        connection.commit()
    with pytest.raises(StateError, match="数据库升级失败"):
        if build == "from the models":
            open_database(f"sqlite:///{database}", KEY)
        else:
            engine = create_engine(f"sqlite:///{database}")
            try:
                migrations.run_revisions(engine, KEY)
            finally:
                engine.dispose()
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [
            ("receipt_counters",)]


def test_head_names_the_newest_revision() -> None:
    """`HEAD` lets every start check the schema without loading Alembic; it must be the newest."""
    assert migrations.script().get_current_head() == migrations.HEAD
