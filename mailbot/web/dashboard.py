"""What the dashboard shows, derived from the database: the overview, unit rows, a unit's history.

Views only render these; nothing here writes, and nothing here speaks SQL (the reads are
`store.queries.dashboard`'s). Each unit's standing comes from `mailbot.campaign.dossier`, the
same computation the workbook and the replies use, so the page, the workbook and the mail never
disagree; the pages listing every unit read it from plain rows (`campaign_standings`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailbot.campaign import dossier
from mailbot.campaign.dossier import (
    Standing,
    campaign_standings,
    unit_progress,
    unsaved_progress,
)
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import unsaved_roster
from mailbot.store.handles import Session
from mailbot.store.models import (
    ACCEPTED,
    CORRECTION,
    QUARANTINED,
    RESULTS,
    Document,
    Message,
    Reply,
    Unit,
)
from mailbot.store.queries import dashboard as queries
from mailbot.store.queries.operations import count_messages_by_result
from mailbot.timefmt import show

# A unit's state on the dashboard: the three numbers of the overview and the units filter,
# named in the URL; shown in the dossier's status words (CONTRACT.md), the same as `status`.
COMPLETE, INCOMPLETE, SILENT = "complete", "incomplete", "silent"
STATE_LABELS = {COMPLETE: dossier.COMPLETE, INCOMPLETE: dossier.INCOMPLETE,
                SILENT: dossier.NOT_SUBMITTED}
STATE_OF = {word: state for state, word in STATE_LABELS.items()}
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
RECENT_MESSAGES = 8  # the latest mails on the overview


@dataclass(frozen=True)
class DocCell:
    label: str  # 附件2
    text: str  # 已收 / 缺 / 1/2
    ok: bool


@dataclass
class UnitRow:
    unit: Unit
    progress: Standing
    state: str
    cells: list[DocCell]
    got: int  # forms held in order, for the progress bar
    needed: int
    messages: int

    @property
    def state_label(self) -> str:
        """已齐全, 未齐全 or 未提交: the dossier's word."""
        return self.progress.status

    @property
    def note(self) -> str:
        """Why a unit that wrote is still 未提交 (as the final report puts it); "" otherwise."""
        return "来信但未附申报材料" if self.state == SILENT and self.messages else ""

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
    """Every unit's row from a fixed number of queries (no query per unit), then the roster
    units the rules gained since the last poll, unsaved and 未提交 (as `status` counts them:
    the dashboard writes nothing by showing them)."""
    counts = queries.messages_per_unit(session)
    standings = campaign_standings(session, campaign)
    gained = unsaved_progress(campaign, [standing.unit for standing in standings])
    return [*(row_of(standing, counts.get(standing.unit.id, 0)) for standing in standings),
            *(row_of(entry.standing, 0) for entry in gained)]


def held_units(session: Session, campaign: Campaign) -> list[Unit]:
    """Every unit the store holds for the campaign, with its addresses."""
    return list(queries.campaign_units(session, campaign.campaign.key, addresses=True))


def unit_row(session: Session, campaign: Campaign, unit: Unit, messages: int) -> UnitRow:
    return row_of(unit_progress(session, unit, campaign).standing, messages)


def row_of(progress: Standing, messages: int) -> UnitRow:
    """A unit's row: its standing, and how many mails it sent."""
    state = STATE_OF[progress.status]
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
    found = count_messages_by_result(session)
    replies = Counter(queries.count_replies_by_status(session))
    recent = queries.recent_messages(session, RECENT_MESSAGES)
    deadline = campaign.campaign.deadline_at
    return Overview(
        units=len(rows), states=Counter(row.state for row in rows),
        late_units=sum(1 for row in rows if row.progress.late),
        quarantined=queries.count_quarantined(session),
        results={result: found.get(result, 0) for result in RESULTS},
        replies=replies,
        paper_received=sum(1 for row in rows if row.unit.paper_received_at is not None),
        deadline=show(deadline), time_left=time_left(deadline, now),
        past_deadline=now > deadline, recent=recent,
        attention_replies=reply_issues(session), waiting=waiting(session))


def reply_issues(session: Session) -> list[ReplyIssue]:
    """Failed and held replies, newest first, each with its reason."""
    found = queries.replies_with_status(session, ("failed", "held"), ATTENTION_REPLIES)
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


def versions(session: Session, unit: Unit, progress: Standing) -> list[Version]:
    """Every file the unit sent, newest first, each marked current or superseded."""
    current = set(progress.counting)
    documents = queries.unit_documents_newest_first(session, unit.id)
    return [Version(doc, doc.id in current) for doc in documents]


def unit_replies(session: Session, unit: Unit) -> list[Reply]:
    """Replies to the unit's mail and reminders sent to it, newest first."""
    return queries.unit_replies(session, unit.id)


def quarantined(session: Session) -> list[Message]:
    """Quarantined mail still to handle (not dismissed), newest first."""
    return queries.quarantined_messages(session)


def assignable_units(session: Session, campaign: Campaign) -> list[Unit]:
    """The units a quarantined mail can be assigned to: the roster first (with the units the
    rules gained since the last poll, not saved yet: no id), then by name."""
    found = held_units(session, campaign)
    every = [*found, *unsaved_roster(campaign, found)]
    return sorted(every, key=lambda unit: (not unit.on_roster, unit.display_name))


def unclassified(session: Session) -> list[Message]:
    """Mail for no campaign, newest first (the office may hand one to the campaign)."""
    return queries.unclassified_messages(session)  # the mailbox's, not the campaign's


def waiting(session: Session) -> int:
    """How many mails await a person (the 待人工处理 page)."""
    return queries.count_awaiting_person(session) + queries.count_unclassified(session)


def result_class(result: str) -> str:
    """A CSS class per 处理结果, so 受理 and 补正 read at a glance."""
    return {ACCEPTED: "ok", CORRECTION: "warn", QUARANTINED: "bad"}.get(result, "")
