"""Fuzzing the mail and document readers with hypothesis.

The property is the bot's promise: whatever bytes arrive, reading them never raises, and the
whole intake of one mail ends in a recorded verdict (受理/补正/忽略/隔离), never an exception.
A short run is part of every `make test`; the long run (10,000+ generated mails) is behind the
`long` marker: `.venv/bin/pytest -m long tests/test_fuzz.py`.
"""

from __future__ import annotations

import base64
import binascii
import encodings.aliases
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.campaign.rules import load_rules
from mailbot.config import Settings
from mailbot.demo.mailfactory import STYLES, build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.documents import read_document
from mailbot.intake.cycle import Runtime, record
from mailbot.mail.parse import parse_message
from mailbot.mail.safetext import valid_text
from mailbot.mail.sniff import detect_format
from mailbot.store.models import RESULTS, Message

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
CAMPAIGN = load_rules(RULES)
SHORT = settings(max_examples=150, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(max_examples=10_000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HEADER_NAMES = [b"From", b"To", b"Subject", b"Message-ID", b"Date", b"Content-Type",
                b"Content-Transfer-Encoding", b"Content-Disposition", b"MIME-Version",
                b"Auto-Submitted", b"Precedence", b"List-Id", b"Return-Path", b"References",
                b"X-Failed-Recipients", b"In-Reply-To", b"Reply-To"]
CHARSETS = ["utf-8", "gb2312", "gbk", "gb18030", "big5", "x-unknown", "utf-7", "", "iso-8859-1"]
CTES = ["base64", "quoted-printable", "8bit", "7bit", "binary", "x-uuencode", "bogus"]
FRAGMENTS = [b"=?gb2312?B?uL28/jE=?=", b"=?utf-8?Q?=E9=99=84?=", b"filename*=utf-8''%E9%99%84",
             b"\xb8\xbd\xbc\xfe", b"\xe9\x99\x84\xe4\xbb\xb6", b"\r\n\t", b"\"", b";", b"\\",
             b"=?", b"?=", b"--", b"\x00", b"boundary=\"b\""]


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=20),
                                    st.text(max_size=15).map(str.encode)), max_size=6))
    return b"".join(parts)


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(CTES))
    kind = draw(st.sampled_from([b"text/plain", b"application/octet-stream",
                                 b"application/vnd.openxmlformats-officedocument."
                                 b"wordprocessingml.document", b"message/rfc822",
                                 b"application/zip", b"image/png", b"multipart/report"]))
    name = draw(header_value())
    body = draw(st.one_of(st.binary(max_size=400), st.sampled_from([DOCX_B64, ZIP_B64])))
    head = (b"Content-Type: " + kind + b"; charset=" + charset.encode() + b"; name=\"" + name
            + b"\"\r\nContent-Transfer-Encoding: " + cte.encode()
            + b"\r\nContent-Disposition: attachment; filename=\"" + name + b"\"\r\n\r\n")
    return head + body


@st.composite
def generated_mail(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value()),
                            max_size=12))
    boundary = draw(st.sampled_from([b"b", b"=_x", b"", b"a b", b"\xb8"]))
    declared = draw(st.sampled_from([boundary, b"other", b""]))
    parts = draw(st.lists(leaf(), max_size=4))
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    head += b"Content-Type: multipart/mixed; boundary=\"" + declared + b"\"\r\n\r\n"
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    if draw(st.booleans()):
        body += b"--" + boundary + b"--\r\n"
    return head + body


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    """A real client's mail, then damaged: cut, bytes flipped, lines dropped or doubled."""
    raw = bytearray(draw(st.sampled_from(CLIENT_MAILS)))
    for _ in range(draw(st.integers(0, 8))):
        where = draw(st.integers(0, len(raw) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete-line"]))
        if action == "flip":
            raw[where] = draw(st.integers(0, 255))
        elif action == "cut":
            del raw[where:]
        elif action == "insert":
            raw[where:where] = draw(st.sampled_from(FRAGMENTS))
        else:
            end = raw.find(b"\n", where)
            del raw[where:end if end != -1 else len(raw)]
        if not raw:
            raw = bytearray(b"\r\n")
    return bytes(raw)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("附件1.docx".encode("gbk").decode("cp437"), b"PK\x03\x04 broken")
        archive.writestr("../../evil.docx", b"x")
    return out.getvalue()


APPROVAL = approval_docx(SAMPLE_STUDIOS[0])
DOCX_B64 = __import__("base64").encodebytes(APPROVAL)
ZIP_B64 = __import__("base64").encodebytes(_zip())


# Built once: hypothesis needs every draw to see the same bytes (boundaries are random).
CLIENT_MAILS = [build_mail(sender="a@test.example", to="b@test.example", subject="申报材料",
                           body="请查收", attachments=[("附件2-审批表.docx", APPROVAL)],
                           style=style, date=datetime(2022, 10, 9, tzinfo=UTC),
                           message_id="<fuzz@test.example>") for style in STYLES]


def check_mail(raw: bytes) -> None:
    parsed = parse_message(raw, ("office@test.example",))
    assert parsed.message_id.startswith("<")
    for attachment in parsed.attachments:
        doc = read_document(attachment.filename, attachment.data, attachment.format, CAMPAIGN)
        assert doc.kind in ("summary", "approval", "material", "unknown")


@st.composite
def damaged_docx(draw: st.DrawFn) -> bytes:
    data = bytearray(APPROVAL)
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(data) - 1))
        data[where] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data) - 1)):]
    return bytes(data)


@SHORT
@given(generated_mail())
def test_generated_mail_never_breaks_the_reader(raw: bytes) -> None:
    check_mail(raw)


@SHORT
@given(mutated_mail())
def test_damaged_client_mail_never_breaks_the_reader(raw: bytes) -> None:
    check_mail(raw)


@SHORT
@given(damaged_docx())
def test_damaged_documents_are_findings_not_exceptions(data: bytes) -> None:
    fmt = detect_format(data, "附件2.docx")
    doc = read_document("附件2.docx", data, fmt, CAMPAIGN)
    assert doc.kind in ("summary", "approval", "material", "unknown")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    state = tmp_path_factory.mktemp("fuzz-state")
    # A dedicated mailbox: every mail goes through the whole intake, none is left alone.
    return Runtime(Settings(state_dir=state, from_address="office@test.example",
                            shared_mailbox=False), CAMPAIGN)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(st.one_of(generated_mail(), mutated_mail()))
def test_the_whole_intake_always_ends_in_a_verdict(runtime: Runtime, raw: bytes) -> None:
    message, _new = record(runtime, raw, "raw/fuzz.eml", datetime(2022, 10, 9, tzinfo=UTC))
    assert message.result in RESULTS


# Headers: every charset label Python knows (and bogus, dangerous ones), encoded words holding
# surrogates, NUL, CR/LF and U+2028, overlong values, non-ASCII addresses.
LABELS = sorted({*encodings.aliases.aliases, *encodings.aliases.aliases.values(), "utf-7",
                 "unicode_escape", "raw_unicode_escape", "undefined", "rot13", "base64_codec",
                 "punycode", "idna", "hex", "zlib", "x-unknown", "gb2312", "gbk", "gb18030",
                 "hz-gb-2312", "iso-2022-jp", "ks_c_5601-1987", "windows-1251", "koi8-r", "",
                 "utf-8*zh", '"utf-8"', "\u00e9", "utf-8'zh'"})
PAYLOADS = [b"+2AA-", b"+2D3cAA-", b"\\ud800", b"\\udcff\\x00", b"\x00", b"\r\n", b"\r",
            "\u2028".encode(), "\u2029".encode(), b"\x85", b"\x0b\x0c", b"\xed\xa0\x80",
            b"\x00\xd8", b"\xd8\x00", "申报材料".encode(), "申报".encode("gbk"), b"\xff\xfe",
            b"\x1b$B", b"~{"]
ADDRESSES = ["测试@example.test", "zhangsan@例子.中国", '"v\\ictim"@test.example',
             "VICTIM@TEST.EXAMPLE", "a@b", "<>", "\"\" <@>", "张三 <zs@test.example>",
             "=?utf-8?b?5byg5LiJ?= <zs@test.example>", "\xe5\xbc\xa0@test.example"]


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    label = draw(st.one_of(st.sampled_from(LABELS), st.text(max_size=12)))
    payload = b"".join(draw(st.lists(st.one_of(st.sampled_from(PAYLOADS), st.binary(max_size=8)),
                                     min_size=1, max_size=4)))
    if draw(st.booleans()):
        return b"=?" + label.encode("utf-8", "replace") + b"?B?" + base64.b64encode(payload) + b"?="
    quoted = binascii.b2a_qp(payload, header=True).replace(b"?", b"=3F")
    return b"=?" + label.encode("utf-8", "replace") + b"?Q?" + quoted + b"?="


@st.composite
def header_text(draw: st.DrawFn) -> bytes:
    pieces = draw(st.lists(st.one_of(encoded_word(), st.sampled_from(PAYLOADS),
                                     st.text(max_size=10).map(lambda t: t.encode("utf-8",
                                                                                 "replace"))),
                           min_size=1, max_size=5))
    value = b" ".join(pieces).replace(b"\r\n", b"\r\n ")  # a bare CR LF would end the header
    return value * draw(st.sampled_from([1, 1, 1, 40, 2000]))  # overlong now and then


@st.composite
def header_mail(draw: st.DrawFn) -> bytes:
    sender = draw(st.one_of(st.sampled_from(ADDRESSES), st.integers(0, 10**9).map(
        lambda n: f"fuzz{n}@test.example")))
    name = draw(header_text())
    label = draw(st.sampled_from(LABELS)).encode("utf-8", "replace")
    head = [b"From: " + name + b" <" + sender.encode("utf-8", "surrogateescape") + b">",
            b"Reply-To: " + draw(st.sampled_from(ADDRESSES)).encode("utf-8", "surrogateescape"),
            b"Subject: " + draw(header_text()),
            b"Message-ID: " + draw(st.sampled_from([b"<fuzz@test.example>", b"<\xe4\xb8\xad@x>",
                                                    b"", b"<a b>", b"<" + b"x" * 3000 + b">"])),
            b"In-Reply-To: " + draw(header_text()), b"References: " + draw(header_text()),
            b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="fz"']
    part = (b"--fz\r\nContent-Type: text/plain; charset=\"" + label + b"\"\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + draw(st.sampled_from(PAYLOADS)) * 3
            + b"\r\n--fz\r\nContent-Type: application/octet-stream; name=\"" + draw(header_text())
            + b"\"\r\nContent-Disposition: attachment; filename*=" + label + b"''"
            + draw(st.binary(max_size=20)).hex().encode() + b"\r\nContent-Transfer-Encoding: "
            b"base64\r\n\r\n" + DOCX_B64 + b"--fz--\r\n")
    return b"\r\n".join(head) + b"\r\n\r\n" + part


def _safe_line(value: str) -> bool:
    return valid_text(value) == value and value.splitlines() in ([], [value])


@SHORT
@given(header_mail())
def test_header_text_is_always_safe(raw: bytes) -> None:
    parsed = parse_message(raw, ("office@test.example",))
    assert parsed.message_id.isascii() and parsed.message_id.startswith("<")
    for value in (parsed.subject, parsed.from_name, parsed.from_addr, parsed.reply_to,
                  *parsed.references, *(a.filename for a in parsed.attachments)):
        assert _safe_line(value), repr(value)
    assert valid_text(parsed.body_text) == parsed.body_text


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(header_mail())
def test_any_header_ends_in_a_stored_verdict(runtime: Runtime, raw: bytes) -> None:
    parsed = parse_message(raw, ("office@test.example",))
    message, new = record(runtime, raw, "raw/fuzz.eml", datetime(2022, 10, 9, tzinfo=UTC))
    assert message.result in RESULTS
    # A sender to answer: no header may send it to 隔离. (Not new: a mail with the same
    # Message-ID was recorded before, with that mail's verdict.)
    if new and parsed.unprocessable is None:
        assert message.result != "隔离", message.reason
    with runtime.sessions() as session:
        stored = session.get(Message, message.id)
        assert stored is not None and _safe_line(stored.subject)


@pytest.mark.long
@LONG
@given(st.one_of(generated_mail(), mutated_mail(), header_mail()))
def test_long_run_ten_thousand_mails(raw: bytes) -> None:
    check_mail(raw)


@pytest.mark.long
@LONG
@given(damaged_docx())
def test_long_run_damaged_documents(data: bytes) -> None:
    read_document("附件2.docx", data, detect_format(data, "附件2.docx"), CAMPAIGN)
