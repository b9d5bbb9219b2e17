"""What the office does with a quarantined mail and a reply that could not be sent.

A quarantined mail can be assigned to a unit (processed as that unit's mail: see
`mailbot.intake.assignment`), dismissed with a reason (it leaves the quarantine, the reason stays
on the mail), or forwarded whole to the office mailbox (as an attachment, through the outbox).
A failed reply can be resent to a corrected address or given up with a note. Each action is one
transaction that first checks the row is still in the state the form was shown for — a stale
form gets a plain answer, never an error page — and writes an `OfficeAction` (who, when, what).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from email import message_from_string
from email.generator import Generator
from email.message import Message as Message_
from email.policy import SMTP, SMTPUTF8

from mailbot.errors import MailbotError
from mailbot.intake.cycle import Runtime
from mailbot.mail import addresses
from mailbot.mail.safetext import one_line
from mailbot.office import outbox
from mailbot.store.handles import Session
from mailbot.store.models import QUARANTINED, Message, OfficeAction, Reply, Unit
from mailbot.store.queries.dashboard import office_actions
from mailbot.timefmt import show, utcnow
from mailbot.web.actions import Outcome, _replace, _send, kept_raw

log = logging.getLogger(__name__)

ACTION_LABELS = {"assign": "指定单位处理", "dismiss": "不予处理", "forward": "转发到办公室邮箱",
                 "resend": "更正地址后重发", "give-up": "放弃发送"}
MAX_NOTE_CHARS = 2000
DROPPED = "dropped"  # a failed reply the office gave up (Reply.status)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _note(session: Session, kind: str, actor: str, note: str, *, message_pk: int | None = None,
          reply_pk: int | None = None) -> None:
    session.add(OfficeAction(kind=kind, actor=actor[:200], note=note, message_pk=message_pk,
                             reply_pk=reply_pk, at=utcnow()))


def history(session: Session, *, message_pk: int | None = None,
            reply_pk: int | None = None) -> Sequence[OfficeAction]:
    """The office's actions on a mail (its replies' included) or on one reply, oldest first."""
    return office_actions(session, message_pk=message_pk, reply_pk=reply_pk)


def _clean(text: str) -> str:
    """The office's note as stored: no control characters (PostgreSQL refuses NUL), bounded
    just past the limit so that an overlong one is refused, not cut."""
    return _CONTROL.sub("", text).strip()[:MAX_NOTE_CHARS + 1]


def _note_problem(text: str, missing: str, label: str) -> str:
    """What is wrong with the office's cleaned note (`missing` when empty), "" when nothing."""
    if not text:
        return missing
    return f"{label}过长（不超过 {MAX_NOTE_CHARS} 字）。" if len(text) > MAX_NOTE_CHARS else ""


def _quarantined_raw(runtime: Runtime, message_id: int) -> bytes | Outcome:
    """The raw mail of a quarantined mail still waiting for the office, or why there is none."""
    with runtime.sessions() as session:
        message = session.get(Message, message_id)
        if message is None or message.result != QUARANTINED or message.dismissed_at:
            return Outcome(False, message_id, "这封邮件已不在隔离区（可能已被处理），无需再处理。")
        raw_path = message.raw_path
    return kept_raw(runtime, message_id, raw_path,
                    "这封邮件超过大小上限，只保存了邮件头，无法处理；"
                    "请在邮箱中查看原邮件，或转发到办公室邮箱。")


def assign_unit(runtime: Runtime, message_id: int, unit_id: int, campaign_key: str,
                actor: str) -> Outcome:
    """Process a quarantined mail as the unit's (and the campaign's) mail, and answer it."""
    if campaign_key != runtime.campaign.campaign.key:
        return Outcome(False, message_id, "所选的申报不存在，请刷新页面后重新选择。")
    raw = _quarantined_raw(runtime, message_id)
    if isinstance(raw, Outcome):
        return raw
    try:
        with runtime.sessions.begin() as session:
            unit = session.get(Unit, unit_id)
            if unit is None or unit.campaign != campaign_key:
                return Outcome(False, message_id, "所选的单位不存在，请刷新页面后重新选择。")
            name = unit.display_name
            new_id, result, _new = _replace(session, runtime, message_id, raw, unit=unit)
            _note(session, "assign", actor, f"作为 {name} 的来信处理，结果：{result}",
                  message_pk=new_id)
    except MailbotError as exc:  # handled meanwhile, or still no way to process it
        return Outcome(False, message_id, f"{exc}（邮件仍在隔离区）")
    except Exception as exc:  # the intake failed on this mail again: it stays quarantined
        log.warning("assigning message %s to unit %s failed", message_id, unit_id,
                    exc_info=True)
        why = f"{type(exc).__name__}: {one_line(str(exc))}"
        return Outcome(False, message_id, f"处理失败（{why}），邮件仍在隔离区。")
    runtime.write_workbook()
    return Outcome(True, new_id, f"已作为 {name} 的来信处理，结果：{result}。{_send(runtime)}")


def dismiss(runtime: Runtime, message_id: int, reason: str, actor: str) -> Outcome:
    """Set a quarantined mail aside for good, with the office's reason."""
    reason = _clean(reason)
    problem = _note_problem(reason, "请填写不予处理的原因。", "原因")
    if problem:
        return Outcome(False, message_id, problem)
    with runtime.sessions.begin() as session:
        message = session.get(Message, message_id)
        if message is None or message.result != QUARANTINED or message.dismissed_at:
            return Outcome(False, message_id, "这封邮件已不在隔离区（可能已被处理），无需再处理。")
        message.dismissed_at = utcnow()
        _note(session, "dismiss", actor, reason, message_pk=message.id)
    return Outcome(True, message_id, "已移出隔离区，不予处理的原因已记录。")


def forward(runtime: Runtime, message_id: int, actor: str) -> Outcome:
    """Send the raw mail, whole, to the office mailbox as an attachment (through the outbox)."""
    office = runtime.settings.office_email
    if not office:
        return Outcome(False, message_id, "没有设置办公室邮箱（MAILBOT_OFFICE_EMAIL），无法转发。")
    with runtime.sessions.begin() as session:
        message = session.get(Message, message_id)
        if message is None:
            raise LookupError(message_id)
        try:
            raw = runtime.blobs.get(message.raw_path)
        except OSError as exc:
            return Outcome(False, message_id, f"找不到原始邮件文件（{exc.strerror or exc}）。")
        context = {"office": runtime.campaign.office,
                   "sender": message.from_addr or "（无法识别）",
                   "subject": message.subject or "（无主题）",
                   "received_at": show(message.received_at),
                   "result": message.result, "reason": message.reason, "actor": actor}
        mail = runtime.intake.composer.compose(
            "forward_office.txt.j2", context, to=office,
            subject=f"【转发】{one_line(message.subject) or '（无主题）'}", auto_submitted="no",
            attachment=("原始邮件.eml", raw))
        outbox.queue(session, mail, kind="office-forward", message_pk=message.id)
        _note(session, "forward", actor, f"转发到 {office}", message_pk=message.id)
    return Outcome(True, message_id, f"已转发到办公室邮箱 {office}。{_send(runtime)}")


def readdressed(raw: bytes, to: str) -> bytes:
    """The queued mail with `to` as its only recipient, written as `outbox.queue` writes it.

    A mail first written for a Chinese address carries raw UTF-8 headers (SMTPUTF8), which a
    mail to an ASCII address must not inherit: most servers would refuse it again. So it is
    read as text and every header of the mail and its parts (not of a mail attached inside it)
    is written afresh, RFC 2047-encoded unless the new address needs SMTPUTF8 itself."""
    mail = message_from_string(raw.decode("utf-8", "surrogateescape"), policy=SMTPUTF8)
    del mail["To"]
    mail["To"] = to
    _rewrite_headers(mail)
    out = io.StringIO()
    Generator(out, policy=SMTP if to.isascii() else SMTPUTF8).flatten(mail)
    return out.getvalue().encode("utf-8", "surrogateescape")


def _rewrite_headers(part: Message_) -> None:
    for name, value in list(part.items()):
        part.replace_header(name, str(value))
    if part.get_content_maintype() == "multipart":
        for child in part.get_payload():
            if isinstance(child, Message_):
                _rewrite_headers(child)


def resend(runtime: Runtime, reply_id: int, address: str, actor: str) -> Outcome:
    """Queue a failed reply again, to the corrected address."""
    mailbox = addresses.normalise(address.strip())
    if mailbox is None:
        return Outcome(False, reply_id, f"“{one_line(address)[:100]}”不是有效的邮件地址，请更正。")
    with runtime.sessions.begin() as session:
        reply = session.get(Reply, reply_id)
        if reply is None:
            raise LookupError(reply_id)
        if reply.status != "failed":
            return Outcome(False, reply_id, "这封回复不是“发送失败”状态（可能已处理），无需重发。")
        before = reply.to_addr
        reply.raw = readdressed(reply.raw, mailbox.address)
        reply.to_addr, reply.status = mailbox.address, "pending"
        reply.attempts, reply.last_error, reply.claimed_by = 0, "", ""
        _note(session, "resend", actor, f"收件地址由 {before} 更正为 {mailbox.address}",
              message_pk=reply.message_pk, reply_pk=reply.id)
    return Outcome(True, reply_id, f"已改为发送到 {mailbox.address}。{_send(runtime)}")


def give_up(runtime: Runtime, reply_id: int, note: str, actor: str) -> Outcome:
    """Stop trying a failed reply; the note says why (e.g. the unit was phoned instead)."""
    note = _clean(note)
    problem = _note_problem(note, "请填写放弃发送的说明（例如已电话通知）。", "说明")
    if problem:
        return Outcome(False, reply_id, problem)
    with runtime.sessions.begin() as session:
        reply = session.get(Reply, reply_id)
        if reply is None:
            raise LookupError(reply_id)
        if reply.status != "failed":
            return Outcome(False, reply_id, "这封回复不是“发送失败”状态（可能已处理），无需放弃。")
        reply.status = DROPPED
        _note(session, "give-up", actor, note, message_pk=reply.message_pk, reply_pk=reply.id)
    return Outcome(True, reply_id, "已放弃发送，说明已记录。")
