"""The office's and the outbox's statements (store.queries.office, store.queries.outbox) on
SQLite and PostgreSQL: the same rows answer the same, and the workbook built from them is the
same on both."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from mailbot.campaign.rules import load_rules
from mailbot.office import workbook
from mailbot.store.database import open_database
from mailbot.store.handles import StoreFailure, database_failed
from mailbot.store.models import (
    ACCEPTED,
    CORRECTION,
    QUARANTINED,
    UNCLASSIFIED,
    Document,
    FindingRow,
    Message,
    Milestone,
    Reply,
    Unit,
    UnitAddress,
)
from mailbot.store.queries import office, outbox
from mailbot.store.queries import units as unit_queries
from mailbot.store.scoping import scope

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
START = datetime(2022, 10, 8, 2, 0, tzinfo=UTC)


def mail(number: int, unit: Unit | None, result: str, **fields: object) -> Message:
    return Message(message_id=f"<{number}@test.example>", unit=unit,
                   received_at=START + timedelta(hours=number), from_addr=f"s{number}@test.example",
                   subject=f"第{number}封", raw_path=f"raw/{number}.eml", result=result,
                   processed_at=START, **fields)


def fill(url: str) -> None:
    sessions = open_database(url)
    with sessions.begin() as session:
        unit = Unit(key="address:jidian@test.example", name="机电学院", created_at=START)
        unit.addresses.append(UnitAddress(address="jidian@test.example"))
        session.add(unit)
        # Received out of key order: 收件记录 goes by time received.
        late = mail(3, unit, CORRECTION, receipt_no="GZS2022-0002", late=True)
        first = mail(1, unit, ACCEPTED, receipt_no="GZS2022-0001")
        stranger = mail(2, None, UNCLASSIFIED)
        broken = mail(4, None, QUARANTINED, reason="无法解析")
        session.add_all([late, first, stranger, broken])
        session.flush()
        for position, (message, name, kind) in enumerate(
                [(first, "附件1-推荐汇总表.docx", "summary"), (first, "说明.txt", "unknown"),
                 (late, "附件3-申报材料.docx", "material")]):
            session.add(Document(message_pk=message.id, unit=unit, position=position,
                                 filename=name, format="docx", kind=kind, sha256="0" * 64,
                                 stored_path=f"files/{name}", size=1, word_count=None))
        session.add(FindingRow(message_pk=late.id, code="word-limit", severity="error",
                               message="附件3 超过 2000 字"))
        session.add(Milestone(key="final-report", done_at=START))
        for number, (kind, sent) in enumerate([("acknowledgement", START), ("office-cap", START),
                                               ("correction", None)]):
            session.add(Reply(message_pk=first.id, kind=kind, to_addr="jidian@test.example",
                              subject="回执", smtp_message_id=f"<r{number}@test.example>",
                              raw=b"x", status="sent" if sent else "pending", sent_at=sent,
                              created_at=START))


def test_the_exports_read_the_same_on_each_database(database_url: str) -> None:
    fill(database_url)
    sessions = open_database(database_url)
    with sessions() as session:
        mails = office.workbook_mails(session)
        assert [m.subject for m in mails] == ["第1封", "第3封", "第4封"]  # no 未归类, by time
        assert mails[1].late and not mails[0].late and mails[2].reason == "无法解析"
        assert mails[0].received_at == START + timedelta(hours=1)  # aware, UTC
        files = office.mail_files(session)
        assert files[mails[0].id] == [("附件1-推荐汇总表.docx", "summary"), ("说明.txt", "unknown")]
        assert office.mail_problems(session) == {mails[1].id: ["附件3 超过 2000 字"]}
        assert [u.name for u in unit_queries.units_in_order(session)] == ["机电学院"]
        units, documents = office.units_with_documents(session)
        assert [d.message.subject for d in documents] == ["第1封", "第1封", "第3封"]
        assert units[0].addresses[0].address == "jidian@test.example"
        assert office.units_with_documents(session, units[0].id + 1) == ([], [])
        assert office.milestone_done(session, "final-report")
        assert not office.milestone_done(session, "something-else")
        assert office.count_with_result(session, QUARANTINED) == 1
        assert outbox.pending_reply_ids(session) == [3]
        assert outbox.sent_since(session, START, besides_kind="office-cap") == 1
        assert outbox.sent_since(session, START + timedelta(seconds=1),
                                 besides_kind="office-cap") == 0
        assert office.milestone_done(session, "final-report")
        outbox.forget_milestone(session, "final-report")
        assert not office.milestone_done(session, "final-report")
        session.rollback()
        book = io.BytesIO()
        workbook.build(session, load_rules(RULES)).save(book)
    records = list(openpyxl.load_workbook(book)["收件记录"].iter_rows(values_only=True))
    assert [row[2] for row in records[1:]] == ["第1封", "第3封", "第4封"]
    assert records[1][3:5] == ("附件1-推荐汇总表.docx\n说明.txt", "附件1\n未识别")
    assert records[2][6:8] == ("是", "附件3 超过 2000 字")


def test_another_campaigns_rows_are_not_read(database_url: str) -> None:
    fill(database_url)
    other = scope(open_database(database_url), "youxiu-gonghui-2023")
    with other() as session:
        assert office.workbook_mails(session) == []
        assert office.mail_files(session) == {}
        assert not office.milestone_done(session, "final-report")
        assert office.count_with_result(session, QUARANTINED) == 0
        # The hourly cap counts what the bot as a whole sent, every campaign's.
        assert outbox.sent_since(session, START, besides_kind="office-cap") == 1


def test_only_a_failing_database_counts_as_unavailable(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'mailbot.sqlite3'}")
    (tmp_path / "mailbot.sqlite3").unlink()
    (tmp_path / "mailbot.sqlite3").mkdir()  # the file replaced by something no database is
    with pytest.raises(StoreFailure) as failed, sessions() as session:
        outbox.pending_reply_ids(session)
    assert database_failed(failed.value)
    assert not database_failed(ValueError("a bug of ours"))
