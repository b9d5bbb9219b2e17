"""The campaign layer's statements (store.queries.units, store.queries.operations) on SQLite and
PostgreSQL alike: a sender matched by address, name or studio, a studio key with LIKE's own
characters in it, the senders awaiting the office, reminders recorded once, the doctor's survey."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.campaign import claims
from mailbot.campaign.rules import Campaign, load_rules
from mailbot.campaign.units import claim_unit, known_unit, named_unit, sync_roster
from mailbot.config import DEFAULT_RULES_DIR
from mailbot.store.database import open_database
from mailbot.store.handles import Session, Sessions, StoreFailure
from mailbot.store.models import REVIEW_PENDING, Document, Message, Reminder, Reply, Unit
from mailbot.store.queries import operations
from mailbot.store.queries import units as queries
from mailbot.timefmt import utcnow

ROSTER = """
[[units]]
name = "机电工程学院"
aliases = ["机电学院"]
emails = ["jidian@test.example"]
"""


def campaign(tmp_path: Path) -> Campaign:
    path = tmp_path / "rules.toml"
    text = (DEFAULT_RULES_DIR / "laomo-gongjiang-2022.toml").read_text(encoding="utf-8")
    path.write_text(text + ROSTER, encoding="utf-8")
    return load_rules(path)


def mail(session: Session, unit: Unit, sender: str, number: int, *, result: str = "受理",
         review: str = "") -> Message:
    now = utcnow()
    row = Message(message_id=f"<{number}@test.example>", unit=unit, from_addr=sender,
                  received_at=now + timedelta(minutes=number), raw_path=f"raw/{number}.eml",
                  result=result, processed_at=now, review=review)
    session.add(row)
    session.flush()
    return row


def document(session: Session, message: Message, position: int, *, studio_key: str = "",
             studio_keys: str = "", unconfirmed: bool = False) -> Document:
    row = Document(message_pk=message.id, unit_id=message.unit_id, position=position,
                   filename=f"附件{position}.docx", format="docx",
                   kind="summary" if studio_keys else "approval", sha256="0" * 64,
                   stored_path=f"files/{message.id}/{position}.docx", size=1,
                   studio_key=studio_key, studio_keys=studio_keys, unconfirmed=unconfirmed)
    session.add(row)
    session.flush()
    return row


def opened(database_url: str, rules: Campaign) -> Sessions:
    sessions = open_database(database_url, rules.campaign.key)
    with sessions.begin() as session:
        sync_roster(session, rules)
        sync_roster(session, rules)  # a second start adds nothing
    return sessions


def test_senders_are_matched_by_address_name_and_studio(database_url: str,
                                                        tmp_path: Path) -> None:
    rules = campaign(tmp_path)
    sessions = opened(database_url, rules)
    with sessions.begin() as session:
        [roster] = queries.units_in_order(session)
        assert known_unit(session, "JiDian@test.example") is roster
        by_alias = claim_unit(session, rules, "dean@test.example", ["机电学院"], [], "")
        assert by_alias.unit is roster and by_alias.unconfirmed  # the roster lists addresses
        assert by_alias.earlier == ("jidian@test.example",)
        stranger = claim_unit(session, rules, "s@test.example", ["图书馆"], [], "").unit
        assert stranger.key == "address:s@test.example" and not stranger.on_roster
        colleague = claim_unit(session, rules, "t@test.example", ["图 书 馆"], [], "")
        assert colleague.unit is stranger and not colleague.unconfirmed  # joins at once
        assert queries.address_known(session, "t@test.example")
        # A summary of the stranger's lists a studio whose key holds LIKE's own % and _.
        document(session, mail(session, stranger, "s@test.example", 1), 0,
                 studio_keys="|100%_工作室|")
        other = claim_unit(session, rules, "x@test.example", ["信息学院"], [], "").unit
        document(session, mail(session, other, "x@test.example", 2), 0,
                 studio_keys="|100abc工作室|")
        assert queries.studio_owners(session, {"100%_工作室"}) == {stranger.id}
        assert claim_unit(session, rules, "y@test.example", [], ["100%_工作室"], "").unit \
            is stranger
        # An approval form's own studio key counts too; a form awaiting the office does not.
        document(session, mail(session, other, "x@test.example", 3), 1, studio_key="甲工作室")
        document(session, mail(session, stranger, "z@test.example", 4), 1,
                 studio_key="乙工作室", unconfirmed=True)
        assert queries.studio_owners(session, {"甲工作室", "乙工作室"}) == {other.id}
        assert queries.studio_owners(session, {"甲工作室", "100%_工作室"}) == {stranger.id,
                                                                              other.id}
        assert named_unit(session, rules, "X@test.example") is other
        assert queries.units_in_order(session) == [roster, stranger, other]
        assert [a.address for a in stranger.addresses] == ["s@test.example", "t@test.example",
                                                           "y@test.example"]
        named = document(session, mail(session, stranger, "s@test.example", 5), 0)
        named.unit_name = "图书馆"
        assert queries.names_given(session, stranger.id) == {"图书馆"}  # none empty, each once
        assert queries.names_given(session, other.id) == set()
    with sessions() as session:
        # With their addresses, in the same statement and in their order; several rows a unit.
        found = queries.units_for_sender(session, "t@test.example", ["roster:机电工程学院"],
                                         {other.name_key})
        assert [(unit.id, by_address) for unit, by_address in found] == [
            (roster.id, False), (stranger.id, True), (other.id, False)]
        assert all("addresses" in vars(unit) for unit, _ in found)  # reading them asks nothing
        assert [a.address for a in found[1][0].addresses] == ["s@test.example",
                                                              "t@test.example", "y@test.example"]
        assert queries.units_for_sender(session, "", [], []) == []
        assert [(u.id, known) for u, known in queries.units_for_sender(
            session, "nobody@test.example", ["address:s@test.example"], [])] == [
            (stranger.id, False)]
        with_addresses = queries.unit_with_addresses(session, stranger.id)
        assert with_addresses is not None and "addresses" in vars(with_addresses)
        assert len(with_addresses.addresses) == 3
        assert queries.unit_with_addresses(session, -1) is None
    sessions.kw["bind"].dispose()


def test_senders_awaiting_the_office_and_the_mail_they_sent(database_url: str,
                                                           tmp_path: Path) -> None:
    rules = campaign(tmp_path)
    sessions = opened(database_url, rules)
    with sessions.begin() as session:
        [unit] = queries.units_in_order(session)
        first = mail(session, unit, "new@test.example", 2, result="补正", review=REVIEW_PENDING)
        second = mail(session, unit, "new@test.example", 1, result="补正", review=REVIEW_PENDING)
        mail(session, unit, "jidian@test.example", 3)
        for position in (2, 0, 1):
            document(session, first, position)
        assert [m.id for m in claims.awaiting_review(session)] == [second.id, first.id]
        assert queries.attachment_names(session, first.id) == ["附件0.docx", "附件1.docx",
                                                               "附件2.docx"]
        assert len(queries.documents_of_message(session, first.id)) == 3
        assert queries.pending_from(session, unit.id, "new@test.example", first.id) == [second]
        assert queries.held_back_before(session, unit.id, "new@test.example", first.id)
        assert not queries.held_back_before(session, unit.id, "jidian@test.example", first.id)
        assert operations.count_messages_by_result(session) == {"补正": 2, "受理": 1}
    with sessions() as session:
        assert queries.noticed_since(session, ["jidian@test.example"],
                                     utcnow() - timedelta(hours=1)) == set()
        hour_ago = utcnow() - timedelta(hours=1)
        for to, kind, age in (("a@test.example", "address-notice", 10),
                              ("a@test.example", "address-notice", 20),
                              ("b@test.example", "address-notice", 90),
                              ("c@test.example", "acknowledgement", 5)):
            session.add(Reply(message_pk=None, kind=kind, to_addr=to, subject="", raw=b"",
                              smtp_message_id=f"<{to}.{age}@test>", status="sent",
                              created_at=utcnow() - timedelta(minutes=age)))
        session.flush()
        # Within the hour, of the notices only, each address once; none asked: none found.
        assert queries.noticed_since(session, ["a@test.example", "b@test.example",
                                               "c@test.example", "d@test.example"],
                                     hour_ago) == {"a@test.example"}
        assert queries.noticed_since(session, [], hour_ago) == set()
    sessions.kw["bind"].dispose()


def test_a_reminder_is_recorded_once_whoever_commits_second(database_url: str,
                                                          tmp_path: Path) -> None:
    rules = campaign(tmp_path)
    sessions = opened(database_url, rules)

    def reminder(unit_id: int, offset: str) -> Reminder:
        now = utcnow()
        return Reminder(unit_id=unit_id, offset=offset, due_at=now, sent=True, reply_id=None,
                        created_at=now)

    with sessions() as session:
        [unit] = queries.units_in_order(session)
        assert queries.reminder_offsets(session, unit.id) == set()
        assert operations.commit_once(session, lambda: session.add(reminder(unit.id, "3d")))
        # Another worker's commit won the (unit, offset) key: ours is rolled back, not raised.
        assert not operations.commit_once(session, lambda: session.add(reminder(unit.id, "3d")))
        assert operations.commit_once(session, lambda: session.add(reminder(unit.id, "1d")))
        assert queries.reminder_offsets(session, unit.id) == {"3d", "1d"}
    sessions.kw["bind"].dispose()


def test_the_doctor_surveys_a_database_without_changing_it(database_url: str,
                                                          tmp_path: Path) -> None:
    address = operations.read_database_url(database_url)
    if database_url.startswith("sqlite"):
        assert address.sqlite_file == str(tmp_path / "mailbot.sqlite3")
        assert address.shown == database_url
    else:
        assert address.sqlite_file == "" and address.shown == database_url
    hidden = operations.read_database_url("postgresql+psycopg://u:secret@db.example/mailbot")
    assert hidden.shown == "postgresql+psycopg://u:***@db.example/mailbot"
    with pytest.raises(StoreFailure):
        operations.read_database_url("not a database url")
    rules = campaign(tmp_path)
    sessions = opened(database_url, rules)
    with sessions.begin() as session:
        [unit] = queries.units_in_order(session)
        mail(session, unit, "jidian@test.example", 1)
    sessions.kw["bind"].dispose()
    survey = operations.survey_database(database_url)
    assert survey.messages == 1 and survey.tables >= 10
