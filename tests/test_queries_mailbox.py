"""The intake's questions to the store (store.queries.mailbox, store.queries.leases) on SQLite and
PostgreSQL: which campaign's rows each one sees, in what order, and a lease on a database that
cannot be written answered rather than raised."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Settings
from mailbot.intake.lease import FolderLease
from mailbot.store.database import open_database
from mailbot.store.models import INQUIRY, FindingRow, MailboxUid, Message, Reply
from mailbot.store.queries import leases
from mailbot.store.queries import mailbox as recorded
from mailbot.store.scoping import scope
from mailbot.timefmt import utcnow


def _message(session: Session, message_id: str, when: datetime, result: str = "补正",
             campaign: str | None = None) -> Message:
    message = Message(message_id=message_id, received_at=when, raw_path="", result=result,
                      processed_at=when, campaign=campaign)
    session.add(message)
    session.flush()
    return message


def _reply(message: Message | None, n: int, to: str, when: datetime,
           kind: str = "correction") -> Reply:
    return Reply(message_pk=message.id if message else None, kind=kind, to_addr=to,
                 subject="s", smtp_message_id=f"<r{n}@mailbot.example>", raw=b"",
                 created_at=when)


def test_answers_to_a_mailbox_count_every_campaign_and_only_automatic_answers(
        database_url: str) -> None:
    sessions = open_database(database_url)
    now = utcnow()
    with sessions.begin() as session:
        mail = _message(session, "<m1@x>", now)
        other = _message(session, "<m2@x>", now, campaign="sports")
        session.add_all([
            _reply(mail, 1, "a@b.example", now),
            _reply(other, 2, "A@B.example", now - timedelta(minutes=30)),  # another campaign
            _reply(mail, 3, "a@b.example", now - timedelta(hours=2)),  # too old
            _reply(None, 4, "a@b.example", now),  # a reminder: answers no mail
            _reply(mail, 5, "a@b.example", now, kind="office-answer"),
            _reply(mail, 6, "c@b.example", now),  # another mailbox
        ])
    with scope(sessions, "nomination")() as session:  # one campaign's view still counts all
        since = now - timedelta(hours=1)
        assert recorded.answers_queued_to(session, "a@b.example", since, ("office-answer",)) == 2
        assert recorded.answers_queued_to(session, "a@b.example", since, ()) == 3
        assert recorded.answers_queued_to(session, "x@b.example", since, ()) == 0
        assert recorded.reply_sent_as(session, "<r2@mailbot.example>")
        assert not recorded.reply_sent_as(session, "<m2@x>")  # received, not sent
    sessions.kw["bind"].dispose()


def test_questions_findings_and_message_ids(database_url: str) -> None:
    sessions = open_database(database_url)
    now = utcnow()
    with sessions.begin() as session:
        later = _message(session, "<q2@x>", now, result=INQUIRY)
        earlier = _message(session, "<q1@x>", now - timedelta(days=1), result=INQUIRY)
        answered = _message(session, "<q3@x>", now - timedelta(days=2), result=INQUIRY)
        answered.answered_at = now
        _message(session, "<s1@x>", now - timedelta(days=3))  # a submission, not a question
        _message(session, "<o1@x>", now, campaign="sports")
        session.add_all(FindingRow(message_pk=earlier.id, code="c", severity="ERROR",
                                   message=text) for text in ("第二", "第一"))
        pks = {"<q1@x>": earlier.id, "<q2@x>": later.id}
    with sessions() as session:
        assert [m.message_id for m in recorded.open_inquiries(session)] == ["<q1@x>", "<q2@x>"]
        assert recorded.finding_texts(session, pks["<q1@x>"]) == ("第二", "第一")
        assert recorded.finding_texts(session, pks["<q2@x>"]) == ()
        found = recorded.message_with_id(session, "<q2@x>")
        assert found is not None and found.id == pks["<q2@x>"]
        assert recorded.message_with_id(session, "<nothing@x>") is None
    with scope(sessions, "sports")() as session:
        assert recorded.open_inquiries(session) == []  # a campaign sees its own questions
        assert recorded.message_with_id(session, "<q2@x>") is None
        assert recorded.message_with_id(session, "<o1@x>") is not None
        # Where known mail sits is a question about the mailbox: every campaign's mail.
        assert recorded.message_pks(session, ["<q1@x>", "<q2@x>", "<new@x>"]) == pks
        assert recorded.message_pks(session, []) == {}
    sessions.kw["bind"].dispose()


def test_uidvalidities_of_a_folder_each_once(database_url: str) -> None:
    sessions = open_database(database_url)
    with sessions.begin() as session:
        message = _message(session, "<m@x>", utcnow())
        session.add_all(MailboxUid(folder=folder, uidvalidity=validity, uid=uid,
                                   message_pk=message.id)
                        for folder, validity, uid in (("INBOX", 7, 1), ("INBOX", 7, 2),
                                                      ("INBOX", 9, 1), ("Archive", 5, 1)))
    with sessions() as session:
        assert sorted(recorded.folder_uidvalidities(session, "INBOX")) == [7, 9]
        assert recorded.folder_uidvalidities(session, "Spam") == []
    sessions.kw["bind"].dispose()


def test_a_lease_is_taken_given_up_and_taken_again(database_url: str) -> None:
    sessions = open_database(database_url)
    assert leases.take_lease(sessions, "f") == leases.LeaseAnswer(ours=True)
    assert leases.release_lease(sessions, "f")
    assert leases.take_lease(sessions, "f").ours
    sessions.kw["bind"].dispose()


def test_a_database_that_cannot_be_opened_fetches_without_the_lease(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A real failure, no mock: SQLite cannot create a file in a directory that does not exist.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
    sessions: sessionmaker[Session] = sessionmaker(engine)
    answer = leases.take_lease(sessions, "f")
    assert not answer.ours and answer.unwritable and "unable to open" in answer.unwritable
    assert not leases.release_lease(sessions, "f")
    lease = FolderLease(sessions, Settings(), "nomination")
    with caplog.at_level(logging.WARNING, logger="mailbot.intake.lease"):
        assert lease.take()  # the unique keys keep every mail single without it
        lease.release()  # expires by itself: nothing raised
    assert "fetching without it" in caplog.text
    engine.dispose()
