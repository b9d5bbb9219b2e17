"""The data in the forms, found by labels and header names, never by position.

Forms as applicants really fill them: title rows inside the table, a two-row header, merged
cells, blank and extra rows and columns, a spreadsheet whose table is on its second sheet, labels
spaced out to fill a cell, and materials that name their studio in different ways.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.checks import DOCUMENT_CHECKS, Submission, run_checks
from mailbot.demo import docx_build as build
from mailbot.demo import samples
from mailbot.documents import read_document
from mailbot.findings import Severity

ROOT = Path(__file__).resolve().parents[1]
P, cell, table = build.paragraph, build.cell, build.table
STUDIO = samples.SAMPLE_STUDIOS[3]


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")


def test_summary_table_with_title_rows_two_row_header_and_merges(campaign: Campaign) -> None:
    data = build.docx([table([
        [cell(P("深圳市机关事业单位工会劳模和工匠人才创新工作室推荐汇总表"), span=7)],
        [cell(P("推荐单位（盖章）：健康与环境工程学院      填表人：罗老师"), span=7)],
        [cell(P("序号"), merge="restart"), cell(P("工作室\n名称"), merge="restart"),
         cell(P("领衔人"), span=2), cell(P("团队人数"), merge="restart"),
         cell(P("联系电话"), merge="restart"), cell(P("备注"), merge="restart")],
        [cell(merge="continue"), cell(merge="continue"), "姓名", "职务",
         cell(merge="continue"), cell(merge="continue"), cell(merge="continue")],
        ["1", "绿色化工 创新工作室", "何静", "教授", "8", "13800001111", ""],
        ["", "", "", "", "", "", ""],  # a blank row between studios
        ["2", "环境监测工匠工作室", "罗斌", "高级工程师", "6", "0755-26000000", "新建"],
        ["3", "", "", "", "", "", ""],  # a numbered row left unfilled
        ["合计", "2 个", "", "", "14", "", ""],
    ], columns=7)])
    doc = read_document("汇总表.docx", data, "docx", campaign)
    assert doc.kind == "summary" and not doc.problems
    assert doc.unit_name == "健康与环境工程学院"
    assert [(s.name, s.leader, s.phone) for s in doc.studios] == [
        ("绿色化工 创新工作室", "何静", "13800001111"),
        ("环境监测工匠工作室", "罗斌", "0755-26000000"),
    ]
    assert doc.studios[1].fields["团队人数"] == "6" and doc.studios[1].fields["备注"] == "新建"


def test_summary_spreadsheet_on_its_second_sheet(campaign: Campaign) -> None:
    workbook = openpyxl.Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "填表说明"
    notes["A1"] = "1. 每个工作室填一行；2. 联系电话填手机。"
    sheet = workbook.create_sheet("汇总表")
    sheet["A2"] = "深圳市机关事业单位工会劳模和工匠人才创新工作室推荐汇总表"
    sheet.merge_cells("A2:G2")
    sheet["A4"], sheet["C4"] = "推荐单位：", "实验与设备管理中心"
    sheet.append([])
    sheet.append(["序号", "所属部门", "工作室名称", "领衔人姓名", "领衔人荣誉称号", "联系电话",
                  "团队人数"])
    sheet.append([1, "设备科", STUDIO.name, STUDIO.leader, STUDIO.honours, int(STUDIO.phone), 8])
    sheet.append([None] * 7)
    sheet.append([2, "实验室科", "  危化品管理创新工作室 ", "孙浩", None, "13600001234", 5.0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    doc = read_document("附件1.xlsx", buffer.getvalue(), "xlsx", campaign)
    assert doc.kind == "summary" and doc.unit_name == "实验与设备管理中心"
    assert [(s.name, s.leader, s.phone, s.fields["团队人数"]) for s in doc.studios] == [
        (STUDIO.name, STUDIO.leader, STUDIO.phone, "8"),
        ("危化品管理创新工作室", "孙浩", "13600001234", "5"),
    ]


def test_approval_form_with_spaced_labels_and_merged_values(campaign: Campaign) -> None:
    data = build.docx([P("附件2"), P("深圳市机关事业单位工会劳模和工匠人才创新工作室推荐审批表"),
                       table([
        ["工 作 室 名 称", cell(P(STUDIO.name), span=5)],
        ["所在单位", cell(P(STUDIO.unit), span=5)],
        ["领衔人姓名", STUDIO.leader, "性  别", "男", "出生年月", "1976.08"],
        ["联系电话", cell(P(STUDIO.phone), span=2), "电子邮箱", cell(P(STUDIO.email), span=2)],
        ["团队人数", cell(P("8人"), span=2), "活动场所", cell(P(STUDIO.venue), span=2)],
        ["主要创新成果", cell(P("建成智能巡检平台；"), P("获专利3项。"), span=5)],
        ["所在单位意见", cell(P("同意推荐。"), P("（盖章）"), span=5)],
    ], columns=6)])
    doc = read_document("审批表.docx", data, "docx", campaign)
    assert doc.kind == "approval" and not doc.problems
    expected = {"工作室名称": STUDIO.name, "所在单位": STUDIO.unit, "领衔人姓名": STUDIO.leader,
                "性别": "男", "出生年月": "1976.08", "联系电话": STUDIO.phone,
                "电子邮箱": STUDIO.email, "团队人数": "8人", "活动场所": STUDIO.venue,
                "主要创新成果": "建成智能巡检平台；\n获专利3项。"}
    assert {label: doc.fields[label] for label in expected} == expected
    assert (doc.studios[0].name, doc.studios[0].leader, doc.studios[0].phone) == (
        STUDIO.name, STUDIO.leader, STUDIO.phone)
    assert run_checks(DOCUMENT_CHECKS, Submission(campaign, datetime.now(UTC), (doc,), ())) == []


@pytest.mark.parametrize("opening", [
    [P(f"{STUDIO.name}申报材料")],
    [P("附件3"), P(f"关于推荐《{STUDIO.name}》的申报材料")],
    [P("申报材料"), P(f"工作室名称：{STUDIO.name}")],
    [P("劳模和工匠人才创新工作室申报材料"), table([["工作室名称", STUDIO.name]])],
])
def test_the_studio_a_material_is_about(campaign: Campaign, opening: list[str]) -> None:
    text = samples.material_text(STUDIO, 1200)[1:]  # the outline and prose, without a title
    data = build.docx([*opening, *map(P, text)])
    doc = read_document("附件3.docx", data, "docx", campaign)
    assert doc.kind == "material"
    assert [s.name for s in doc.studios] == [STUDIO.name]


def test_outline_headings_are_found_however_numbered_and_missing_ones_warned(
        campaign: Campaign) -> None:
    outline = campaign.spec("material").outline
    blocks = [P(f"{STUDIO.name}申报材料")]
    for number, heading in enumerate(outline[:6]):
        label = ("（一）", "二、", "3.", "第四部分  ", "五 ", "")[number]
        blocks += [P(label + heading), P("工作室围绕主责主业开展工作，成效明显。" * 5)]
    doc = read_document("附件3.docx", build.docx(blocks), "docx", campaign)
    assert doc.outline_covered == tuple(outline[:6])
    [warning] = run_checks(DOCUMENT_CHECKS, Submission(campaign, datetime.now(UTC), (doc,), ()))
    assert warning.code == "outline" and warning.severity is Severity.WARNING
    assert "“经费保障情况”、“下一步工作计划”" in warning.message and "缺 2 部分" in warning.message
