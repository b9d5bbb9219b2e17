"""No reply stops the outbox: each one fails on its own, with its reason on its row and in the
dashboard, and the replies queued after it still arrive — against Dovecot and aiosmtpd relays
with and without SMTPUTF8."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import aiosmtplib
import pytest
from intake_support import Bot, make_bot
from outbox_support import dashboard, deliver, raw_mail
from servers import Dovecot, SmtpRelay
from sqlalchemy import select

from mailbot.office import outbox
from mailbot.store.database import open_database
from mailbot.store.models import Reply

GOOD = [f"unit-{n}@test.example" for n in range(5)]
IDN = "zhangsan@例子.中国"
IDN_ASCII = "zhangsan@xn--fsqu00a.xn--fiqs8s"
WIDE = "测试@example.test"


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


@pytest.fixture
def utf8_relay(dovecot: Dovecot) -> Iterator[SmtpRelay]:
    relay = SmtpRelay(dovecot, smtputf8=True)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


def replies(bot: Bot) -> dict[str, Reply]:
    with open_database(bot.settings.database)() as session:
        return {r.to_addr: r for r in session.scalars(select(Reply).order_by(Reply.id))}


def poison_first(bot: Bot) -> None:
    """A non-ASCII local part and an IDN domain queued before five ordinary senders."""
    for sender in (WIDE, IDN, *GOOD):
        deliver(bot, raw_mail(sender))


def test_without_smtputf8_the_wide_address_fails_alone_and_the_rest_arrive(bot: Bot) -> None:
    poison_first(bot)
    report = bot.poll()
    assert (report.replies.sent, report.replies.failed, report.replies.pending) == (6, 1, 0)
    for sender in GOOD:
        [reply] = bot.replies(sender)
        assert reply["To"] == sender
    [idn] = bot.replies(IDN_ASCII)  # the IDN domain went out as punycode
    assert idn["To"] == IDN_ASCII
    assert [m.rcpt_tos for m in bot.relay.messages if IDN_ASCII in m.rcpt_tos] == [[IDN_ASCII]]
    rows = replies(bot)
    failed = rows[WIDE]
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "测试@example.test 含中文等非 ASCII 字符" in failed.last_error
    assert "不支持国际化邮箱地址（SMTPUTF8）" in failed.last_error
    assert all(rows[sender].status == "sent" for sender in GOOD)
    # The next cycle does not try it again: it is failed, shown to the office.
    assert bot.poll().replies.failed == 0 and replies(bot)[WIDE].attempts == 1


def test_with_smtputf8_the_wide_address_goes_out_in_utf8(bot: Bot, utf8_relay: SmtpRelay
                                                          ) -> None:
    bot.relay = utf8_relay
    poison_first(bot)
    report = bot.poll()
    assert (report.replies.sent, report.replies.failed) == (7, 0)
    [wide] = [m for m in utf8_relay.messages if m.rcpt_tos == [WIDE]]
    assert "SMTPUTF8" in wide.mail_options
    mail = message_from_bytes(wide.raw, policy=default_policy)
    assert mail["To"] == WIDE and b"To: \xe6\xb5\x8b\xe8\xaf\x95@example.test" in wide.raw
    assert mail["Subject"].startswith("【已收到】工作室申报材料咨询")
    # The ASCII replies went out without it, and all arrived.
    assert all("SMTPUTF8" not in m.mail_options for m in utf8_relay.messages if m is not wide)
    assert all(len(bot.replies(sender)) == 1 for sender in (*GOOD, IDN_ASCII))


def test_any_exception_in_one_send_is_that_replys_alone(
        bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception of a kind no SMTP server produces (a bug, a library's ValueError), raised
    after MAIL FROM: the reply records it and the same connection sends the rest."""
    monkeypatch.setattr(outbox, "SMTP_CONNECTIONS", 1)
    victim = GOOD[0]
    real_rcpt = aiosmtplib.SMTP.rcpt

    async def rcpt(self: aiosmtplib.SMTP, recipient: str, /, **kwargs: object
                   ) -> aiosmtplib.SMTPResponse:
        if recipient == victim:
            raise RuntimeError("something nobody expected")
        return await real_rcpt(self, recipient, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aiosmtplib.SMTP, "rcpt", rcpt)
    for sender in GOOD:
        deliver(bot, raw_mail(sender))
    report = bot.poll()
    assert (report.replies.sent, report.replies.failed) == (4, 1)
    failed = replies(bot)[victim]
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "发送时出错（RuntimeError: something nobody expected）"
    assert bot.replies(victim) == []
    assert all(len(bot.replies(sender)) == 1 for sender in GOOD[1:])


def test_an_address_that_is_no_mailbox_fails_with_its_reason(bot: Bot) -> None:
    """A row queued before addresses were normalised (or by hand) with a broken address."""
    deliver(bot, raw_mail(GOOD[0]))
    bot.poll()
    with open_database(bot.settings.database).begin() as session:
        row = session.scalars(select(Reply)).one()
        session.add(Reply(kind="correction", to_addr="someone@-broken-.example", subject="s",
                          smtp_message_id="<broken@x>", raw=row.raw, created_at=row.created_at))
    deliver(bot, raw_mail(GOOD[1]))
    report = bot.poll()
    assert (report.replies.sent, report.replies.failed) == (1, 1)
    assert replies(bot)["someone@-broken-.example"].last_error == (
        "收件地址 someone@-broken-.example 不是有效的邮件地址")


def test_the_dashboard_shows_failed_replies_with_their_reason(bot: Bot) -> None:
    poison_first(bot)
    bot.poll()
    client = dashboard(bot)
    overview = client.get("/").get_data(as_text=True)
    assert 'id="count-replies-failed">1<' in overview
    assert "未发出的回复" in overview and "不支持国际化邮箱地址（SMTPUTF8）" in overview
    failed = replies(bot)[WIDE]
    # A question (咨询) makes no unit: its mail's page lists the reply and why it failed.
    mail = client.get(f"/messages/{failed.message_pk}").get_data(as_text=True)
    assert "发送失败" in mail and "不支持国际化邮箱地址（SMTPUTF8）" in mail
    page = client.get(f"/replies/{failed.id}").get_data(as_text=True)
    assert "不支持国际化邮箱地址（SMTPUTF8）" in page and "发送次数" in page


def test_every_queued_mail_is_addressed_to_normalised_mailboxes(tmp_path: Path) -> None:
    """Reminders go to a unit's addresses as the roster wrote them: one IDN among them makes
    the header punycode, not a UTF-8 mail only SMTPUTF8 servers take."""
    from email.message import EmailMessage
    from email.policy import SMTP

    sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    mail = EmailMessage(policy=SMTP)
    mail["To"] = f"{IDN}, Unit-A@Test.Example"
    mail["Subject"], mail["Message-ID"] = "【提醒】", "<r1@test.example>"
    mail.set_content("提醒")
    with sessions.begin() as session:
        reply = outbox.queue(session, mail, kind="reminder", message_pk=None)
    assert reply.to_addr == f"{IDN_ASCII}, unit-a@test.example"
    head = reply.raw.split(b"\r\n\r\n")[0]
    assert head.isascii() and f"To: {IDN_ASCII}, unit-a@test.example".encode() in head
