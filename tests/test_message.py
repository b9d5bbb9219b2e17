"""parse_message on every client's mail, on forwarded and decorated mail, and on broken mail."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.demo.machinemail import build_bounce
from mailbot.demo.mailfactory import STYLES, ClientStyle, build_mail
from mailbot.mail.parse import html_to_text, parse_message

CST = timezone(timedelta(hours=8))
SENDER = "ZhangSan@SZTU.edu.cn"
OFFICE = "litiantian@sztu.edu.cn"
UTF8_STYLES = {"rfc2231", "netease", "apple", "gmail", "thunderbird", "mutt", "raw-utf8"}


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<Types><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        zf.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


LONG_NAME = "深圳市机关事业单位工会劳模和工匠人才创新工作室推荐汇总表（计算机与软件学院）附件1（定稿版本）第二次修改稿V2.xlsx"
LONG_ASCII = "Shenzhen Technology University model worker studio f-1a.docx"
TRICKY = [
    "附件2-推荐审批表（镕喆堃）.docx",
    "附件１ 汇总表.xlsx",
    LONG_NAME,
    "附件3 申报材料 【最终版】（2022.10.09）.docx",
    "Report  final (v2).pdf",
    LONG_ASCII,
]
EMOJI = "🎉申报材料✅.docx"


def test_fixture_names_are_what_they_claim() -> None:
    assert len(LONG_NAME) >= 60
    assert len(LONG_ASCII) == 60


@pytest.mark.parametrize("style", STYLES)
def test_every_style_round_trips(style: ClientStyle) -> None:
    names = TRICKY + ([EMOJI] if style in UTF8_STYLES else [])
    files = [(n, docx_bytes() if n.endswith(".docx") else n.encode() * 40) for n in names]
    when = datetime(2022, 10, 9, 16, 20, 5, tzinfo=CST)
    raw = build_mail(
        sender=SENDER, to=OFFICE, subject="计算机学院-劳模工作室申报（镕喆）", body="李老师：\n材料见附件。",
        attachments=files, style=style, sender_name="张三（计算机学院）", date=when,
    )
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == names
    assert [a.data for a in parsed.attachments] == [data for _, data in files]
    assert [a.format for a in parsed.attachments if a.filename.endswith(".docx")] == (
        ["docx"] * sum(n.endswith(".docx") for n in names)
    )
    assert parsed.subject == "计算机学院-劳模工作室申报（镕喆）"
    assert parsed.from_addr == "zhangsan@sztu.edu.cn"
    assert parsed.from_name == "张三（计算机学院）"
    assert parsed.reply_to == "zhangsan@sztu.edu.cn"
    assert parsed.body_text == "李老师：\n材料见附件。"
    assert parsed.date_header == when
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")
    assert parsed.automatic is None
    # Raw 8-bit headers are worth a note to the office, and nothing else is wrong.
    assert all("8 位字节" in d for d in parsed.defects)
    assert bool(parsed.defects) == style.startswith("raw-")


def test_content_types_are_declared_and_lowercased() -> None:
    raw = build_mail(sender=SENDER, to=OFFICE, subject="s", style="foxmail",
                     attachments=[("附件1.docx", docx_bytes()), ("附件3.pdf", b"%PDF-1.4")])
    parsed = parse_message(raw)
    # Foxmail declares everything octet-stream: the format comes from the bytes.
    assert [(a.content_type, a.format) for a in parsed.attachments] == [
        ("application/octet-stream", "docx"),
        ("application/octet-stream", "pdf"),
    ]


def test_threading_and_reply_to() -> None:
    raw = build_mail(
        sender=SENDER, to=OFFICE, subject="Re: 回执", message_id="<m1@sztu.edu.cn>",
        extra_headers={
            "In-Reply-To": "<r1@mailbot.sztu.edu.cn>",
            "References": "<a@x>\r\n <r1@mailbot.sztu.edu.cn>",
            "Reply-To": "Office <Office@Unit.Example>",
        },
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<m1@sztu.edu.cn>"
    assert parsed.in_reply_to == "<r1@mailbot.sztu.edu.cn>"
    assert parsed.references == ("<a@x>", "<r1@mailbot.sztu.edu.cn>")
    assert parsed.reply_to == "office@unit.example"
    assert parsed.from_addr == "zhangsan@sztu.edu.cn"


def test_signature_logo_is_not_an_attachment() -> None:
    raw = build_mail(sender=SENDER, to=OFFICE, subject="s", body="见附件", style="outlook",
                     attachments=[("附件1.docx", docx_bytes())], signature_logo=True)
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["附件1.docx"]
    assert parsed.body_text == "见附件"


def test_gmail_attachments_with_content_id_are_attachments() -> None:
    raw = build_mail(sender=SENDER, to=OFFICE, subject="s", style="gmail",
                     attachments=[("scan.png", b"\x89PNG\r\n\x1a\n")])
    (attachment,) = parse_message(raw).attachments
    assert (attachment.filename, attachment.format) == ("scan.png", "png")


def test_forwarded_mail_attachments_count() -> None:
    inner = build_mail(sender="unit@x.example", to=SENDER, subject="材料",
                       attachments=[("附件2.docx", docx_bytes())], style="qq")
    raw = (
        b"From: " + SENDER.encode() + b"\r\nTo: " + OFFICE.encode() + b"\r\nSubject: Fw: x\r\n"
        b"Message-ID: <fw@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "请查收转发的材料。".encode() + b"\r\n"
        b'--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fw.eml"\r\n\r\n'
        + inner + b"\r\n--b1--\r\n"
    )
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["附件2.docx"]
    assert parsed.body_text == "请查收转发的材料。"


def test_leaf_rules() -> None:
    raw = (
        b"From: a@b.example\r\nMessage-ID: <x@y>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b'--b\r\nContent-Type: text/plain; name="notes.txt"\r\n\r\nnamed text\r\n'
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"AAEC\r\n"
        b"--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment\r\n\r\na,b\r\n"
        b"--b\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nsig\r\n"
        b"--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n"
        b"--b--\r\n"
    )
    parsed = parse_message(raw)
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("notes.txt", "text/plain", b"named text"),
        ("", "application/octet-stream", b"\x00\x01\x02"),
        ("", "text/csv", b"a,b"),
    ]
    assert parsed.body_text == "body"


def test_html_only_body_is_stripped_to_text() -> None:
    html = (
        "<html><head><style>p {color: red}</style><title>t</title></head><body>"
        "<p>李老师：</p><div>材料&nbsp;见附件&amp;回执</div><script>alert(1)</script>"
        "<table><tr><td>单位</td><td>计算机学院</td></tr></table></body></html>"
    )
    raw = (b"From: a@b.example\r\nContent-Type: text/html; charset=gbk\r\n\r\n"
           + html.encode("gbk"))
    assert parse_message(raw).body_text == "李老师：\n\n材料 见附件&回执\n\n单位\t计算机学院"
    assert html_to_text("<p>a<br>b</p>") == "a\nb"


def test_bounce_parses() -> None:
    original = build_mail(sender="bot@sztu.edu.cn", to="gone@test.example", subject="回执")
    parsed = parse_message(build_bounce(to="bot@sztu.edu.cn", original=original))
    assert parsed.attachments == ()  # the delivery-status part is machinery, not a file
    assert "gone@test.example" in parsed.body_text
    assert parsed.from_addr == "mailer-daemon@mx.test.example"


# --- broken mail: decoded as far as it goes, problems written down, never an exception -------


def test_bad_boundary_is_salvaged() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: s\r\nMessage-ID: <x@y>\r\n"
        b'Content-Type: multipart/mixed; boundary="declared"\r\n\r\n'
        b"--actual\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "正文".encode() + b"\r\n"
        b'--actual\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--actual--\r\n"
    )
    parsed = parse_message(raw)
    assert [(a.filename, a.data) for a in parsed.attachments] == [("a.pdf", b"%PDF-1.4")]
    assert parsed.body_text == "正文"
    assert any("分界线" in d for d in parsed.defects)


def test_multipart_without_any_boundary_becomes_text() -> None:
    raw = b"From: a@b.example\r\nContent-Type: multipart/mixed\r\n\r\njust words\r\n"
    parsed = parse_message(raw)
    assert parsed.body_text == "just words"
    assert parsed.attachments == ()
    assert any("boundary" in d for d in parsed.defects)


def test_truncated_mail_keeps_what_arrived() -> None:
    pdf = b"%PDF-1.4\n" + b"0" * 2000
    full = build_mail(sender=SENDER, to=OFFICE, subject="s", attachments=[("a.pdf", pdf)])
    parsed = parse_message(full[: len(full) - 700])
    (attachment,) = parsed.attachments
    assert attachment.filename == "a.pdf"
    assert pdf.startswith(attachment.data) and 1000 < len(attachment.data) < len(pdf)
    assert attachment.format == "pdf"
    assert any("截断" in d for d in parsed.defects)


def test_truncated_and_dirty_base64() -> None:
    raw = (
        b"From: a@b.example\r\nMessage-ID: <x@y>\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBER!i0xLjQK\r\nJVB\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.attachments[0].data.startswith(b"%PDF-1.4\n%P")
    assert any("非法字符" in d for d in parsed.defects)
    assert any("长度不正确" in d for d in parsed.defects)


def test_unknown_charset() -> None:
    raw = (b"From: a@b.example\r\nMessage-ID: <x@y>\r\nContent-Type: text/plain; charset=x-unknown\r\n"
           b"\r\n" + "申报材料".encode("gbk"))
    parsed = parse_message(raw)
    assert parsed.body_text == "申报材料"
    assert any("x-unknown" in d for d in parsed.defects)


def test_gb2312_body_with_gbk_only_characters() -> None:
    raw = (b"From: a@b.example\r\nMessage-ID: <x@y>\r\nContent-Type: text/plain; charset=gb2312\r\n"
           b"\r\n" + "领衔人：王镕喆".encode("gbk"))
    parsed = parse_message(raw)
    assert parsed.body_text == "领衔人：王镕喆"
    assert parsed.defects == ()


def test_missing_message_id_and_headers() -> None:
    raw = b"Subject: \xc9\xea\xb1\xa8\xb2\xc4\xc1\xcf\r\n\r\nhello\r\n"
    parsed = parse_message(raw)
    assert parsed.message_id == f"<{hashlib.sha256(raw).hexdigest()}@mailbot.invalid>"
    assert parsed.subject == "申报材料"
    assert parsed.from_addr == parsed.reply_to == parsed.from_name == ""
    assert parsed.date_header is None
    assert any("Message-ID" in d for d in parsed.defects)
    assert any("主题" in d for d in parsed.defects)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 09 Oct 2022 16:20:05 +0800", datetime(2022, 10, 9, 8, 20, 5, tzinfo=UTC)),
        ("Sun, 09 Oct 2022 08:20:05 -0000", datetime(2022, 10, 9, 8, 20, 5, tzinfo=UTC)),
        ("yesterday", None),
        ("Sun, 99 Foo 2022 99:99:99 +0800", None),
    ],
)
def test_date_header(value: str, expected: datetime | None) -> None:
    parsed = parse_message(f"Date: {value}\r\nMessage-ID: <x@y>\r\n\r\n".encode())
    assert parsed.date_header == expected
    assert parsed.date_header is None or parsed.date_header.tzinfo is not None


def test_deep_nesting_is_cut_off() -> None:
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(40)
    )
    parsed = parse_message(b"From: a@b.example\r\n" + head + b"Content-Type: text/plain\r\n\r\nx\r\n")
    assert any("嵌套过深" in d for d in parsed.defects)


@pytest.mark.parametrize("raw", [b"", b"\x00\xff" * 50, b"\r\n\r\n", b"From:\r\n\r\n", b"::::"])
def test_garbage_does_not_raise(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed.message_id.endswith("@mailbot.invalid>")


# Built once: hypothesis needs the same bytes on every run to replay and shrink.
SAMPLES = {
    style: build_mail(
        sender=SENDER, to=OFFICE, subject="申报（镕）", body="正文", style=style,
        attachments=[("附件1（镕）.docx", docx_bytes())], message_id="<fixed@x>",
        date=datetime(2022, 10, 9, 16, 20, tzinfo=CST),
    )
    for style in STYLES
}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), style=st.sampled_from(STYLES))
def test_damaged_mail_never_raises(data: st.DataObject, style: ClientStyle) -> None:
    raw = bytearray(SAMPLES[style])
    for _ in range(data.draw(st.integers(0, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    parsed = parse_message(bytes(raw[:cut]))
    assert isinstance(parsed.defects, tuple)


@pytest.mark.parametrize("head", [
    b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
    b'Content-Type: application/x-pkcs7-mime; name="smime.p7m"\r\n'
    b'Content-Disposition: attachment; filename="smime.p7m"',
    b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"'])
def test_encrypted_mail_is_a_finding_not_an_attachment(head: bytes) -> None:
    raw = (b"From: a@test.example\r\nSubject: s\r\nMessage-ID: <e@t>\r\nMIME-Version: 1.0\r\n"
           + head + b"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIAC\r\n")
    parsed = parse_message(raw)
    assert parsed.attachments == ()
    assert [f.code for f in parsed.findings] == ["mail-encrypted"]
    assert "加密" in parsed.findings[0].message


def test_an_opaque_signed_smime_mail_is_not_taken_for_encrypted() -> None:
    raw = (b"From: a@test.example\r\nSubject: s\r\nMessage-ID: <sg@t>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIAC\r\n")
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["smime.p7m"] and not parsed.findings


@pytest.mark.parametrize(("name", "attached"), [("咨询.eml", False), ("Fw: 问题", False),
                                                ("合同 25 04 2020.docx", True)])
def test_an_attached_mail_without_files_is_an_attachment_only_under_a_files_name(
        name: str, attached: bool) -> None:
    inner = build_mail(sender="unit@x.example", to=SENDER, subject="问题", body="截止时间是哪天？")
    raw = (b"From: " + SENDER.encode() + b"\r\nSubject: Fw\r\nMessage-ID: <q@x>\r\n"
           b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b'--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="'
           + name.encode() + b'"\r\n\r\n' + inner + b"\r\n--b1--\r\n")
    parsed = parse_message(raw)
    if attached:  # what arrived is that mail, under the name it came with
        assert [(a.filename, a.data) for a in parsed.attachments] == [(name, inner)]
    else:  # a forwarded question: its text is the body
        assert parsed.attachments == () and "截止时间" in parsed.body_text
