"""No input stops the intake (issue 10, item 1): real Dovecot, real SMTP, the real command.

A subject that decodes to a lone surrogate, a subject with a line break in it, a mail that even
the quarantine cannot record: each costs at most that one mail, never the others' answers, and
`mailbot poll` keeps exiting 0.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from intake_support import OFFICE, Bot, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    StudioSample,
    approval_docx,
    material_docx,
    summary_docx,
)
from mailbot.intake import pipeline as intake
from mailbot.intake import quarantine as quarantining

POISON = (b"From: poison@test.example\r\nTo: office@test.example\r\n"
          b"Subject: =?utf-7?q?+2AA-?=\r\nMessage-ID: <poison-1@test.example>\r\n"
          b"Date: Sun, 09 Oct 2022 10:00:00 +0800\r\n\r\n"
          + "请问工作室申报的截止时间？\r\n".encode())  # names the call: the campaign's mail
STUDIO = SAMPLE_STUDIOS[0]


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def good(sender: str, subject: str = "工作室申报材料", name: str = "附件2-推荐审批表.docx",
         studio: StudioSample = STUDIO) -> bytes:
    # Each sender its own studio (so its own unit): a second address for one unit would also
    # bring the unit's earlier address a notice, which is not what these tests count.
    return build_mail(sender=sender, to=OFFICE, subject=subject, body="见附件",
                      attachments=[(name, approval_docx(studio))], style="foxmail")


def poll(bot: Bot, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbot", "poll"], cwd=cwd, text=True,
                          capture_output=True, env=bot.environment(), timeout=300)


def test_a_poison_subject_costs_nobody_their_answer(bot: Bot, tmp_path: Path) -> None:
    bot.dovecot.append(OFFICE, good("before@test.example"))
    bot.dovecot.append(OFFICE, POISON)
    bot.dovecot.append(OFFICE, good("after@test.example", studio=SAMPLE_STUDIOS[1]))

    first = poll(bot, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert "本次收取 3 封" in first.stdout
    assert len(bot.dovecot.messages("before@test.example")) == 1
    assert len(bot.dovecot.messages("after@test.example")) == 1
    # The poison mail itself is an ordinary mail once its untrusted label is ignored.
    [row] = [r for r in bot.sheet("收件记录") if r["发件人"] == "poison@test.example"]
    assert row["主题"] == "+2AA-" and row["处理结果"] != "隔离"
    assert all("$MailbotHandled" in flags for flags in bot.dovecot.flags(OFFICE).values())

    for _ in range(2):  # and every later poll is an ordinary, empty one
        later = poll(bot, tmp_path)
        assert later.returncode == 0, later.stderr
        assert "本次收取 0 封" in later.stdout


def test_a_subject_with_a_line_break_is_answered_not_quarantined(bot: Bot) -> None:
    files = [("附件1-推荐汇总表.docx", summary_docx(STUDIO.unit, [STUDIO])),
             ("附件2-推荐审批表.docx", approval_docx(STUDIO)),
             ("附件3-申报材料.docx", material_docx(STUDIO, 1500))]
    raw = build_mail(sender="u2028@test.example", to=OFFICE, subject="申报材料",
                     body="见附件", attachments=files, style="gmail")
    # U+2028 inside an encoded word, and a CR LF that only appears once decoded.
    raw = raw.replace(raw[raw.index(b"Subject:"):raw.index(b"\r\n", raw.index(b"Subject:"))],
                      b"Subject: =?utf-8?b?" + base64.b64encode(
                          "申报材料\u2028完整".encode()) + b"?= =?utf-8?q?=0D=0A=E7=AC=AC=E4=BA=8C?=")
    bot.dovecot.append(OFFICE, raw)
    report = bot.poll()
    assert report.results == {"受理": 1}
    [reply] = bot.replies("u2028@test.example")
    subject = str(reply["Subject"])
    assert "申报材料 完整 第二" in subject
    assert not any(ch in subject for ch in "\r\n\u2028")


def test_a_mail_even_the_quarantine_cannot_record_is_retried_alone(
        bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # No mail content can make the quarantine fail any more; a bug of ours still could, so the
    # failure is planted: the pipeline and then the quarantine fail for one mail.
    real_read, real_quarantine = intake.read_document, quarantining.quarantine

    def read(filename: str, *args: Any) -> Any:
        if filename == "坏.docx":
            raise RuntimeError("planted pipeline failure")
        return real_read(filename, *args)

    def quarantine(session: Any, it: Any, raw: bytes, *args: Any) -> Any:
        if b"victim@" in raw:
            raise RuntimeError("planted quarantine failure")
        return real_quarantine(session, it, raw, *args)

    monkeypatch.setattr(intake, "read_document", read)
    monkeypatch.setattr(quarantining, "quarantine", quarantine)
    bot.dovecot.append(OFFICE, good("victim@test.example", name="坏.docx"))
    bot.dovecot.append(OFFICE, good("next@test.example", studio=SAMPLE_STUDIOS[1]))

    for cycle in (1, 2):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="mailbot.intake.cycle"):
            report = bot.poll()
        assert report.unrecorded == 1 and not report.storage_error, cycle
        told = [r.getMessage() for r in caplog.records if "left unmarked" in r.getMessage()]
        assert len(told) == 1 and "planted quarantine failure" in told[0], cycle
        assert "\n" not in told[0]  # one line each time, never silent, never a flood
        unmarked = [uid for uid, flags in bot.dovecot.flags(OFFICE).items()
                    if "$MailbotHandled" not in flags]
        assert len(unmarked) == 1, cycle
    # The other mail was answered once, in the first cycle, whatever the first one did.
    assert len(bot.dovecot.messages("next@test.example")) == 1
    assert bot.dovecot.messages("victim@test.example") == []

    monkeypatch.undo()  # our bug fixed: the next cycle records the mail that waited
    report = bot.poll()
    assert report.fetched == 1 and report.unrecorded == 0
    assert all("$MailbotHandled" in flags for flags in bot.dovecot.flags(OFFICE).values())
    assert len(bot.dovecot.messages("victim@test.example")) == 1

