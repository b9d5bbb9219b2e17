"""The consolidated workbook (汇总表.xlsx): three sheets, derived from the database.

Sheets and columns are fixed by CONTRACT.md for this campaign; another campaign's columns follow
its rules (one 单位进度 column per form label; without studios, one 汇总 row per unit). The
file is written to a temporary file beside the target and renamed over it, so a reader never
sees half a workbook. How a sheet is laid out and written is `office.sheets`.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from mailbot.campaign.dossier import (
    NOT_RECEIVED,
    TO_CORRECT,
    StudioProgress,
    UnitProgress,
    campaign_progress,
    unsaved_progress,
)
from mailbot.campaign.rules import Campaign, DocumentSpec
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.office.bulk import collector_paused
from mailbot.office.sheets import LINE_HEIGHT, MAX_CELL_CHARS, MAX_WIDTH, TIME_FORMAT, add_sheet
from mailbot.store.handles import Session
from mailbot.store.models import ACCEPTED, Document
from mailbot.store.queries import office as queries
from mailbot.store.queries.office import MailRow
from mailbot.timefmt import local, show

# The sheets' measures, for those who check them (tests/test_workbook.py).
__all__ = ["LINE_HEIGHT", "MAX_CELL_CHARS", "MAX_WIDTH", "PROGRESS_COLUMNS", "RECORD_COLUMNS",
           "SUMMARY_COLUMNS", "TIME_FORMAT", "build", "progress_columns", "summary_columns",
           "write"]

# The columns of a campaign with studios (this one: CONTRACT "The workbook"); a campaign whose
# units send forms of their own has one 汇总 row per unit (`summary_columns`).
SUMMARY_COLUMNS = ("序号", "推荐单位", "工作室名称", "领衔人", "联系电话", "材料字数", "状态",
                   "是否逾期", "最后收件时间", "回执编号")
UNIT_SUMMARY_TAIL = ("状态", "是否逾期", "最后收件时间", "回执编号")
# 单位进度: one column per form of the rules, by its label, between these.
PROGRESS_HEAD, PROGRESS_TAIL = ("单位", "联系邮箱"), ("状态", "最后收件时间", "纸质版")
PROGRESS_COLUMNS = (*PROGRESS_HEAD, "附件1", "附件2", "附件3", *PROGRESS_TAIL)  # this campaign's
RECORD_COLUMNS = ("收件时间", "发件人", "主题", "附件", "识别", "处理结果", "是否逾期", "问题",
                  "回执编号")
PAPER_NOT_RECEIVED = "未收到"

def build(session: Session, campaign: Campaign) -> Workbook:
    with collector_paused():
        return _build(session, campaign)


def _build(session: Session, campaign: Campaign) -> Workbook:
    # A few flat queries, whatever the number of units or mails: the dossier's progress (only
    # the versions that count become objects), and plain tuples for 收件记录 (an ORM object
    # per mail and per file cost more than the queries: benchmarks/workbook_export.py).
    progress = campaign_progress(session, campaign)
    # After a poll none; on the dashboard (a reader): the roster units the rules gained, 未提交.
    progress += unsaved_progress(campaign, [entry.unit for entry in progress])
    messages = queries.workbook_mails(session)
    files = queries.mail_files(session)
    problems = queries.mail_problems(session)
    mails = {message.id: message for message in messages}
    book = Workbook(write_only=True)  # streamed: office.sheets
    receipts = _receipts(messages)
    summary = (_summary_rows(progress, campaign, receipts, mails) if campaign.has_studios
               else _unit_summary_rows(progress, campaign, receipts))
    title = campaign.campaign.title
    add_sheet(book, "汇总", summary_columns(campaign), summary, title)
    add_sheet(book, "单位进度", progress_columns(campaign), _progress_rows(progress, campaign),
              title)
    add_sheet(book, "收件记录", RECORD_COLUMNS,
              _record_rows(messages, files, problems, campaign), title)
    return book


def write(session: Session, campaign: Campaign, path: Path) -> Path:
    """Write the workbook to `path` atomically (temporary file in the same folder, rename)."""
    # Saved to memory first: openpyxl leaves its zip file open when a disk-full error hits it
    # mid-save, and the bytes of a workbook are small beside the mail they summarise.
    content = io.BytesIO()
    build(session, campaign).save(content)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".汇总表-", suffix=".xlsx", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content.getbuffer())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def summary_columns(campaign: Campaign) -> tuple[str, ...]:
    """汇总's header: one row per studio, or (no studios) one per unit with each text's 字数."""
    if campaign.has_studios:
        return SUMMARY_COLUMNS
    counted = [f"{spec.title}字数" for spec in campaign.documents if spec.max_words is not None]
    return ("序号", "推荐单位", "联系邮箱", *counted, *UNIT_SUMMARY_TAIL)


def progress_columns(campaign: Campaign) -> tuple[str, ...]:
    """单位进度's header: one column per form, named by its label, in the rules' order."""
    return (*PROGRESS_HEAD, *[spec.label for spec in campaign.documents], *PROGRESS_TAIL)


def _unit_summary_rows(progress: Sequence[UnitProgress], campaign: Campaign,
                       receipts: dict[int, str]) -> Iterable[list[Any]]:
    """One row per unit that sent something (a campaign without studios)."""
    counted = [spec.key for spec in campaign.documents if spec.max_words is not None]
    number = 0
    for unit in progress:
        if not unit.latest:
            continue  # 未提交: in 单位进度, not among what was sent
        number += 1
        words = {d.kind: d.word_count for d in unit.latest if d.format not in SCAN_FORMATS}
        problems = [d for d in unit.latest if not d.ok]
        status = TO_CORRECT if problems else unit.status
        yield [number, unit.unit.display_name, unit.unit.email,
               *[words.get(key) for key in counted], status,
               "是" if unit.late else "否",
               _time(unit.last_received) if unit.last_received else None,
               receipts.get(unit.unit.id, "")]


def _summary_rows(progress: Sequence[UnitProgress], campaign: Campaign,
                  receipts: dict[int, str], mails: Mapping[int, MailRow]
                  ) -> Iterable[list[Any]]:
    number = 0
    for unit in progress:
        for studio in unit.studios:
            number += 1
            # The form about the studio (附件2) and its text with a 字数 limit (附件3), by rules.
            approval = _studio_form(campaign, studio, lambda spec: spec.studio_field is not None)
            material = _studio_form(campaign, studio, lambda spec: spec.max_words is not None)
            docs = [d for d in studio.documents.values()]
            missing = [spec.label for spec in campaign.documents if studio.doc(spec.key) is None]
            problems = [d for d in docs if not d.ok]
            if missing:
                status = NOT_RECEIVED + "、".join(missing)
            elif problems:
                status = TO_CORRECT
            else:
                status = unit.status  # 已齐全, or 未齐全 when another studio still lacks a form
            mailed = [_mail_of(d, mails) for d in docs]
            received = [when for when, _late in mailed]
            leader = (approval.leader if approval and approval.leader else "") or \
                next((d.leader for d in docs if d.leader), "")
            phone = (approval.phone if approval and approval.phone else "") or \
                next((d.phone for d in docs if d.phone), "")
            yield [number, unit.unit.display_name, studio.name, leader, phone,
                   material.word_count if material else None, status,
                   "是" if any(late for _when, late in mailed) else "否",
                   _time(max(received)) if received else None,
                   receipts.get(unit.unit.id, "")]


def _progress_rows(progress: Sequence[UnitProgress], campaign: Campaign) -> Iterable[list[Any]]:
    for unit in progress:
        # With a roster, a unit that wrote in without being on it is flagged for the office.
        flag = "（名单外）" if campaign.units and not unit.unit.on_roster else ""
        paper = unit.unit.paper_received_at
        yield [unit.unit.display_name + flag, unit.unit.email,
               *[_form_cell(unit, spec.key) for spec in campaign.documents],
               unit.status, _time(unit.last_received) if unit.last_received else None,
               f"已收到（{show(paper)[:10]}）" if paper else PAPER_NOT_RECEIVED]


def _record_rows(messages: Sequence[MailRow], files: dict[int, list[tuple[str, str]]],
                 problems: dict[int, list[str]], campaign: Campaign) -> Iterable[list[Any]]:
    labels = {spec.key: spec.label for spec in campaign.documents}
    for message in messages:
        documents = files.get(message.id, [])
        yield [_time(message.received_at), message.from_addr, message.subject,
               "\n".join(filename for filename, _kind in documents),
               "\n".join(labels.get(kind, "未识别") for _filename, kind in documents),
               message.result, "是" if message.late else "否",
               "\n".join([message.reason] if message.reason else problems.get(message.id, [])),
               message.receipt_no]


def _studio_form(campaign: Campaign, studio: StudioProgress,
                 wanted: Callable[[DocumentSpec], bool]) -> Document | None:
    """The studio's latest form of the first kind the rules describe as `wanted`."""
    return next((studio.doc(spec.key) for spec in campaign.documents
                 if wanted(spec) and studio.doc(spec.key) is not None), None)


def _form_cell(unit: UnitProgress, key: str) -> str:
    form = unit.form(key)
    return form.text if form is not None else ""


def _mail_of(doc: Document, mails: Mapping[int, MailRow]) -> tuple[datetime, bool]:
    """(received, late) of the document's mail: as read for 收件记录, else from its row."""
    mail = mails.get(doc.message_pk)
    if mail is not None:
        return mail.received_at, mail.late
    return doc.message.received_at, doc.message.late


def _receipts(messages: Iterable[MailRow]) -> dict[int, str]:
    """Per unit: the receipt of the (last) mail that completed the set, else of its latest
    answered mail."""
    latest: dict[int, str] = {}
    accepted: dict[int, str] = {}
    for message in sorted(messages, key=lambda m: m.id):
        if message.receipt_no and message.unit_id is not None:
            latest[message.unit_id] = message.receipt_no
            if message.result == ACCEPTED:
                accepted[message.unit_id] = message.receipt_no
    return latest | accepted


def _time(moment: datetime) -> datetime:
    # Excel has no time zones: store office time (Asia/Shanghai) as a naive date-time.
    return local(moment).replace(tzinfo=None)
