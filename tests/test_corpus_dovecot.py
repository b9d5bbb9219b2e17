"""The whole corpus delivered into a real Dovecot (LMTP, with its envelope senders) and polled.

One cycle over every client's mail, every bounce, every broken mail: the workbook's 收件记录
shows each attachment under its exact name, automatic mail is 忽略 and gets no answer, the mail
without a sender is 隔离 with the office told, and every other sender gets exactly one reply.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from intake_support import OFFICE, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.intake.cycle import Runtime, run_cycle

CORPUS = Path(__file__).resolve().parent / "corpus"
BOT_ADDRESS = "litiantian@sztu.edu.cn"  # the address the corpus mails were written to
CLERK = "clerk@test.example"
# What the office reads in 问题 for each finding the parser makes.
FINDING_WORDS = {"archive-unsupported": "压缩包", "archive-limit": "压缩包", "mail-encrypted": "加密"}


def corpus() -> list[tuple[bytes, dict[str, Any]]]:
    return [(eml.read_bytes(), json.loads(eml.with_suffix(".json").read_text(encoding="utf-8")))
            for eml in sorted(CORPUS.glob("*/*.eml"))]


@pytest.mark.skipif(Path("/tmp/mailbot-escape").exists(), reason="left over by another run")
def test_corpus_through_dovecot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    # A dedicated mailbox: every corpus mail goes through the whole intake (in a shared one,
    # the broken mails and the bounces of others' mail would be 未归类 and left alone).
    settings = replace(bot.settings, from_address=BOT_ADDRESS, office_email=CLERK,
                       shared_mailbox=False)
    cases = corpus()
    subjects = [want["subject"] for _raw, want in cases]
    assert len(set(subjects)) == len(subjects), "corpus subjects must be unique"
    for raw, want in cases:
        dovecot.deliver(OFFICE, raw, sender=want["envelope_from"])

    report = run_cycle(Runtime(settings, bot.campaign))
    assert not report.mailbox_error and report.fetched == len(cases)

    rows = {row["主题"]: row for row in bot.sheet("收件记录")}
    assert len(rows) == len(cases)
    for _raw, want in cases:
        row = rows[want["subject"]]
        names = "\n".join(a["name"] for a in want["attachments"]) or None
        where = f"{want['subject']}: {row}"
        if want["result"] is None:
            # A mail with no documents at all is a question (咨询).
            allowed = ("受理", "补正") if want["attachments"] else ("受理", "补正", "咨询")
            assert row["处理结果"] in allowed, where
            assert row["附件"] == names, where  # exact names, as the sender wrote them
        else:
            assert row["处理结果"] == want["result"], where
            assert row["问题"], where  # the reason is recorded for the office
        if want["no_reply"]:
            assert "未自动回复" in row["问题"], where
        for code in want["findings"]:
            assert FINDING_WORDS[code] in row["问题"], (code, where)

    # Exactly one reply to each person whose mail was answered, none to machines.
    expected = Counter(want["from"] for _raw, want in cases if want["answered"])
    for address in {want["from"] for _raw, want in cases if want["from"]}:
        if address == BOT_ADDRESS:
            continue
        # Notices that another address sent forms for the same unit are not answers.
        answers = [m for m in bot.replies(address)
                   if not str(m["Subject"]).startswith("【告知】")]
        assert len(answers) == expected[address], address
    # The mail nobody can be told about went to the office, with the raw mail attached.
    [notice] = bot.replies(CLERK)
    assert "隔离" in str(notice["Subject"])
    # The zip with ../../ members wrote nothing outside the state directory.
    assert not Path("/tmp/mailbot-escape").exists()
    assert all(p.resolve().is_relative_to(bot.state_dir.resolve())
               for p in (bot.state_dir / "files").rglob("*"))
