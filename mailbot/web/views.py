"""The dashboard's pages and actions. Each view reads through `dashboard` or acts through
`actions`; the login, CSRF and the refusal of anonymous requests are `auth.guard`'s job."""

from __future__ import annotations

from datetime import date, datetime, time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as cookie
from werkzeug.wrappers import Response

from mailbot.campaign import claims, statuslink
from mailbot.campaign.units import ROSTER_PREFIX
from mailbot.intake import inquiry
from mailbot.intake.cycle import Runtime
from mailbot.store.handles import Session
from mailbot.store.models import QUARANTINED, Message, Reply, Unit
from mailbot.timefmt import OFFICE_ZONE, local
from mailbot.web import actions, dashboard, handling
from mailbot.web.clients import ENVIRON_KEY
from mailbot.web.wording import file_type, header_value

bp = Blueprint("views", __name__)
RAW_PREVIEW_BYTES = 200 * 1024  # the raw source shown on the page; the .eml link has it all
QUESTION_CHARS = 2000  # of a question's text on the 待人工处理 page; the mail page has it all
HEADER_LABELS = {"From": "发件人", "To": "收件人", "Cc": "抄送", "Subject": "主题",
                 "Date": "日期（发件人填写）", "Message-ID": "邮件编号"}
MAX_ID = 2**63 - 1  # a row id the database can hold (app.MAX_ROW_ID)
FILTERS = {"state": ("", *dashboard.STATE_LABELS), "late": ("", "yes", "no"),
           "paper": ("", "yes", "no")}


CAMPAIGN_KEY = "campaign"  # the flask session's memory of the campaign shown


def everyone() -> Runtime:
    """The Runtime of every campaign (its `lanes`)."""
    found: Runtime = current_app.extensions["mailbot.runtime"]
    return found


def runtime(*, strict: bool = True) -> Runtime:
    """The campaign this request is for: `?campaign=KEY` (then remembered in the session),
    else the one remembered, else the first. An unknown key is a 404 (`strict`; the error
    page itself shows the campaign remembered)."""
    whole = everyone()
    if len(whole.lanes) == 1:
        return whole
    asked = request.args.get("campaign")
    if asked is not None and asked not in whole.lanes:
        if strict:
            abort(404)
    elif asked is not None:
        cookie[CAMPAIGN_KEY] = asked
    return whole.lanes.get(cookie.get(CAMPAIGN_KEY) or "", whole)


def now() -> datetime:
    clock = current_app.extensions["mailbot.clock"]
    moment: datetime = clock()
    return moment


def session_scope() -> Session:
    return runtime().sessions()


@bp.get("/")
def overview() -> str:
    with session_scope() as session:
        rows = dashboard.unit_rows(session, runtime().campaign)
        summary = dashboard.overview(session, runtime().campaign, rows, now())
        attention = [row for row in rows if row.state != dashboard.COMPLETE][:10]
        return render_template("overview.html", summary=summary, attention=attention)


@bp.get("/units")
def units() -> str:
    chosen = {name: request.args.get(name, "") for name in FILTERS}
    for name, allowed in FILTERS.items():
        if chosen[name] not in allowed:
            chosen[name] = ""
    query = request.args.get("q", "")[:100]
    with session_scope() as session:
        rows = dashboard.unit_rows(session, runtime().campaign)
        shown = dashboard.filter_rows(rows, query=query, **chosen)
        return render_template("units.html", rows=shown, total=len(rows), chosen=chosen,
                               query=query, labels=[spec.label for spec in
                                                    runtime().campaign.documents])


def unit_url(found: Unit) -> str:
    """The page of a unit; of a roster unit the rules gained since the last poll (not saved
    yet, no id), the page that names it."""
    if found.id is None:
        return url_for("roster.unit", name=found.name)
    return url_for("views.unit", unit_id=found.id)


@bp.get("/units/<int:unit_id>")
def unit(unit_id: int) -> str:
    with session_scope() as session:
        found = session.get(Unit, unit_id) or abort(404)
        row = dashboard.unit_row(session, runtime().campaign, found, len(found.messages))
        return render_template(
            "unit.html", row=row, unit=found,
            versions=dashboard.versions(session, found, row.progress),
            messages=sorted(found.messages, key=lambda m: m.received_at, reverse=True),
            replies=dashboard.unit_replies(session, found),
            today=local(now()).date().isoformat(),
            paper_action=url_for("views.paper", unit_id=unit_id),
            link_action=url_for("views.status_link", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/paper")
def paper(unit_id: int) -> Response:
    if request.form.get("action") == "undo":
        when = None
    else:
        when = _paper_date(request.form.get("date", ""))
        if when is None:
            flash("请填写收到纸质版的日期（不晚于今天）。", "error")
            return redirect(url_for("views.unit", unit_id=unit_id))
    try:
        flash(actions.mark_paper(runtime(), unit_id, when), "ok")
    except LookupError:
        abort(404)
    return redirect(url_for("views.unit", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/status-link")
def status_link(unit_id: int) -> Response:
    """Reissue the unit's status link (the old one stops working at once) or revoke it."""
    revoke = request.form.get("action") == "revoke"
    with runtime().sessions.begin() as session:
        found = session.get(Unit, unit_id) or abort(404)
        if revoke:
            statuslink.revoke(found)
        else:
            statuslink.issue(found)
    flash("已停用该单位的查询链接。" if revoke else
          "已生成新的查询链接，旧链接随即失效；之后的回复和提醒都带新链接。", "ok")
    return redirect(url_for("views.unit", unit_id=unit_id))


def _paper_date(text: str) -> datetime | None:
    """The day the paper copy came, as a moment: now if it is today, else that day's start."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    today = local(now()).date()
    if day > today:
        return None
    if day == today:
        return now()
    return datetime.combine(day, time(9, 0), tzinfo=OFFICE_ZONE)


@bp.get("/quarantine")
def quarantine() -> str:
    with session_scope() as session:
        return render_template("quarantine.html", messages=dashboard.quarantined(session),
                               units=dashboard.assignable_units(session, runtime().campaign),
                               campaigns=[runtime().campaign.campaign])


def _actor() -> str:
    """Who acted, as far as one shared office password lets us know: the client's address."""
    client = request.environ.get(ENVIRON_KEY) or request.remote_addr or "未知地址"
    return f"办公室（{client}）"


def _after(outcome: actions.Outcome, message_id: int) -> Response:
    flash(outcome.text, "ok" if outcome.ok else "error")
    if request.form.get("back") == "quarantine":
        return redirect(url_for("views.quarantine"))
    return redirect(url_for("views.message", message_id=outcome.message_id or message_id))


@bp.post("/messages/<int:message_id>/assign-unit")
def assign_unit(message_id: int) -> Response:
    unit_id = request.form.get("unit", "")
    if unit_id.startswith(ROSTER_PREFIX):  # a roster unit the rules gained: saved now
        try:
            unit_id = str(actions.save_roster_unit(runtime(), unit_id[len(ROSTER_PREFIX):]))
        except LookupError:
            unit_id = ""
    if not unit_id.isdigit() or int(unit_id) > MAX_ID:
        return _after(actions.Outcome(False, message_id, "请选择一个单位。"), message_id)
    outcome = handling.assign_unit(runtime(), message_id, int(unit_id),
                                   request.form.get("campaign", ""), _actor())
    if outcome.ok:  # the mail has a new row and is no longer in the list: show its verdict
        flash(outcome.text, "ok")
        return redirect(url_for("views.message", message_id=outcome.message_id))
    return _after(outcome, message_id)


@bp.post("/messages/<int:message_id>/dismiss")
def dismiss(message_id: int) -> Response:
    return _after(handling.dismiss(runtime(), message_id, request.form.get("reason", ""),
                                   _actor()), message_id)


@bp.post("/messages/<int:message_id>/forward")
def forward(message_id: int) -> Response:
    try:
        return _after(handling.forward(runtime(), message_id, _actor()), message_id)
    except LookupError:
        abort(404)


@bp.post("/replies/<int:reply_id>/resend")
def resend(reply_id: int) -> Response:
    try:
        outcome = handling.resend(runtime(), reply_id, request.form.get("address", ""), _actor())
    except LookupError:
        abort(404)
    flash(outcome.text, "ok" if outcome.ok else "error")
    return redirect(url_for("views.reply", reply_id=reply_id))


@bp.post("/replies/<int:reply_id>/give-up")
def give_up(reply_id: int) -> Response:
    try:
        outcome = handling.give_up(runtime(), reply_id, request.form.get("note", ""), _actor())
    except LookupError:
        abort(404)
    flash(outcome.text, "ok" if outcome.ok else "error")
    return redirect(url_for("views.reply", reply_id=reply_id))


@bp.get("/inbox")
def inbox() -> str:
    """What waits for a person: senders to confirm, questions to answer, mail for no campaign."""
    with session_scope() as session:
        questions = inquiry.awaiting(session)
        texts = {m.id: _preview(_raw(m))["text"][:QUESTION_CHARS] for m in questions}
        return render_template("inbox.html", review=claims.awaiting_review(session),
                               questions=questions, texts=texts,
                               unclassified=dashboard.unclassified(session))


@bp.post("/messages/<int:message_id>/review")
def review(message_id: int) -> Response:
    action = request.form.get("action", "")
    if action not in ("confirm", "reject"):
        abort(400, description="未知的操作。")
    try:
        outcome = actions.review_sender(runtime(), message_id, accept=action == "confirm")
    except LookupError:
        abort(404)
    flash(outcome.text, "ok" if outcome.ok else "error")
    return redirect(url_for("views.inbox"))


@bp.post("/messages/<int:message_id>/answer")
def answer(message_id: int) -> Response:
    try:
        outcome = actions.answer(runtime(), message_id, request.form.get("answer", ""))
    except LookupError:
        abort(404)
    flash(outcome.text, "ok" if outcome.ok else "error")
    return redirect(url_for("views.inbox"))


@bp.post("/messages/<int:message_id>/assign")
def assign(message_id: int) -> Response:
    outcome = actions.assign(runtime(), message_id)
    flash(outcome.text, "ok" if outcome.ok else "error")
    if outcome.ok:
        return redirect(url_for("views.message", message_id=outcome.message_id))
    return redirect(url_for("views.inbox"))


@bp.get("/messages/<int:message_id>")
def message(message_id: int) -> str:
    with session_scope() as session:
        found = session.get(Message, message_id) or abort(404)
        raw = _raw(found)
        return render_template("message.html", message=found, preview=_preview(raw),
                               source=raw[:RAW_PREVIEW_BYTES].decode("utf-8", "replace"),
                               truncated=len(raw) > RAW_PREVIEW_BYTES,
                               quarantined=found.result == QUARANTINED
                               and found.dismissed_at is None,
                               history=handling.history(session, message_pk=found.id),
                               units=dashboard.assignable_units(session, runtime().campaign),
                               campaigns=[runtime().campaign.campaign],
                               can_forward=bool(runtime().settings.office_email))


@bp.post("/messages/<int:message_id>/reprocess")
def reprocess(message_id: int) -> Response:
    outcome = actions.reprocess(runtime(), message_id)
    flash(outcome.text, "ok" if outcome.ok else "error")
    return redirect(url_for("views.message", message_id=outcome.message_id))


@bp.get("/replies/<int:reply_id>")
def reply(reply_id: int) -> str:
    with session_scope() as session:
        found = session.get(Reply, reply_id) or abort(404)
        mail = message_from_bytes(found.raw, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        part = mail.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        return render_template("reply.html", reply=found, text=text,
                               reason=dashboard.reply_reason(found),
                               history=handling.history(session, reply_pk=found.id),
                               attachments=[p.get_filename() or "（未命名）"
                                            for p in mail.iter_attachments()])


@bp.post("/replies/<int:reply_id>/release")
def release(reply_id: int) -> Response:
    try:
        outcome = actions.release(runtime(), reply_id)
    except LookupError:
        abort(404)
    flash(outcome.text, "ok" if outcome.ok else "error")
    return redirect(url_for("views.reply", reply_id=reply_id))


def _raw(found: Message) -> bytes:
    try:
        return runtime().blobs.get(found.raw_path)
    except OSError:
        return b""


def _preview(raw: bytes) -> dict[str, Any]:
    """The mail as a person reads it; never raises (this is how quarantined mail is looked at)."""
    shown: dict[str, Any] = {"headers": [], "text": "", "parts": [], "error": ""}
    if not raw:
        shown["error"] = "原始邮件文件不存在。"
        return shown
    try:
        mail = message_from_bytes(raw, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        for name, label in HEADER_LABELS.items():
            if mail.get(name) is not None:
                shown["headers"].append((label, header_value(name, str(mail[name]))))
        body = mail.get_body(preferencelist=("plain", "html"))
        if body is not None:
            shown["text"] = str(body.get_content())[:20000]
        for part in mail.iter_attachments():
            payload = part.get_payload(decode=True)
            filename = part.get_filename() or ""
            shown["parts"].append((filename or "（未命名）",
                                   file_type(part.get_content_type(), filename),
                                   len(payload) if isinstance(payload, bytes) else 0))
    except Exception as exc:  # a mail that breaks the parser is exactly what the office must see
        shown["error"] = f"无法完整解析这封邮件（{type(exc).__name__}: {exc}），请看下方原文。"
    return shown
