"""Leases and reply claims (store.coordination) on SQLite and PostgreSQL: one holder at a time,
renewed by it, taken over once expired or, on this machine, as soon as its process is gone."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from mailbot.store import coordination
from mailbot.store.database import open_database
from mailbot.store.models import Lease
from mailbot.timefmt import utcnow

FOLDER = "laomo:office@imap.example/INBOX"


def test_a_lease_has_one_holder_until_it_expires_or_its_process_is_gone(
        database_url: str) -> None:
    sessions = open_database(database_url)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with sessions() as session:
            assert coordination.take_lease(session, FOLDER)  # free: taken
            assert coordination.take_lease(session, FOLDER)  # ours: renewed
        with sessions.begin() as session:  # a live worker of this machine holds it now
            session.execute(update(Lease).values(holder=coordination.holder(other.pid)))
        with sessions() as session:
            assert not coordination.take_lease(session, FOLDER)
        with sessions.begin() as session:  # a worker elsewhere, within its minute
            session.execute(update(Lease).values(holder="elsewhere/1-2:77"))
        with sessions() as session:
            assert not coordination.take_lease(session, FOLDER)
            later = utcnow() + timedelta(seconds=coordination.LEASE_SECONDS + 1)
            assert coordination.take_lease(session, FOLDER, now=later)  # expired: taken over
        with sessions.begin() as session:
            session.execute(update(Lease).values(holder=coordination.holder(other.pid)))
    finally:
        other.kill()  # kill -9: its lease is free at once, no minute to wait
        other.wait()
    with sessions() as session:
        assert coordination.take_lease(session, FOLDER)
        coordination.release_lease(session, FOLDER)
        held = session.get(Lease, FOLDER)
        assert held is not None and held.expires_at < utcnow()  # released: free for anyone
    sessions.kw["bind"].dispose()
