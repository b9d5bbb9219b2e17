"""The consolidated workbook (汇总表.xlsx): three sheets, derived from the database.

Sheets and columns are fixed by CONTRACT.md. The file is written to a temporary file beside the
target and renamed over it, so a reader never sees half a workbook. Every cell from mail is
written as text, never as a formula (a sender can name a file "=HYPERLINK(…)").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.progress import UnitProgress, unit_progress
from mailbot.rules import Campaign
from mailbot.store import ACCEPTED, Message, Unit
from mailbot.timefmt import local

SUMMARY_COLUMNS = ("序号", "推荐单位", "工作室名称", "领衔人", "联系电话", "材料字数", "状态",
                   "是否逾期", "最后收件时间", "回执编号")
PROGRESS_COLUMNS = ("单位", "联系邮箱", "附件1", "附件2", "附件3", "状态", "最后收件时间", "纸质版")
RECORD_COLUMNS = ("收件时间", "发件人", "主题", "附件", "识别", "处理结果", "是否逾期", "问题",
                  "回执编号")
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PAPER_NOT_RECEIVED = "未收到"


def build(session: Session, campaign: Campaign) -> Workbook:
    units = session.scalars(select(Unit).order_by(Unit.id)).all()
    progress = [unit_progress(session, unit, campaign) for unit in units]
    messages = session.scalars(select(Message).order_by(Message.received_at, Message.id)).all()
    book = Workbook()
    _sheet(book.active, "汇总", SUMMARY_COLUMNS, _summary_rows(progress, campaign))
    _sheet(book.create_sheet(), "单位进度", PROGRESS_COLUMNS, _progress_rows(progress, campaign))
    _sheet(book.create_sheet(), "收件记录", RECORD_COLUMNS, _record_rows(messages, campaign))
    return book


def write(session: Session, campaign: Campaign, path: Path) -> Path:
    """Write the workbook to `path` atomically (temporary file in the same folder, rename)."""
    book = build(session, campaign)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".汇总表-", suffix=".xlsx", dir=path.parent)
    os.close(handle)
    try:
        book.save(temporary)
        with open(temporary, "rb") as saved:
            os.fsync(saved.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _summary_rows(progress: Sequence[UnitProgress], campaign: Campaign) -> Iterable[list[Any]]:
    number = 0
    for unit in progress:
        for studio in unit.studios:
            number += 1
            approval, material = studio.doc("approval"), studio.doc("material")
            docs = [d for d in studio.documents.values()]
            missing = [campaign.spec(k).label for k in ("summary", "approval", "material")
                       if campaign.has(k) and studio.doc(k) is None]
            problems = [d for d in docs if not d.ok]
            if missing:
                status = "缺" + "、".join(missing)
            elif problems:
                status = "待更正"
            else:
                status = ACCEPTED if unit.complete else "待补正"
            received = [d.message.received_at for d in docs]
            leader = (approval.leader if approval and approval.leader else "") or \
                next((d.leader for d in docs if d.leader), "")
            phone = (approval.phone if approval and approval.phone else "") or \
                next((d.phone for d in docs if d.phone), "")
            yield [number, unit.unit.name or unit.unit.email, studio.name, leader, phone,
                   material.word_count if material else None, status,
                   "是" if any(d.message.late for d in docs) else "否",
                   _time(max(received)) if received else None,
                   _receipt(unit)]


def _progress_rows(progress: Sequence[UnitProgress], campaign: Campaign) -> Iterable[list[Any]]:
    for unit in progress:
        yield [unit.unit.name or unit.unit.email, unit.unit.email,
               *[_count_cell(unit, campaign, key) for key in ("summary", "approval", "material")],
               unit.status, _time(unit.last_received) if unit.last_received else None,
               PAPER_NOT_RECEIVED]


def _record_rows(messages: Sequence[Message], campaign: Campaign) -> Iterable[list[Any]]:
    for message in messages:
        yield [_time(message.received_at), message.from_addr, message.subject,
               "\n".join(d.filename for d in message.documents),
               "\n".join(campaign.spec(d.kind).label if campaign.has(d.kind) else "未识别"
                         for d in message.documents),
               message.result, "是" if message.late else "否",
               "\n".join([message.reason] if message.reason else
                         [f.message for f in message.findings]),
               message.receipt_no]


def _count_cell(unit: UnitProgress, campaign: Campaign, key: str) -> str:
    if not campaign.has(key):
        return ""
    count = unit.count(key)
    needed = 1 if campaign.spec(key).per == "unit" else max(len(unit.studios), 1)
    if count == 0:
        return "缺"
    return "已收" if campaign.spec(key).per == "unit" else f"{count}/{needed}"


def _receipt(unit: UnitProgress) -> str:
    """The receipt of the mail that completed the set, else of the unit's latest mail."""
    answered = [m for m in unit.unit.messages if m.receipt_no]
    accepted = [m for m in answered if m.result == ACCEPTED]
    chosen = accepted or answered
    return chosen[-1].receipt_no if chosen else ""


def _time(moment: datetime) -> datetime:
    # Excel has no time zones: store office time (Asia/Shanghai) as a naive date-time.
    return local(moment).replace(tzinfo=None)


def _sheet(sheet: Worksheet, title: str, columns: Sequence[str],
           rows: Iterable[list[Any]]) -> None:
    sheet.title = title
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [max(4, _width(c)) for c in columns]
    for values in rows:
        sheet.append([None] * len(values))
        for index, value in enumerate(values):
            cell = sheet.cell(row=sheet.max_row, column=index + 1)
            _set(cell, value)
            widths[index] = max(widths[index], min(60, _width(value)))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width + 2
    sheet.freeze_panes = "A2"
    if sheet.max_row > 1:
        sheet.auto_filter.ref = sheet.dimensions


def _set(cell: Cell, value: Any) -> None:
    if isinstance(value, datetime):
        cell.value = value
        cell.number_format = TIME_FORMAT
    elif isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # openpyxl would otherwise take "=…" for a formula
        if "\n" in value:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    else:
        cell.value = value


def _width(value: Any) -> int:
    """Display width: a CJK character is about two Latin ones wide."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    longest = max(str(value).split("\n"), key=len, default="")
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in longest)
