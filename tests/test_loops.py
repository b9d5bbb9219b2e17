"""No mail loop, ever: our own replies coming back, robots no header gives away, and the
per-sender reply limit — against a real Dovecot and SMTP relay."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from intake_support import OFFICE, Bot, make_bot
from servers import Dovecot, SmtpRelay
from sqlalchemy.orm import Session

from mailbot.config import Settings
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.intake import screening
from mailbot.mail.parse import parse_message
from mailbot.store.database import open_database
from mailbot.store.models import Reply
from mailbot.timefmt import utcnow

ROBOT = "robot@test.example"


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def ask(sender: str, subject: str, **headers: str) -> bytes:
    return build_mail(sender=sender, to=OFFICE, subject=subject, body="请问申报材料是否收到？",
                      style="qq", extra_headers=headers)


def test_our_own_reply_delivered_back_is_ignored(bot: Bot) -> None:
    bot.submit("unit-a@test.example", [("附件2.docx", approval_docx(SAMPLE_STUDIOS[0]))])
    bot.poll()
    [reply] = bot.dovecot.messages("unit-a@test.example")
    # The reply comes back to the mailbox under another From (an alias, a forwarding rule).
    returned = re.sub(rb"(?m)^From: .*$", b"From: alias@elsewhere.example", reply, count=1)
    bot.dovecot.deliver(OFFICE, returned, sender="alias@elsewhere.example")
    assert bot.poll().results == {"忽略": 1}
    row = bot.sheet("收件记录")[-1]
    assert row["处理结果"] == "忽略" and row["问题"].startswith("本系统自己发出的")
    assert bot.dovecot.messages("alias@elsewhere.example") == []


def test_a_message_id_from_our_outbox_is_ours_whatever_it_looks_like(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with sessions.begin() as session:
        session.add(Reply(kind="acknowledgement", to_addr="a@b.c", subject="s",
                          smtp_message_id="<plain-looking-id@other.example>", raw=b"",
                          created_at=utcnow()))
    raw = build_mail(sender="someone@other.example", to=OFFICE, subject="看起来像人",
                     message_id="<plain-looking-id@other.example>")
    with sessions() as session:
        parsed = screening.screen(session, Settings(), parse_message(raw))
    assert parsed.automatic == "本系统自己发出的回复（Message-ID <plain-looking-id@other.example>）"


def test_the_reply_limit_per_sender(bot: Bot) -> None:
    for n in range(7):
        bot.dovecot.deliver(OFFICE, ask(ROBOT, f"询问 {n}"))
    report = bot.poll()
    assert sum(report.results.values()) == 7  # every mail is recorded and checked…
    assert len(bot.dovecot.messages(ROBOT)) == 5  # …but only five answers within the hour
    rows = bot.sheet("收件记录")
    held = [row for row in rows if "未自动回复" in (row["问题"] or "")]
    assert len(held) == 2
    assert all(row["处理结果"] == "咨询" for row in held)  # the verdict is still recorded
    assert "每小时 5 封的上限" in held[0]["问题"]


def test_the_reply_limit_is_a_setting(bot: Bot) -> None:
    for n in range(3):
        bot.dovecot.deliver(OFFICE, ask(ROBOT, f"询问 {n}"))
    from mailbot.intake.cycle import Runtime, run_cycle
    run_cycle(Runtime(replace(bot.settings, reply_limit_per_hour=1), bot.campaign))
    assert len(bot.dovecot.messages(ROBOT)) == 1


def test_a_robot_that_answers_everything_gets_a_few_answers_then_silence(bot: Bot) -> None:
    """A naive autoresponder: no Auto-Submitted, no Precedence, a new subject each time."""
    bot.dovecot.deliver(OFFICE, ask(ROBOT, "你好"))
    answered = 0
    for _round in range(10):
        bot.poll()
        replies = bot.dovecot.messages(ROBOT)
        for reply in replies[answered:]:
            original = parse_message(reply)
            bot.dovecot.deliver(OFFICE, build_mail(
                sender=ROBOT, to=OFFICE, subject=f"Re: {original.subject}", style="netease",
                body="您好，您的邮件我们已收到，客服将尽快回复。",
                extra_headers={"In-Reply-To": original.message_id}))
        answered = len(replies)
    assert answered == 5  # then the bot goes quiet and the ping-pong ends
    assert bot.poll().fetched == 0


def test_no_reply_to_our_own_address_or_a_machine(bot: Bot) -> None:
    bot.dovecot.deliver(OFFICE, ask("person@test.example", "回复到办公室",
                                    **{"Reply-To": OFFICE}))
    bot.dovecot.deliver(OFFICE, ask("person2@test.example", "回复到机器",
                                    **{"Reply-To": "noreply@test.example"}))
    report = bot.poll()
    assert sum(report.results.values()) == 2 and report.replies.sent == 0
    problems = [row["问题"] for row in bot.sheet("收件记录")]
    assert any("是本系统自己的地址" in p for p in problems)
    assert any("是系统地址" in p for p in problems)


def test_older_replies_do_not_count(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    now = utcnow()
    with sessions.begin() as session:
        session.add_all(_reply(session, n, now - timedelta(hours=2)) for n in range(9))
    with sessions() as session:
        assert screening.recent_replies(session, "A@B.example", now) == 0
        assert screening.recent_replies(session, "a@b.example", now - timedelta(hours=2)) == 9


def _reply(session: Session, n: int, when: object) -> Reply:
    from mailbot.store.models import Message
    message = Message(message_id=f"<m{n}@x>", received_at=when, raw_path="", result="补正",
                      processed_at=when)
    session.add(message)
    session.flush()
    return Reply(message_pk=message.id, kind="correction", to_addr="a@b.example", subject="s",
                 smtp_message_id=f"<r{n}@x>", raw=b"", created_at=when)
