"""One mailbox however its address is spelled (mailbot.mail.addresses), as a table."""

from __future__ import annotations

import pytest

from mailbot.mail.addresses import key, normalise

ONE_MAILBOX = [
    "victim@test.example",
    '"victim"@test.example',
    '"v\\ictim"@test.example',
    "VICTIM@test.example",
    "victim@TEST.EXAMPLE",
    "Victim@Test.Example.",  # a trailing dot: the same domain, fully qualified
    "<victim@test.example>",
    '"vic"tim@test.example',  # obsolete syntax, still one mailbox
    " victim@test.example ",
]


@pytest.mark.parametrize("spelling", ONE_MAILBOX)
def test_every_spelling_is_one_mailbox(spelling: str) -> None:
    mailbox = normalise(spelling)
    assert mailbox is not None and mailbox.address == "victim@test.example"
    assert key(spelling) == "victim@test.example"


@pytest.mark.parametrize(("written", "address", "utf8"), [
    ("zhangsan@例子.中国", "zhangsan@xn--fsqu00a.xn--fiqs8s", False),
    ("zhangsan@例子。中国", "zhangsan@xn--fsqu00a.xn--fiqs8s", False),  # ideographic full stop
    ("ZhangSan@例子．中国", "zhangsan@xn--fsqu00a.xn--fiqs8s", False),  # full-width full stop
    ("zhangsan@BÜCHER.example", "zhangsan@xn--bcher-kva.example", False),
    ("测试@example.test", "测试@example.test", True),
    ("测试@例子.中国", "测试@xn--fsqu00a.xn--fiqs8s", True),
    ('"john doe"@x.test', '"john doe"@x.test', False),  # quoted again where it must be
    ('"john\\"doe"@x.test', '"john\\"doe"@x.test', False),
    ('"a@b"@x.test', '"a@b"@x.test', False),
    ("a@[192.0.2.1]", "a@[192.0.2.1]", False),
    ("user+tag@x.test", "user+tag@x.test", False),
])
def test_the_normal_form(written: str, address: str, utf8: bool) -> None:
    mailbox = normalise(written)
    assert mailbox is not None
    assert (mailbox.address, mailbox.needs_smtputf8) == (address, utf8)


@pytest.mark.parametrize("written", [
    "", "   ", "no-at-sign", "@x.test", "a@", '""@x.test', "a@b@c.test", "a@-x.test",
    "a@x..test", "a\r\nRCPT TO:<b@x.test>@x.test", "a\x00@x.test", "a@" + "x" * 64 + ".test",
    "a" * 65 + "@x.test", '"unterminated@x.test', "a@[not a literal]", "a@\u2028.test",
])
def test_what_names_no_mailbox(written: str) -> None:
    assert normalise(written) is None
    assert key(written) == written.strip().lower()  # counted as written, never answered
