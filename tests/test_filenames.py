"""Attachment file names and header text, decoded from raw headers as each client writes them."""

from __future__ import annotations

import email
from email.message import Message
from email.policy import compat32

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mailbot.demo.mailfactory import STYLES, ClientStyle, build_mail
from mailbot.mail.filenames import attachment_filename, clean_filename, decode_header_text
from mailbot.mail.parse import parse_message


def part(headers: bytes) -> Message:
    """A MIME part parsed from raw header lines, exactly as they arrive off the wire."""
    return email.message_from_bytes(headers + b"\r\n\r\nx\r\n", policy=compat32)


# Each fixture is one decoding path, written byte for byte as the clients send it.
FIXTURES = [
    pytest.param(
        b"Content-Disposition: attachment; filename*=utf-8''%E9%99%84%E4%BB%B61.docx",
        "附件1.docx",
        id="rfc2231-utf8",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename*=UTF-8'zh-cn'%E9%99%84%E4%BB%B6.docx",
        "附件.docx",
        id="rfc2231-language",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename*=gbk''%B8%BD%BC%FE1.docx",
        "附件1.docx",
        id="rfc2231-gbk",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename*=gb2312''%B8%BD%BC%FE2-%CD%C6%BC%F6"
        b"%C9%F3%C5%FA%B1%ED%A3%A8%E9F%86%B4%88%D2%A3%A9.docx",
        "附件2-推荐审批表（镕喆堃）.docx",
        id="rfc2231-gb2312-label-gbk-only-chars",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename*=gb18030''%952%826%B8%BD%BC%FE.docx",
        "\U00020000附件.docx",
        id="rfc2231-gb18030-four-byte",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename*=big5''%AA%FE%A5%F31.doc",
        "附件1.doc",
        id="rfc2231-big5",
    ),
    pytest.param(
        b"Content-Disposition: attachment;\r\n filename*0*=utf-8''%E9%99;\r\n"
        b" filename*1*=%84%E4%BB%B6.docx",
        "附件.docx",
        id="rfc2231-continuation-split-mid-character",
    ),
    pytest.param(
        b"Content-Disposition: attachment;\r\n filename*1=\"name.docx\";\r\n"
        b' filename*0="a very long "',
        "a very long name.docx",
        id="rfc2231-plain-continuation-out-of-order",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename*0*=utf-8''%E9%99%84%E4%BB%B6;"
        b' filename*1=".docx"',
        "附件.docx",
        id="rfc2231-mixed-continuation",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="=?gb2312?B?uL28/jEuZG9jeA==?="',
        "附件1.docx",
        id="rfc2047-b-gb2312-quoted",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="=?gb2312?B?6UaGtIjS?="',
        "镕喆堃",
        id="rfc2047-gb2312-label-gbk-only-chars",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="=?GB2312?Q?=B8=BD=BC=FE_1.docx?="',
        "附件 1.docx",
        id="rfc2047-q",
    ),
    pytest.param(
        b'Content-Disposition: attachment;\r\n\tfilename="=?gb2312?B?uA==?=\r\n'
        b'\t=?gb2312?B?vbz+?=.docx"',
        "附件.docx",
        id="rfc2047-gbk-split-mid-character-and-glued-text",
    ),
    pytest.param(
        b'Content-Type: application/pdf; name="=?utf-8?B?6Zk=?= =?utf-8?B?hOS7tg==?=.pdf"',
        "附件.pdf",
        id="rfc2047-utf8-split-mid-character",
    ),
    pytest.param(
        b'Content-Type: application/pdf; name="=?x-gbk?B?uL28/g==?=.pdf"',
        "附件.pdf",
        id="label-x-gbk",
    ),
    pytest.param(
        b'Content-Type: application/pdf; name="=?cp936?B?uL28/g==?=.pdf"',
        "附件.pdf",
        id="label-cp936",
    ),
    pytest.param(
        b'Content-Type: application/pdf; name="=?utf-8*zh?B?6ZmE5Lu2?=.pdf"',
        "附件.pdf",
        id="rfc2047-language",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="\xb8\xbd\xbc\xfe1.docx"',
        "附件1.docx",
        id="raw-gbk",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="\xe9\x99\x84\xe4\xbb\xb61.docx"',
        "附件1.docx",
        id="raw-utf8",
    ),
    pytest.param(
        b"Content-Disposition: attachment; filename=\xb8\xbd\xbc\xfe 1.docx; size=3",
        "附件 1.docx",
        id="raw-gbk-unquoted-with-space",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="C:\\Users\\\xd5\xc5\xc8\xfd\\'
        b'\xb8\xbd\xbc\xfe3.docx"',
        "附件3.docx",
        id="windows-path-unescaped-raw-gbk",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="=?gb2312?B?QzpcVXNlcnNc1cXI/Vy4vbz+My5kb2N4?="',
        "附件3.docx",
        id="windows-path-encoded",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="a/b.docx"',
        "b.docx",
        id="unix-path",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="=?utf-8?B?6ZmECeS7tgAuZG9jeA==?="',
        "附件.docx",
        id="control-characters",
    ),
    pytest.param(
        b'Content-Disposition: attachment; filename="say \\"hi\\".txt"',
        'say "hi".txt',
        id="quoted-pair",
    ),
    pytest.param(
        b'Content-Disposition: filename="broken.docx"',
        "broken.docx",
        id="disposition-without-type",
    ),
    pytest.param(b"Content-Type: application/octet-stream", "", id="no-name"),
    pytest.param(b'Content-Disposition: attachment; filename=""', "", id="empty-name"),
]


@pytest.mark.parametrize(("headers", "expected"), FIXTURES)
def test_decodes_each_form(headers: bytes, expected: str) -> None:
    assert attachment_filename(part(headers)) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            (
                b"Content-Type: application/pdf; name*=utf-8''%E5%90%8D*.pdf; name=n.pdf\r\n"
                b"Content-Disposition: attachment; filename=\"f.pdf\";"
                b" filename*=utf-8''%E9%99%84%E4%BB%B6.pdf"
            ),
            "附件.pdf",
        ),
        (
            (
                b"Content-Type: application/pdf; name*=utf-8''n%2A.pdf; name=n.pdf\r\n"
                b'Content-Disposition: attachment; filename="f.pdf"'
            ),
            "f.pdf",
        ),
        (b"Content-Type: application/pdf; name*=utf-8''n%2A.pdf; name=n.pdf", "n*.pdf"),
        (b'Content-Type: application/pdf; name="n.pdf"', "n.pdf"),
        # An empty preferred value falls through to the next form.
        (
            (b'Content-Type: application/pdf; name="n.pdf"\r\n'
             b'Content-Disposition: attachment; filename=""'),
            "n.pdf",
        ),
    ],
)
def test_preference_order(headers: bytes, expected: str) -> None:
    assert attachment_filename(part(headers)) == expected


def test_clean_filename() -> None:
    assert clean_filename("C:\\Users\\张三\\Desktop\\附件1.docx") == "附件1.docx"
    assert clean_filename(" 附件\x07.docx\r\n") == "附件.docx"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?gb2312?B?6UaGtIjS?=", "镕喆堃"),
        ("Re: =?gb2312?B?uL28/g==?= 1", "Re: 附件 1"),
        ("=?gb2312?B?uA==?=\r\n =?gb2312?B?vbz+?=", "附件"),  # split character, folded
        ("=?utf-8?B?6ZmE?= =?gb18030?B?vP4=?=", "附件"),  # different charsets, space dropped
        ("=?utf-8?Q?=E9=99=84_=E4=BB=B6?=", "附 件"),
        ("\udcb8\udcbd\udcbc\udcfe", "附件"),  # raw GBK as compat32 hands it over
        (b"\xe9\x99\x84\xe4\xbb\xb6", "附件"),
        (b"\xb8\xbd\xbc\xfe", "附件"),
        ("=?x-unknown?B?6ZmE5Lu2?=", "附件"),  # unknown label: guessed
        ("=?utf-8?B?broken", "=?utf-8?B?broken"),  # not an encoded word: left alone
        ("plain ascii", "plain ascii"),
        (None, ""),
    ],
)
def test_decode_header_text(value: str | bytes | None, expected: str) -> None:
    assert decode_header_text(value) == expected


def test_decode_header_text_takes_compat32_header_objects() -> None:
    msg = email.message_from_bytes(b"Subject: \xd6\xd0\xce\xc4\r\n\r\n", policy=compat32)
    assert decode_header_text(msg["Subject"]) == "中文"


# Names a Windows user can give a file ("\\", "/" and '"' cannot appear), any script, any plane.
NAME_STEMS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='\\/"'),
    min_size=1,
    max_size=40,
).filter(lambda s: s == s.strip())


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("style", STYLES)
@settings(max_examples=60, deadline=None)
@given(stem=NAME_STEMS, ext=st.sampled_from([".docx", ".xlsx", ".pdf", ".zip", ".doc"]))
def test_every_style_round_trips_any_gb18030_name(style: ClientStyle, stem: str, ext: str) -> None:
    name = stem + ext
    if style == "raw-gbk":
        # Raw bytes carry no charset: GBK bytes that also happen to be valid UTF-8 (e.g. the
        # GBK bytes of "涓枃" are the UTF-8 bytes of "中文") are read as UTF-8, by design.
        assume(name.isascii() or not _valid_utf8(name.encode("gb18030")))
    raw = build_mail(
        sender="a@example.cn", to="b@example.cn", subject="s", attachments=[(name, b"data")],
        style=style,
    )
    (attachment,) = parse_message(raw).attachments
    assert attachment.filename == name
    assert attachment.data == b"data"
