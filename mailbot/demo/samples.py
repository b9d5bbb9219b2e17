"""Filled-in forms built by our own code, for the demo and the tests.

They copy the official stand-ins in the seed (附件1 推荐汇总表, 附件2 推荐审批表, 附件3 提纲):
same titles, labels, column order and merged cells, so what the reader meets here is what it
meets in mail. `material_docx` writes a text whose 字数 is exactly the number asked for, by
`count_words` itself, so the 2000-字 boundary can be tested on both sides.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import docx
import openpyxl
from docx.table import Table

from mailbot.demo.sample_text import DUTIES, MEMBERS, approval_values, pools, prose
from mailbot.documents.wordcount import count_document_words

FORM_PREFIX = "深圳市机关事业单位工会劳模和工匠人才创新工作室"
SUMMARY_HEADERS = (
    "序号",
    "工作室名称",
    "领衔人姓名",
    "领衔人所在单位及职务",
    "领衔人荣誉称号",
    "团队人数",
    "主要创新成果",
    "联系电话",
    "备注",
)
OUTLINE = (
    "工作室基本情况",
    "领衔人简介",
    "工作制度及运行机制",
    "人才培养情况",
    "创新成果及转化情况",
    "示范带动作用",
    "经费保障情况",
    "下一步工作计划",
)
_NUMERALS = "一二三四五六七八"


@dataclass(frozen=True)
class StudioSample:
    name: str
    leader: str
    unit: str
    phone: str
    email: str
    team_size: int
    honours: str
    achievements: str
    gender: str = "男"
    born: str = "1978年05月"
    politics: str = "中共党员"
    education: str = "博士研究生"
    position: str = "教授"
    venue: str = "C1栋实验楼"


SAMPLE_STUDIOS: tuple[StudioSample, ...] = (
    StudioSample(
        "精密制造劳模创新工作室",
        "陈建华",
        "中德智能制造学院",
        "13826501234",
        "chenjianhua@sztu.edu.cn",
        9,
        "深圳市劳动模范",
        "研发精密零件在线检测系统，授权发明专利8项",
        venue="C1栋智能制造实训中心",
    ),
    StudioSample(
        "新能源汽车工匠人才创新工作室",
        "刘志强",
        "城市交通与物流学院",
        "13926502345",
        "liuzhiqiang@sztu.edu.cn",
        7,
        "全国技术能手",
        "完成新能源汽车电池热管理技术攻关，成果在3家企业转化",
        born="1982年11月",
        position="高级工程师",
        venue="C5栋汽车工程实验室",
    ),
    StudioSample(
        "数字媒体技艺传承工作室",
        "黄晓敏",
        "创意设计学院",
        "13726503456",
        "huangxiaomin@sztu.edu.cn",
        6,
        "广东省五一劳动奖章",
        "主持非遗数字化保护项目，作品获国家级奖项2项",
        gender="女",
        born="1985年03月",
        position="副教授",
        venue="C7栋创意工坊",
    ),
    StudioSample(
        "实验室安全与设备管理创新工作室",
        "张卫东",
        "实验与设备管理中心",
        "13626504567",
        "zhangweidong@sztu.edu.cn",
        8,
        "深圳市五一劳动奖章",
        "建成实验室安全智能巡检平台，覆盖全校120间实验室",
        born="1976年08月",
        education="硕士研究生",
        position="正高级实验师",
        venue="C3行政楼附楼",
    ),
    StudioSample(
        "大数据与AI应用创新工作室",
        "王磊",
        "大数据与互联网学院",
        "13526505678",
        "wanglei@sztu.edu.cn",
        10,
        "深圳市青年岗位能手",
        "开发校园大数据治理平台，获软件著作权6项",
        born="1988年01月",
        venue="C2栋数据中心",
    ),
)

def _bytes_of(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _heading(document: docx.document.Document, label: str, title: str) -> None:
    document.add_paragraph(label)
    document.add_paragraph().add_run(FORM_PREFIX + title).bold = True


def summary_docx(
    unit: str,
    studios: Sequence[StudioSample],
    filler: str = "王老师",
    phone: str = "0755-2325xxxx",
) -> bytes:
    """附件1 filled in: the 推荐单位 line and one row per studio, padded to the form's 5 rows."""
    document = docx.Document()
    _heading(document, "附件1", "推荐汇总表")
    document.add_paragraph(
        f"推荐单位（盖章）：{unit}        填表人：{filler}        联系电话：{phone}"
    )
    rows = max(5, len(studios))
    table = document.add_table(rows=1 + rows, cols=len(SUMMARY_HEADERS))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, SUMMARY_HEADERS, strict=True):
        cell.text = header
    for index in range(rows):
        cells = table.rows[index + 1].cells
        cells[0].text = str(index + 1)
        if index < len(studios):
            for cell, value in zip(cells[1:], _summary_row(studios[index]), strict=True):
                cell.text = value
    document.add_paragraph("注：推荐多个工作室的，按推荐顺序排列。")
    return _bytes_of(document)


def _summary_row(studio: StudioSample) -> list[str]:
    return [
        studio.name,
        studio.leader,
        f"{studio.unit} {studio.position}",
        studio.honours,
        str(studio.team_size),
        studio.achievements,
        studio.phone,
        "",
    ]


def summary_xlsx(unit: str, studios: Sequence[StudioSample]) -> bytes:
    """附件1 as a spreadsheet: 附件1, a merged title row and the 推荐单位 line above the header."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "推荐汇总表"
    last = len(SUMMARY_HEADERS)
    sheet.cell(1, 1, "附件1")
    sheet.cell(2, 1, FORM_PREFIX + "推荐汇总表")
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last)
    sheet.cell(3, 1, f"推荐单位（盖章）：{unit}    填表人：王老师    联系电话：0755-2325xxxx")
    sheet.merge_cells(start_row=3, start_column=1, end_row=3, end_column=last)
    for col, header in enumerate(SUMMARY_HEADERS, start=1):
        sheet.cell(4, col, header)
    for index, studio in enumerate(studios):
        row = 5 + index
        sheet.cell(row, 1, index + 1)
        for col, value in enumerate(_summary_row(studio), start=2):
            sheet.cell(row, col, studio.team_size if col == 6 else value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# Rows of 附件2 as on the form: (label, value grid columns) pairs; 6 grid columns in all.
_APPROVAL_ROWS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("工作室名称", 5),),
    (("所在单位", 5),),
    (("领衔人姓名", 1), ("性别", 1), ("出生年月", 1)),
    (("政治面貌", 1), ("学历", 1), ("职务/职称", 1)),
    (("荣誉称号", 5),),
    (("联系电话", 2), ("电子邮箱", 2)),
    (("团队人数", 2), ("活动场所", 2)),
    (("工作室基本情况", 5),),
    (("主要创新成果", 5),),
)
_OPINIONS = ("所在单位意见", "基层工会意见", "市机关事业单位工会意见")


def approval_docx(studio: StudioSample, *, blank: Sequence[str] = ()) -> bytes:
    """附件2 filled in for `studio`; the labels in `blank` are left empty."""
    values = approval_values(studio)
    unknown = set(blank) - set(values)
    if unknown:
        raise ValueError(f"not labels of 附件2: {sorted(unknown)}")
    document = docx.Document()
    _heading(document, "附件2", "推荐审批表")
    document.add_paragraph("（一式三份）")
    table = document.add_table(rows=len(_APPROVAL_ROWS) + len(_OPINIONS), cols=6)
    table.style = "Table Grid"
    for row, pairs in enumerate(_APPROVAL_ROWS):
        col = 0
        for label, width in pairs:
            printed = "工作室基本情况（300字以内）" if label == "工作室基本情况" else label
            _merged(table, row, col, 1).text = printed
            _merged(table, row, col + 1, width).text = "" if label in blank else values[label]
            col += 1 + width
    for offset, label in enumerate(_OPINIONS):
        row = len(_APPROVAL_ROWS) + offset
        _merged(table, row, 0, 1).text = label
        _merged(table, row, 1, 5).text = "（盖章）\n年    月    日"
    document.add_paragraph("团队成员名单")
    members = [studio.leader, *MEMBERS][: max(1, min(studio.team_size, 6))]
    team = document.add_table(rows=1 + len(members), cols=5)
    team.style = "Table Grid"
    for cell, header in zip(
        team.rows[0].cells, ("序号", "姓名", "职务/职称", "在工作室中的分工", "备注"), strict=True
    ):
        cell.text = header
    for index, member in enumerate(members):
        duty = "领衔人" if index == 0 else DUTIES[index % len(DUTIES)]
        row_values = (str(index + 1), member, studio.position if index == 0 else "讲师", duty, "")
        for cell, value in zip(team.rows[index + 1].cells, row_values, strict=True):
            cell.text = value
    return _bytes_of(document)


def _merged(table: Table, row: int, col: int, width: int) -> docx.table._Cell:
    cell = table.cell(row, col)
    return cell if width == 1 else cell.merge(table.cell(row, col + width - 1))


def material_text(studio: StudioSample, words: int, *, outline: bool = True) -> list[str]:
    """The paragraphs of an application material whose 字数 is exactly `words`."""
    title = f"{studio.name}申报材料"
    headings = [f"{_NUMERALS[i]}、{h}" for i, h in enumerate(OUTLINE)] if outline else []
    fixed = count_document_words([title, *headings])
    if words < fixed:
        if outline:
            raise ValueError(f"{words} 字 is less than the title and outline headings ({fixed})")
        title, fixed = "", 0
    sentences = pools(studio)
    sections = len(headings) or 5
    remaining = words - fixed
    paragraphs = [title] if title else []
    for index in range(sections):
        budget = remaining // sections + (1 if index < remaining % sections else 0)
        lead = f"工作室名称：{studio.name}。" if index == 0 else ""
        if headings:
            paragraphs.append(headings[index])
        if budget:
            paragraphs.append(prose(budget, sentences[index % len(sentences)], lead))
    total = count_document_words(paragraphs)
    if total != words:  # a change to the pools broke additivity; fail loudly, not subtly
        raise AssertionError(f"material_text produced {total} 字, wanted {words}")
    return paragraphs


def material_docx(studio: StudioSample, words: int, *, outline: bool = True) -> bytes:
    """附件3 written to the outline, 字数 exactly `words` (headings bold, as applicants do)."""
    document = docx.Document()
    heading_texts = {f"{_NUMERALS[i]}、{h}" for i, h in enumerate(OUTLINE)}
    for index, text in enumerate(material_text(studio, words, outline=outline)):
        paragraph = document.add_paragraph()
        paragraph.add_run(text).bold = index == 0 or text in heading_texts
    return _bytes_of(document)


_OUTLINE_NOTES = (
    "包括工作室名称、成立时间、活动场所及设备设施、团队构成。",
    "包括领衔人的专业技能、获得的荣誉、主持或参与的创新攻关项目。",
    "学习研究、技术攻关、成果转化、评估奖励、内部管理等制度建立和执行情况。",
    "开展技术培训、技术交流、导师带徒、技能竞赛等活动及成效。",
    "近年来取得的创新成果、专利、获奖情况及推广应用效果。",
    "在本单位、本行业、本地区发挥示范引领作用的情况。",
    "所在单位提供资金支持等经费来源。",
    "",
)


def outline_template_docx() -> bytes:
    """The notice's own 附件3 as sent out: the 参考提纲, headings and notes, nothing filled in
    (what a unit attaches when it sends the template back by mistake)."""
    document = docx.Document()
    _heading(document, "附件3", "申报材料参考提纲")
    document.add_paragraph("申报材料围绕以下几个方面撰写，全文2000字以内，"
                           "可另附佐证材料（荣誉证书、专利证书、制度照片等）。")
    for index, (heading, note) in enumerate(zip(OUTLINE, _OUTLINE_NOTES, strict=True)):
        document.add_paragraph(f"{_NUMERALS[index]}、{heading}。{note}")
    return _bytes_of(document)


# The second campaign's form (rules/examples/youxiu-gonghui-2023.toml): 优秀工会工作者推荐表,
# one per unit, a table of labels and values whose 主要事迹 cell is the long text.
RECOMMENDATION_TITLE = "优秀工会工作者推荐表"
_DEEDS = (
    "长期坚持在工会工作一线，认真履行工会各项职能。",
    "组织开展职工技能竞赛和劳动竞赛，参与职工超过三百人次。",
    "积极推进厂务公开和民主管理，定期收集职工意见建议。",
    "关心困难职工生活，建立帮扶档案，做好送温暖工作。",
    "组织文体活动和读书活动，丰富职工精神文化生活。",
)


def recommendation_docx(name: str, unit: str, words: int, *,
                        blank: Sequence[str] = ()) -> bytes:
    """附件《优秀工会工作者推荐表》for `name` of `unit`, 字数 exactly `words` (by
    count_document_words, as the reader counts it); the labels in `blank` are left empty."""
    values = {"姓名": name, "性别": "女", "所在单位": unit, "职务": "分工会主席",
              "联系电话": "0755-23256571", "主要事迹": ""}
    unknown = set(blank) - set(values)
    if unknown:
        raise ValueError(f"not labels of the 推荐表: {sorted(unknown)}")
    shown = {label: "" if label in blank else value for label, value in values.items()}
    fixed = count_document_words(["附件", RECOMMENDATION_TITLE, *shown, *shown.values()])
    if "主要事迹" not in blank:
        if words <= fixed + 2:
            raise ValueError(f"{words} 字 leaves no room for 主要事迹 (the rest is {fixed})")
        shown["主要事迹"] = prose(words - fixed, _DEEDS, f"{name}同志")
        total = count_document_words(["附件", RECOMMENDATION_TITLE, *shown, *shown.values()])
        if total != words:
            raise AssertionError(f"recommendation_docx produced {total} 字, wanted {words}")
    document = docx.Document()
    document.add_paragraph("附件")
    document.add_paragraph().add_run(RECOMMENDATION_TITLE).bold = True
    table = document.add_table(rows=len(shown), cols=2)
    table.style = "Table Grid"
    for row, (label, value) in enumerate(shown.items()):
        table.cell(row, 0).text = label
        table.cell(row, 1).text = value
    return _bytes_of(document)
