"""Authentication-Results (RFC 8601) read by a pure function, and the verdict that counts."""

from __future__ import annotations

import pytest

from mailbot.mail.authresults import Result, parse, verdict

PARSED = [
    # (header value, authserv-id, [(method, result)])
    ("mx.test.example; spf=pass smtp.mailfrom=a@test.example",
     "mx.test.example", [("spf", "pass")]),
    ("mx.test.example 1; dkim=pass header.d=test.example header.s=s1",
     "mx.test.example", [("dkim", "pass")]),
    ("mx.test.example; none", "mx.test.example", []),
    ("mx.test.example (Postfix 3.7); dmarc=fail (p=reject dis=none) header.from=test.example",
     "mx.test.example", [("dmarc", "fail")]),
    # Comments nest, escape their parentheses and may hide `;` and `=`.
    (r"mx.test.example; spf=fail (sender (really; not=pass) \) ok) smtp.mailfrom=x; dkim=pass",
     "mx.test.example", [("spf", "fail"), ("dkim", "pass")]),
    # A quoted string may hold `;`.
    ('mx.test.example; dkim=pass header.b="ab;cd" header.d=x; dmarc=fail',
     "mx.test.example", [("dkim", "pass"), ("dmarc", "fail")]),
    # Folded over three lines, as servers write it.
    ("mx.test.example;\r\n\tspf=fail smtp.mailfrom=x@test.example;\r\n dkim=none;\r\n"
     "  dmarc=fail header.from=test.example",
     "mx.test.example", [("spf", "fail"), ("dkim", "none"), ("dmarc", "fail")]),
    ("MX.Test.Example; DMARC=FAIL header.from=test.example",
     "mx.test.example", [("dmarc", "fail")]),
    ("mx.test.example; dkim/1=pass header.d=x", "mx.test.example", [("dkim", "pass")]),
    ('mx.test.example; spf=fail reason="SPF fail - not authorized" smtp.mailfrom=x',
     "mx.test.example", [("spf", "fail")]),
    ('"mx.test.example" 1; arc=pass; spf = softfail smtp.mailfrom=x',
     "mx.test.example", [("arc", "pass"), ("spf", "softfail")]),
    # Microsoft 365 writes no authserv-id.
    ("spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=test.example; dkim=none (message not "
     "signed) header.d=none;dmarc=fail action=oreject header.from=test.example;compauth=fail "
     "reason=000", "", [("spf", "fail"), ("dkim", "none"), ("dmarc", "fail"),
                        ("compauth", "fail")]),
    ("", "", []),
    (";;;", "", []),
    ("mx.test.example; (only a comment)", "mx.test.example", []),
]


@pytest.mark.parametrize(("value", "authserv_id", "results"), PARSED)
def test_parse(value: str, authserv_id: str, results: list[tuple[str, str]]) -> None:
    found = parse(value)
    assert found.authserv_id == authserv_id
    assert [(r.method, r.result) for r in found.results] == results


def test_properties_and_reason_are_kept() -> None:
    found = parse('mx.test.example; spf=fail reason="not \\"authorized\\"" '
                  "smtp.mailfrom=user@test.example (comment)")
    assert found.results == (Result("spf", "fail", (("reason", 'not "authorized"'),
                                                    ("smtp.mailfrom", "user@test.example"))),)


OURS = "mx.test.example"
VERDICTS = [
    # (headers topmost first, authserv_id setting, failed? / None: no header counts)
    (["mx.test.example; dmarc=fail header.from=x"], "", True),
    (["mx.test.example; spf=fail smtp.mailfrom=x; dkim=none"], "", True),
    (["mx.test.example; spf=fail smtp.mailfrom=x; dkim=pass header.d=x"], "", False),
    (["mx.test.example; spf=fail; dkim=fail; dkim=pass"], "", False),  # one good signature
    (["mx.test.example; spf=softfail; dkim=none"], "", False),
    (["mx.test.example; dmarc=fail; dkim=pass"], "", True),  # DMARC has the last word
    (["mx.test.example; spf=pass; dkim=pass; dmarc=pass"], "", False),
    (["mx.test.example; none"], "", False),
    ([], "", None),
    # Unset: the topmost counts, whatever lies below it.
    (["mx.test.example; dmarc=pass", "mx.test.example; dmarc=fail"], "", False),
    (["relay.other.example; dmarc=fail", "mx.test.example; dmarc=pass"], "", True),
    # Set: only our own server's header counts, wherever it is; none of ours, no verdict.
    (["relay.other.example; dmarc=pass", "mx.test.example; dmarc=fail"], OURS, True),
    (["relay.other.example; dmarc=fail", "mx.test.example; dmarc=pass"], OURS, False),
    (["relay.other.example; dmarc=fail"], OURS, None),
    (["MX.TEST.EXAMPLE; spf=fail"], OURS, True),
]


@pytest.mark.parametrize(("headers", "setting", "failed"), VERDICTS)
def test_verdict(headers: list[str], setting: str, failed: bool | None) -> None:
    found = verdict(headers, setting)
    assert (found.failed if found is not None else None) is failed


def test_the_verdict_names_what_failed() -> None:
    found = verdict(["mx.test.example; spf=fail smtp.mailfrom=x; dkim=none; dmarc=fail "
                     "header.from=x; arc=none"])
    assert found is not None
    assert (found.authserv_id, found.summary) == ("mx.test.example",
                                                  "spf=fail, dkim=none, dmarc=fail")
