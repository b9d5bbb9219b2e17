"""汇总表.xlsx as the office opens it: reopened with openpyxl for its styles, and converted by
LibreOffice headless, which refuses or "repairs" a broken file the way Excel and WPS would."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from prerequisites import MISSING_SOFFICE, unavailable
from web_support import LATE, ON_TIME, campaign_state, deliver, full_set, make_runtime

from mailbot.intake.cycle import Runtime
from mailbot.mail.safetext import MAX_HEADER_CHARS
from mailbot.office import workbook

HOSTILE = ("=1+1", "+SUM(A1:A9)", "@SUM(1)", "-2+3", '=HYPERLINK("http://evil.example","点我")')


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    runtime = make_runtime(tmp_path)
    campaign_state(runtime)
    return runtime


def written(runtime: Runtime) -> Path:
    return runtime.write_workbook()


def test_header_rows_are_bold_frozen_filtered_and_printable(runtime: Runtime) -> None:
    book = openpyxl.load_workbook(written(runtime))
    assert book.sheetnames == ["汇总", "单位进度", "收件记录"]
    for sheet in book.worksheets:
        header = sheet[1]
        assert all(cell.font.bold for cell in header), sheet.title
        assert all(cell.fill.fgColor.rgb.endswith("DDEBF7") for cell in header)
        assert sheet.freeze_panes == "A2"
        last = openpyxl.utils.get_column_letter(sheet.max_column)
        assert sheet.auto_filter.ref == f"A1:{last}{sheet.max_row}"
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.page_setup.orientation == "landscape"


def test_every_sheet_prints_on_a4_landscape_with_a_title_and_borders(runtime: Runtime) -> None:
    book = openpyxl.load_workbook(written(runtime))
    for sheet in book.worksheets:
        assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4 == "9", sheet.title
        assert sheet.page_setup.orientation == "landscape"
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        # The title is the page header, not a row: row 1 stays the header CONTRACT.md gives.
        assert sheet.oddHeader.center.text == f"{runtime.campaign.campaign.title} — {sheet.title}"
        assert "&P" in sheet.oddFooter.center.text and "&N" in sheet.oddFooter.center.text
        for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row):
            for cell in row:
                sides = (cell.border.left, cell.border.right, cell.border.top, cell.border.bottom)
                assert all(side.style == "thin" for side in sides), (sheet.title, cell.coordinate)


def test_libreoffice_prints_the_workbook_on_a4_one_page_wide(runtime: Runtime,
                                                              soffice: str) -> None:
    from pypdf import PdfReader

    from mailbot.documents import convert

    [pdf] = convert.to_pdf([(written(runtime).read_bytes(), "xlsx")])
    assert pdf is not None
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3  # one page per sheet: nothing spills to the right
    for page in reader.pages:
        box = page.mediabox
        assert (round(float(box.width)), round(float(box.height))) == (842, 595)
    first = reader.pages[0].extract_text()
    assert runtime.campaign.campaign.title in first and "序号" in first


def test_column_widths_fit_chinese_text(runtime: Runtime) -> None:
    deliver(runtime, "long@test.example", [], subject="关于劳模和工匠人才创新工作室推荐申报的若干问题咨询（请尽快回复）",
            received=ON_TIME.replace(hour=12))
    sheet = openpyxl.load_workbook(written(runtime))["收件记录"]
    widths = {cell.value: sheet.column_dimensions[cell.column_letter].width for cell in sheet[1]}
    # A CJK character is two columns wide: a 4-character header needs at least 8.
    assert widths["处理结果"] >= 8 + 2
    assert widths["收件时间"] >= len("2022-10-09 10:00:00")
    # The long subject widens its column, up to the cap; beyond it the text wraps.
    assert widths["主题"] == workbook.MAX_WIDTH + 3
    assert widths["发件人"] >= len("renshi@test.example")
    row = next(r for r in sheet.iter_rows(min_row=2) if "若干问题" in str(r[2].value))
    assert row[2].alignment.wrap_text


def test_multi_line_cells_wrap_and_their_rows_grow(runtime: Runtime) -> None:
    sheet = openpyxl.load_workbook(written(runtime))["收件记录"]
    rows = [r for r in sheet.iter_rows(min_row=2) if r[1].value == "jidian@test.example"]
    [row] = rows
    attachments = row[3]
    assert attachments.value.count("\n") == 2
    assert attachments.alignment.wrap_text and attachments.alignment.vertical == "top"
    assert sheet.row_dimensions[row[0].row].height == 3 * workbook.LINE_HEIGHT
    # One-line rows keep Excel's default height.
    progress = openpyxl.load_workbook(written(runtime))["单位进度"]
    assert all(progress.row_dimensions[n].height is None for n in range(2, progress.max_row + 1))


def test_times_are_real_excel_datetimes_in_office_time(runtime: Runtime) -> None:
    book = openpyxl.load_workbook(written(runtime))
    records = book["收件记录"]
    times = [row[0] for row in records.iter_rows(min_row=2)]
    assert all(cell.is_date and cell.number_format == workbook.TIME_FORMAT for cell in times)
    assert {cell.value for cell in times} >= {datetime(2022, 10, 9, 10, 0),
                                              LATE.replace(tzinfo=None)}
    progress = book["单位进度"]
    last = [row[6] for row in progress.iter_rows(min_row=2) if row[6].value is not None]
    assert last and all(cell.is_date for cell in last)


def test_no_cell_from_mail_is_ever_a_formula(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    for number, hostile in enumerate(HOSTILE):
        deliver(runtime, f"u{number}@test.example", [(f"{hostile}.docx", b"not a document"),
                                                      *full_set()],
                subject=hostile, received=ON_TIME.replace(minute=number))
    path = written(runtime)
    sheet = openpyxl.load_workbook(path)["收件记录"]
    subjects = {row[2].value: row[2].data_type for row in sheet.iter_rows(min_row=2)}
    assert subjects == dict.fromkeys(HOSTILE, "s")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


def test_control_characters_and_huge_values_never_break_the_file(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "bell@test.example", [], subject="响铃\x07与退格\x08的主题\x1b")
    deliver(runtime, "huge@test.example", [], subject="长" * 40000,
            received=ON_TIME.replace(hour=11))
    # A subject is one bounded line from the parser on (mailbot.mail.safetext); what can still
    # outgrow a cell is a list: 140 attachment names of 245 characters each.
    names = [(f"{i:03d}{'名' * 238}.pdf", b"%PDF-1.4 x") for i in range(140)]
    deliver(runtime, "many@test.example", names, subject="很多附件",
            received=ON_TIME.replace(hour=12))
    path = written(runtime)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():  # every part is well-formed XML
            if name.endswith((".xml", ".rels")):
                ElementTree.fromstring(archive.read(name))
    values = [row[2].value for row in
              openpyxl.load_workbook(path)["收件记录"].iter_rows(min_row=2)]
    assert "响铃与退格的主题" in values
    huge = next(v for v in values if v.startswith("长长"))
    assert len(huge) == MAX_HEADER_CHARS and huge.endswith("…")
    listed = [row[3].value for row in openpyxl.load_workbook(path)["收件记录"].iter_rows(min_row=2)
              if row[2].value == "很多附件"]
    assert len(listed[0]) == workbook.MAX_CELL_CHARS and listed[0].endswith("…")


@pytest.fixture(scope="session")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        unavailable(MISSING_SOFFICE)
    return found


def test_libreoffice_converts_every_sheet_without_complaint(
        runtime: Runtime, soffice: str, tmp_path: Path) -> None:
    deliver(runtime, "hostile@test.example", [("=1+1.docx", b"x")], subject="=1+1",
            received=ON_TIME.replace(hour=13))
    path = written(runtime)
    out = tmp_path / "converted"
    # Every sheet to its own CSV (the last filter option, -1), UTF-8 (76), comma separated (44).
    done = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,"
         "false,-1", "--outdir", str(out), str(path)],
        capture_output=True, text=True, timeout=180, check=False)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if re.search(r"error|repair|corrupt|warning", line, re.IGNORECASE)
                  and "javaldx" not in line]  # no Java here, which calc does not need
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr
    sheets = {p.stem.removeprefix("汇总表-"):
              list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"), newline="")))
              for p in out.glob("*.csv")}
    assert set(sheets) == {"汇总", "单位进度", "收件记录"}
    records = sheets["收件记录"]
    assert records[0][:3] == ["收件时间", "发件人", "主题"]
    # Dates shown with the display format; the formula-looking subject stays text.
    assert records[2][:2] == ["2022-10-09 10:00:00", "jidian@test.example"]
    assert any(row[2] == "=1+1" for row in records[1:])
    assert any("附件1-推荐汇总表.docx\n附件2-推荐审批表.docx" in row[3] for row in records[1:])
