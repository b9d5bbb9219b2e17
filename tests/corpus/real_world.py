"""Corpus cases from real-world mail (the public mail-library test corpora, issue 10).

Each case is written byte for byte as the client or machine sends it; the expectation is what
went in (the name chosen, the bytes attached), never what the parser makes of it. Where the
bytes are damaged on purpose, the expected text is the rule spelled out: a UTF-8 name with one
cut character keeps its UTF-8 reading with one U+FFFD (not GB18030 mojibake), a stray byte in
an ISO-2022-JP name is dropped without taking the next letter with it.

Loaded by make_corpus.py (GROUPS); run that script to write the files.
"""

from __future__ import annotations

import base64

from make_corpus import OFFICE, PDF, S1, S2, S3, WHEN, Case, _tnef_mail, files_of, sha, summary

from mailbot.demo import wrappers
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import approval_docx, material_docx

DATE = b"Date: Sun, 09 Oct 2022 16:20:05 +0800\r\n"


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _word(text: bytes, charset: str = "UTF-8") -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(text) + b"?="


def _with_subject(raw: bytes, subject: bytes) -> bytes:
    """A built mail with its Subject line replaced by raw bytes, as a client wrote them."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(b"subject:"))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    lines[start:end] = [b"Subject: " + subject]
    return b"\r\n".join(lines) + sep + body


def _cut_utf8(name: str) -> bytes:
    """`name` in UTF-8 with one byte of one character cut away, chosen so that the damaged
    bytes still decode cleanly as GB18030: the trap a parser that guesses GB18030 falls in."""
    data = name.encode("utf-8")
    for cut in range(1, len(data)):
        if data[cut] & 0xC0 != 0x80:
            continue  # cut a continuation byte: a character loses its tail, as Yahoo does
        damaged = data[:cut] + data[cut + 1:]
        try:
            damaged.decode("gb18030")
        except UnicodeDecodeError:
            continue
        return damaged
    raise AssertionError(f"no GB18030-clean cut in {name}")


def mail_text_cases() -> list[Case]:
    """Subjects and names as real clients write them: poison labels, line breaks, cuts."""
    full = [("附件1-推荐汇总表.docx", summary(S2)), ("附件2-推荐审批表.docx", approval_docx(S2)),
            ("附件3-申报材料.docx", material_docx(S2, 1500))]
    base = build_mail(sender="poison@test.example", to=OFFICE, subject="x", body="李老师：请查收。",
                      style="gmail", date=WHEN)
    cases = [Case("broken", "utf7-surrogate-subject",
                  _with_subject(base, b"=?utf-7?q?+2AA-?="), "+2AA-", "poison@test.example",
                  description="utf-7 decodes +2AA- to a lone surrogate that no database "
                              "stores: the label is not trusted, the bytes read as unlabelled")]
    for name, sender, subject, shown in (
            ("subject-u2028", "u2028@test.example",
             _word("创意设计学院申报材料\u2028（完整）".encode()), "创意设计学院申报材料 （完整）"),
            ("subject-encoded-crlf", "crlf@test.example",
             b"=?utf-8?q?=E7=94=B3=E6=8A=A5=0D=0A=E6=9D=90=E6=96=99?=", "申报 材料")):
        raw = build_mail(sender=sender, to=OFFICE, subject="x", body="李老师：材料见附件。",
                         attachments=full, style="gmail", date=WHEN)
        cases.append(Case("broken", name, _with_subject(raw, subject), shown, sender,
                          files_of(full), description="A complete set whose subject holds a "
                          "line break once decoded: one line, and answered, not 隔离"))

    material = material_docx(S3, 1200)
    cut = _cut_utf8("附件3-申报材料（实验与设备管理中心）.docx")
    cases.append(Case("yahoo", "utf8-name-cut-mid-character", _crlf(b"""From: lab.center@yahoo.com
To: litiantian@sztu.edu.cn
Subject: =?UTF-8?B?""" + base64.b64encode("实验中心申报材料（Yahoo）".encode()) + b"""?=
Message-ID: <1665303605.yahoo.cut@mail.yahoo.com>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----=_Part_1_yahoo"

------=_Part_1_yahoo
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

see attachment
------=_Part_1_yahoo
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document
Content-Disposition: attachment; filename=\"""" + _word(cut) + b"""\"
Content-Transfer-Encoding: base64

""" + _b64(material) + b"""------=_Part_1_yahoo--
"""), "实验中心申报材料（Yahoo）", "lab.center@yahoo.com",
        [{"name": cut.decode("utf-8", "replace"), "format": "docx", "sha256": sha(material),
          "source": ""}],
        description="Yahoo cuts long UTF-8 names mid-character; the damaged bytes happen to "
                    "be clean GB18030. UTF-8 with one repair wins over GB18030 mojibake"))

    jis = "申請書".encode("iso2022_jp")  # ends by switching back to ASCII: ESC ( B
    cases.append(Case("broken", "iso-2022-jp-name-bad-byte", _crlf(b"""From: tanaka@test.example
To: litiantian@sztu.edu.cn
Subject: =?ISO-2022-JP?B?""" + base64.b64encode("申請書（ISO-2022-JP）".encode("iso2022_jp"))
        + b"""?=
Message-ID: <iso2022jp-bad-byte@test.example>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="jp"

--jp
Content-Type: text/plain; charset=ISO-2022-JP

see attachment
--jp
Content-Type: application/pdf; name=\"""" + _word(jis + b"\x8eA.pdf", "ISO-2022-JP") + b"""\"
Content-Disposition: attachment
Content-Transfer-Encoding: base64

""" + _b64(PDF) + b"""--jp--
"""), "申請書（ISO-2022-JP）", "tanaka@test.example",
        [{"name": "申請書A.pdf", "format": "pdf", "sha256": sha(PDF), "source": ""}],
        description="One stray 8-bit byte in a 7-bit ISO-2022-JP name: dropped, and the "
                    "letter after it kept (GB18030 made one CJK character of the two)"))

    for name, charset, codec, subject in (
            ("raw-latin1-subject", "iso-8859-1", "latin-1", "Candidature Hélène Müller, dossier"),
            ("raw-cyrillic-subject", "koi8-r", "koi8-r", "Заявка на участие в конкурсе")):
        sender = f"{name}@test.example"
        cases.append(Case("broken", name, _crlf(b"From: " + sender.encode() + b"""
To: litiantian@sztu.edu.cn
Subject: """ + subject.encode(codec) + b"""
Message-ID: <""" + name.encode() + b"""@test.example>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: text/plain; charset=""" + charset.encode() + b"""
Content-Transfer-Encoding: 8bit

""" + "Bonjour / Здравствуйте".encode(codec, errors="replace") + b"""
"""), subject, sender, defects=["8 位字节"],
            description=f"A raw 8-bit {charset} subject in a mail whose body declares "
                        f"{charset}: read in that charset, not as GB18030"))
    return cases


def shape_cases() -> list[Case]:
    """Mail shapes: an attached mail named like a document, reports, out-of-office, TNEF, PGP."""
    inner = build_mail(sender="partner@test.example", to="hr@test.example",
                       subject="Contract 25 04 2020", body="The contract text, as agreed.",
                       style="thunderbird", date=WHEN, message_id="<contract-2020@test.example>")
    attached = _crlf(b"""From: forwarder@test.example
To: litiantian@sztu.edu.cn
Subject: Fwd: Contract
Message-ID: <forwarded-contract@test.example>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8

Please see the attached contract.
--outer
Content-Type: message/rfc822; name="Contract 25 04 2020.docx"
Content-Disposition: attachment; filename="Contract 25 04 2020.docx"

""") + inner + b"\r\n--outer--\r\n"
    cases = [Case("thunderbird", "rfc822-named-like-a-document", attached, "Fwd: Contract",
                  "forwarder@test.example", files_of([("Contract 25 04 2020.docx", inner)]),
                  description="An attached mail named like a document, holding only text: "
                              "it is what arrived, named in the reply, not 'no attachment'")]

    cases.append(Case("postfix", "bare-delivery-status", _crlf(b"""From: Mail Gateway <gateway@relay.test.example>
To: litiantian@sztu.edu.cn
Subject: Delivery report
Message-ID: <bare-dsn-1@relay.test.example>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.test.example

Final-Recipient: rfc822; nobody@test.example
Action: failed
Status: 5.1.1
"""), "Delivery report", "gateway@relay.test.example",
        automatic="退信（投递状态报告 message/delivery-status", envelope_from="",
        description="A delivery-status report sent bare, without multipart/report around it"))

    for name, subject, encoded in (
            ("oof-french", "Réponse automatique : 【已受理】申报材料（法语）",
             _word("Réponse automatique : 【已受理】申报材料（法语）".encode())),
            ("oof-russian", "Автоответ: заявка на конкурс",
             _word("Автоответ: заявка на конкурс".encode("koi8-r"), "koi8-r"))):
        sender = f"{name}@test.example"
        cases.append(Case("outlook", name, _crlf(b"From: =?utf-8?q?Jean?= <" + sender.encode()
                                                 + b""">
To: litiantian@sztu.edu.cn
Subject: """ + encoded + b"""
Message-ID: <""" + name.encode() + b"""@test.example>
In-Reply-To: <166530000000.4242.1234567890.mailbot@sztu.edu.cn>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Je suis absent jusqu'au 17 octobre.
"""), subject, sender, automatic="自动回复（主题",
            description="An out-of-office in another language, from a person's address, "
                        "with no Auto-Submitted header: only its subject tells"))

    files = [("附件1-推荐汇总表（城市交通与物流学院）.docx", summary(S1)), ("附件2-推荐审批表.docx", b"")]
    cases.append(_tnef_mail("winmail-dat-empty-file", wrappers.winmail_dat(files),
                            "Outlook 富文本（含空文件）", "A winmail.dat holding a file of 0 bytes: "
                            "kept and named, so that the reply says it is empty"))
    cases[-1].attachments = files_of(files, "winmail.dat")

    cases.append(Case("thunderbird", "pgp-mime-encrypted", _crlf(b"""From: crypto@test.example
To: litiantian@sztu.edu.cn
Subject: =?UTF-8?B?""" + base64.b64encode("加密的申报材料".encode()) + b"""?=
Message-ID: <pgp-mime-1@test.example>
""" + DATE + b"""MIME-Version: 1.0
Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="pgp"

This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)
--pgp
Content-Type: application/pgp-encrypted
Content-Description: PGP/MIME version identification

Version: 1

--pgp
Content-Type: application/octet-stream; name="encrypted.asc"
Content-Description: OpenPGP encrypted message
Content-Disposition: inline; filename="encrypted.asc"

-----BEGIN PGP MESSAGE-----

hF4DAAAAAAAAAAASAQdAbm90IGEgcmVhbCBrZXksIGp1c3QgdGVzdCBieXRlcw==
=abcd
-----END PGP MESSAGE-----

--pgp--
"""), "加密的申报材料", "crypto@test.example", findings=["mail-encrypted"],
        description="PGP/MIME: the control part is no attachment, and the sender is told "
                    "that an encrypted mail cannot be read"))
    return cases


def cases() -> list[Case]:
    return [*mail_text_cases(), *shape_cases()]

