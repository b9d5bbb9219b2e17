"""Mail from machines is recognised, and mail from people is not mistaken for it."""

from __future__ import annotations

import email
from email.message import Message
from email.policy import compat32

import pytest

from mailbot.demo.machinemail import build_auto_reply, build_bounce
from mailbot.demo.mailfactory import build_mail
from mailbot.mail.automatic import automatic_reason
from mailbot.mail.parse import parse_message

OFFICE = "litiantian@sztu.edu.cn"
BOT = "mailbot@sztu.edu.cn"
APPLICANT = "zhangsan@sztu.edu.cn"


def mail(style: str = "outlook", subject: str = "劳模工作室申报材料", **headers: str) -> Message:
    raw = build_mail(sender=APPLICANT, to=OFFICE, subject=subject, body="见附件",
                     attachments=[("附件1.docx", b"PK")], style=style,  # type: ignore[arg-type]
                     extra_headers=headers)
    return email.message_from_bytes(raw, policy=compat32)


def raw_mail(head: bytes) -> Message:
    return email.message_from_bytes(head + b"\r\n\r\nbody\r\n", policy=compat32)


@pytest.mark.parametrize("style", ["outlook", "foxmail", "qq", "netease", "apple", "gmail", "mutt",
                                   "thunderbird", "rfc2231", "raw-gbk", "raw-utf8"])
def test_mail_from_a_person_is_not_automatic(style: str) -> None:
    assert automatic_reason(mail(style), own_addresses=[BOT]) is None


def test_out_of_office_from_exchange() -> None:
    raw = build_auto_reply(sender=APPLICANT, to=BOT, subject="回执：附件已收到",
                           in_reply_to="<r1@sztu.edu.cn>")
    assert parse_message(raw).automatic == "自动回复（Auto-Submitted: auto-replied）"


def test_bounce_is_reported_as_a_bounce_not_as_an_auto_reply() -> None:
    original = build_mail(sender=BOT, to="nobody@test.example", subject="回执",
                          attachments=[("附件1.docx", b"PK")])
    parsed = parse_message(build_bounce(to=BOT, original=original))
    assert parsed.automatic is not None
    assert parsed.automatic.startswith("退信（投递状态报告")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"List-Id": "工会通知 <notice.lists.sztu.edu.cn>"}, "邮件列表或群发邮件（List-Id: 工会通知"),
        ({"List-Unsubscribe": "<mailto:leave@lists.example>"}, "邮件列表或群发邮件（List-Unsubscribe"),
        ({"List-Post": "<mailto:all@lists.example>"}, "邮件列表或群发邮件（List-Post"),
        ({"Precedence": "bulk"}, "群发邮件（Precedence: bulk）"),
        ({"Precedence": "Junk"}, "群发邮件（Precedence: junk）"),
        ({"Precedence": "list"}, "群发邮件（Precedence: list）"),
        ({"Precedence": "auto_reply"}, "自动回复（Precedence: auto_reply）"),
        ({"Auto-Submitted": "auto-generated"}, "自动生成的邮件（Auto-Submitted: auto-generated）"),
        ({"Auto-Submitted": "auto-replied; owner-email=\"x@y\""},
         "自动回复（Auto-Submitted: auto-replied）"),
        ({"X-Autoreply": "yes"}, "自动回复（X-Autoreply: yes）"),
        ({"X-Autorespond": "vacation"}, "自动回复（X-Autorespond: vacation）"),
        ({"X-Failed-Recipients": "x@y.example"}, "退信（X-Failed-Recipients: x@y.example）"),
        ({"Return-Path": "<>"}, "系统退信或自动通知（Return-Path 为空 <>）"),
        ({"Sender": "postmaster@qq.com"}, "退信或系统通知（Sender: postmaster@qq.com）"),
        ({"Return-Path": "<MAILER-DAEMON@mx.example>"},
         "退信或系统通知（Return-Path: mailer-daemon@mx.example）"),
    ],
)
def test_machine_headers(headers: dict[str, str], expected: str) -> None:
    reason = automatic_reason(mail(**headers))
    assert reason is not None
    assert reason.startswith(expected)


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "no"},
        {"Precedence": "first-class"},
        {"X-Autoreply": "no"},
        # Outlook sets this on ordinary mail: alone it proves nothing.
        {"X-Auto-Response-Suppress": "All"},
        {"Return-Path": f"<{APPLICANT}>"},
    ],
)
def test_headers_that_do_not_make_mail_automatic(headers: dict[str, str]) -> None:
    assert automatic_reason(mail(**headers)) is None


def test_out_of_office_subject() -> None:
    reason = automatic_reason(mail(subject="自动答复: 申报材料", **{"X-Auto-Response-Suppress": "All"}))
    assert reason == "自动回复（主题“自动答复: 申报材料”，X-Auto-Response-Suppress: All）"
    assert automatic_reason(mail(subject="Automatic reply: 申报材料")) is not None
    # A person answering an auto-reply is a person.
    assert automatic_reason(mail(subject="Re: 自动回复: 申报材料")) is None


def test_our_own_mail_comes_first() -> None:
    raw = build_mail(sender=BOT, to=OFFICE, subject="回执", extra_headers={"Auto-Submitted": "auto-replied"})
    msg = email.message_from_bytes(raw, policy=compat32)
    assert automatic_reason(msg, own_addresses=["MailBot@SZTU.edu.cn"]) == (
        f"本系统自己发出的邮件（发件人 {BOT}）"
    )
    assert automatic_reason(msg) == "自动回复（Auto-Submitted: auto-replied）"


def test_mailer_daemon_from_and_read_receipts() -> None:
    msg = raw_mail(b"From: Mail Delivery Subsystem <MAILER-DAEMON@googlemail.com>\r\nSubject: x")
    assert automatic_reason(msg) == "退信或系统通知（From: mailer-daemon@googlemail.com）"
    receipt = raw_mail(
        b"From: a@b.example\r\nContent-Type: multipart/report;"
        b" report-type=disposition-notification; boundary=x"
    )
    assert automatic_reason(receipt) == (
        "已读回执（multipart/report; report-type=disposition-notification）"
    )


def test_raw_8bit_headers_do_not_break_the_checks() -> None:
    msg = raw_mail(b'From: "\xd5\xc5\xc8\xfd" <a@b.example>\r\nSubject: \xd7\xd4\xb6\xaf\xbb\xd8'
                   b"\xb8\xb4: x\r\nList-Id: \xb9\xa4\xbb\xe1 <l.example>")
    reason = automatic_reason(msg)
    assert reason == "自动回复（主题“自动回复: x”）"


def test_a_bounce_forwarded_by_a_person_is_a_persons_mail() -> None:
    from mailbot.demo.wrappers import forward_as_attachment
    bounce = build_bounce(to=APPLICANT, original=build_mail(
        sender=APPLICANT, to="wrong@sztu.edu.cn", subject="申报材料", attachments=[("附件1.docx", b"PK")]))
    raw = forward_as_attachment(bounce, sender=APPLICANT, to=OFFICE, subject="我的邮件被退回了，请问怎么办？",
                                style="outlook", name="退信")
    assert parse_message(raw).automatic is None
    # A report part directly in the mail (an MTA that labels nothing else) is a bounce.
    direct = raw_mail(b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
                      b"--x\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--x\r\n"
                      b"Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n--x--")
    assert automatic_reason(direct) == "退信或系统报告（含 message/delivery-status 部分）"


@pytest.mark.parametrize(
    ("headers", "subject", "expected"),
    [
        ({"X-Loop": "helpdesk@sztu.edu.cn"}, "申报", "经自动程序处理过的邮件（X-Loop: helpdesk@sztu.edu.cn）"),
        ({"X-MS-Exchange-Message-Is-Ndr": ""}, "申报", "退信（Exchange 未送达报告"),
        ({"Sender": "owner-union@lists.sztu.edu.cn"}, "申报", "系统或列表发出的邮件（Sender: owner-union@"),
        ({"Return-Path": "<noreply@notice.sztu.edu.cn>"}, "申报", "系统或列表发出的邮件（Return-Path: noreply@"),
        ({}, "系统退信", "退信（主题“系统退信”）"),
        ({}, "Undeliverable: 申报材料", "退信（主题“Undeliverable: 申报材料”）"),
        ({}, "退信通知：申报材料", "退信（主题"),
        ({"List-Help": "<mailto:help@lists.example>"}, "申报", "邮件列表或群发邮件（List-Help"),
    ],
)
def test_more_machine_markers(headers: dict[str, str], subject: str, expected: str) -> None:
    reason = automatic_reason(mail(subject=subject, **headers), own_addresses=[BOT])
    assert reason is not None and reason.startswith(expected)


def test_our_message_id_on_our_domain_is_ours_whoever_sent_it() -> None:
    def with_id(message_id: str) -> Message:
        return email.message_from_bytes(build_mail(
            sender="alias@sztu.edu.cn", to=OFFICE, subject="回执", message_id=message_id),
            policy=compat32)

    ours = with_id("<166530000.42.123.mailbot@sztu.edu.cn>")
    assert automatic_reason(ours, own_addresses=[BOT]) == (
        "本系统自己发出的邮件（Message-ID <166530000.42.123.mailbot@sztu.edu.cn>）")
    # The same shape on a domain that is not ours proves nothing.
    theirs = with_id("<166530000.42.123.mailbot@other.example>")
    assert automatic_reason(theirs, own_addresses=[BOT]) is None


@pytest.mark.parametrize(("value", "held"), [("All", True), ("DR, OOF, AutoReply", True),
                                             ("OOF", True), ("DR, RN, NRN", False)])
def test_auto_response_suppress_asks_for_no_reply(value: str, held: bool) -> None:
    from mailbot.mail.automatic import reply_suppressed
    reason = reply_suppressed(mail(**{"X-Auto-Response-Suppress": value}))
    assert (reason is not None) == held
    assert automatic_reason(mail(**{"X-Auto-Response-Suppress": value})) is None


@pytest.mark.parametrize("subject", [
    "Automatische Antwort: 申报材料", "Abwesenheitsnotiz: 申报材料", "Réponse automatique : 申报材料",
    "Respuesta automática: 申报材料", "Risposta automatica: 申报材料", "Automatisch antwoord: x",
    "Automatiskt svar: x", "Autosvar: x", "Odpowiedź automatyczna: x", "Automatická odpověď: x",
    "Автоответ: заявка", "Автоматический ответ: x", "自動応答: x", "자동 회신: x", "OOF: x",
    "Otomatik yanıt: x", "Αυτόματη απάντηση: x", "Trả lời tự động: x"])
def test_out_of_office_in_other_languages(subject: str) -> None:
    # From a person's own address, without any Auto-Submitted header: only the subject tells.
    reason = automatic_reason(mail(subject=subject))
    assert reason is not None and reason.startswith("自动回复（主题")
    assert automatic_reason(mail(subject=f"Re: {subject}")) is None  # a person answering one


def test_sieve_auto_prefix_counts_only_on_an_answer() -> None:
    assert automatic_reason(mail(subject="Auto: 申报材料")) is None
    answer = mail(subject="Auto: 申报材料", **{"In-Reply-To": "<r1@sztu.edu.cn>"})
    assert automatic_reason(answer) == "自动回复（主题“Auto: 申报材料”）"


@pytest.mark.parametrize(("ctype", "reason"), [
    ("message/delivery-status", "退信（投递状态报告 message/delivery-status）"),
    ("message/global-delivery-status", "退信（投递状态报告 message/global-delivery-status）"),
    ("message/disposition-notification", "已读回执（message/disposition-notification）"),
    ("message/feedback-report", "系统报告（message/feedback-report）")])
def test_a_report_sent_bare_is_automatic(ctype: str, reason: str) -> None:
    msg = raw_mail(b"From: gateway@relay.example\r\nSubject: report\r\nContent-Type: "
                   + ctype.encode())
    assert automatic_reason(msg) == reason
