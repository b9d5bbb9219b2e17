"""What is decided about a parsed mail with the database at hand, before and after its checks.

`mailbot.mail.automatic` judges a mail by its headers alone. Here the bot's own memory joins in:

* `screen` (before processing): a mail that *is* one of our own replies (its Message-ID is in the
  outbox) is 忽略; a mail too large to fetch gets the "too-large" finding; a mail that cannot be
  processed at all (`ParsedMessage.unprocessable`) raises `BrokenMail`, and the caller
  quarantines it (隔离: raw kept, office and sender told).
* `reply_hold` (after the checks): whether the verdict may be answered. A person's mail is always
  processed and its verdict recorded, but the reply is held back when the sender asked for no
  auto-replies, when the answer would go to a machine or to ourselves, or when this address has
  already had `reply_limit_per_hour` answers in the last hour. The last rule is what makes a mail
  loop impossible even with a robot that no header gives away: it gets a few answers, then
  silence. The reason is a finding of severity INFO, which the office sees in 收件记录.问题.
* `auth_hold` (after the checks): a mail whose own receiving server says it failed sender
  authentication (`mailbot.mail.authresults`) is recorded and checked as any other, but its reply is
  queued `held` until the office releases it in the dashboard; the finding says why.
* `may_answer`: the same rules for the one-line notice a quarantined mail's sender gets.

Every address is counted as the one mailbox it names (`mailbot.mail.addresses`): however it is
spelled, one mailbox gets at most `reply_limit_per_hour` answers an hour.
"""

from __future__ import annotations

import email
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailbot.checks import mail as mail_findings
from mailbot.config import Settings
from mailbot.findings import Finding
from mailbot.mail import addresses, authresults
from mailbot.mail.automatic import automatic_reason
from mailbot.mail.filenames import raw_header_values
from mailbot.mail.parse import BrokenMail, ParsedMessage
from mailbot.store.handles import Session
from mailbot.store.queries import mailbox as recorded

REPLY_WINDOW = timedelta(hours=1)
_MACHINE_ADDRESS = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|owner-.+|"
    r".+-(request|owner|bounces?))(\+.*)?@", re.IGNORECASE)
_HEAD_LIMIT = 256 * 1024  # headers of a broken mail are read from this much of it, at most
# Notices about a unit's new address and the office's own answers are not automatic answers to
# the recipient's mail: they must not use up its hourly limit.
NOT_AUTOMATIC_ANSWERS = ("address-notice", "office-answer", "sender-review")


def screen(session: Session, settings: Settings, parsed: ParsedMessage,
           omitted_size: int = 0, *, sent: Mapping[str, str | None] | None = None
           ) -> ParsedMessage:
    """The parsed mail with what the database and the fetch know added.

    `omitted_size` is the mail's size on the server when only its header was fetched (over
    `settings.max_message_bytes`). `sent`: our replies by Message-ID, the mail's own among
    them, when the caller asked already (`queries.intake.reply_campaigns`). Raises
    `BrokenMail` for mail a person has to look at."""
    if parsed.automatic is None and _is_ours(session, parsed.message_id, sent):
        return replace(parsed, automatic=f"本系统自己发出的回复（Message-ID {parsed.message_id}）")
    if parsed.automatic is None and parsed.unprocessable:
        raise BrokenMail(parsed.unprocessable)
    if omitted_size:
        return replace(parsed, findings=(*parsed.findings,
                                         mail_findings.too_large(omitted_size,
                                                                 settings.max_message_bytes)))
    return parsed


def is_own_reply(session: Session, message_id: str) -> bool:
    """Whether this Message-ID is one our outbox sent, for whichever campaign."""
    return recorded.reply_sent_as(session, message_id)


def _is_ours(session: Session, message_id: str, sent: Mapping[str, str | None] | None) -> bool:
    if sent is not None and message_id in sent:
        return sent[message_id] is not None
    return is_own_reply(session, message_id)


def reply_hold(session: Session, settings: Settings, parsed: ParsedMessage,
               now: datetime) -> Finding | None:
    """Why the verdict on this mail must not be answered (an INFO finding), or None to answer."""
    to = parsed.reply_to or parsed.from_addr
    reason = parsed.no_reply or _no_answer(session, settings, to, now)
    if reason is None:
        return None
    return mail_findings.reply_held(reason)


def may_answer(session: Session, settings: Settings, address: str, raw: bytes,
               now: datetime) -> bool:
    """Whether the sender of a mail that could not be parsed may be told about it."""
    if not address:
        return False
    try:
        head = email.message_from_bytes(raw[:_HEAD_LIMIT], policy=compat32)
        if automatic_reason(head, settings.own_addresses) is not None:
            return False
    except Exception:  # a mail this broken: its headers decide nothing either way
        pass
    return _no_answer(session, settings, address, now) is None


def auth_hold(settings: Settings, raw: bytes) -> Finding | None:
    """Why the reply to this mail waits for the office (an INFO finding), or None: its own
    receiving server says it failed sender authentication (see `mailbot.mail.authresults`)."""
    try:
        head = BytesHeaderParser(policy=compat32).parsebytes(raw[:_HEAD_LIMIT])
        values = raw_header_values(head, "Authentication-Results")
    except Exception:  # headers this broken carry no verdict we could trust
        return None
    found = authresults.verdict(values, settings.authserv_id)
    if found is None or not found.failed:
        return None
    server = found.authserv_id or "收件服务器"
    return mail_findings.sender_unverified(server, found.summary)


def _no_answer(session: Session, settings: Settings, written: str, now: datetime) -> str | None:
    if not written.strip():
        return "找不到回复地址"
    mailbox = addresses.normalise(written)
    if mailbox is None:
        return f"回复地址 {written} 不是有效的邮件地址"
    to = mailbox.address
    if to in {addresses.key(own) for own in settings.own_addresses}:
        return f"回复地址 {to} 是本系统自己的地址"
    if _MACHINE_ADDRESS.match(to):
        return f"回复地址 {to} 是系统地址，不是人"
    limit = settings.reply_limit_per_hour
    sent = recent_replies(session, to, now)
    if sent >= limit:
        return (f"一小时内已向 {to} 自动回复 {sent} 封邮件，达到每小时 {limit} 封的上限"
                "（防止与自动程序互发邮件）")
    return None


def recent_replies(session: Session, address: str, now: datetime) -> int:
    """Answers to received mail queued for the mailbox `address` names in the last hour
    (reminders not counted). Replies are addressed to the normal form, so one comparison
    counts every spelling."""
    return recorded.answers_queued_to(session, addresses.key(address), now - REPLY_WINDOW,
                                      NOT_AUTOMATIC_ANSWERS)
