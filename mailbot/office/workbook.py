"""The consolidated workbook (汇总表.xlsx): three sheets, derived from the database.

Sheets and columns are fixed by CONTRACT.md for this campaign; another campaign's columns follow
its rules (one 单位进度 column per form label; without studios, one 汇总 row per unit). The
file is written to a temporary file beside the target and renamed over it, so a reader never
sees half a workbook. Every cell from mail is
written as text, never as a formula (a sender can name a file "=HYPERLINK(…)").
"""

from __future__ import annotations

import functools
import io
import math
import os
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from copy import copy
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from mailbot.campaign.dossier import (
    NOT_RECEIVED,
    TO_CORRECT,
    StudioProgress,
    UnitProgress,
    campaign_progress,
)
from mailbot.campaign.rules import Campaign, DocumentSpec
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.office.bulk import collector_paused
from mailbot.store.handles import Session
from mailbot.store.models import ACCEPTED, Document
from mailbot.store.queries import office as queries
from mailbot.store.queries.office import MailRow
from mailbot.timefmt import local, show

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
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PAPER_NOT_RECEIVED = "未收到"

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center")
THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
TOP = Alignment(vertical="top")
WRAPPED = Alignment(vertical="top", wrap_text=True)
MIN_WIDTH, MAX_WIDTH = 6, 50  # column widths, in Latin characters
LINE_HEIGHT, MAX_ROW_HEIGHT = 15.0, 409.0  # points; 409 is Excel's largest row height
MAX_CELL_CHARS = 32767  # Excel's limit: a longer string makes it "repair" the file


def build(session: Session, campaign: Campaign) -> Workbook:
    with collector_paused():
        return _build(session, campaign)


def _build(session: Session, campaign: Campaign) -> Workbook:
    # A few flat queries, whatever the number of units or mails: the dossier's progress (only
    # the versions that count become objects), and plain tuples for 收件记录 (an ORM object
    # per mail and per file cost more than the queries: benchmarks/workbook_export.py).
    progress = campaign_progress(session, campaign)
    messages = queries.workbook_mails(session)
    files = queries.mail_files(session)
    problems = queries.mail_problems(session)
    mails = {message.id: message for message in messages}
    # Streamed (write-only): each row goes to the file as it is made, never a Cell object
    # kept per value for a second pass.
    book = Workbook(write_only=True)
    receipts = _receipts(messages)
    summary = (_summary_rows(progress, campaign, receipts, mails) if campaign.has_studios
               else _unit_summary_rows(progress, campaign, receipts))
    _sheet(book, "汇总", summary_columns(campaign), summary, campaign)
    _sheet(book, "单位进度", progress_columns(campaign), _progress_rows(progress, campaign),
           campaign)
    _sheet(book, "收件记录", RECORD_COLUMNS, _record_rows(messages, files, problems, campaign),
           campaign)
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


def _sheet(book: Workbook, title: str, columns: Sequence[str], rows: Iterable[list[Any]],
           campaign: Campaign) -> None:
    """One sheet as the office reads it in Excel, WPS or LibreOffice: a bold header that stays
    put, a filter on every column, widths that fit Chinese text, wrapped multi-line cells.

    The sheet is streamed, so what its top declares (column widths, the frozen pane) is
    settled first, from all its rows, and each row's height before the row is written."""
    sheet = _Sheet(book, title)
    book._add_sheet(sheet)
    measure = _Measure()
    widths = [max(MIN_WIDTH, measure.width(c)) for c in columns]
    table = []
    for values in rows:
        table.append([_clean(value) for value in values])
        for index, value in enumerate(values):
            widths[index] = max(widths[index], min(MAX_WIDTH, measure.width(value)))
    widths = [width + 3 for width in widths]  # room for the filter button and cell margins
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.area = f"A1:{get_column_letter(len(columns))}{len(table) + 1}"
    _page(sheet, campaign)
    looks = _Looks(sheet)
    sheet.append([looks.header(sheet, name) for name in columns])
    for number, values in enumerate(table, start=2):
        cells, lines = [], 1
        for value, width in zip(values, widths, strict=False):
            cell, needed = _cell(sheet, value, width, measure, looks)
            cells.append(cell)
            lines = max(lines, needed)
        if lines > 1:
            # Excel only grows a row for wrapped text when it edits it; say the height outright.
            sheet.row_dimensions[number].height = min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines)
        sheet.append(cells)


class _Sheet(WriteOnlyWorksheet):  # type: ignore[misc]  # no type stubs for it
    """A streamed sheet whose rows are appended as finished cells.

    openpyxl's own write-only sheet first tries each appended cell as a value (an exception
    per cell) and makes a spare cell after each styled one: a quarter of an export's time."""

    area = "A1:A1"  # the cells it will hold, known before the first row is written

    def _values_to_row(self, values: Sequence[WriteOnlyCell], row_idx: int
                       ) -> Iterator[WriteOnlyCell]:
        for column, cell in enumerate(values, start=1):
            cell.column, cell.row = column, row_idx
            yield cell

    def calculate_dimension(self) -> str:
        # Written as <dimension>, which a streamed sheet otherwise lacks: readers that size
        # a sheet by it (openpyxl's read-only mode, pandas) would take it for empty.
        return self.area


def _page(sheet: _Sheet, campaign: Campaign) -> None:
    """The header row frozen and filtered; A4 landscape, one page wide, the title on every
    printed page as a page header (a title row would move the header row the office's filters
    and CONTRACT.md rely on)."""
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.area
    sheet.print_title_rows = "1:1"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.print_options.horizontalCentered = True
    title = f"{campaign.campaign.title} — {sheet.title}".replace("&", "&&")  # & is a code
    sheet.oddHeader.center.text = title
    sheet.oddHeader.center.size = 14
    sheet.oddHeader.center.font = "宋体,Bold"
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


class _Looks:
    """The looks of the cells, each registered with the workbook once.

    Assigning `cell.alignment` looks the style up in the workbook again for every cell (a
    hash of the whole style object): with 100,000 cells that was most of an export's time.
    The finished style arrays are shared by the cells instead (never changed afterwards)."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        probe = WriteOnlyCell(sheet)  # not placed in the sheet
        probe.border = BORDER  # printed, the columns must not run together
        probe.alignment = TOP
        self.top = copy(probe._style)
        probe.alignment = WRAPPED
        self.wrapped = copy(probe._style)
        probe.alignment = TOP
        probe.number_format = TIME_FORMAT
        self.time = copy(probe._style)

    @staticmethod
    def header(sheet: WriteOnlyWorksheet, name: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, name)
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
        cell.border = BORDER
        return cell


class _Measure:
    """Display widths of cell texts; a text met again (a file name, a status) is not re-measured."""

    def __init__(self) -> None:
        self._lines: dict[str, list[int]] = {}

    def lines(self, text: str) -> list[int]:
        """The width of each line of `text`, in Latin characters."""
        found = self._lines.get(text)
        if found is None:
            found = self._lines[text] = [_line_width(line) for line in text.split("\n")]
        return found

    def width(self, value: Any) -> int:
        """Display width of the widest line, in Latin characters."""
        if value is None:
            return 0
        if isinstance(value, datetime):
            return len("2022-10-10 17:30:00")
        return max(self.lines(str(value)))


def _clean(value: Any) -> Any:
    """A value Excel accepts as it is: no XML control characters, no string over its limit."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if len(value) > MAX_CELL_CHARS:
            value = value[:MAX_CELL_CHARS - 1] + "…"
    return value


def _cell(sheet: WriteOnlyWorksheet, value: Any, width: float, measure: _Measure,
          looks: _Looks) -> tuple[WriteOnlyCell, int]:
    """One formatted data cell, and how many lines it needs at that column width."""
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, datetime):
        cell._style = looks.time
        return cell, 1
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would otherwise take "=…" for a formula
        lines = sum(max(1, math.ceil(line / (width - 1))) for line in measure.lines(value))
        if lines > 1:
            cell._style = looks.wrapped
            return cell, lines
    cell._style = looks.top
    return cell, 1


def _line_width(line: str) -> int:
    if line.isascii():
        return len(line)
    return sum(map(_char_width, line))


@functools.cache
def _char_width(ch: str) -> int:
    # Wide and full-width characters (汉字, full-width punctuation) take two Latin columns.
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1
