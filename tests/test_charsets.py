"""Charsets from a list we trust, decodings that need the fewest repairs, text made safe once.

The labels and bytes here are what hostile and broken mail really carries; each assertion is a
rule of mailbot.mail.charsets or mailbot.mail.safetext spelled out.
"""

from __future__ import annotations

import base64
import unicodedata
from pathlib import Path

import pytest

from mailbot.demo.mailfactory import build_mail
from mailbot.mail.charsets import codec_for, decode_bytes
from mailbot.mail.filenames import decode_header_text
from mailbot.mail.parse import parse_message
from mailbot.mail.safemail import address
from mailbot.mail.safetext import MAX_HEADER_CHARS, file_name, one_line, valid_text
from mailbot.office.replies import Composer

# Python codecs a mail could name that are no charset of any mail client: each either smuggles
# lone surrogates, raises something that is not UnicodeDecodeError, or is no text codec at all.
DANGEROUS = ["utf-7", "UTF-7", "unicode_escape", "raw_unicode_escape", "unicode-escape",
             "undefined", "rot13", "rot_13", "base64_codec", "base64", "hex", "zlib", "bz2",
             "uu", "quopri", "punycode", "idna", "utf-8-sig", "utf_16_le_surrogatepass",
             "mbcs", "oem", "charmap", "palmos", "cp65001", "x-unknown", "", "  "]
TRUSTED = {"gb2312": "gb18030", "GBK": "gb18030", "x-gbk": "gb18030", "GB18030": "gb18030",
           "cp936": "gb18030", "HZ-GB-2312": "hz", "utf-8": "utf-8", "UTF8": "utf-8",
           "us-ascii": "utf-8", "ISO-8859-1": "iso8859_1", "iso_8859-15:1998": "iso8859_15",
           "latin1": "latin_1", "windows-1251": "cp1251", "CP1252": "cp1252",
           "koi8-r": "koi8_r", "KOI8-U": "koi8_u", "shift_jis": "cp932", "euc-jp": "euc_jp",
           "iso-2022-jp": "iso2022_jp_2", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
           "big5": "big5hkscs", '"utf-8"': "utf-8"}


@pytest.mark.parametrize("label", DANGEROUS)
def test_untrusted_labels_are_read_as_unlabelled(label: str) -> None:
    assert codec_for(label) is None
    word = f"=?{label}?q?+2AA-=5Cud800=E4=B8=AD?=" if label.strip() else "=?x?q?a?="
    text = decode_header_text(word)
    assert valid_text(text) == text  # no lone surrogate, whatever the label asked for


@pytest.mark.parametrize(("label", "codec"), TRUSTED.items())
def test_trusted_labels(label: str, codec: str) -> None:
    assert codec_for(label) == codec


def test_the_utf7_poison_subject_is_plain_text() -> None:
    raw = (b"From: a@test.example\r\nSubject: =?utf-7?q?+2AA-?=\r\n"
           b"Message-ID: <p@test.example>\r\n\r\nx\r\n")
    parsed = parse_message(raw)
    assert parsed.subject == "+2AA-" and parsed.unprocessable is None


def test_one_repair_in_a_declared_charset_beats_clean_gb18030() -> None:
    name = "附件.docx".encode()
    damaged = name[:4] + name[6:]  # "件" cut after its first byte, as Yahoo cuts names
    assert damaged.decode("gb18030") == "闄勪.docx"  # the trap: this is clean GB18030
    assert decode_bytes(damaged, "utf-8") == damaged.decode("utf-8", "replace")
    assert decode_bytes(damaged).startswith("附\ufffd")  # unlabelled too: UTF-8 evidence wins


def test_gb18030_still_wins_where_utf8_has_no_evidence() -> None:
    # GBK "镕" is E9 46: UTF-8 sees one broken lead byte and a letter, nothing real.
    assert decode_bytes("镕.docx".encode("gbk")) == "镕.docx"
    assert decode_bytes("附件1-推荐汇总表.docx".encode("gbk")) == "附件1-推荐汇总表.docx"


def test_declared_charsets_come_first_for_unlabelled_bytes() -> None:
    latin = "Hélène Müller".encode("latin-1")
    assert decode_bytes(latin, None, ["latin_1"]) == "Hélène Müller"
    cyrillic = "Заявка".encode("cp1251")
    assert decode_bytes(cyrillic, None, ["cp1251"]) == "Заявка"
    # A single-byte charset accepts any bytes, so it cannot overrule valid UTF-8.
    assert decode_bytes("café".encode(), None, ["latin_1"]) == "café"
    # A multi-byte one can: a GBK mail's raw subject stays GBK even where UTF-8 would fit.
    tong = "联通".encode("gbk")
    assert decode_bytes(tong, None, ["gb18030"]) == "联通"


def test_a_stray_byte_in_iso_2022_jp_takes_no_letter_with_it() -> None:
    jis = "申請書".encode("iso2022_jp")
    assert decode_bytes(jis + b"\x8eA.pdf", "iso2022_jp_2") == "申請書A.pdf"
    inside = jis[:5] + b"\x8e" + jis[5:]  # between the two bytes of a character
    assert decode_bytes(inside + b"A.pdf", "iso2022_jp_2") == "申請書A.pdf"


def test_raw_8bit_subject_follows_the_body_charset() -> None:
    raw = build_mail(sender="a@test.example", to="b@test.example", subject="x", body="hi")
    raw = raw.replace(b"Subject: x", b"Subject: " + "Réponse à l'appel".encode("latin-1"))
    raw = raw.replace(b"charset=\"utf-8\"", b"charset=\"iso-8859-1\"")
    raw = raw.replace(b"charset=utf-8", b"charset=iso-8859-1")
    assert parse_message(raw).subject == "Réponse à l'appel"


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b",
                                     "\x0c", "\x1c", "\x1d", "\x1e"])
def test_header_values_are_one_line(breaker: str) -> None:
    assert one_line(f"申报{breaker}材料").replace(" ", "") == "申报材料"
    encoded = base64.b64encode(f"申报{breaker}材料".encode()).decode()
    raw = (f"From: =?utf-8?b?{encoded}?= <a@test.example>\r\nSubject: =?utf-8?b?{encoded}?=\r\n"
           f"Message-ID: <b@test.example>\r\n\r\nx\r\n").encode()
    parsed = parse_message(raw)
    for value in (parsed.subject, parsed.from_name):
        assert value.replace(" ", "") == "申报材料" and value.splitlines() == [value]


def test_text_is_valid_unicode_without_nul() -> None:
    assert valid_text("a\x00b\ud800c\udcffd\x07e\n\tf") == "ab\ufffdc\ufffdde\n\tf"
    raw = (b"From: a@test.example\r\nSubject: =?utf-8?q?a=00b?=\r\nMessage-ID: <n@t>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody\x00with nul\xed\xa0\x80\r\n")
    parsed = parse_message(raw)
    assert parsed.subject == "ab"
    assert "\x00" not in parsed.body_text and valid_text(parsed.body_text) == parsed.body_text


def test_overlong_headers_are_bounded() -> None:
    subject = "申报" * 50_000
    raw = (f"From: a@test.example\r\nSubject: {subject}\r\nMessage-ID: <o@t>\r\n"
           f"Content-Type: application/pdf; name=\"{'长' * 5000}.pdf\"\r\n\r\nx\r\n"
           ).encode()
    parsed = parse_message(raw)
    assert len(parsed.subject) == MAX_HEADER_CHARS and parsed.subject.endswith("…")
    [attachment] = parsed.attachments
    assert len(attachment.filename) <= 255 and attachment.filename.endswith(".pdf")
    assert file_name("a" * 300 + ".docx").endswith("….docx")


def test_message_ids_are_printable_ascii_and_stable() -> None:
    raw = (b"From: a@test.example\r\nSubject: s\r\nMessage-ID: <\xe4\xb8\xad@test.example>\r\n"
           b"In-Reply-To: <\xff@x>\r\nReferences: <ok@x> <\xff@y>\r\n\r\nx\r\n")
    first, again = parse_message(raw), parse_message(raw.replace(b"\r\n\r\nx", b"\r\n\r\ny"))
    assert first.message_id == again.message_id  # a second delivery is still recognised
    assert first.message_id.isascii() and first.message_id.endswith("@mailbot.invalid>")
    assert first.in_reply_to is None and first.references == ("<ok@x>",)


def test_non_ascii_addresses_are_kept_as_written() -> None:
    raw = ("From: 张三 <zhangsan@例子.中国>\r\nReply-To: 测试@example.test\r\n"
           "Subject: s\r\nMessage-ID: <i@t>\r\n\r\nx\r\n").encode()
    parsed = parse_message(raw)
    assert parsed.from_addr == "zhangsan@例子.中国" and parsed.reply_to == "测试@example.test"


def test_names_and_addresses_fit_their_columns_in_any_form() -> None:
    expanding = "\ufdfa" * 150  # one character that NFKC turns into eighteen
    raw = (f"From: =?utf-8?b?{base64.b64encode(expanding.encode()).decode()}?= "
           f"<{'a' * 300}@test.example>\r\nReply-To: ok@test.example\r\nSubject: s\r\n"
           f"Message-ID: <c@t>\r\n\r\nx\r\n").encode()
    parsed = parse_message(raw)
    assert len(unicodedata.normalize("NFKC", parsed.from_name)) <= 200
    assert parsed.from_addr == "" and parsed.reply_to == "ok@test.example"


@pytest.mark.parametrize("value", ["=?utf-7?q?+2AA-?=@x.example", "a b@x.example",
                                   "a@b@c", "@x.example", "a@", "a;b@x", '"a b"@x', ""])
def test_what_is_no_address_is_none(value: str) -> None:
    assert address(value) == ""


@pytest.mark.parametrize(("value", "mailbox"), [
    ('"a"@x', "a@x"), ("<a@x>", "a@x"), ('"v\\ictim"@Test.Example', "victim@test.example")])
def test_a_quoted_spelling_of_a_plain_mailbox_is_read_as_that_mailbox(value: str,
                                                                    mailbox: str) -> None:
    # The hourly limit counts the one mailbox; the sender is not lost for being quoted.
    assert address(value) == mailbox


def test_a_sender_whose_only_address_is_unusable_goes_to_a_person() -> None:
    raw = (f"From: <{'a' * 300}@test.example>\r\nSubject: s\r\nMessage-ID: <u@t>\r\n\r\nx\r\n"
           ).encode()
    parsed = parse_message(raw)
    assert parsed.unprocessable is not None and parsed.unprocessable.startswith("找不到发件人地址")


def test_the_reply_composer_never_refuses_a_subject(tmp_path: Path) -> None:
    (tmp_path / "t.txt.j2").write_text("您好", encoding="utf-8")
    composer = Composer(tmp_path, "office@test.example", "工会办公室")
    quoted = "申报\u2028材料\r\n" + "长" * 2000
    mail = composer.compose("t.txt.j2", {}, to="测试@example.test\r\n",
                            subject=f"【需补正】{quoted}（回执编号 LM2022-0001）",
                            in_reply_to="<\udce4@x>", references=["<ok@x>", "<中@x>"])
    subject = str(mail["Subject"])
    assert subject.endswith("（回执编号 LM2022-0001）") and subject.splitlines() == [subject]
    assert "In-Reply-To" not in mail and b"\r\n" in mail.as_bytes()
    # Text that looks like an encoded word is the sender's text, not ours to decode again.
    for literal in ("=?utf-7?q?+2AA-?=", "=?unicode_escape?q?=5Cud800?=", "=?ms936?b?//5d?="):
        odd = composer.compose("t.txt.j2", {}, to="a@test.example", subject=f"回复：{literal}")
        shown = str(odd["Subject"])
        assert odd.as_bytes() and valid_text(shown) == shown
        assert shown == "回复：" + literal.replace("=?", "= ?")
    threaded = composer.compose("t.txt.j2", {}, to="a@test.example", subject="s",
                                in_reply_to="<a@x>", references=["<ok@x>", "<中@x>"])
    assert str(threaded["References"]) == "<ok@x> <a@x>"


def test_a_raw_8bit_file_name_follows_the_charset_the_mail_declares() -> None:
    name = "Заявка на конкурс.docx".encode("cp1251")
    raw = (b"From: a@test.example\r\nSubject: s\r\nMessage-ID: <f@t>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain; charset=windows-1251\r\n\r\n"
           + "Добрый день".encode("cp1251") + b"\r\n--b\r\n"
           b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; '
           b'filename="' + name + b'"\r\n\r\nPK\r\n--b--\r\n')
    [attachment] = parse_message(raw).attachments
    assert attachment.filename == "Заявка на конкурс.docx"
