"""What the dashboard shows, derived from the database: the overview, unit rows, a unit's history.

Views only render these; nothing here writes. Each unit's standing comes from
`mailbot.campaign.dossier.unit_progress`, the same function the workbook and the replies use, so the
page, the workbook and the mail never disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailbot.campaign.dossier import UnitProgress, campaign_progress, unit_progress
from mailbot.campaign.rules import Campaign
from mailbot.store.models import (
    ACCEPTED,
    CORRECTION,
    INQUIRY,
    QUARANTINED,
    RESULTS,
    REVIEW_PENDING,
    UNCLASSIFIED,
    Document,
    Message,
    Reminder,
    Reply,
    Unit,
)
from mailbot.store.scoping import ACROSS_CAMPAIGNS
from mailbot.timefmt import show

# A unit's state on the dashboard: the three numbers of the overview and the units filter.
COMPLETE, INCOMPLETE, SILENT = "complete", "incomplete", "silent"
STATE_LABELS = {COMPLETE: "已齐全", INCOMPLETE: "未齐全", SILENT: "未来信"}
REPLY_KINDS = {"acknowledgement": "受理回执", "correction": "补正通知", "quarantine": "隔离告知",
               "office-quarantine": "隔离通知（办公室）", "reminder": "截止提醒",
               "final-report": "截止报告", "office-cap": "发信上限通知（办公室）",
               "inquiry": "咨询回复", "office-answer": "办公室答复",
               "unconfirmed": "待核实告知", "address-notice": "新邮箱告知（单位）",
               "sender-review": "核实结果", "office-forward": "转发给办公室"}
REPLY_STATUS = {"pending": "待发送", "sent": "已发送", "failed": "发送失败", "held": "待放行",
                "dropped": "已放弃"}
HELD_FINDING = "sender-unverified"  # mailbot.intake.screening.auth_hold: why a reply is held
ATTENTION_REPLIES = 50  # failed and held replies listed on the overview, newest first


@dataclass(frozen=True)
class DocCell:
    label: str  # 附件2
    text: str  # 已收 / 缺 / 1/2
    ok: bool


@dataclass
class UnitRow:
    unit: Unit
    progress: UnitProgress
    state: str
    cells: list[DocCell]
    got: int  # forms held in order, for the progress bar
    needed: int
    messages: int

    @property
    def state_label(self) -> str:
        if self.state == INCOMPLETE and not self.progress.latest:
            return "未交材料"  # wrote (a question, say) but sent no usable form yet
        return STATE_LABELS[self.state]

    @property
    def percent(self) -> int:
        return round(100 * self.got / self.needed) if self.needed else 0

    @property
    def last_received(self) -> str:
        return show(self.progress.last_received)

    @property
    def paper(self) -> str:
        moment = self.unit.paper_received_at
        return f"已收到（{show(moment)[:10]}）" if moment else "未收到"


@dataclass
class Overview:
    units: int
    states: Counter[str]
    late_units: int
    quarantined: int
    results: dict[str, int]
    replies: Counter[str]
    paper_received: int
    deadline: str
    time_left: str
    past_deadline: bool
    recent: list[Message] = field(default_factory=list)
    attention_replies: list[ReplyIssue] = field(default_factory=list)
    waiting: int = 0  # mails awaiting a person: 待核实 senders, open 咨询, 未归类


@dataclass(frozen=True)
class ReplyIssue:
    """A reply the office has to look at: one that failed, or one held for its release."""

    reply: Reply
    reason: str  # in Chinese: the failure, or why it is held


def unit_rows(session: Session, campaign: Campaign) -> list[UnitRow]:
    """Every unit's row from a fixed number of queries (no query per unit)."""
    counts = {unit_id: number for unit_id, number in session.execute(
        select(Message.unit_id, func.count()).where(Message.unit_id.is_not(None))
        .group_by(Message.unit_id))}
    return [_row(progress, counts.get(progress.unit.id, 0))
            for progress in campaign_progress(session, campaign)]


def unit_row(session: Session, campaign: Campaign, unit: Unit, messages: int) -> UnitRow:
    return _row(unit_progress(session, unit, campaign), messages)


def _row(progress: UnitProgress, messages: int) -> UnitRow:
    if progress.complete:
        state = COMPLETE
    elif messages == 0:
        state = SILENT
    else:
        state = INCOMPLETE
    # The cells read the same FormState as the workbook's 单位进度: the two cannot disagree.
    cells = [DocCell(form.label, form.text, form.complete) for form in progress.forms]
    got = sum(min(form.good, form.want) for form in progress.forms)
    needed = sum(form.want for form in progress.forms)
    return UnitRow(progress.unit, progress, state, cells, got, needed, messages)


def filter_rows(rows: list[UnitRow], *, state: str = "", late: str = "", paper: str = "",
                query: str = "") -> list[UnitRow]:
    """The units table's filters; an empty value does not filter."""
    wanted = query.strip().lower()
    chosen = []
    for row in rows:
        if state and row.state != state:
            continue
        if late and (late == "yes") != row.progress.late:
            continue
        if paper and (paper == "yes") != (row.unit.paper_received_at is not None):
            continue
        if wanted and wanted not in f"{row.unit.display_name} {row.unit.email}".lower():
            continue
        chosen.append(row)
    return chosen


def overview(session: Session, campaign: Campaign, rows: list[UnitRow],
             now: datetime) -> Overview:
    found = {result: number for result, number in session.execute(
        select(Message.result, func.count()).group_by(Message.result))}
    replies = Counter({status: number for status, number in session.execute(
        select(Reply.status, func.count()).group_by(Reply.status))})
    recent = list(session.scalars(select(Message).where(Message.result != UNCLASSIFIED)
                                  .order_by(Message.received_at.desc(), Message.id.desc())
                                  .limit(8)))
    deadline = campaign.campaign.deadline_at
    return Overview(
        units=len(rows), states=Counter(row.state for row in rows),
        late_units=sum(1 for row in rows if row.progress.late),
        quarantined=session.scalar(select(func.count()).select_from(Message).where(
            Message.result == QUARANTINED, Message.dismissed_at.is_(None))) or 0,
        results={result: found.get(result, 0) for result in RESULTS},
        replies=replies,
        paper_received=sum(1 for row in rows if row.unit.paper_received_at is not None),
        deadline=show(deadline), time_left=time_left(deadline, now),
        past_deadline=now > deadline, recent=recent,
        attention_replies=reply_issues(session), waiting=waiting(session))


def reply_issues(session: Session) -> list[ReplyIssue]:
    """Failed and held replies, newest first, each with its reason."""
    found = session.scalars(select(Reply).where(Reply.status.in_(("failed", "held")))
                            .order_by(Reply.created_at.desc(), Reply.id.desc())
                            .limit(ATTENTION_REPLIES))
    return [ReplyIssue(reply, reply_reason(reply)) for reply in found]


def reply_reason(reply: Reply) -> str:
    """Why a reply did not go out (yet), for the office; "" when nothing is in its way."""
    if reply.status == "held":
        reasons = [f.message for f in (reply.message.findings if reply.message else ())
                   if f.code == HELD_FINDING]
        return "；".join(reasons) or "等待办公室放行。"
    return reply.last_error if reply.status in ("failed", "pending") else ""


def time_left(deadline: datetime, now: datetime) -> str:
    """'还剩 2 天 3 小时' before the deadline, '已截止 5 天' after it."""
    gap = deadline - now
    past = gap < timedelta(0)
    gap = abs(gap)
    days, seconds = gap.days, gap.seconds
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    if days:
        span = f"{days} 天 {hours} 小时"
    elif hours:
        span = f"{hours} 小时 {minutes} 分"
    else:
        span = f"{minutes} 分"
    return f"已截止 {span}" if past else f"还剩 {span}"


@dataclass
class Version:
    document: Document
    current: bool  # the version that counts (progress.latest)


def versions(session: Session, unit: Unit, progress: UnitProgress) -> list[Version]:
    """Every file the unit sent, newest first, each marked current or superseded."""
    current = {doc.id for doc in progress.latest}
    documents = session.scalars(
        select(Document).join(Message, Document.message_pk == Message.id)
        .where(Document.unit_id == unit.id)
        .order_by(Message.received_at.desc(), Document.position)).all()
    return [Version(doc, doc.id in current) for doc in documents]


def unit_replies(session: Session, unit: Unit) -> list[Reply]:
    """Replies to the unit's mail and reminders sent to it, newest first."""
    reminded = select(Reminder.reply_id).where(Reminder.unit_id == unit.id,
                                               Reminder.reply_id.is_not(None))
    return list(session.scalars(
        select(Reply).outerjoin(Message, Reply.message_pk == Message.id)
        .where(or_(Message.unit_id == unit.id, Reply.id.in_(reminded)))
        .order_by(Reply.created_at.desc(), Reply.id.desc())))


def quarantined(session: Session) -> list[Message]:
    """Quarantined mail still to handle (not dismissed), newest first."""
    return list(session.scalars(select(Message).where(Message.result == QUARANTINED,
                                                      Message.dismissed_at.is_(None))
                                .order_by(Message.received_at.desc())))


def assignable_units(session: Session, campaign: Campaign) -> list[Unit]:
    """The units a quarantined mail can be assigned to: the roster first, then by name."""
    found = session.scalars(select(Unit).where(Unit.campaign == campaign.campaign.key)).all()
    return sorted(found, key=lambda unit: (not unit.on_roster, unit.display_name))


def unclassified(session: Session) -> list[Message]:
    """Mail for no campaign, newest first (the office may hand one to the campaign)."""
    return list(session.scalars(select(Message).where(Message.result == UNCLASSIFIED)
                                .order_by(Message.received_at.desc(), Message.id.desc())
                                .execution_options(**ACROSS_CAMPAIGNS)))  # the mailbox's


def waiting(session: Session) -> int:
    """How many mails await a person (the 待人工处理 page)."""
    mine = session.scalar(select(func.count()).select_from(Message).where(or_(
        Message.review == REVIEW_PENDING,
        (Message.result == INQUIRY) & Message.answered_at.is_(None)))) or 0
    return mine + len(unclassified(session))


def result_class(result: str) -> str:
    """A CSS class per 处理结果, so 受理 and 补正 read at a glance."""
    return {ACCEPTED: "ok", CORRECTION: "warn", QUARANTINED: "bad"}.get(result, "")
