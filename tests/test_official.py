"""The form the office forwards upward (附件1 推荐汇总表 for the whole school), as .docx and .xlsx:
built from a campaign recorded by the real intake, reopened with python-docx and openpyxl,
printed to PDF by LibreOffice, served by the dashboard and written by `mailbot export`."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn
from intake_support import UNIT_ADDRESS, Bot, make_bot
from pypdf import PdfReader
from servers import Dovecot, SmtpRelay
from test_cli import mailbot
from web_support import ON_TIME, app_for, campaign_state, deliver, full_set, login, make_runtime

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    StudioSample,
    approval_docx,
    material_docx,
    summary_docx,
    summary_xlsx,
)
from mailbot.documents import convert
from mailbot.errors import ConfigError, RulesError
from mailbot.intake.cycle import Runtime
from mailbot.office import official

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
FIRST, MISSING_MATERIAL, LATE_ONE, PAIR_A, PAIR_B = SAMPLE_STUDIOS
# PAIR_B's unit left the honours cell of its 附件1 row empty: the 附件2 fills it in.
PAIR_B_SUMMARY = replace(PAIR_B, honours="")
COMPLETE = (FIRST, LATE_ONE, PAIR_A, PAIR_B)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """campaign_state (complete, 附件3 missing, late, a question) and one unit nominating two
    studios in an .xlsx 附件1."""
    runtime = make_runtime(tmp_path_factory.mktemp("official"))
    campaign_state(runtime)
    pair = [PAIR_A, PAIR_B_SUMMARY]
    deliver(runtime, "shiyan@test.example",
            [("附件1-推荐汇总表.xlsx", summary_xlsx(PAIR_A.unit, pair)),
             *[(f"附件2-{s.leader}.docx", approval_docx(s)) for s in (PAIR_A, PAIR_B)],
             *[(f"附件3-{s.leader}.docx", material_docx(s, 1200)) for s in (PAIR_A, PAIR_B)]],
            received=ON_TIME.replace(hour=15))
    return runtime


def filled_in(studio: StudioSample) -> list[str]:
    """The row as the unit filled it in (the samples' 附件1 columns, 序号 aside)."""
    return [studio.name, studio.leader, f"{studio.unit} {studio.position}", studio.honours,
            str(studio.team_size), studio.achievements, studio.phone]


def render(runtime: Runtime, fmt: str, *, incomplete: bool = False,
           campaign: Campaign | None = None) -> bytes:
    with runtime.sessions() as session:
        return official.render(session, campaign or runtime.campaign,
                               runtime.settings.state_dir, fmt, include_incomplete=incomplete)


def docx_table(content: bytes) -> tuple[docx.document.Document, list[list[str]]]:
    document = docx.Document(io.BytesIO(content))
    [table] = document.tables
    return document, [[cell.text for cell in row.cells] for row in table.rows]


def xlsx_table(content: bytes) -> tuple[openpyxl.worksheet.worksheet.Worksheet, int,
                                        list[list[str]]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(rows) if row[0] == "序号")
    end = next(i for i in range(header + 1, len(rows) + 1)
               if i == len(rows) or not rows[i][0].isdigit())
    assert rows[-1] == ["注：推荐多个工作室的，按推荐顺序排列。", *[""] * 8]
    return sheet, header + 1, rows[header:end]


def by_studio(rows: list[list[str]], column: int = 1) -> dict[str, list[str]]:
    return {row[column]: row for row in rows[1:]}


def test_docx_has_the_rules_columns_and_what_each_complete_unit_filled_in(
        runtime: Runtime) -> None:
    document, rows = docx_table(render(runtime, "docx"))
    form = runtime.campaign.official
    assert form is not None
    assert rows[0] == [column.header for column in form.columns]
    assert rows[0] == ["序号", "工作室名称", "领衔人姓名", "领衔人所在单位及职务", "领衔人荣誉称号",
                       "团队人数", "主要创新成果", "联系电话", "备注"]
    found = by_studio(rows)
    assert set(found) == {s.name for s in COMPLETE}, "only complete studios by default"
    for studio in COMPLETE:
        assert found[studio.name][1:8] == filled_in(studio), studio.name
        assert found[studio.name][8] == ""
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"]
    # Unit order, then the order of the unit's own 附件1.
    assert [row[1] for row in rows[1:]] == [s.name for s in COMPLETE]
    text = [p.text for p in document.paragraphs]
    assert text[:3] == ["附件1", form.title, form.recommending_unit]
    assert "推荐单位（盖章）：深圳技术大学工会" in text[2]


def test_docx_prints_on_a4_landscape_with_borders_and_a_repeated_header(
        runtime: Runtime) -> None:
    document, _rows = docx_table(render(runtime, "docx"))
    section = document.sections[0]
    assert section.orientation == docx.enum.section.WD_ORIENT.LANDSCAPE
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (297, 210)  # A4
    table = document.tables[0]._tbl
    header = table.tr_lst[0].trPr.find(qn("w:tblHeader"))
    assert header is not None and header.get(qn("w:val")) == "true"
    assert all(tr.trPr.find(qn("w:tblHeader")) is None for tr in table.tr_lst[1:])
    borders = table.tblPr.find(qn("w:tblBorders"))
    assert {b.tag.split("}")[1]: b.get(qn("w:val")) for b in borders} == dict.fromkeys(
        ("top", "left", "bottom", "right", "insideH", "insideV"), "single")
    # The table fills the width between the margins: no column runs off the page.
    usable = (section.page_width - section.left_margin - section.right_margin) / 635
    grid = [int(col.get(qn("w:w"))) for col in table.tblGrid.findall(qn("w:gridCol"))]
    assert abs(sum(grid) - usable) < len(grid) + 1
    fonts = document.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert fonts.get(qn("w:eastAsia")) in ("仿宋", "宋体")


def test_xlsx_has_the_same_rows_and_prints_one_page_wide_on_a4(runtime: Runtime) -> None:
    sheet, header_row, rows = xlsx_table(render(runtime, "xlsx"))
    _document, docx_rows = docx_table(render(runtime, "docx"))
    assert rows == docx_rows
    assert sheet.print_title_rows == f"${header_row}:${header_row}"
    assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4 == "9"  # A4
    assert sheet.page_setup.orientation == "landscape"
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    for row in sheet.iter_rows(min_row=header_row, max_row=header_row + len(rows) - 1):
        for cell in row:
            assert cell.border.left.style == cell.border.bottom.style == "thin", cell.coordinate
            assert cell.data_type != "f"  # never a formula
            if cell.column in (1, 6) and cell.row > header_row:  # 序号, 团队人数
                assert isinstance(cell.value, int)
            else:
                assert isinstance(cell.value, str | None)  # 联系电话 stays text
    assert sheet["A1"].value == "附件1"
    assert sheet["A2"].value == runtime.campaign.official.title  # type: ignore[union-attr]
    assert "深圳技术大学工会" in sheet["A3"].value


def test_incomplete_studios_only_on_request_and_marked(runtime: Runtime) -> None:
    for fmt in official.FORMATS:
        _document, rows = (docx_table(render(runtime, fmt, incomplete=True)) if fmt == "docx"
                           else (None, xlsx_table(render(runtime, fmt, incomplete=True))[2]))
        found = by_studio(rows)
        assert set(found) == {s.name for s in (*COMPLETE, MISSING_MATERIAL)}
        assert found[MISSING_MATERIAL.name][1:8] == filled_in(MISSING_MATERIAL)
        assert found[MISSING_MATERIAL.name][8] == "材料未齐"
        assert all(found[s.name][8] == "" for s in COMPLETE)


def _rules(tmp_path: Path, official_section: str) -> Campaign:
    text = RULES.read_text(encoding="utf-8")
    start, end = text.index("[official]"), text.index("# Reminders go to")
    path = tmp_path / "rules.toml"
    path.write_text(text[:start] + official_section + "\n" + text[end:], encoding="utf-8")
    return load_rules(path)


def test_the_columns_and_their_sources_are_the_rules_not_code(runtime: Runtime,
                                                              tmp_path: Path) -> None:
    campaign = _rules(tmp_path, """
[official]
title = "另一份上报表"
recommending_unit = "推荐单位（盖章）：某某工会"
[[official.columns]]
header = "编号"
source = "seq"
[[official.columns]]
header = "申报单位"
source = "unit"
[[official.columns]]
header = "名称"
source = "approval:工作室名称"
[[official.columns]]
header = "荣誉"
source = "approval:荣誉称号"
[[official.columns]]
header = "场所"
source = "approval:活动场所"
[[official.columns]]
header = "领衔人"
source = ["summary:不存在的列", "approval:领衔人姓名 + approval:职务/职称 + approval:学历"]
""")
    _document, rows = docx_table(render(runtime, "docx", campaign=campaign))
    assert rows[0] == ["编号", "申报单位", "名称", "荣誉", "场所", "领衔人"]
    found = by_studio(rows, 2)
    assert found[PAIR_B.name] == ["4", PAIR_A.unit, PAIR_B.name, PAIR_B.honours, PAIR_B.venue,
                                  f"{PAIR_B.leader} {PAIR_B.position} {PAIR_B.education}"]
    assert found[FIRST.name][1] == FIRST.unit
    assert len(found) == len(COMPLETE)


@pytest.mark.parametrize(("section", "complaint"), [
    ('[[official.columns]]\nheader = "x"\nsource = "attachment:名称"', "source"),
    ('[[official.columns]]\nheader = "x"\nsource = "seq"\n[[official.columns]]\n'
     'header = "x"\nsource = "unit"', "only once"),
    ('mark_column = "备注"\n[[official.columns]]\nheader = "x"\nsource = "seq"', "mark_column"),
])
def test_a_wrong_official_section_is_one_clear_rules_error(tmp_path: Path, section: str,
                                                           complaint: str) -> None:
    head = '[official]\ntitle = "t"\nrecommending_unit = "推荐单位：x"\n'
    with pytest.raises(RulesError, match=complaint):
        _rules(tmp_path, head + section)


def test_without_an_official_section_the_export_says_so(runtime: Runtime, tmp_path: Path) -> None:
    campaign = _rules(tmp_path, "")
    with pytest.raises(ConfigError, match=r"\[official\]"):
        render(runtime, "docx", campaign=campaign)


def test_libreoffice_prints_both_forms_on_a4_landscape(runtime: Runtime, soffice: str) -> None:
    word, sheet = convert.to_pdf([(render(runtime, "docx"), "docx"),
                                  (render(runtime, "xlsx"), "xlsx")])
    for pdf in (word, sheet):
        assert pdf is not None
        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == 1
        box = reader.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4 landscape
        text = reader.pages[0].extract_text()
        assert "推荐汇总表" in text and PAIR_B.leader in text


def test_a_long_form_repeats_its_header_on_every_printed_page(tmp_path: Path,
                                                             soffice: str) -> None:
    runtime = make_runtime(tmp_path)
    for number in range(24):
        base = SAMPLE_STUDIOS[number % len(SAMPLE_STUDIOS)]
        studio = replace(base, name=f"第{number + 1}号{base.name}", unit=f"{base.unit}{number}")
        deliver(runtime, f"unit{number}@test.example", full_set(studio))
    printed = convert.to_pdf([(render(runtime, "docx"), "docx"), (render(runtime, "xlsx"), "xlsx")])
    for pdf in printed:
        assert pdf is not None
        pages = PdfReader(io.BytesIO(pdf)).pages
        assert len(pages) >= 2
        texts = ["".join(page.extract_text().split()) for page in pages]
        assert all("领衔人所在单位及职务" in text for text in texts)  # the header, on each page
        assert "第24号" in texts[-1]


def test_the_dashboard_serves_both_formats(runtime: Runtime) -> None:
    app = app_for(runtime)
    assert app.test_client().get("/official.docx").status_code == 302  # login first
    client = login(app.test_client())
    overview = client.get("/").get_data(as_text=True)
    assert "/official.docx" in overview and "/official.xlsx" in overview
    answer = client.get("/official.docx")
    assert answer.status_code == 200
    assert answer.mimetype.endswith("wordprocessingml.document")
    assert "filename*=UTF-8''" in answer.headers["Content-Disposition"]
    assert by_studio(docx_table(answer.data)[1]).keys() == {s.name for s in COMPLETE}
    answer = client.get("/official.xlsx?include_incomplete=1")
    assert answer.status_code == 200
    assert MISSING_MATERIAL.name in by_studio(xlsx_table(answer.data)[2])
    assert client.get("/official.pdf").status_code == 404


def test_no_complete_studio_yet_gives_the_empty_form_saying_so(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "xinxi@test.example", full_set(MISSING_MATERIAL)[:2])
    _document, rows = docx_table(render(runtime, "docx"))
    assert rows[0][0] == "序号" and rows[1] == ["（暂无符合条件的工作室）"] * 9  # one merged cell
    sheet, header_row, _rows = xlsx_table(render(runtime, "xlsx"))
    assert sheet.cell(header_row + 1, 1).value == "（暂无符合条件的工作室）"


def test_what_a_unit_typed_is_text_in_the_form_never_a_formula(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    hostile = replace(FIRST, achievements='=HYPERLINK("http://evil.example","点我")',
                      honours="+SUM(A1:A9)")
    deliver(runtime, "jidian@test.example",
            [("附件1-推荐汇总表.docx", summary_docx(hostile.unit, [hostile]))])
    sheet, header_row, rows = xlsx_table(render(runtime, "xlsx", incomplete=True))
    achievements = sheet.cell(header_row + 1, 7)
    assert achievements.value == hostile.achievements and achievements.data_type != "f"
    assert rows[1][4] == "+SUM(A1:A9)"
    assert docx_table(render(runtime, "docx", incomplete=True))[1][1][6] == hostile.achievements


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def test_export_official_from_the_command_line(bot: Bot, tmp_path: Path) -> None:
    bot.submit(UNIT_ADDRESS, full_set(FIRST))
    bot.submit("second@test.example", full_set(MISSING_MATERIAL)[:2])
    bot.poll()
    env = bot.environment(MAILBOT_RULES=str(RULES))
    out = tmp_path / "上报" / "推荐汇总表.docx"
    result = mailbot("export", "--official", "--out", str(out), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert by_studio(docx_table(out.read_bytes())[1]) == {
        FIRST.name: ["1", *filled_in(FIRST), ""]}
    out = tmp_path / "全部.xlsx"
    result = mailbot("export", "--official", "--include-incomplete", "--out", str(out),
                     cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert by_studio(xlsx_table(out.read_bytes())[2])[MISSING_MATERIAL.name][8] == "材料未齐"
    result = mailbot("export", "--official", "--out", str(tmp_path / "x.pdf"), cwd=tmp_path,
                     env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert ".docx 或 .xlsx" in result.stderr
