"""The quick writer of plain replies (office.plainmail) against the email package's modern API:
for every combination of office name, subject, body and recipient below, the mail read back
(policy.default) has the same headers, the same body text and byte for byte the same body, and
the outbox row the same To and Subject; what the quick way does not handle falls back."""

from __future__ import annotations

import itertools
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot.office import plainmail
from mailbot.office.replies import Composer

NAMES = ["工会办公室", "Office", "O'Brien, Jr."]
SUBJECTS = ["s", "【已受理】申报材料 12（回执编号 LM-2022-0001）", "a " * 60, "长" * 200,
            "x" * 300, "=?utf-8?q?x?=", "混合 mixed 文本 " * 10, "  lead", "end  ", "emoji 😀"]
BODIES = ["", "one line", "第一行\n第二行\n", "a\r\nb\r\n", "长文本\n" * 300, "\n\n"]
PLAIN = ["a@b.example", "a@b.example, c@d.example"]
OTHERS = ["A@B.example", "测试@example.test", "x@中文.example", "not an address",
          "Name <a@b.example>"]
HEADERS = ["From", "To", "Subject", "In-Reply-To", "References", "Auto-Submitted",
           "X-Auto-Response-Suppress", "Precedence", "Content-Type", "Content-Transfer-Encoding",
           "MIME-Version"]


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    (tmp_path / "t.txt.j2").write_text("{{ text }}", encoding="utf-8")
    return tmp_path


def read(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_the_quick_way_writes_the_mail_the_email_package_writes(templates: Path) -> None:
    quick = 0
    for name, subject, body, to in itertools.product(NAMES, SUBJECTS, BODIES, PLAIN + OTHERS):
        composer = Composer(templates, "office@example.test", name)
        threaded = {"in_reply_to": "<m@x.example>",
                    "references": [f"<r{n}@x.example>" for n in range(len(body) % 12)]}
        expected = plainmail.from_message(composer.compose(
            "t.txt.j2", {"text": body}, to=to, subject=subject, **threaded))
        got = composer.outgoing("t.txt.j2", {"text": body}, to=to, subject=subject, **threaded)
        want, have = read(expected.raw), read(got.raw)
        for header in HEADERS:  # folding may differ; the words may not
            assert "".join(str(have[header]).split()) == "".join(str(want[header]).split())
        assert str(have["Subject"]) == str(want["Subject"])  # exactly: the office reads it
        assert have.get_content() == want.get_content()
        assert got.raw.split(b"\r\n\r\n", 1)[1] == expected.raw.split(b"\r\n\r\n", 1)[1]
        assert (got.to, got.subject) == (expected.to, expected.subject)
        assert all(len(line) <= plainmail.LINE_LIMIT for line in got.raw.split(b"\r\n"))
        assert b"\n" not in got.raw.replace(b"\r\n", b"")  # CRLF throughout, as SMTP wants
        quick += to in PLAIN
    assert quick == len(NAMES) * len(SUBJECTS) * len(BODIES) * len(PLAIN)


@pytest.mark.parametrize(("to", "quick"), [
    ("a@b.example", True), ("a@b.example, c@d.example", True),
    ("A@B.example", False),  # normalised first (the domain in lower case): the modern way
    ("测试@example.test", False), ("x@中文.example", False), ("Name <a@b.example>", False),
    ("not an address", False),
])
def test_only_plain_mailboxes_go_the_quick_way(to: str, quick: bool) -> None:
    headers = [("From", "office@example.test"), ("To", to), ("Subject", "s")]
    assert (plainmail.plain_raw(headers, "正文") is not None) is quick


def test_a_header_line_over_the_smtp_limit_is_left_to_the_email_package() -> None:
    headers = [("From", "office@example.test"), ("To", "a@b.example"), ("X-Long", "y" * 1000)]
    assert plainmail.plain_raw(headers, "正文") is None
