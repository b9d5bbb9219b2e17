"""The quarantine on the dashboard: the raw mail shown and downloadable, and "reprocess", which
replaces the quarantined record with the real verdict without ever recording the mail twice."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from servers import Dovecot, SmtpRelay
from sqlalchemy import func, select
from web_support import OFFICE, ON_TIME, app_for, full_set, login, make_runtime, page_csrf

from mailbot.config import ServerSettings
from mailbot.demo.mailfactory import build_mail
from mailbot.intake import pipeline as intake
from mailbot.intake.cycle import Runtime, record, save_raw
from mailbot.office import outbox
from mailbot.store.models import QUARANTINED, FindingRow, MailboxUid, Message, Reply

SENDER = "unit-a@test.example"
SUBJECT = "机电学院申报材料（附件有问题）"


@pytest.fixture
def crashing_reader(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The reader fails, as a bug or a missing converter would: the mail is quarantined.
    No correct mail breaks the pipeline, so the failure is simulated."""
    def explode(filename: str, *args: object) -> object:
        raise RuntimeError("simulated reader crash")

    monkeypatch.setattr(intake, "read_document", explode)
    return monkeypatch


def quarantine_one(runtime: Runtime) -> tuple[int, bytes]:
    raw = build_mail(sender=SENDER, to=OFFICE, subject=SUBJECT, body="请查收。",
                     attachments=full_set(), style="foxmail", date=ON_TIME)
    message, _ = record(runtime, raw, save_raw(runtime.settings.state_dir, raw), ON_TIME,
                        place=("INBOX", 7, 42))
    assert message.result == QUARANTINED and "simulated reader crash" in message.reason
    return message.id, raw


def test_quarantined_mail_is_listed_shown_and_downloadable(
        tmp_path: Path, crashing_reader: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmp_path)
    message_id, raw = quarantine_one(runtime)
    client = login(app_for(runtime).test_client())
    listing = client.get("/quarantine").get_data(as_text=True)
    assert SUBJECT in listing and "simulated reader crash" in listing and "重新处理" in listing
    page = client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert SUBJECT in page and SENDER in page  # headers decoded for a person
    assert "附件1-推荐汇总表.docx" in page  # the attachments the mail carries
    assert 'id="raw-source"' in page and "Content-Type: multipart/mixed" in page
    with client.get(f"/messages/{message_id}/raw.eml") as answer:
        assert answer.data == raw  # kept whole, exactly as received
        assert answer.headers["Content-Type"].startswith("message/rfc822")
    assert 'id="count-quarantined">1<' in client.get("/").get_data(as_text=True)


def test_reprocess_replaces_the_quarantined_record_with_the_verdict(
        tmp_path: Path, crashing_reader: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmp_path)
    message_id, raw = quarantine_one(runtime)
    crashing_reader.undo()  # the cause is fixed
    client = login(app_for(runtime).test_client())
    answer = client.post(f"/messages/{message_id}/reprocess",
                         data={"csrf_token": page_csrf(client, "/quarantine")})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已重新处理，结果：受理" in page
    with runtime.sessions() as session:
        [message] = session.scalars(select(Message)).all()  # recorded once, not twice
        assert message.result == "受理" and message.receipt_no
        assert message.raw_path and (runtime.settings.state_dir / message.raw_path).read_bytes() \
            == raw  # the raw mail is kept
        assert [d.kind for d in message.documents] == ["summary", "approval", "material"]
        # The poller still knows where the mail sits on the server: it is not fetched again.
        [place] = session.scalars(select(MailboxUid)).all()
        assert (place.folder, place.uidvalidity, place.uid, place.message_pk) == \
            ("INBOX", 7, 42, message.id)
        # The unsent "being looked at" notices went with the quarantined row; the verdict waits.
        kinds = sorted(r.kind for r in session.scalars(select(Reply)))
        assert kinds == ["acknowledgement"]
        assert session.scalar(select(func.count()).select_from(FindingRow)) == 0
    assert "隔离区是空的" in client.get("/quarantine").get_data(as_text=True)
    assert client.get("/units").get_data(as_text=True).count("已齐全") >= 1
    # A second click on the stale button changes nothing.
    again = client.post(f"/messages/{message_id}/reprocess",
                        data={"csrf_token": page_csrf(client)})
    assert "不在隔离区" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_reprocess_that_fails_again_keeps_the_mail_in_quarantine(
        tmp_path: Path, crashing_reader: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmp_path)
    message_id, _raw = quarantine_one(runtime)
    with runtime.sessions() as session:
        replies_before = session.scalar(select(func.count()).select_from(Reply))
    client = login(app_for(runtime).test_client())
    answer = client.post(f"/messages/{message_id}/reprocess",
                         data={"csrf_token": page_csrf(client, "/quarantine")})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "重新处理仍然失败" in page and "邮件仍在隔离区" in page
    with runtime.sessions() as session:
        [message] = session.scalars(select(Message)).all()
        assert message.id == message_id and message.result == QUARANTINED
        assert message.reason.startswith("重新处理仍然失败")
        assert len(message.uids) == 1
        assert session.scalar(select(func.count()).select_from(Reply)) == replies_before


def test_reprocess_sends_the_verdict_and_keeps_the_notice_already_sent(
        tmp_path: Path, dovecot: Dovecot, smtp_relay: SmtpRelay,
        crashing_reader: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmp_path)
    smtp = ServerSettings(host=smtp_relay.host, port=smtp_relay.port, security="none")
    runtime = Runtime(replace(runtime.settings, smtp=smtp), runtime.campaign)
    message_id, _raw = quarantine_one(runtime)
    assert outbox.send_pending(runtime.sessions, runtime.settings).sent == 2  # sender + office
    crashing_reader.undo()
    client: FlaskClient = login(app_for(runtime).test_client())
    answer = client.post(f"/messages/{message_id}/reprocess",
                         data={"csrf_token": page_csrf(client, "/quarantine")})
    assert "回复已发出" in client.get(answer.headers["Location"]).get_data(as_text=True)
    inbox = [message_from_bytes(raw, policy=default_policy) for raw in dovecot.messages(SENDER)]
    subjects = [str(mail["Subject"]) for mail in inbox]
    assert len(subjects) == 2 and subjects[0].startswith("【已转人工处理】")
    assert subjects[1].startswith("【已受理】")
    with runtime.sessions() as session:
        [message] = session.scalars(select(Message)).all()
        history = sorted((r.kind, r.status) for r in message.replies)
        assert history == [("acknowledgement", "sent"), ("office-quarantine", "sent"),
                           ("quarantine", "sent")]


def test_a_mail_kept_as_its_header_only_is_not_reprocessed(
        tmp_path: Path, crashing_reader: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmp_path)
    message_id, _raw = quarantine_one(runtime)
    crashing_reader.undo()
    with runtime.sessions() as session:
        raw_path = session.get(Message, message_id).raw_path  # type: ignore[union-attr]
    # As the poller leaves it beside a mail over max_message_bytes (intake.cycle.omitted_key).
    (runtime.settings.state_dir / raw_path).with_suffix(".omitted.txt").write_text("header only")
    client = login(app_for(runtime).test_client())
    answer = client.post(f"/messages/{message_id}/reprocess",
                         data={"csrf_token": page_csrf(client, "/quarantine")})
    assert "只保存了邮件头" in client.get(answer.headers["Location"]).get_data(as_text=True)
    with runtime.sessions() as session:
        assert session.get(Message, message_id).result == QUARANTINED  # type: ignore[union-attr]
