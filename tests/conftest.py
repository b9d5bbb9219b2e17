"""Shared pytest fixtures. Real mail servers on loopback; their code lives in servers.py.

A fresh Dovecot per test: it starts in about 50 ms, so tests may use fixed addresses
(``office@test.example``) without stepping on each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prerequisites import MISSING_SOFFICE, unavailable
from servers import Dovecot, SmtpRelay, find_dovecot

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
