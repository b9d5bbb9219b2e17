"""Several workers on one PostgreSQL: real Dovecot, the SMTP relay, a private PostgreSQL.

Each worker is a `mailbot` child process with its own, empty state directory; nothing one of
them keeps on its own disk may be needed by another or by the dashboard. The checks:
- two `poll` started at the same moment record each mail once and send each reply once;
- two `remind` at the same moment send each reminder once; receipt numbers are unique;
- a dashboard with a third, empty state directory serves every unit's latest forms, one by one
  and in materials.zip, and a resubmitted 附件3 counts in its second version;
- the crash test with two workers: `kill -9` of either at random moments loses nothing and
  records nothing twice; a reply delivered twice shows the interrupted attempt on its row.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import replace
from email import message_from_bytes
from pathlib import Path

import pytest
from intake_support import OFFICE, ON_TIME, Bot, make_bot
from servers import Dovecot, SmtpRelay
from sqlalchemy import create_engine, select, text
from web_support import PASSWORD, login

from mailbot.campaign.dossier import latest_documents
from mailbot.config import Settings
from mailbot.demo.machinemail import build_auto_reply
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.intake.cycle import Runtime
from mailbot.store.models import Unit
from mailbot.web import create_app

SEED = int(os.environ.get("MAILBOT_CRASH_SEED", "20221010"))
CRASH_MAILS = 60
CRASH_KILLS = 10


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def worker_env(bot: Bot, state_dir: Path, url: str) -> dict[str, str]:
    """A worker of its own: its state directory (empty), the shared database."""
    return bot.environment(MAILBOT_STATE_DIR=str(state_dir), MAILBOT_DATABASE_URL=url)


def at_once(bot: Bot, url: str, states: list[Path], *args: str) -> list[str]:
    """`mailbot ARGS` started in every state directory at the same moment; their outputs."""
    started = [subprocess.Popen([sys.executable, "-m", "mailbot", *args],
                                env=worker_env(bot, state, url), cwd=state.parent,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for state in states]
    outputs = []
    for process in started:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


def studio_of(n: int) -> object:
    return replace(SAMPLE_STUDIOS[n % 5], unit=f"第{n}学院", name=f"第{n}创新工作室")


def kept_files(state: Path) -> list[Path]:
    """What a worker kept on its own disk of mail and files (nothing, with a database server)."""
    return [p for folder in ("raw", "files") for p in (state / folder).rglob("*") if p.is_file()]


def test_two_workers_and_a_dashboard_share_one_postgresql(bot: Bot, postgres_url: str,
                                                          tmp_path: Path) -> None:
    senders = [f"unit-{n}@test.example" for n in range(8)]
    sent_files: dict[str, dict[str, bytes]] = {}
    for n, sender in enumerate(senders):
        studio = studio_of(n)
        files = [("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),  # type: ignore[attr-defined]
                 ("附件2-推荐审批表.docx", approval_docx(studio))]  # type: ignore[arg-type]
        if n != 7:  # unit 7 never sends its 附件3: it gets a reminder
            files.append(("附件3-申报材料.docx", material_docx(studio, 1200)))  # type: ignore[arg-type]
        bot.submit(sender, files, received=ON_TIME.replace(minute=n))
        sent_files[sender] = dict(files)
    second = material_docx(studio_of(0), 1800)  # type: ignore[arg-type]
    bot.submit(senders[0], [("附件3-申报材料（修改稿）.docx", second)],
               received=ON_TIME.replace(hour=14))
    states = [tmp_path / "worker-1", tmp_path / "worker-2", tmp_path / "dashboard"]

    at_once(bot, postgres_url, states[:2], "poll")
    engine = create_engine(postgres_url)
    with engine.connect() as db:
        ids = Counter(db.execute(text("SELECT message_id FROM messages")).scalars())
        receipts = [r for r in db.execute(text("SELECT receipt_no FROM messages")).scalars() if r]
        pending = db.execute(text("SELECT count(*) FROM replies WHERE status != 'sent'")).scalar()
    assert len(ids) == 9 and set(ids.values()) == {1}  # each mail recorded once
    assert len(receipts) == len(set(receipts)) >= 7  # receipt numbers unique
    assert pending == 0
    answers = {s: len(bot.dovecot.messages(s)) for s in senders}
    assert answers == {s: 2 if s == senders[0] else 1 for s in senders}  # each reply once

    moment = "2022-10-09T18:00:00"  # 1d before the deadline
    at_once(bot, postgres_url, states[:2], "remind", "--at", moment)
    reminders = {s: [m for m in bot.dovecot.messages(s) if _is_reminder(m)] for s in senders}
    assert len(reminders[senders[7]]) == 1  # sent once, though two workers were due to send it
    assert all(len(found) <= 1 for found in reminders.values())
    with engine.connect() as db:
        rows = db.execute(text("SELECT unit_id, \"offset\", count(*) FROM reminders "
                               "WHERE sent GROUP BY unit_id, \"offset\"")).all()
    assert rows and all(count == 1 for _unit, _offset, count in rows)
    assert sum(len(found) for found in reminders.values()) == len(rows)

    for state in states[:2]:
        assert kept_files(state) == []  # nothing worker-local
    _dashboard_serves_everything(bot, postgres_url, states[2], sent_files, second)
    engine.dispose()


def _is_reminder(raw: bytes) -> bool:
    from email.header import decode_header, make_header

    subject = str(make_header(decode_header(str(message_from_bytes(raw)["Subject"]))))
    return subject.startswith("【提醒】")


def _dashboard_serves_everything(bot: Bot, url: str, state: Path,
                                 sent: dict[str, dict[str, bytes]], second: bytes) -> None:
    """A dashboard on a third machine: its own empty state directory, the shared database."""
    settings = Settings(state_dir=state, database_url=url, from_address=OFFICE,
                        office_email="clerk@test.example", office_password=PASSWORD)
    runtime = Runtime(settings, bot.campaign)
    app = create_app(settings, bot.campaign, runtime=runtime)
    app.config["TESTING"] = True
    client = login(app.test_client())
    every = {hashlib.sha256(data).hexdigest() for files in sent.values() for data in files.values()}
    latest: list[str] = []
    with runtime.sessions() as session:
        for unit in session.scalars(select(Unit)):
            for doc in latest_documents(session, unit, bot.campaign):
                answer = client.get(f"/files/{doc.id}")
                assert answer.status_code == 200, doc.stored_path
                assert hashlib.sha256(answer.data).hexdigest() == doc.sha256
                latest.append(doc.sha256)
    second_sha = hashlib.sha256(second).hexdigest()
    assert second_sha in latest  # the resubmitted 附件3 is the one that counts
    first_sha = hashlib.sha256(sent["unit-0@test.example"]["附件3-申报材料.docx"]).hexdigest()
    assert first_sha not in latest
    assert set(latest) <= every | {second_sha}
    assert len(latest) == len(set(latest)) == 8 * 2 + 7  # 附件1 and 2 of eight units, 附件3 of 7

    answer = client.get("/materials.zip")
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    zipped = {hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()}
    assert zipped == set(latest)  # every latest form, nothing missing, no old one
    assert kept_files(state) == []


def crash_backfill(bot: Bot) -> tuple[set[str], dict[str, str]]:
    """60 mails: sets in two pieces and some auto-replies (as tests/test_crash.py, smaller).
    Returns every Message-ID and, for each mail that must be answered, its sender."""
    ids: set[str] = set()
    answered: dict[str, str] = {}
    for n in range(CRASH_MAILS):
        sender = f"unit-{n // 2:03d}@test.example"
        message_id = f"<workers-{n}@client.test.example>"
        received = ON_TIME.replace(hour=8 + n // 60, minute=n % 60)
        if n % 10 == 9:
            raw = build_auto_reply(sender=f"away-{n}@test.example", to=OFFICE, subject="申报通知")
            message_id = next(line.split(b":", 1)[1].strip().decode() for line in raw.split(b"\r\n")
                              if line.lower().startswith(b"message-id:"))
        else:
            studio = studio_of(n // 2)
            files = ([("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),  # type: ignore[attr-defined]
                      ("附件2-推荐审批表.docx", approval_docx(studio))] if n % 2 == 0  # type: ignore[arg-type]
                     else [("附件3-申报材料.docx", material_docx(studio, 1500))])  # type: ignore[arg-type]
            raw = build_mail(sender=sender, to=OFFICE, subject=f"申报材料 {n}", body="请查收。",
                             attachments=files, style="outlook", date=received,
                             message_id=message_id)
            answered[message_id] = sender
        bot.dovecot.append(OFFICE, raw, internaldate=received)
        ids.add(message_id)
    return ids, answered


def test_two_workers_killed_at_random_moments_lose_nothing(bot: Bot, postgres_url: str,
                                                          tmp_path: Path) -> None:
    ids, answered = crash_backfill(bot)
    states = [tmp_path / "worker-1", tmp_path / "worker-2"]
    command = [sys.executable, "-m", "mailbot", "poll"]
    rng = random.Random(SEED)

    def start(state: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=worker_env(bot, state, postgres_url), cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    workers = [start(state) for state in states]
    kills = 0
    while kills < CRASH_KILLS:  # both run all the time; either is killed now and then
        time.sleep(rng.uniform(0.5, 3.0))  # a start takes about a second: past it, mostly
        slot = rng.randrange(2)
        if workers[slot].poll() is None:
            workers[slot].kill()
            kills += 1
        workers[slot].wait()
        workers[slot] = start(states[slot])
    for worker in workers:
        worker.wait(timeout=300)
    for _ in range(10):  # restart until a run has nothing left to do
        done = subprocess.run(command, env=worker_env(bot, states[0], postgres_url),
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        if "本次收取 0 封" in done.stdout and "待发送 0" in done.stdout:
            break
    else:
        raise AssertionError(done.stdout)

    engine = create_engine(postgres_url)
    with engine.connect() as db:
        recorded = Counter(db.execute(text("SELECT message_id FROM messages")).scalars())
        results = Counter(db.execute(text("SELECT result FROM messages")).scalars())
        attempts = {str(m): int(a) for m, a in db.execute(text(
            "SELECT m.message_id, r.attempts FROM replies r JOIN messages m ON m.id = r.message_pk"
        ))}
        receipts = [r for r in db.execute(text("SELECT receipt_no FROM messages")).scalars() if r]
    engine.dispose()
    deliveries: Counter[str] = Counter()
    for sender in set(answered.values()):
        for raw in bot.dovecot.messages(sender):
            deliveries[str(message_from_bytes(raw)["In-Reply-To"])] += 1
    assert kills >= CRASH_KILLS
    assert set(recorded) == ids and set(recorded.values()) == {1}  # nothing lost, nothing twice
    assert all(deliveries[i] >= 1 for i in answered)  # every mail answered
    assert results["隔离"] == 0 and results["忽略"] == CRASH_MAILS // 10
    assert results["补正"] == CRASH_MAILS // 2 and results["受理"] == CRASH_MAILS * 2 // 5
    assert len(receipts) == len(set(receipts))
    # A reply delivered twice can only come from a kill inside an SMTP transaction the server
    # went on to accept: its row shows the interrupted attempt.
    for message_id in answered:
        if deliveries[message_id] > 1:
            assert attempts[message_id] >= deliveries[message_id], message_id
    flags = bot.dovecot.flags(OFFICE)
    assert len(flags) == CRASH_MAILS and all("$MailbotHandled" in f for f in flags.values())
    for state in states:
        assert kept_files(state) == []
    print(f"\ntwo workers, {kills} kills: {sum(deliveries.values()) - len(answered)} duplicate "
          f"replies, {sum(1 for a in attempts.values() if a > 1)} interrupted sends")


def test_the_same_mail_recorded_by_two_workers_at_once_is_one_row_never_quarantined(
        postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Worker A has processed a mail and not yet committed; worker B records the same mail and
    waits on A's locks. When A commits, B's commit fails on a unique key: B rolls back, looks
    again, finds A's row and records nothing — no quarantine, no second reply."""
    import threading

    from intake_support import RULES

    from mailbot.campaign.rules import load_rules
    from mailbot.intake import pipeline
    from mailbot.intake.cycle import record, save_raw

    campaign = load_rules(RULES)
    workers = [Runtime(Settings(state_dir=tmp_path / name, database_url=postgres_url,
                                from_address=OFFICE), campaign) for name in ("a", "b")]
    studio = studio_of(1)
    raw = build_mail(sender="unit-1@test.example", to=OFFICE, subject="申报材料", body="请查收。",
                     attachments=[("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),  # type: ignore[attr-defined]
                                  ("附件2-推荐审批表.docx", approval_docx(studio)),  # type: ignore[arg-type]
                                  ("附件3-申报材料.docx", material_docx(studio, 1500))],  # type: ignore[arg-type]
                     date=ON_TIME, message_id="<race@client.test.example>")
    key = save_raw(tmp_path, raw, workers[0].blobs)
    outcome: list[tuple[object, bool]] = []
    failure: list[BaseException] = []

    def worker_b() -> None:
        try:
            message, new = record(workers[1], raw, key, ON_TIME)
            outcome.append((message.result, new))
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    engine = create_engine(postgres_url)
    caplog.set_level(logging.INFO, logger="mailbot.intake.cycle")
    with workers[0].sessions.begin() as session:
        first, new = pipeline.handle(session, workers[0].intake, raw, key, ON_TIME)
        assert new
        thread = threading.Thread(target=worker_b)
        thread.start()
        deadline = time.monotonic() + 60
        while True:  # until B waits on A's locks (the race is on), on an event, not a sleep
            with engine.connect() as db:
                waiting = db.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                )).scalar()
            if waiting:
                break
            assert time.monotonic() < deadline and thread.is_alive(), failure
            time.sleep(0.05)
    thread.join(timeout=120)
    assert not failure, failure
    assert outcome == [(first.result, False)]  # B found A's row; nothing quarantined
    assert "recorded by another worker at the same moment" in caplog.text  # the race was run
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM messages")).scalar() == 1
        assert db.execute(text("SELECT count(*) FROM replies")).scalar() == 1
        assert db.execute(text("SELECT count(*) FROM messages WHERE result = '隔离'")).scalar() == 0
    engine.dispose()
