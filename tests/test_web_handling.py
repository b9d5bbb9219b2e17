"""The office handles the quarantine and failed replies from the dashboard: assign a mail to a
unit, dismiss it with a reason, forward it to the office mailbox, resend a failed reply to a
corrected address or give it up — each recorded, each harmless when the form is stale."""

from __future__ import annotations

import re
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from servers import Dovecot, SmtpRelay
from sqlalchemy import select
from web_support import (
    OFFICE,
    ON_TIME,
    ROSTER_UNIT,
    app_for,
    campaign,
    deliver,
    full_set,
    login,
    make_runtime,
    page_csrf,
)

from mailbot.config import ServerSettings
from mailbot.demo.mailfactory import build_mail
from mailbot.intake import pipeline as intake
from mailbot.intake.cycle import Runtime, record, save_raw
from mailbot.office import outbox
from mailbot.store.models import QUARANTINED, Message, OfficeAction, Reply, Unit
from mailbot.web.app import create_app
from mailbot.web.handling import readdressed


def senderless(runtime: Runtime) -> int:
    """A complete set in a mail with no From: at all (a broken web form, a script)."""
    raw = build_mail(sender="ghost@test.example", to=OFFICE, subject="工作室申报材料",
                     body="请查收申报材料。", attachments=full_set(), style="foxmail", date=ON_TIME)
    raw = re.sub(rb"(?m)^From: [^\r\n]*\r?\n", b"", raw, count=1)
    message, _ = record(runtime, raw, save_raw(runtime.settings.state_dir, raw), ON_TIME)
    assert message.result == QUARANTINED and "找不到发件人地址" in message.reason
    return message.id


def roster_unit(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        unit = session.scalar(select(Unit).where(Unit.name == ROSTER_UNIT))
        assert unit is not None
        return unit.id


def test_a_mail_without_sender_assigned_to_a_unit_is_answered_at_its_address(
        tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, roster=True)
    message_id = senderless(runtime)
    unit_id = roster_unit(runtime)
    client = login(app_for(runtime).test_client())
    listing = client.get("/quarantine").get_data(as_text=True)
    assert "按此单位处理" in listing and ROSTER_UNIT in listing and 'name="campaign"' in listing
    token = page_csrf(client, "/quarantine")
    form = {"csrf_token": token, "unit": str(unit_id), "campaign": runtime.campaign.campaign.key,
            "back": "quarantine"}
    answer = client.post(f"/messages/{message_id}/assign-unit", data=form)
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"已作为 {ROSTER_UNIT} 的来信处理" in page and "办公室操作记录" in page
    assert "发往 makesi@test.example" in page  # the unit's known address
    with runtime.sessions() as session:
        [message] = session.scalars(select(Message)).all()
        assert message.unit_id == unit_id and message.result in ("受理", "补正")
        verdicts = [r for r in message.replies if r.kind in ("acknowledgement", "correction")]
        assert [r.to_addr for r in verdicts] == ["makesi@test.example"]
        [action] = session.scalars(select(OfficeAction)).all()
        assert action.kind == "assign" and action.message_pk == message.id
        assert action.actor.startswith("办公室（") and ROSTER_UNIT in action.note
    assert "隔离区是空的" in client.get("/quarantine").get_data(as_text=True)
    # The same form again (another tab): a plain answer, nothing changes.
    stale = client.post(f"/messages/{message_id}/assign-unit", data=form)
    assert stale.status_code == 302
    assert "已不在隔离区" in client.get(stale.headers["Location"]).get_data(as_text=True)
    # A unit or campaign that does not exist is refused in words, not with an error page.
    for bad in ({"unit": "999"}, {"unit": "x"}, {"campaign": "other"}):
        assert client.post(f"/messages/{message_id}/assign-unit",
                           data={**form, **bad}).status_code == 302


def test_a_mail_is_assigned_to_a_roster_unit_the_dashboard_does_not_hold_yet(
        tmp_path: Path) -> None:
    """The rules gained a roster unit since the last poll: the dashboard, a reader as `mailbot
    serve` builds it, offers it for a quarantined mail without saving it; assigning saves it."""
    runtime = make_runtime(tmp_path)  # polled with the roster before ROSTER_UNIT joined it
    message_id = senderless(runtime)
    app = create_app(runtime.settings, campaign(tmp_path, roster=True))  # as `serve` does
    app.config["TESTING"] = True
    client = login(app.test_client())
    listing = client.get("/quarantine").get_data(as_text=True)
    assert f'<option value="roster:{ROSTER_UNIT}">{ROSTER_UNIT}</option>' in listing
    with runtime.sessions() as session:
        assert session.scalar(select(Unit).where(Unit.name == ROSTER_UNIT)) is None
    form = {"csrf_token": page_csrf(client, "/quarantine"), "unit": "roster:不在名单上的单位",
            "campaign": runtime.campaign.campaign.key}
    refused = client.post(f"/messages/{message_id}/assign-unit", data=form)
    assert "请选择一个单位" in client.get(refused.headers["Location"]).get_data(as_text=True)
    answer = client.post(f"/messages/{message_id}/assign-unit",
                         data={**form, "unit": f"roster:{ROSTER_UNIT}"})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"已作为 {ROSTER_UNIT} 的来信处理" in page
    assert "发往 makesi@test.example" in page  # the roster's address, saved with the unit
    with runtime.sessions() as session:
        [message] = session.scalars(select(Message)).all()
        assert message.unit_id == roster_unit(runtime) and message.result in ("受理", "补正")


def test_a_dismissed_mail_leaves_the_list_and_keeps_its_reason(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, roster=True)
    message_id = senderless(runtime)
    client = login(app_for(runtime).test_client())
    token = page_csrf(client, "/quarantine")
    empty = client.post(f"/messages/{message_id}/dismiss", data={"csrf_token": token,
                                                                 "reason": "  "})
    assert "请填写不予处理的原因" in client.get(empty.headers["Location"]).get_data(as_text=True)
    answer = client.post(f"/messages/{message_id}/dismiss",
                         data={"csrf_token": token, "reason": "测试邮件，无需处理",
                               "back": "quarantine"})
    assert answer.headers["Location"].endswith("/quarantine")
    listing = client.get("/quarantine").get_data(as_text=True)
    assert "不予处理的原因已记录" in listing and "隔离区是空的" in listing
    assert 'id="count-quarantined">0<' in client.get("/").get_data(as_text=True)
    page = client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert 'id="dismissed"' in page and "测试邮件，无需处理" in page
    again = client.post(f"/messages/{message_id}/dismiss",
                        data={"csrf_token": token, "reason": "再来一次"})
    assert "已不在隔离区" in client.get(again.headers["Location"]).get_data(as_text=True)
    # A reprocess button left open in another tab does not bring it back.
    stale = client.post(f"/messages/{message_id}/reprocess", data={"csrf_token": token})
    assert "不在隔离区" in client.get(stale.headers["Location"]).get_data(as_text=True)
    with runtime.sessions() as session:
        assert [a.kind for a in session.scalars(select(OfficeAction))] == ["dismiss"]


def test_a_mail_is_forwarded_whole_to_the_office(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, roster=True)
    message_id = senderless(runtime)
    with runtime.sessions() as session:
        raw = (runtime.settings.state_dir
               / session.get(Message, message_id).raw_path).read_bytes()  # type: ignore[union-attr]
    client = login(app_for(runtime).test_client())
    answer = client.post(f"/messages/{message_id}/forward",
                         data={"csrf_token": page_csrf(client, "/quarantine")})
    assert "已转发到办公室邮箱 clerk@test.example" in client.get(
        answer.headers["Location"]).get_data(as_text=True)
    with runtime.sessions() as session:
        [forward] = session.scalars(select(Reply).where(Reply.kind == "office-forward")).all()
        assert forward.to_addr == "clerk@test.example" and forward.status == "pending"
        mail = message_from_bytes(forward.raw, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        [part] = list(mail.iter_attachments())
        assert part.get_filename() == "原始邮件.eml"
        assert part.get_payload(decode=True) == raw or part.get_content().as_bytes() == raw
    assert client.post("/messages/999/forward",
                       data={"csrf_token": page_csrf(client)}).status_code == 404


def failed_reply(runtime: Runtime) -> int:
    """A verdict the relay refused for good (the state the outbox leaves it in)."""
    message = deliver(runtime, "jidian@test.example", full_set())
    with runtime.sessions.begin() as session:
        [reply] = session.scalars(select(Reply).where(Reply.message_pk == message.id)).all()
        reply.status, reply.attempts = "failed", 1
        reply.last_error = "收件服务器拒收：jidian@test.example（550 mailbox unavailable）"
        return reply.id


def test_a_failed_reply_is_resent_to_the_corrected_address(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    reply_id = failed_reply(runtime)
    client = login(app_for(runtime).test_client())
    overview = client.get("/").get_data(as_text=True)
    assert f'/replies/{reply_id}' in overview and "更正地址重发或放弃" in overview
    token = page_csrf(client, f"/replies/{reply_id}")
    bad = client.post(f"/replies/{reply_id}/resend", data={"csrf_token": token,
                                                          "address": "不是地址"})
    assert "不是有效的邮件地址" in client.get(bad.headers["Location"]).get_data(as_text=True)
    answer = client.post(f"/replies/{reply_id}/resend",
                         data={"csrf_token": token, "address": " JiDian.Office@Test.Example "})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已改为发送到 jidian.office@test.example" in page
    assert "收件地址由 jidian@test.example 更正为 jidian.office@test.example" in page
    with runtime.sessions() as session:
        reply = session.get(Reply, reply_id)
        assert reply is not None and reply.status == "pending" and reply.attempts == 0
        assert reply.to_addr == "jidian.office@test.example"
        mail = message_from_bytes(reply.raw, policy=default_policy)
        assert str(mail["To"]) == "jidian.office@test.example"
        assert mail.get_all("To") is not None and len(mail.get_all("To")) == 1
    stale = client.post(f"/replies/{reply_id}/resend",
                        data={"csrf_token": token, "address": "x@test.example"})
    assert "无需重发" in client.get(stale.headers["Location"]).get_data(as_text=True)


def test_a_failed_reply_is_given_up_with_a_note(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    reply_id = failed_reply(runtime)
    client = login(app_for(runtime).test_client())
    token = page_csrf(client, f"/replies/{reply_id}")
    answer = client.post(f"/replies/{reply_id}/give-up",
                         data={"csrf_token": token, "note": "已电话通知单位"})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已放弃发送" in page and "已电话通知单位" in page
    assert "更正地址重发或放弃" not in client.get("/").get_data(as_text=True)
    with runtime.sessions() as session:
        assert session.get(Reply, reply_id).status == "dropped"  # type: ignore[union-attr]
    stale = client.post(f"/replies/{reply_id}/give-up", data={"csrf_token": token, "note": "再"})
    assert "无需放弃" in client.get(stale.headers["Location"]).get_data(as_text=True)
    # Without the CSRF token nothing happens.
    assert client.post(f"/replies/{reply_id}/resend",
                       data={"address": "a@test.example"}).status_code == 400


def test_readdressed_replaces_a_folded_to_header_only() -> None:
    raw = (b"From: a@x.example\r\nTo: old@x.example,\r\n  other@x.example\r\n"
           b"Subject: =?utf-8?b?5rWL6K+V?=\r\n\r\nTo: not a header\r\n")
    mail = message_from_bytes(readdressed(raw, "new@x.example"), policy=default_policy)
    assert mail.get_all("To") == ["new@x.example"] and str(mail["Subject"]) == "测试"
    assert mail.get_content().rstrip() == "To: not a header"


def test_a_note_is_stored_without_control_characters(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, roster=True)
    message_id = senderless(runtime)
    client = login(app_for(runtime).test_client())
    client.post(f"/messages/{message_id}/dismiss",
                data={"csrf_token": page_csrf(client), "reason": "垃圾\x00邮件\x07"})
    with runtime.sessions() as session:
        [action] = session.scalars(select(OfficeAction)).all()
        assert action.note == "垃圾邮件"


def test_a_reply_the_relay_cannot_take_arrives_at_the_corrected_address(
        tmp_path: Path, dovecot: Dovecot, smtp_relay: SmtpRelay) -> None:
    """A real failure: the relay does not offer SMTPUTF8, the sender's address is Chinese."""
    runtime = make_runtime(tmp_path)
    smtp = ServerSettings(host=smtp_relay.host, port=smtp_relay.port, security="none")
    runtime = Runtime(replace(runtime.settings, smtp=smtp), runtime.campaign)
    message = deliver(runtime, "张老师@test.example", full_set())
    assert outbox.send_pending(runtime.sessions, runtime.settings).failed == 1
    with runtime.sessions() as session:
        [reply] = session.scalars(select(Reply).where(Reply.message_pk == message.id)).all()
        assert reply.status == "failed" and "SMTPUTF8" in reply.last_error
    client = login(app_for(runtime).test_client())
    assert "更正地址重发或放弃" in client.get("/").get_data(as_text=True)
    answer = client.post(f"/replies/{reply.id}/resend",
                         data={"csrf_token": page_csrf(client, f"/replies/{reply.id}"),
                               "address": "zhang@test.example"})
    assert "回复已发出" in client.get(answer.headers["Location"]).get_data(as_text=True)
    [arrived] = dovecot.messages("zhang@test.example")
    mail = message_from_bytes(arrived, policy=default_policy)
    assert str(mail["To"]) == "zhang@test.example"
    assert str(mail["Subject"]).startswith("【已受理】")
    assert str(mail["Message-ID"]) == reply.smtp_message_id  # the same reply, not a new one


def test_an_assigned_mail_that_still_breaks_the_intake_stays_quarantined(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmp_path, roster=True)
    message_id = senderless(runtime)

    def explode(*_args: object) -> object:  # no correct mail breaks the reader: simulated
        raise RuntimeError("simulated reader crash")

    monkeypatch.setattr(intake, "read_document", explode)
    client = login(app_for(runtime).test_client())
    answer = client.post(f"/messages/{message_id}/assign-unit",
                         data={"csrf_token": page_csrf(client), "unit": str(roster_unit(runtime)),
                               "campaign": runtime.campaign.campaign.key})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "simulated reader crash" in page and "邮件仍在隔离区" in page
    with runtime.sessions() as session:
        [message] = session.scalars(select(Message)).all()
        assert message.id == message_id and message.result == QUARANTINED
        assert session.scalars(select(OfficeAction)).all() == []  # nothing was done
