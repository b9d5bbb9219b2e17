"""Parsing ahead in a helper process (intake.parseahead) gives what parsing here gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mailbot.intake import parseahead
from mailbot.mail.fetched import FetchedMail
from mailbot.mail.parse import parse_message

CORPUS = sorted((Path(__file__).parent / "corpus").rglob("*.eml"))
OWN = ("office@example.test",)


def _fetched() -> list[FetchedMail]:
    moment = datetime(2022, 10, 9, tzinfo=UTC)
    return [FetchedMail(uid=n, received_at=moment, raw=path.read_bytes())
            for n, path in enumerate(CORPUS, start=1)]


def test_the_helper_parses_every_corpus_mail_as_the_intake_would() -> None:
    mails = _fetched()
    assert len(mails) >= parseahead.MIN_MAILS  # else the helper would not be used at all
    seen = list(parseahead.parsed_ahead(iter(mails), len(mails), OWN))
    assert [mail.uid for mail, _parsed in seen] == [mail.uid for mail in mails]  # in order
    for mail, parsed in seen:
        assert parsed == parse_message(mail.raw, OWN), CORPUS[mail.uid - 1]


def test_a_cycle_of_a_few_mails_parses_in_process() -> None:
    mails = _fetched()[:3]
    assert [parsed for _mail, parsed in parseahead.parsed_ahead(iter(mails), 3, OWN)] == [
        None, None, None]
