"""Broken mail is processed as far as it goes; what cannot be is 隔离 (kept whole, office and
sender told) — and the poll always goes on with the next mail. Real Dovecot, real SMTP."""

from __future__ import annotations

import random
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from intake_support import OFFICE, Bot, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.intake import pipeline as intake

CORPUS = Path(__file__).resolve().parent / "corpus" / "broken"
CLERK = "clerk@test.example"  # intake_support's office_email


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def good(sender: str, name: str = "附件2-推荐审批表.docx") -> bytes:
    return build_mail(sender=sender, to=OFFICE, subject=f"来自 {sender}", body="见附件",
                      attachments=[(name, approval_docx(SAMPLE_STUDIOS[0]))], style="foxmail")


def garbage(seed: int, size: int = 4000) -> bytes:
    noise = random.Random(seed)
    return bytes(noise.randrange(256) for _ in range(size))


def test_broken_mail_never_stops_the_poll(bot: Bot) -> None:
    mails = [good("first@test.example"),
             *(path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))),
             garbage(1), b"\r\n\r\n", b"From: half@test.example\r\nContent-Type: multipart/mixed",
             b"Subject: " + garbage(2, 300) + b"\r\nFrom: noise@test.example\r\n\r\n" + garbage(3),
             good("last@test.example")]
    for raw in mails:
        bot.dovecot.append(OFFICE, raw)
    report = bot.poll()
    assert not report.mailbox_error and report.fetched == len(mails)
    assert sum(report.results.values()) == len(mails)  # each one recorded, none lost
    assert report.results["隔离"] >= 2  # no sender at all: a person has to look
    # One answer each (first@ is also told that last@ sent a form for the same unit).
    for sender in ("first@test.example", "last@test.example"):
        answers = [m for m in bot.replies(sender) if not str(m["Subject"]).startswith("【告知】")]
        assert len(answers) == 1
    # Each one marked on the server — except what is no campaign's (未归类), left alone.
    flagged = sum("$MailbotHandled" in f for f in bot.dovecot.flags(OFFICE).values())
    assert flagged == len(mails) - report.results["未归类"]
    assert bot.poll().fetched == 0  # and nothing is retried forever


def attachment_of(mail: EmailMessage) -> bytes:
    [part] = list(mail.iter_attachments())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def test_a_mail_that_breaks_the_pipeline_is_quarantined_whole(
        bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # No real peer makes our own code fail on demand: the failure is planted here.
    real = intake.read_document

    def explode(filename: str, *args: Any) -> Any:
        if filename == "会出错.docx":
            raise RuntimeError("planted failure")
        return real(filename, *args)

    monkeypatch.setattr(intake, "read_document", explode)
    bot.dovecot.append(OFFICE, good("victim@test.example", "会出错.docx"))
    bot.dovecot.append(OFFICE, good("next@test.example"))
    report = bot.poll()
    assert report.results == {"隔离": 1, "补正": 1}

    [row] = [r for r in bot.sheet("收件记录") if r["处理结果"] == "隔离"]
    assert row["发件人"] == "victim@test.example" and "planted failure" in row["问题"]
    # The sender is told a person is looking at it…
    [told] = [message_from_bytes(raw, policy=default)
              for raw in bot.dovecot.messages("victim@test.example")]
    assert "已转人工处理" in str(told["Subject"])
    # …the office gets the mail exactly as it arrived…
    [notice] = bot.replies(CLERK)
    [on_server] = [raw for raw in bot.dovecot.messages(OFFICE) if b"victim@" in raw]
    assert attachment_of(notice) == on_server  # type: ignore[arg-type]
    # …and it is kept in the state directory too.
    kept = [p.read_bytes() for p in (bot.state_dir / "raw").rglob("*.eml")]
    assert on_server in kept
    # The next mail was handled as usual.
    assert len(bot.dovecot.messages("next@test.example")) == 1


def test_a_quarantined_robot_is_not_told(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake, "read_document",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("planted")))
    raw = good("robot@test.example").replace(
        b"MIME-Version: 1.0", b"MIME-Version: 1.0\r\nPrecedence: bulk\r\nX-Loop: x", 1)
    bot.dovecot.append(OFFICE, raw)
    raw = good("noreply@test.example")
    bot.dovecot.append(OFFICE, raw)
    bot.poll()
    # Both are automatic by their headers (a list, a no-reply sender): 忽略, never answered.
    assert {r["处理结果"] for r in bot.sheet("收件记录")} == {"忽略"}
    assert bot.dovecot.messages("robot@test.example") == []
    assert bot.dovecot.messages("noreply@test.example") == []
