"""Recognise mail sent by machines, which must be recorded but never answered.

Answering an auto-reply, a bounce or a mailing list starts mail loops and spams lists
(RFC 3834 §2). Each check below is one small function returning a short Chinese reason for the
office, or None; `automatic_reason` runs them in order, most specific first, so a bounce that
also says ``Auto-Submitted: auto-replied`` (Postfix adds that) is reported as a bounce.

``X-Auto-Response-Suppress`` alone does not make a mail automatic: Outlook puts it on mail
people send (meeting requests, mail from add-ins and shared mailboxes). It is a request not to be
auto-answered, and `reply_suppressed` honours it — the mail is processed, its verdict recorded,
but no acknowledgement goes out. The same function is the place for every other
"process it, do not answer it" rule that needs only the headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from email.message import Message
from email.utils import getaddresses

from mailbot.mail.filenames import decode_8bit, decode_header_text, raw_header

# Prefixes autoresponders put at the very start of the subject: Exchange (自动回复:),
# Outlook client rules (自动答复:), Traditional Chinese Exchange, English clients, QQ/163 vacation
# replies, and Outlook/Exchange/Gmail in the other languages a correspondent's mailbox may speak.
# Anchored at the start: a person answering one would write "Re: 自动回复: …".
_OOF_SUBJECT = re.compile(
    r"^\s*(自动回复|自动答复|自動回覆|自動回复|自动应答|休假自动回复|"
    r"automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|out of (the )?office|oof|ooo|"
    r"automatische antwort|abwesenheitsnotiz|abwesend|réponse automatique|absence du bureau|"
    r"respuesta automática|fuera de la oficina|risposta automatica|fuori sede|"
    r"resposta automática|fora do escritório|automatisch antwoord|afwezig|automatiskt svar|"
    r"automatisk svar|autosvar|automaattinen vastaus|odpowiedź automatyczna|autoodpowiedź|"
    r"automatická odpověď|automatická odpoveď|automatikus válasz|răspuns automat|"
    r"otomatik yanıt|otomatik cevap|автоответ|автоматический ответ|автоматична відповідь|"
    r"αυτόματη απάντηση|自動応答|自動返信|자동 회신|자동 응답|trả lời tự động|"
    r"balasan otomatis|ตอบกลับอัตโนมัติ|رد تلقائي|תשובה אוטומטית)\s*[:：]",
    re.IGNORECASE,
)
# Sieve vacation's default ("Auto: <subject>") is a prefix a person might write: it counts only
# on a mail that answers another one.
_AUTO_PREFIX = re.compile(r"^\s*auto\s*:", re.IGNORECASE)
# Subjects of delivery failure reports whose MTA wrote no machine-readable marker at all
# (some Chinese webmail bounces): Postfix, Exim, Sendmail, Exchange, Gmail, QQ, Coremail.
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(系统退信|退信|无法投递|未能送达|投递失败|邮件投递失败|"
    r"undeliverable|undelivered mail returned to sender|undelivered mail|"
    r"delivery status notification \((failure|delay)\)|mail delivery failed|"
    r"returned mail|delivery failure|failure notice|warning: could not send message)\s*[:：]?",
    re.IGNORECASE,
)
_DAEMONS = ("mailer-daemon", "postmaster")
# Addresses that are never a person: list machinery (RFC 3834 §2) and no-reply senders.
_MACHINE_LOCAL = re.compile(
    r"^(owner-.+|.+-(request|owner|bounces?)|no[-_.]?reply|do[-_.]?not[-_.]?reply|"
    r"bounces?)(\+.*)?$"
)
_BULK_PRECEDENCE = ("bulk", "list", "junk")
_REPORT_PARTS = frozenset(("message/delivery-status", "message/global-delivery-status",
                           "message/disposition-notification", "message/feedback-report"))
_SUPPRESS_WORDS = frozenset(("all", "autoreply", "oof"))


def _short(value: str, limit: int = 60) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _header(msg: Message, name: str) -> str | None:
    value = raw_header(msg, name)
    return None if value is None else _short(decode_header_text(value))


def _addresses(msg: Message, name: str) -> list[str]:
    value = raw_header(msg, name)
    if not value:
        return []
    return [addr.strip().lower() for _, addr in getaddresses([decode_8bit(value)]) if addr.strip()]


Check = Callable[[Message, frozenset[str]], str | None]


def _own_mail(msg: Message, own: frozenset[str]) -> str | None:
    for addr in _addresses(msg, "From"):
        if addr in own:
            return f"本系统自己发出的邮件（发件人 {addr}）"
    # Our replies' Message-IDs (office.replies: make_msgid(idstring="mailbot")) on our domains:
    # one of our own replies came back under another From (an alias, a forwarding rewrite).
    message_id = raw_header(msg, "Message-ID") or ""
    domains = {addr.rpartition("@")[2] for addr in own}
    found = re.search(r"<\d+\.\d+\.\d+\.mailbot@([^<>\s]+)>", message_id)
    if found and found.group(1).lower() in domains:
        return f"本系统自己发出的邮件（Message-ID {found.group(0)}）"
    for value in _addresses(msg, "X-Loop"):
        if value in own:
            return f"本系统自己发出的邮件（X-Loop: {value}）"
    return None


def _report(msg: Message, own: frozenset[str]) -> str | None:
    ctype = msg.get_content_type()
    if ctype in _REPORT_PARTS:  # the report alone, without the multipart/report around it
        if ctype == "message/disposition-notification":
            return f"已读回执（{ctype}）"
        if ctype.endswith("delivery-status"):
            return f"退信（投递状态报告 {ctype}）"
        return f"系统报告（{ctype}）"
    if ctype != "multipart/report":
        return None
    kind = str(msg.get_param("report-type") or "").lower()
    if kind == "delivery-status":
        return "退信（投递状态报告 multipart/report; report-type=delivery-status）"
    if kind == "disposition-notification":
        return "已读回执（multipart/report; report-type=disposition-notification）"
    return f"系统报告（multipart/report; report-type={kind or '未注明'}）"


def _report_part(msg: Message, own: frozenset[str]) -> str | None:
    # A delivery-status part inside multipart/mixed: MTAs that do not label the whole report.
    # Not inside a forwarded message/rfc822: a person may forward a bounce to ask about it.
    stack = [msg] if msg.is_multipart() else []
    while stack:
        for part in stack.pop().get_payload():
            if not isinstance(part, Message):
                continue
            ctype = part.get_content_type()
            if ctype in _REPORT_PARTS:
                return f"退信或系统报告（含 {ctype} 部分）"
            if part.get_content_maintype() == "multipart" and part.is_multipart():
                stack.append(part)
    return None


def _failed_recipients(msg: Message, own: frozenset[str]) -> str | None:
    value = _header(msg, "X-Failed-Recipients")
    if value is not None:
        return f"退信（X-Failed-Recipients: {value}）"
    if raw_header(msg, "X-MS-Exchange-Message-Is-Ndr") is not None:
        return "退信（Exchange 未送达报告 X-MS-Exchange-Message-Is-Ndr）"
    return None


def _daemon_sender(msg: Message, own: frozenset[str]) -> str | None:
    for name in ("From", "Sender", "Return-Path"):
        for addr in _addresses(msg, name):
            if addr.split("@", 1)[0] in _DAEMONS:
                return f"退信或系统通知（{name}: {addr}）"
    return None


def _machine_sender(msg: Message, own: frozenset[str]) -> str | None:
    for name in ("From", "Sender", "Return-Path"):
        for addr in _addresses(msg, name):
            if _MACHINE_LOCAL.match(addr.split("@", 1)[0]):
                return f"系统或列表发出的邮件（{name}: {addr}）"
    return None


def _loop_header(msg: Message, own: frozenset[str]) -> str | None:
    # procmail, RT, Zammad and mailing-list software stamp what passed through a robot.
    value = _header(msg, "X-Loop")
    return None if value is None else f"经自动程序处理过的邮件（X-Loop: {value}）"


def _auto_submitted(msg: Message, own: frozenset[str]) -> str | None:
    value = (_header(msg, "Auto-Submitted") or "").split(";", 1)[0].strip().lower()
    if not value or value == "no":
        return None
    if value == "auto-replied":
        return "自动回复（Auto-Submitted: auto-replied）"
    return f"自动生成的邮件（Auto-Submitted: {value}）"


def _autoreply_headers(msg: Message, own: frozenset[str]) -> str | None:
    # Non-standard markers of vacation programs and some webmail autoresponders.
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated"):
        value = _header(msg, name)
        if value is not None and value.lower() not in ("no", "false", "0"):
            return f"自动回复（{name}: {value}）"
    return None


def _oof_subject(msg: Message, own: frozenset[str]) -> str | None:
    subject = decode_header_text(raw_header(msg, "Subject"))
    answering = raw_header(msg, "In-Reply-To") is not None
    if not _OOF_SUBJECT.match(subject) and not (answering and _AUTO_PREFIX.match(subject)):
        return None
    suppress = _header(msg, "X-Auto-Response-Suppress")
    extra = f"，X-Auto-Response-Suppress: {suppress}" if suppress else ""
    return f"自动回复（主题“{_short(subject, 40)}”{extra}）"


def _null_return_path(msg: Message, own: frozenset[str]) -> str | None:
    # A null reverse-path is what RFC 5321 prescribes for bounces and RFC 3834 for auto-replies.
    value = raw_header(msg, "Return-Path")
    if value is not None and re.fullmatch(r"\s*<\s*>\s*", value):
        return "系统退信或自动通知（Return-Path 为空 <>）"
    return None


def _bounce_subject(msg: Message, own: frozenset[str]) -> str | None:
    subject = decode_header_text(raw_header(msg, "Subject"))
    if _BOUNCE_SUBJECT.match(subject) and not msg.get("In-Reply-To"):
        return f"退信（主题“{_short(subject, 40)}”）"
    return None


def _mailing_list(msg: Message, own: frozenset[str]) -> str | None:
    for name in ("List-Id", "List-Unsubscribe", "List-Post", "List-Help", "List-Subscribe",
                 "List-Owner", "List-Archive", "X-Mailman-Version"):
        value = _header(msg, name)
        if value is not None:
            return f"邮件列表或群发邮件（{name}: {value}）"
    return None


def _precedence(msg: Message, own: frozenset[str]) -> str | None:
    value = (_header(msg, "Precedence") or "").strip().lower()
    if value in _BULK_PRECEDENCE:
        return f"群发邮件（Precedence: {value}）"
    if value == "auto_reply":
        return "自动回复（Precedence: auto_reply）"
    return None


# Most specific first: the first check that answers gives the reason.
CHECKS: tuple[Check, ...] = (
    _own_mail,
    _report,
    _report_part,
    _failed_recipients,
    _daemon_sender,
    _auto_submitted,
    _autoreply_headers,
    _oof_subject,
    _null_return_path,
    _bounce_subject,
    _machine_sender,
    _loop_header,
    _mailing_list,
    _precedence,
)


def automatic_reason(msg: Message, own_addresses: Iterable[str] = ()) -> str | None:
    """Why `msg` must not be answered, in Chinese for the office; None for mail from a person."""
    own = frozenset(a.strip().lower() for a in own_addresses if a and a.strip())
    for check in CHECKS:
        reason = check(msg, own)
        if reason:
            return reason
    return None


def reply_suppressed(msg: Message) -> str | None:
    """Why a person's mail must be processed but not auto-answered, in Chinese; else None."""
    value = _header(msg, "X-Auto-Response-Suppress")
    if value is None:
        return None
    words = {w.strip().lower() for w in re.split(r"[,\s]+", value) if w.strip()}
    if words & _SUPPRESS_WORDS:
        return f"发件人要求不自动回复（X-Auto-Response-Suppress: {value}）"
    return None
