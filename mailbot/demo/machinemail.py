"""Mail that machines send back: bounces and auto-replies of the systems applicants sit behind.

Written byte for byte after the real thing, so that `mailbot.mail.automatic` is tested against what
Exchange, Gmail, QQ Mail, Coremail (163/126 and most Chinese universities) and Mailman send, not
against what we imagine. (Postfix's report and Exchange's out-of-office are here too:
`build_bounce`, `build_auto_reply`.)

The hard ones on purpose: an Exchange NDR without ``Auto-Submitted``, a QQ bounce that is
multipart/mixed rather than a report, a Coremail vacation reply marked by nothing but its
subject, a Coremail bounce from an ordinary-looking address with a 退信 subject.
"""

from __future__ import annotations

import base64
import email
import secrets
from datetime import datetime
from email.policy import compat32
from email.utils import format_datetime, getaddresses

from mailbot.demo.mailfactory import CST, build_mail, multipart
from mailbot.mail.filenames import raw_header

CRLF = b"\r\n"


def _b64(text: str, codec: str = "utf-8") -> bytes:
    encoded = base64.b64encode(text.encode(codec))
    return CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _word(text: str, label: str = "utf-8", codec: str = "utf-8") -> str:
    return f"=?{label}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def _when(date: datetime | None) -> str:
    return format_datetime(date or datetime.now(CST))


def exchange_ndr(*, to: str, original_subject: str, recipient: str, domain: str,
                 date: datetime | None = None) -> bytes:
    """Exchange Server's 未送达报告 (Chinese UI), as on-premises Exchange 2016 sends it."""
    boundary = f"_{secrets.token_hex(16)}_"
    inner = f"_{secrets.token_hex(16)}_"
    text = (f"无法传递到以下收件人或组:\r\n\r\n{recipient}\r\n找不到该电子邮件地址。"
            "请检查收件人的电子邮件地址，然后尝试重新发送邮件。\r\n")
    html = f"<html><body><p>无法传递到以下收件人或组:</p><p>{recipient}</p></body></html>"
    status = (f"Reporting-MTA: dns;MBX01.{domain}\r\nReceived-From-MTA: dns;MBX01.{domain}\r\n\r\n"
              f"Final-recipient: RFC822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
              f"Diagnostic-Code: smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found\r\n")
    head = [
        f"From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{domain}>",
        f"To: <{to}>",
        f"Date: {_when(date)}",
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f"\tboundary=\"{boundary}\"",
        "Content-Language: zh-CN",
        f"Message-ID: <{secrets.token_hex(16)}@MBX01.{domain}>",
        f"Subject: {_word('无法投递: ' + original_subject)}",
        "MIME-Version: 1.0",
        "X-MS-Exchange-Message-Is-Ndr:",
        "X-MS-PublicTrafficType: Email",
    ]
    body = (f"--{boundary}\r\nContent-Type: multipart/alternative; boundary=\"{inner}\"\r\n\r\n"
            f"--{inner}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(text) + (
            f"\r\n--{inner}\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(html) + (
            f"\r\n--{inner}--\r\n\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"{status}\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"Subject: {_word(original_subject)}\r\nFrom: <{to}>\r\nTo: <{recipient}>\r\n"
            f"\r\n--{boundary}--\r\n").encode()
    return "\r\n".join(head).encode() + CRLF + CRLF + body


def gmail_bounce(*, to: str, recipient: str, original: bytes,
                 date: datetime | None = None) -> bytes:
    """Gmail's "Delivery Status Notification (Failure)"."""
    boundary = "000000000000" + secrets.token_hex(6)
    head = [
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        f"To: {to}",
        "Auto-Submitted: auto-replied",
        "Subject: Delivery Status Notification (Failure)",
        f"Message-ID: <{secrets.token_hex(8)}.{secrets.token_hex(4)}@mx.google.com>",
        f"Date: {_when(date)}",
        f"X-Failed-Recipients: {recipient}",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/report; boundary=\"{boundary}\"; report-type=delivery-status",
    ]
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n"
            f"** Address not found **\r\n\r\nYour message wasn't delivered to {recipient}.\r\n"
            f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; googlemail.com\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").encode()
    return ("\r\n".join(head).encode() + CRLF + CRLF + body + original.rstrip(CRLF)
            + f"\r\n--{boundary}--\r\n".encode())


def qq_bounce(*, to: str, original_subject: str, recipient: str,
              date: datetime | None = None) -> bytes:
    """QQ Mail's 系统退信: multipart/mixed, GB18030, from PostMaster@qq.com."""
    boundary = f"----=_NextPart_{secrets.token_hex(4).upper()}_{secrets.token_hex(4).upper()}"
    notice = (f"<html><body>很抱歉您发送的邮件被退回，以下是该邮件的相关信息：<br>"
              f"被退回的邮件：{original_subject}<br>无法发送到：{recipient}<br>"
              "退信原因：收件人邮箱地址不存在或已被停用</body></html>")
    head = [
        f"From: \"{_word('系统退信', 'gb18030', 'gb18030')}\" <PostMaster@qq.com>",
        f"To: {to}",
        f"Subject: {_word('退信：' + original_subject, 'gb18030', 'gb18030')}",
        f"Date: {_when(date)}",
        f"Message-ID: <tencent_{secrets.token_hex(16).upper()}@qq.com>",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/mixed;\r\n\tboundary=\"{boundary}\"",
        f"X-QQ-mid: bounce{secrets.token_hex(8)}",
    ]
    body = (f"--{boundary}\r\nContent-Type: text/html; charset=\"gb18030\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(notice, "gb18030") + (
            f"\r\n\r\n--{boundary}--\r\n").encode()
    return "\r\n".join(head).encode() + CRLF + CRLF + body


def coremail_bounce(*, to: str, original_subject: str, recipient: str, domain: str,
                    date: datetime | None = None) -> bytes:
    """A university Coremail system's 退信通知, from an administrator address."""
    return build_mail(sender=f"sysadmin@{domain}", to=to, style="netease",
                      subject=f"退信通知：{original_subject}", sender_name="系统管理员", date=date,
                      body=f"您发送给 {recipient} 的邮件未能送达，原因：收件人不存在。")


def coremail_auto_reply(*, sender: str, to: str, original_subject: str,
                        date: datetime | None = None) -> bytes:
    """A 163/Coremail 自动回复 (vacation reply): nothing marks it but its subject."""
    return build_mail(sender=sender, to=to, style="netease", date=date,
                      subject=f"自动回复：{original_subject}",
                      body="您好，您的来信已收到，我会尽快处理。此邮件为自动回复。")


def mailman_post(*, sender: str, to: str, subject: str, list_id: str,
                 date: datetime | None = None) -> bytes:
    """A mailing-list post (Mailman 3) that reached the submission address."""
    name, _, host = list_id.partition(".")
    return build_mail(sender=sender, to=to, subject=subject, style="thunderbird", date=date,
                      body="各位老师：\n工会通知见附件。",
                      extra_headers={
                          "List-Id": f"<{list_id}>",
                          "List-Unsubscribe": f"<mailto:{name}-leave@{host}>",
                          "List-Post": f"<mailto:{name}@{host}>",
                          "Precedence": "list",
                          "X-Mailman-Version": "3.3.8"})


def outlook_read_receipt(*, sender: str, to: str, original_subject: str,
                         date: datetime | None = None) -> bytes:
    """An Outlook 已读 receipt: multipart/report; report-type=disposition-notification."""
    boundary = f"----=_NextPart_000_{secrets.token_hex(6).upper()}"
    head = [
        f"From: <{sender}>",
        f"To: <{to}>",
        f"Subject: {_word('已读: ' + original_subject, 'gb2312', 'gb18030')}",
        f"Date: {_when(date)}",
        f"Message-ID: <{secrets.token_hex(12)}@{sender.rpartition('@')[2]}>",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/report; report-type=disposition-notification;\r\n"
        f"\tboundary=\"{boundary}\"",
        "X-Mailer: Microsoft Outlook 16.0",
    ]
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=\"gb2312\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(
            f"邮件\r\n\r\n   主题: {original_subject}\r\n\r\n已被阅读。\r\n", "gb18030") + (
            f"\r\n\r\n--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\n"
            f"Final-Recipient: rfc822;{sender}\r\n"
            "Disposition: automatic-action/MDN-sent-automatically; displayed\r\n"
            f"\r\n--{boundary}--\r\n").encode()
    return "\r\n".join(head).encode() + CRLF + CRLF + body


def build_auto_reply(
    *, sender: str, to: str, subject: str, in_reply_to: str | None = None
) -> bytes:
    """An out-of-office reply as Exchange sends it for an Outlook user on Chinese Windows."""
    domain = sender.rsplit("@", 1)[-1]
    headers = {
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent",
        "Thread-Topic": subject,
    }
    if in_reply_to:
        headers |= {"In-Reply-To": in_reply_to, "References": in_reply_to}
    return build_mail(
        sender=sender, to=to, subject=f"自动回复: {subject}", style="outlook",
        body="您好，我于国庆假期休假，10月8日返回办公室。急事请致电 0755-23256570。",
        message_id=f"<{secrets.token_hex(16)}@{domain}>", extra_headers=headers,
    )


def build_bounce(*, to: str, original: bytes, reporting_mta: str = "mx.test.example") -> bytes:
    """A Postfix-style delivery failure report (RFC 3464) returning `original` to `to`."""
    returned = email.message_from_bytes(original, policy=compat32)
    recipients = [a for _, a in getaddresses([raw_header(returned, "To") or ""]) if "@" in a]
    recipient = recipients[0] if recipients else f"unknown@{reporting_mta}"
    now = datetime.now(CST)
    queue_id = secrets.token_hex(5).upper()
    boundary = f"{queue_id}.{int(now.timestamp())}/{reporting_mta}"
    notice = (
        f"This is the mail system at host {reporting_mta}.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients. It's attached below.\r\n\r\n"
        f"<{recipient}>: host {reporting_mta} said: 550 5.1.1 <{recipient}>:\r\n"
        "    Recipient address rejected: User unknown in local recipient table\r\n"
    )
    status = (
        f"Reporting-MTA: dns; {reporting_mta}\r\nX-Postfix-Queue-ID: {queue_id}\r\n"
        f"Arrival-Date: {format_datetime(now)}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; {reporting_mta}\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected\r\n"
    )
    parts = [
        b"Content-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        + notice.encode(),
        b"Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        + status.encode(),
        b"Content-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + original.rstrip(b"\r\n"),
    ]
    headers = [
        b"Return-Path: <>",
        f"Date: {format_datetime(now)}".encode(),
        f"From: MAILER-DAEMON@{reporting_mta} (Mail Delivery System)".encode(),
        b"Subject: Undelivered Mail Returned to Sender",
        f"To: {to}".encode(),
        b"Auto-Submitted: auto-replied",
        f"Message-Id: <{now:%Y%m%d%H%M%S}.{queue_id}@{reporting_mta}>".encode(),
        b"MIME-Version: 1.0",
    ]
    report = multipart("report", boundary, parts, " report-type=delivery-status;")
    return CRLF.join(headers) + CRLF + report
