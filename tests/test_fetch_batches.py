"""Several mails per IMAP round trip: the same mails as one at a time, in bounded batches.

Against a real Dovecot: `Mailbox.fetch_all` must give exactly what `fetch` gives mail by mail
(whole mails, dates, a too-large mail's header only, a removed mail left out), with far fewer
FETCH commands; the grouping itself is a small pure function checked on its own.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from intake_support import OFFICE, ON_TIME, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.mail import imap as mailbox
from mailbot.mail.fetched import FETCH_BATCH_BYTES, FETCH_BATCH_COUNT, batch_uids
from mailbot.mail.imap import Mailbox

LIMIT = 300 * 1024
MB = 1024 * 1024


def test_batches_keep_the_order_and_the_bounds() -> None:
    sizes = [(uid, 10_000) for uid in range(1, 121)]
    groups = batch_uids(sizes, LIMIT)
    assert [uid for group in groups for uid in group] == list(range(1, 121))
    assert [len(group) for group in groups] == [FETCH_BATCH_COUNT, FETCH_BATCH_COUNT, 20]


def test_a_large_or_oversized_mail_goes_alone_and_bytes_are_bounded() -> None:
    big = FETCH_BATCH_BYTES // 3
    sizes = [(1, 100), (2, LIMIT + 1), (3, 200), (4, FETCH_BATCH_BYTES + 1), (5, big),
             (6, big), (7, big), (8, big)]
    groups = batch_uids(sizes, limit=100 * MB)
    assert groups == [[1, 2, 3], [4], [5, 6, 7], [8]]
    assert batch_uids(sizes, limit=LIMIT) == [[uid] for uid in range(1, 9)]
    assert batch_uids([], LIMIT) == []


@pytest.mark.parametrize("count", [3, 60])
def test_fetch_all_gives_what_fetch_gives(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          count: int) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    form = approval_docx(SAMPLE_STUDIOS[0])
    for n in range(count):
        bot.submit(f"unit-{n}@test.example", [(f"附件2-{n}.docx", form)],
                   received=ON_TIME + timedelta(minutes=n))
    bot.submit("big@test.example", [("扫描件.pdf", b"%PDF-1.4\n" + os.urandom(400 * 1024))])
    with dovecot.imap(OFFICE) as client:  # one mail removed: its UID is asked for, and gone
        client.select("INBOX")
        client.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
        client.expunge()
    settings = replace(bot.settings, max_message_bytes=LIMIT)
    uids = list(range(1, count + 2))
    with Mailbox(settings) as box:
        box.open_folder()
        one_by_one = [fetched for uid in uids if (fetched := box.fetch(uid)) is not None]
        fetches = []
        command = box.client.uid

        def counted(name: str, *args: str) -> tuple[str, list[object]]:
            fetches.append(name)
            return command(name, *args)

        monkeypatch.setattr(box.client, "uid", counted)  # counts the commands sent, no more
        batched = list(box.fetch_all(uids))
    assert batched == one_by_one
    assert [f.uid for f in batched] == [1, *range(3, count + 2)]
    assert batched[-1].omitted > LIMIT and len(batched[-1].raw) < 16 * 1024  # its header
    assert all(not f.omitted and f.raw.endswith(b"\r\n") for f in batched[:-1])
    # Sizes once, the small mails in ceil(count / FETCH_BATCH_COUNT) batches, the big one's
    # size and header as fetch() asks for them.
    batches = -(-(count - 1) // FETCH_BATCH_COUNT)
    assert fetches == ["FETCH"] * (1 + batches + 2)


def test_a_batch_the_server_refuses_is_fetched_one_by_one(
        dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    for n in range(4):
        bot.submit(f"unit-{n}@test.example", [("附件2.docx", approval_docx(SAMPLE_STUDIOS[1]))])
    with Mailbox(bot.settings) as box:
        box.open_folder()
        expected = [box.fetch(uid) for uid in range(1, 5)]
        # No server refuses a batch it would serve mail by mail, so the refusal is staged.
        monkeypatch.setattr(mailbox.Mailbox, "_bodies", lambda self, uids: None)
        assert list(box.fetch_all([1, 2, 3, 4])) == expected
