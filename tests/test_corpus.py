"""Every mail of the corpus (tests/corpus/<client>/<name>.eml) parses to its expected <name>.json.

The corpus is the memory of every quirk met: how each client writes names, how machines bounce
and auto-reply, what broken mail looks like. See tests/corpus/make_corpus.py for how to add one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mailbot.mail.parse import parse_message

CORPUS = Path(__file__).resolve().parent / "corpus"
OFFICE = "litiantian@sztu.edu.cn"
CASES = sorted(CORPUS.glob("*/*.eml"))
CLIENTS = {"outlook", "foxmail", "qq", "netease", "apple", "gmail", "thunderbird", "mutt"}


def expected(eml: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    return data


def test_the_corpus_covers_every_client_and_every_kind_of_trouble() -> None:
    folders = {path.parent.name for path in CASES}
    assert folders >= CLIENTS | {"broken", "hostile", "postfix", "lists", "own"}
    assert all(path.with_suffix(".json").is_file() for path in CASES)
    kinds = [expected(path) for path in CASES]
    assert sum(1 for k in kinds if k["automatic"]) >= 10
    assert any(k["unprocessable"] for k in kinds)
    assert any(a["source"].startswith("winmail.dat/") for k in kinds for a in k["attachments"])
    assert any(".zip/" in a["source"] for k in kinds for a in k["attachments"])


@pytest.mark.parametrize("eml", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_mail_parses_as_expected(eml: Path) -> None:
    want = expected(eml)
    parsed = parse_message(eml.read_bytes(), own_addresses=[OFFICE])

    assert parsed.subject == want["subject"]
    assert parsed.from_addr == want["from"]
    got = [{"name": a.filename, "format": a.format, "sha256": hashlib.sha256(a.data).hexdigest(),
            "source": a.source} for a in parsed.attachments]
    for attachment in want["attachments"]:
        if not attachment["sha256"]:  # damaged on purpose: its bytes are whatever survived
            for item in got:
                item["sha256"] = "" if item["name"] == attachment["name"] else item["sha256"]
    assert got == want["attachments"]

    if want["automatic"] is None:
        assert parsed.automatic is None
    else:
        assert parsed.automatic is not None and parsed.automatic.startswith(want["automatic"])
    if want["no_reply"] is None:
        assert parsed.no_reply is None
    else:
        assert parsed.no_reply is not None and parsed.no_reply.startswith(want["no_reply"])
    assert [f.code for f in parsed.findings] == want["findings"]
    if want["unprocessable"] is None:
        assert parsed.unprocessable is None
    else:
        assert parsed.unprocessable is not None
        assert parsed.unprocessable.startswith(want["unprocessable"])
    if want["defects"]:
        for fragment in want["defects"]:
            assert any(fragment in defect for defect in parsed.defects), parsed.defects
    else:
        assert parsed.defects == ()
