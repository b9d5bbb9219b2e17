"""Shared pytest fixtures. Real mail servers on loopback; their code lives in servers.py.

A fresh Dovecot per test: it starts in about 50 ms, so tests may use fixed addresses
(``office@test.example``) without stepping on each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresCluster, find_pg_bin
from prerequisites import MISSING_SOFFICE, unavailable
from servers import Dovecot, SmtpRelay, find_dovecot
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

MISSING_POSTGRES = ("PostgreSQL is not installed: run `make test` as root, which installs the "
                    "Debian package postgresql (scripts/install-test-deps.sh)")
MISSING_DOVECOT = (
    "Dovecot is not installed: run `make test` as root, which installs dovecot-imapd and "
    "dovecot-lmtpd (scripts/install-test-deps.sh)"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark every test that needs Dovecot, however indirectly, so `-m "not dovecot"` works.
    for item in items:
        if "dovecot_binary" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dovecot)


@pytest.fixture(scope="session")
def dovecot_binary() -> str:
    """Path of the dovecot binary. Missing: skip, except under CI, where it fails."""
    binary = find_dovecot()
    if binary is None:
        unavailable(MISSING_DOVECOT)
    return binary


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice's `soffice`, the 字数 oracle and the converter of legacy formats."""
    from mailbot.documents import convert

    found = convert.find_soffice()
    if found is None:
        unavailable(MISSING_SOFFICE)
    return found


# Engines the bot's code made during a test (every Runtime opens one). Their pooled connections
# are closed at the test's end: a PostgreSQL connection left to the garbage collector warns
# (ResourceWarning) in whatever later test happens to run then.
_ENGINES: list[Engine] = []


@event.listens_for(Engine, "engine_connect")
def _remember_engine(connection: Connection) -> None:
    if connection.engine not in _ENGINES:
        _ENGINES.append(connection.engine)


@pytest.fixture(autouse=True)
def _close_database_connections() -> Iterator[None]:
    yield
    while _ENGINES:
        _ENGINES.pop().dispose()


@pytest.fixture(autouse=True)
def _no_process_conversion_cache() -> Iterator[None]:
    """A command run in this process (typer's CliRunner) sets the process's conversion cache
    (documents.conversions.use): it must not follow later tests into its state directory."""
    from mailbot.documents import conversions

    conversions.use(None)
    yield
    conversions.use(None)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private PostgreSQL cluster for the session (started on first use)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        unavailable(MISSING_POSTGRES)
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """An empty database of its own on the session's PostgreSQL, as a SQLAlchemy URL."""
    return postgres_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database the bot supports: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.new_database()


@pytest.fixture
def dovecot(dovecot_binary: str) -> Iterator[Dovecot]:
    """A running private Dovecot (IMAP + LMTP on loopback), empty, gone after the test."""
    server = Dovecot(dovecot_binary)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def smtp_relay(dovecot: Dovecot) -> Iterator[SmtpRelay]:
    """A running SMTP server that delivers what it accepts into ``dovecot``."""
    relay = SmtpRelay(dovecot)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()
