"""Leases and reply claims (store.coordination) on SQLite and PostgreSQL: one holder at a time,
renewed by it, taken over once expired or, on this machine, as soon as its process is gone."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from mailbot.store import coordination
from mailbot.store.database import open_database
from mailbot.store.models import Lease, Reply
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


def test_a_claim_held_through_a_slow_batch_is_renewed_or_given_up(database_url: str) -> None:
    """The outbox claims a few replies in one commit and sends them one by one: before each
    send a claim half way to expiring is renewed, and one another worker took over is not
    sent by us."""
    sessions = open_database(database_url)
    with sessions.begin() as session:
        session.add(Reply(kind="ack", to_addr="a@example.test", subject="s",
                          smtp_message_id="<r@x>", raw=b"x", status="pending",
                          created_at=utcnow()))
    with sessions() as session:
        with session.begin():
            [reply] = coordination.claim_replies(session, [1])
        assert coordination.claim_still_ours(session, reply)  # fresh
        later = utcnow() + timedelta(seconds=coordination.CLAIM_SECONDS * 0.6)
        assert coordination.claim_still_ours(session, reply, now=later)  # renewed
    with sessions() as session:
        renewed = session.get(Reply, 1)
        assert renewed is not None and renewed.claimed_at is not None
        assert abs((renewed.claimed_at - later).total_seconds()) < 1
        assert renewed.claimed_by == coordination.holder()
    with sessions.begin() as session:  # a worker elsewhere took it over meanwhile
        session.execute(update(Reply).values(claimed_by="elsewhere/1-2:77"))
    with sessions() as session:
        with session.begin():
            reply = session.get(Reply, 1)
        assert reply is not None
        much_later = later + timedelta(seconds=coordination.CLAIM_SECONDS * 0.6)
        assert not coordination.claim_still_ours(session, reply, now=much_later)
    sessions.kw["bind"].dispose()


def test_several_replies_are_claimed_at_once_each_by_the_rules_of_one(database_url: str) -> None:
    """`claim_replies` takes, in the order asked, the free ones, those whose claim expired and
    those whose sender was killed; it leaves those a live worker holds and those no longer
    pending, and counts an attempt on each it takes."""
    sessions = open_database(database_url)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    now = utcnow()
    old = now - timedelta(seconds=coordination.CLAIM_SECONDS + 1)
    killed = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                            capture_output=True, text=True, check=True)
    holders = [  # (claimed_by, claimed_at, status) of replies 1..7
        ("", None, "pending"),  # free
        (coordination.holder(other.pid), now, "pending"),  # a live worker here: left
        ("elsewhere/1-2:77", now, "pending"),  # a worker elsewhere, within its time: left
        ("elsewhere/1-2:77", old, "pending"),  # elsewhere, expired: taken
        (f"{coordination.holder().rpartition(':')[0]}:{killed.stdout.strip()}.1", now,
         "pending"),  # its process is gone: taken at once
        ("", None, "sent"),  # sent meanwhile: left
        ("", None, "pending"),  # free
    ]
    try:
        with sessions.begin() as session:
            for n, (by, at, status) in enumerate(holders, start=1):
                session.add(Reply(kind="ack", to_addr="a@example.test", subject="s",
                                  smtp_message_id=f"<r{n}@x>", raw=b"x", status=status,
                                  created_at=now, claimed_by=by, claimed_at=at, attempts=1))
        with sessions() as session, session.begin():
            claimed = coordination.claim_replies(session, [7, 6, 5, 4, 3, 2, 1])
            assert [reply.id for reply in claimed] == [7, 5, 4, 1]
            assert {reply.claimed_by for reply in claimed} == {coordination.holder()}
            assert [reply.attempts for reply in claimed] == [2, 2, 2, 2]
        with sessions() as session, session.begin():  # ours now: nobody else takes them
            assert coordination.claim_replies(session, [1, 4, 5, 7]) == []
        with sessions() as session:
            left = {n: session.get(Reply, n) for n in (2, 3, 6)}
            assert all(r is not None and r.attempts == 1 for r in left.values())
    finally:
        other.kill()
        other.wait()
    sessions.kw["bind"].dispose()
