"""What the office can change from the dashboard: reprocess a quarantined mail, mark paper copies,
hand a 未归类 mail to the campaign, confirm or reject a 待核实 sender, answer a 咨询.

Reprocessing runs the intake again on the raw mail kept in the state dir. In ONE transaction the
quarantined row goes (with its findings, the documents it may hold and the replies not yet sent)
and the intake records the mail anew, so the mail is never recorded twice and never lost: if the
intake fails again, the transaction rolls back and the quarantined row stays, with the new reason.
Replies already sent (the "being looked at" notice) stay in the history, moved to the new row;
the places the mail was seen on the server move too, so the poller still knows it is handled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from mailbot import details
from mailbot.campaign import claims
from mailbot.campaign.units import roster_unit_saved
from mailbot.errors import MailbotError
from mailbot.intake import inquiry, pipeline
from mailbot.intake.cycle import Runtime, omitted_key
from mailbot.mail.logins import one_line
from mailbot.office import outbox
from mailbot.store.handles import Session
from mailbot.store.models import QUARANTINED, UNCLASSIFIED, MailboxUid, Message, Reply, Unit
from mailbot.store.queries.dashboard import office_actions_on_message
from mailbot.store.scoping import ACROSS_CAMPAIGNS
from mailbot.timefmt import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message_id: int  # the row to show next: the new one, or the quarantined one still
    text: str  # for the office, in Chinese


def reprocess(runtime: Runtime, message_id: int) -> Outcome:
    """Run the intake again on a quarantined mail (see the module docstring)."""
    with runtime.sessions() as session:
        old = session.get(Message, message_id)
        if old is None or old.result != QUARANTINED or old.dismissed_at is not None:
            return Outcome(False, message_id, "这封邮件不在隔离区，无需重新处理。")
        raw_path = old.raw_path
    # Only the header was fetched (over max_message_bytes): there is nothing to re-read.
    raw = kept_raw(runtime, message_id, raw_path,
                   "这封邮件超过大小上限，只保存了邮件头，无法重新处理；请在邮箱中查看原邮件。")
    if isinstance(raw, Outcome):
        return raw
    try:
        with runtime.sessions.begin() as session:
            new_id, new_result, was_new = _replace(session, runtime, message_id, raw)
    except Exception as exc:  # the intake failed again: keep the row, say why
        reason = f"重新处理仍然失败（{type(exc).__name__}: {exc}）"
        where = details.keep(runtime.settings.state_dir, f"reprocessing message {message_id}",
                             exc)
        log.warning("reprocessing message %s failed: %s (details in %s)", message_id,
                    one_line(reason), where)
        with runtime.sessions.begin() as session:
            old = session.get(Message, message_id)
            if old is not None and old.result == QUARANTINED:
                old.reason, old.processed_at = reason, utcnow()
        return Outcome(False, message_id, reason + "。邮件仍在隔离区。")
    runtime.write_workbook()
    sent = _send(runtime)
    if not was_new:
        return Outcome(True, new_id, "这封邮件此前已经登记过，隔离记录已合并。")
    return Outcome(True, new_id, f"已重新处理，结果：{new_result}。{sent}")


def assign(runtime: Runtime, message_id: int) -> Outcome:
    """Hand a 未归类 mail to the campaign: processed as if just received, and answered. The
    poller marks it on the server at its next cycle (it is recorded with a result now)."""
    with runtime.sessions() as session:
        old = session.get(Message, message_id, execution_options=ACROSS_CAMPAIGNS)
        if old is None or old.result != UNCLASSIFIED:
            return Outcome(False, message_id, "这封邮件不是未归类邮件。")
        raw_path = old.raw_path
    # Received before the call opened (or too large): only the header was kept.
    raw = kept_raw(runtime, message_id, raw_path,
                   "这封邮件只保存了邮件头（申报开始前收到或超过大小上限），"
                   "无法交给本次申报处理；请在邮箱中查看原邮件。")
    if isinstance(raw, Outcome):
        return raw
    try:
        with runtime.sessions.begin() as session:
            new_id, result, _new = _replace(session, runtime, message_id, raw,
                                            expected=UNCLASSIFIED)
    except Exception as exc:
        log.warning("assigning message %s failed", message_id, exc_info=True)
        return Outcome(False, message_id, f"处理失败（{type(exc).__name__}: {exc}），"
                                          "邮件仍为未归类。")
    runtime.write_workbook()
    title = runtime.campaign.campaign.title
    return Outcome(True, new_id, f"已交给“{title}”处理，结果：{result}。{_send(runtime)}")


def kept_raw(runtime: Runtime, message_id: int, raw_path: str,
             header_only: str) -> bytes | Outcome:
    """The raw mail kept at `raw_path` (for the mail `message_id`), or the answer why there is
    none to process: only its header was kept (`header_only` says so, with the office's next
    step), or the file is gone."""
    if runtime.blobs.exists(omitted_key(raw_path)):
        return Outcome(False, message_id, header_only)
    try:
        return runtime.blobs.get(raw_path)  # the state dir, or the database with a server
    except OSError as exc:
        return Outcome(False, message_id,
                       f"找不到原始邮件文件 {raw_path}（{exc.strerror or exc}）。")


def review_sender(runtime: Runtime, message_id: int, *, accept: bool) -> Outcome:
    """Confirm (the address joins the unit, its forms count) or reject a 待核实 sender."""
    with runtime.sessions.begin() as session:
        message = session.get(Message, message_id)
        if message is None:
            raise LookupError(message_id)
        text = claims.review(session, runtime.campaign, runtime.intake.composer, message,
                             accept)
    runtime.write_workbook()
    return Outcome(True, message_id, text + _send(runtime))


def answer(runtime: Runtime, message_id: int, text: str) -> Outcome:
    """The office's answer to a 咨询, sent threaded through the outbox and recorded."""
    try:
        with runtime.sessions.begin() as session:
            message = session.get(Message, message_id)
            if message is None:
                raise LookupError(message_id)
            inquiry.answer(session, runtime.campaign, runtime.intake.composer, message, text)
    except ValueError as exc:
        return Outcome(False, message_id, str(exc))
    return Outcome(True, message_id, "答复已记录。" + _send(runtime))


def _replace(session: Session, runtime: Runtime, message_id: int, raw: bytes, *,
             expected: str = QUARANTINED, unit: Unit | None = None) -> tuple[int, str, bool]:
    across = ACROSS_CAMPAIGNS if expected == UNCLASSIFIED else {}  # 未归类: the mailbox's
    old = session.get(Message, message_id, execution_options=across)
    if old is None or old.result != expected:  # handled meanwhile by another click
        raise MailbotError("这封邮件已被处理。")
    raw_path, received_at = old.raw_path, old.received_at
    places = [(u.folder, u.uidvalidity, u.uid, u.marked) for u in old.uids]
    kept = [reply for reply in old.replies if reply.status == "sent"]
    noted = office_actions_on_message(session, old.id)
    for action in noted:  # the office's record follows the mail to its new row
        action.message_pk = None
    for reply in old.replies:
        if reply.status == "sent":
            reply.message_pk = None
        else:
            session.delete(reply)
    for child in (*old.findings, *old.documents, *old.uids):
        session.delete(child)
    session.flush()
    session.delete(old)
    session.flush()  # frees the Message-ID and the server places for the new row
    new, was_new = pipeline.handle(session, runtime.intake, raw, raw_path, received_at,
                                   assigned=expected == UNCLASSIFIED, unit=unit)
    for reply in kept:
        reply.message_pk = new.id
    for action in noted:
        action.message_pk = new.id
    for folder, uidvalidity, uid, marked in places:
        session.add(MailboxUid(folder=folder, uidvalidity=uidvalidity, uid=uid,
                               message_pk=new.id, marked=marked))
    session.flush()
    return new.id, new.result, was_new


def _send(runtime: Runtime) -> str:
    """Send the new reply now if a mail server is configured; else it waits in the outbox."""
    try:
        report = outbox.send_pending(runtime.sessions, runtime.settings)
    except MailbotError as exc:
        log.info("reply left in the outbox: %s", exc)
        return "回复已排队，配置发信服务器后由收件服务发出。"
    if report.pending or report.failed:
        return "回复暂未发出，已排队，稍后自动重试。"
    return "回复已发出。" if report.sent else ""


def release(runtime: Runtime, reply_id: int) -> Outcome:
    """Send a reply that was held because its mail failed sender authentication: the office
    has checked the sender. It goes out like any pending reply (the hourly cap included)."""
    with runtime.sessions.begin() as session:
        reply = session.get(Reply, reply_id)
        if reply is None:
            raise LookupError(reply_id)
        if reply.status != "held":
            return Outcome(False, reply_id, "这封回复不在待放行状态，无需放行。")
        reply.status = "pending"
        log.info("office released reply %s to %s", reply.smtp_message_id, reply.to_addr)
    return Outcome(True, reply_id, f"已放行。{_send(runtime)}")


def save_roster_unit(runtime: Runtime, name: str) -> int:
    """The id of the roster unit `name`, saved now if the rules gained it since the last poll
    (the dashboard shows such a unit without writing it; acting on it writes). LookupError:
    the roster has no unit `name`."""
    with runtime.sessions.begin() as session:
        unit = roster_unit_saved(session, runtime.campaign, name)
        if unit is None:
            raise LookupError(name)
        return unit.id


def mark_paper(runtime: Runtime, unit_id: int, when: datetime | None) -> str:
    """Record (or, with None, undo) the paper copy; the workbook follows at once."""
    with runtime.sessions.begin() as session:
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise LookupError(unit_id)
        unit.paper_received_at = when
        name = unit.display_name
    runtime.write_workbook()
    return f"已登记：{name} 的纸质版已收到。" if when else f"已撤销：{name} 的纸质版改为未收到。"
