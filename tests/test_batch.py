"""Several mails under one commit (intake.batch): each mail in a savepoint of its own, nothing
committed before the batch is, a mail that fails rolled back alone — rows, files and what the
cycle remembers of its unit. Real Dovecot, real SQLite, real SMTP relay."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from intake_support import ON_TIME, Bot, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.intake import steps
from mailbot.intake.batch import Batch
from mailbot.intake.cycle import Runtime, save_raw
from mailbot.store import statedir

STUDIO = SAMPLE_STUDIOS[0]
UNIT = "unit-a@test.example"


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def first_part() -> list[tuple[str, bytes]]:
    return [("附件1-推荐汇总表.docx", summary_docx(STUDIO.unit, [STUDIO])),
            ("附件2-推荐审批表.docx", approval_docx(STUDIO))]


def material(subject: str) -> list[tuple[str, bytes]]:
    # Each version differs (its own 字数), as a corrected file would.
    return [("附件3-申报材料.docx", material_docx(STUDIO, 1500 + len(subject)))]


def rows(state_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state_dir / "mailbot.sqlite3") as db:
        return list(db.execute(sql))


def test_nothing_is_committed_before_the_batch_is(bot: Bot) -> None:
    # With the sqlite3 module left to itself, the first SAVEPOINT would open the transaction and
    # its RELEASE commit it: each mail committed alone, and a rollback undoing nothing.
    runtime = Runtime(bot.settings, bot.campaign)
    mails = [build_mail(sender=UNIT, to="office@test.example", subject=f"申报材料 {n}",
                        body="请查收。", attachments=first_part(), style="outlook",
                        date=ON_TIME, message_id=f"<batch-{n}@test.example>") for n in range(2)]
    batch = Batch(runtime)
    for raw in mails:
        message, new = batch.record(raw, save_raw(bot.state_dir, raw), ON_TIME)
        assert new and message.id is not None
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(0,)]  # seen from outside
    batch.rollback()
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(0,)]
    assert not list((bot.state_dir / "files").rglob("*.docx"))  # no file without its row

    with Batch(runtime) as batch:
        for raw in mails:
            batch.record(raw, save_raw(bot.state_dir, raw), ON_TIME)
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(2,)]
    assert [r.new for r in batch.recorded] == [True, True]
    kept = {str(p.relative_to(bot.state_dir)) for p in (bot.state_dir / "files").rglob("*")
            if p.is_file()}
    assert kept == {path for (path,) in rows(bot.state_dir, "SELECT stored_path FROM documents")}


def test_a_mail_failing_after_its_files_are_kept_is_rolled_back_alone(
        bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(verdict: steps.Verdict) -> None:
        if "坏" in verdict.parsed.subject:
            raise RuntimeError("simulated failure after keep_files")

    # After every step, the files included: what was written for it must go with its rows.
    monkeypatch.setattr(steps, "AFTER_CHECKS", (*steps.AFTER_CHECKS, explode))
    bot.submit(UNIT, first_part(), subject="申报材料 第一部分")
    bot.submit(UNIT, material("坏"), subject="申报材料（坏）", received=ON_TIME.replace(hour=11))
    bot.submit(UNIT, material("好的附件3"), subject="申报材料 附件3",
               received=ON_TIME.replace(hour=12))
    tally = bot.poll()
    assert tally.results == {"补正": 1, "隔离": 1, "受理": 1}
    assert tally.fetched == 3 and not tally.storage_error

    # The set was judged without the rolled-back mail's rows: three forms, one version each.
    documents = rows(bot.state_dir, "SELECT kind, stored_path FROM documents ORDER BY id")
    assert sorted(kind for kind, _path in documents) == ["approval", "material", "summary"]
    kept = {str(p.relative_to(bot.state_dir)) for p in (bot.state_dir / "files").rglob("*")
            if p.is_file()}
    assert kept == {path for _kind, path in documents}  # every file has its row, and back
    [(result, reason)] = rows(bot.state_dir,
                              "SELECT result, reason FROM messages WHERE subject LIKE '%坏%'")
    assert result == "隔离" and "simulated failure after keep_files" in reason
    # Each recorded mail is marked on the server, after the commit.
    flags = bot.dovecot.flags("office@test.example")
    assert len(flags) == 3 and all("$MailbotHandled" in f for f in flags.values())


def test_the_first_mail_of_a_cycle_is_committed_alone(
        bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # A kill before a batch commits leaves its raw mails kept and unrecorded. In an empty
    # database that must be one mail at most, or the next start takes it for a database that
    # lost its history (store.statedir.guard) and stops.
    for n in range(3):
        bot.submit(f"unit-{n}@test.example", first_part(), subject=f"申报材料 {n}",
                   received=ON_TIME.replace(hour=9 + n))
    sizes: list[int] = []
    real = Batch.commit

    def commit(self: Batch) -> list[object]:
        sizes.append(len(self.recorded))
        if len(sizes) == 2:
            raise KeyboardInterrupt  # as a kill, as far as this process is concerned
        return real(self)  # type: ignore[return-value]

    monkeypatch.setattr(Batch, "commit", commit)
    with pytest.raises(KeyboardInterrupt):
        bot.poll()
    assert sizes == [1, 2]
    assert len(list((bot.state_dir / "raw").rglob("*.eml"))) == 3
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(1,)]
    statedir.guard(bot.state_dir, bot.settings.database)  # a normal restart
    flags = bot.dovecot.flags("office@test.example")
    assert sum("$MailbotHandled" in f for f in flags.values()) == 1  # only what was committed
    monkeypatch.setattr(Batch, "commit", real)
    assert bot.poll().results == {"补正": 2}  # the other two, recorded at the next start


def test_a_received_file_that_cannot_be_written_stops_its_batch_and_loses_nothing(
        bot: Bot) -> None:
    # The files of a batch are written by the raw-mail threads while the intake goes on
    # (store.statedir.write_in_background), and settled before the commit. One that cannot be
    # written is our storage failing, not the mail: the batch is not committed, no file stays
    # without its row, nothing is marked, and the next cycle records the mails once it can.
    bot.submit(UNIT, first_part(), subject="申报材料 第一部分")  # the first mail: alone
    bot.submit(UNIT, material("附件3"), subject="申报材料 附件3",
               received=ON_TIME.replace(hour=11))
    bot.submit("unit-b@test.example", first_part(), subject="申报材料 乙",
               received=ON_TIME.replace(hour=12))
    (bot.state_dir / "files").mkdir(parents=True)
    (bot.state_dir / "files" / "2").write_text("a file where the second mail's folder goes")
    tally = bot.poll()
    assert tally.fetched == 3 and "cannot keep a received file" in tally.storage_error
    assert tally.results == {"补正": 1}  # the first mail, committed before the second batch
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(1,)]
    kept = {str(p.relative_to(bot.state_dir)) for p in (bot.state_dir / "files").rglob("*.docx")}
    assert kept == {path for (path,) in rows(bot.state_dir, "SELECT stored_path FROM documents")}
    flags = bot.dovecot.flags("office@test.example")
    assert sum("$MailbotHandled" in f for f in flags.values()) == 1

    (bot.state_dir / "files" / "2").unlink()  # the disk fixed
    tally = bot.poll()
    # Both complete the set of the first (the forms name its unit, whoever sends them).
    assert not tally.storage_error and tally.results == {"受理": 2}
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(3,)]
    flags = bot.dovecot.flags("office@test.example")
    assert all("$MailbotHandled" in f for f in flags.values())


def test_a_place_noted_by_another_worker_meanwhile_is_noted_once(bot: Bot) -> None:
    # The cycle says the UID was not recorded when it looked (`new_place`), so the place is
    # noted without asking; another worker noted it since (the mail delivered there twice,
    # the other copy recorded first): the unique key fails the first attempt, the second asks.
    runtime = Runtime(bot.settings, bot.campaign)
    first, second = (build_mail(sender=UNIT, to="office@test.example", subject=f"申报材料 {n}",
                                body="请查收。", attachments=first_part(), style="outlook",
                                date=ON_TIME, message_id=f"<place-{n}@test.example>")
                     for n in range(2))
    with Batch(runtime) as batch:
        batch.record(first, save_raw(bot.state_dir, first), ON_TIME,
                     place=("INBOX", 7, 41), new_place=True)
    with Batch(runtime) as batch:
        message, new = batch.record(second, save_raw(bot.state_dir, second), ON_TIME,
                                    place=("INBOX", 7, 41), new_place=True)
    assert new and message.id is not None
    assert rows(bot.state_dir, "SELECT COUNT(*) FROM messages") == [(2,)]
    assert rows(bot.state_dir, "SELECT uid, message_pk FROM mailbox_uids") == [(41, 1)]
