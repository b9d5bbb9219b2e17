"""Crash test: a 200-mail backfill from Dovecot, `kill -9` at 20+ random moments, restarting
each time. Every mail must be recorded exactly once and answered; the figures are printed and
written to test-artifacts/crash.json.

The one way to answer a mail twice is a kill after the SMTP server has accepted a reply and
before the database records it as sent: SMTP itself cannot close that window (RFC 1047), the
outbox only makes it as small as it can be — one commit right after the server's 250.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from email import message_from_bytes
from pathlib import Path

import openpyxl
from intake_support import OFFICE, ON_TIME, Bot, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.machinemail import build_auto_reply
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx

MAILS = 200
KILLS = 20
SEED = int(os.environ.get("MAILBOT_CRASH_SEED", "20221010"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def backfill(bot: Bot) -> tuple[set[str], dict[str, str]]:
    """200 mails: whole sets, sets in two pieces, and some auto-replies. Returns all Message-IDs
    and, for each mail that must be answered, its sender."""
    ids: set[str] = set()
    answered: dict[str, str] = {}
    for n in range(MAILS):
        sender = f"unit-{n // 2:03d}@test.example"
        message_id = f"<backfill-{n}@client.test.example>"
        received = ON_TIME.replace(hour=8 + n // 60, minute=n % 60)
        if n % 10 == 9:
            raw = build_auto_reply(sender=f"away-{n}@test.example", to=OFFICE, subject="申报通知")
            message_id = next(line.split(b":", 1)[1].strip().decode() for line in raw.split(b"\r\n")
                              if line.lower().startswith(b"message-id:"))
        else:
            # Each sender is its own unit with its own studio, sending its set in two pieces.
            studio = replace(SAMPLE_STUDIOS[n // 2 % 5], unit=f"第{n // 2}学院",
                             name=f"第{n // 2}创新工作室")
            files = ([("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),
                      ("附件2-推荐审批表.docx", approval_docx(studio))] if n % 2 == 0
                     else [("附件3-申报材料.docx", material_docx(studio, 1500))])
            raw = build_mail(sender=sender, to=OFFICE, subject=f"申报材料 {n}", body="请查收。",
                             attachments=files, style="outlook", date=received,
                             message_id=message_id)
            answered[message_id] = sender
        bot.dovecot.append(OFFICE, raw, internaldate=received)
        ids.add(message_id)
    return ids, answered


def test_kill_minus_nine_at_random_moments_loses_nothing(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                        tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    ids, answered = backfill(bot)
    env = bot.environment()
    command = [sys.executable, "-m", "mailbot", "poll"]
    rng = random.Random(SEED)
    kills = 0
    started = time.monotonic()
    while kills < KILLS:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 3.0))
        if process.poll() is None:
            process.kill()
            kills += 1
        process.wait()
    finishing_runs = 0
    while True:  # restart until a run has nothing left to do
        finishing_runs += 1
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        if "本次收取 0 封" in done.stdout and "待发送 0" in done.stdout:
            break
        assert finishing_runs < 10, done.stdout
    elapsed = time.monotonic() - started

    with sqlite3.connect(bot.state_dir / "mailbot.sqlite3") as db:
        recorded = Counter(row[0] for row in db.execute("SELECT message_id FROM messages"))
        results = Counter(row[0] for row in db.execute("SELECT result FROM messages"))
        retried = {row[0]: row[1] for row in db.execute(
            "SELECT m.message_id, r.attempts FROM replies r JOIN messages m ON m.id = r.message_pk")}
    deliveries: Counter[str] = Counter()
    for sender in set(answered.values()):
        for raw in bot.dovecot.messages(sender):
            deliveries[str(message_from_bytes(raw)["In-Reply-To"])] += 1
    figures = {
        "mails": MAILS, "kills": kills, "seed": SEED, "seconds": round(elapsed, 1),
        "recorded_exactly_once": sum(1 for i in ids if recorded[i] == 1),
        "to_answer": len(answered),
        "replies_delivered": sum(1 for i in answered if deliveries[i] >= 1),
        "duplicate_replies": sum(deliveries[i] - 1 for i in answered if deliveries[i] > 1),
        "interrupted_sends": sum(1 for i in answered if retried.get(i, 0) > 1),
        "results": dict(results),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "crash.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    print("\ncrash test:", json.dumps(figures, ensure_ascii=False))

    assert set(recorded) == ids and figures["recorded_exactly_once"] == MAILS
    assert figures["replies_delivered"] == len(answered)
    assert results["隔离"] == 0 and results["忽略"] == MAILS // 10
    # Even mails are first pieces (补正); odd ones complete the set (受理) unless auto-replies.
    assert results["补正"] == 100 and results["受理"] == 80
    flags = bot.dovecot.flags(OFFICE)
    assert len(flags) == MAILS and all("$MailbotHandled" in f for f in flags.values())
    openpyxl.load_workbook(bot.state_dir / "汇总表.xlsx")  # whole, whatever the kills hit
    # Goal 0. A duplicate can only come from a kill inside an SMTP transaction the server went
    # on to accept (see the docstring): every duplicated reply shows an interrupted attempt.
    for message_id in answered:
        if deliveries[message_id] > 1:
            assert retried[message_id] >= deliveries[message_id], message_id
