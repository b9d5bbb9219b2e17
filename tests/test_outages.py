"""Outages: the IMAP server gone mid-cycle, the SMTP server down for a while, the state disk
full. No crash, a clear line, nothing lost, everything delivered once the server is back, and
never a half-written workbook."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from intake_support import OFFICE, ON_TIME, Bot, make_bot
from prerequisites import unavailable
from servers import Dovecot, SmtpRelay

from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.mail import fetched
from mailbot.mail import imap as mailbox

STUDIO = SAMPLE_STUDIOS[0]


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def submit_many(bot: Bot, count: int, start: int = 0) -> list[str]:
    senders = [f"unit-{n:03d}@test.example" for n in range(start, start + count)]
    for n, sender in enumerate(senders):
        # Each sender its own unit: one unit's second address would also notify the first.
        studio = replace(STUDIO, unit=f"{STUDIO.unit}{start + n:03d}",
                         name=f"{STUDIO.name}{start + n:03d}")
        files = [("附件1-汇总表.docx", summary_docx(studio.unit, [studio])),
                 ("附件2-审批表.docx", approval_docx(studio)),
                 ("附件3-申报材料.docx", material_docx(studio, 900))]
        bot.submit(sender, files, received=ON_TIME.replace(minute=n % 60))
    return senders


def replies_per_sender(bot: Bot, senders: list[str]) -> dict[str, int]:
    return {s: len(bot.dovecot.messages(s)) for s in senders}


def test_smtp_down_for_a_while_then_everything_is_delivered_once(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    senders = submit_many(bot, 3)
    bot.relay.stop()
    with caplog.at_level(logging.WARNING, logger="mailbot.office.outbox"):
        report = bot.poll()
    assert report.results == {"受理": 3}
    assert report.replies.pending == 3 and report.replies.sent == 0
    assert any("unreachable" in r.getMessage() and "3 replies stay queued" in r.getMessage()
               for r in caplog.records)
    assert replies_per_sender(bot, senders) == dict.fromkeys(senders, 0)

    bot.relay.start()
    again = bot.poll()  # nothing new to fetch; the outbox is retried
    assert again.fetched == 0 and again.replies.sent == 3
    assert replies_per_sender(bot, senders) == dict.fromkeys(senders, 1)
    assert bot.poll().replies.sent == 0  # and never again


def test_imap_server_stopped_in_the_middle_of_a_cycle(
        bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    senders = submit_many(bot, 12)
    monkeypatch.setattr(fetched, "FETCH_BATCH_COUNT", 5)  # fetched in batches of 5, 5 and 2
    real_bodies = mailbox.Mailbox._bodies
    batches: list[Sequence[int]] = []

    def bodies_then_outage(self: mailbox.Mailbox, uids: Sequence[int]) -> dict[int, bytes] | None:
        # Only the timing is arranged here: the outage itself is a real Dovecot going away.
        if len(batches) == 1:
            bot.dovecot.crash()
        batches.append(uids)
        return real_bodies(self, uids)

    monkeypatch.setattr(mailbox.Mailbox, "_bodies", bodies_then_outage)
    report = bot.poll()
    assert report.mailbox_error.startswith("IMAP ")
    assert sum(report.results.values()) == 5  # the five before the outage are recorded
    # Their replies wait in the outbox: the relay delivers into the same Dovecot.
    assert report.replies.pending == 5
    book = openpyxl.load_workbook(bot.state_dir / "汇总表.xlsx")  # whole, not half-written
    assert book["收件记录"].max_row == 1 + 5

    monkeypatch.setattr(mailbox.Mailbox, "_bodies", real_bodies)
    bot.dovecot.start()
    after = bot.poll()
    assert not after.mailbox_error and sum(after.results.values()) == 7
    assert replies_per_sender(bot, senders) == dict.fromkeys(senders, 1)
    assert len(bot.sheet("收件记录")) == 12


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs as the state directory, so the disk can really fill up."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("the disk-full test needs root to mount a tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_state_disk_full_stops_cleanly_and_recovers(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                    small_disk: Path) -> None:
    bot = Bot(dovecot, smtp_relay, small_disk / "state", make_bot(dovecot, smtp_relay,
                                                                  small_disk).campaign)
    first = submit_many(bot, 2)
    assert bot.poll().results == {"受理": 2}
    before = bot.sheet("收件记录")

    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as out:  # fill the disk to the last block
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    later = submit_many(bot, 3, start=10)
    report = bot.poll()
    assert "No space left on device" in report.storage_error
    assert not report.results  # nothing half-recorded
    assert bot.sheet("收件记录") == before  # the old workbook is intact, never half-written
    assert not list((small_disk / "state").glob(".汇总表-*"))  # no temporary left behind
    flags = bot.dovecot.flags(OFFICE)
    assert sum("$MailbotHandled" in f for f in flags.values()) == 2  # new mail not marked

    filler.unlink()
    recovered = bot.poll()
    assert not recovered.storage_error and recovered.results == {"受理": 3}
    assert replies_per_sender(bot, first + later) == dict.fromkeys(first + later, 1)
    assert len(bot.sheet("收件记录")) == 5


def test_a_reply_claimed_by_a_live_sender_is_left_to_it(bot: Bot) -> None:
    """Another process (any machine) sending a reply holds its claim in the database: nobody
    else sends it; once that process is gone, its claim is void and the reply goes out once."""
    import sys

    from sqlalchemy import update

    from mailbot.store import coordination
    from mailbot.store.database import open_database
    from mailbot.store.models import Reply
    from mailbot.timefmt import utcnow

    senders = submit_many(bot, 2)
    bot.relay.stop()
    assert bot.poll().results == {"受理": 2}  # recorded, replies queued, not sent
    bot.relay.start()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        sessions = open_database(bot.settings.database)
        with sessions.begin() as session:
            session.execute(update(Reply).values(claimed_by=coordination.holder(other.pid),
                                                 claimed_at=utcnow()))
        report = bot.poll()
        assert report.replies.sent == 0
        assert replies_per_sender(bot, senders) == dict.fromkeys(senders, 0)
    finally:
        other.kill()  # the other sender dies (kill -9): its claims are void at once
        other.wait()
    assert bot.poll().replies.sent == 2
    assert replies_per_sender(bot, senders) == dict.fromkeys(senders, 1)
    assert bot.poll().replies.sent == 0
