"""Findings about a mail as a whole, not one document's content: the mail too large to fetch,
an archive or winmail.dat that stays closed, encryption, a reply held, a sender the office has
not confirmed, what a unit still owes.

The layers below (mail/, intake/, campaign/) find these situations; the words and codes said to
the applicant and the office are here, with every other check's, so each finding has one home.
Pure: nothing here reads the database, the network or the clock.
"""

from __future__ import annotations

from mailbot.findings import Finding, Severity

FIX_PLAIN = "请直接把各个文件作为附件发送（可以分几封邮件），或改用 .zip 格式压缩后重新发送。"

ENCRYPTED = Finding(
    code="mail-encrypted",
    message="这封邮件是加密邮件（PGP 或 S/MIME），本系统无法解密，读不到其中的正文和附件。",
    fix="请不要加密邮件，直接把申报材料作为附件重新发送（文件本身也不要设置密码）。",
)


def megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def too_large(size: int, limit: int) -> Finding:
    return Finding(
        code="too-large",
        message=f"邮件大小为 {megabytes(size)} MB，超过了本邮箱的接收上限 {megabytes(limit)} MB，"
                "系统没有读取其中的附件。",
        fix=f"请把附件分成几封邮件发送（每封不超过 {megabytes(limit)} MB），或把扫描件、"
            "图片压缩后重新发送。")


def tnef_unreadable(name: str, document: str | None) -> Finding:
    return Finding(
        code="tnef-unreadable",
        message=f"“{name}”是 Outlook 的 RTF 格式封装文件，无法读取其中的附件。",
        fix="请在 Outlook 中把邮件格式改为“HTML”或“纯文本”（“设置文本格式”选项卡），"
            "然后重新发送。",
        document=document)


def archive_unsupported(shown: str, kind: str, document: str) -> Finding:
    return Finding(code="archive-unsupported",
                   message=f"“{shown}”是 {kind} 压缩包，系统无法打开其中的文件。",
                   fix=FIX_PLAIN, document=document)


def archive_empty(shown: str, document: str) -> Finding:
    return Finding(code="archive-empty", message=f"压缩包“{shown}”中没有可读取的文件。",
                   fix=FIX_PLAIN, document=document)


def archive_refused(code: str, reason: str, document: str) -> Finding:
    """An archive opened but refused (too deep, too large, a bomb): `reason` says which."""
    return Finding(code=code, message=reason, fix=FIX_PLAIN, document=document)


def reply_held(reason: str) -> Finding:
    return Finding(code="reply-held", message=f"未自动回复：{reason}。",
                   fix="如需答复，请人工联系发件人。", severity=Severity.INFO)


def sender_unverified(server: str, summary: str) -> Finding:
    return Finding(code="sender-unverified",
                   message=f"发件人身份验证未通过（{server}：{summary}），发件地址可能被冒用；"
                           "回复已暂缓，办公室放行后才发出。",
                   fix="请核实发件人后在管理页面的回复详情中点击“放行回复”。",
                   severity=Severity.INFO)


def unconfirmed_sender(sender: str, unit_name: str) -> Finding:
    return Finding(
        code="unconfirmed-sender",
        message=f"发件地址 {sender or '（无）'} 不是{unit_name}登记的邮箱，"
                "本邮件中的材料待核实，经校工会办公室确认后才计入该单位。",
        fix="请由单位登记的邮箱发送，或等待办公室与单位核实；无需重复发送。")


def unresolved_form(display: str, filename: str) -> Finding:
    return Finding(code="unresolved", message=f"{display}“{filename}”需要更正后重新发送。",
                   fix="（具体问题见此前的补正通知。）")


def paper_copy_missing(where: str) -> Finding:
    return Finding(code="paper-copy", message="纸质版材料尚未送达。", fix=where)
