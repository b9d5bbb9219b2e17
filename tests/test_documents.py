"""Reading the forms back: fields, studios, recognition, counting and hostile files."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo import samples
from mailbot.documents import count_words, read_document, recognise, studio_key
from mailbot.documents.ooxml import OLE_MAGIC

ROOT = Path(__file__).resolve().parents[1]
SEED_FORMS = Path("/work/shared/seed/forms")
STUDIOS = samples.SAMPLE_STUDIOS
UNIT = "中德智能制造学院"


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")


def _docx_bytes(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _xlsx_bytes(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- reading the samples back


def test_summary_docx(campaign: Campaign) -> None:
    doc = read_document("附件1.docx", samples.summary_docx(UNIT, STUDIOS[:2]), "docx", campaign)
    assert doc.kind == "summary" and not doc.problems
    assert doc.unit_name == UNIT
    assert doc.fields["填表人"] == "王老师"
    assert [s.name for s in doc.studios] == [STUDIOS[0].name, STUDIOS[1].name]
    first = doc.studios[0]
    assert (first.leader, first.phone) == (STUDIOS[0].leader, STUDIOS[0].phone)
    assert first.fields["团队人数"] == str(STUDIOS[0].team_size)
    assert first.fields["序号"] == "1"


def test_summary_xlsx(campaign: Campaign) -> None:
    doc = read_document("附件1.xlsx", samples.summary_xlsx(UNIT, STUDIOS), "xlsx", campaign)
    assert doc.kind == "summary" and not doc.problems
    assert doc.format == "xlsx"
    assert doc.unit_name == UNIT
    assert [s.name for s in doc.studios] == [s.name for s in STUDIOS]
    assert doc.studios[4].fields["团队人数"] == "10"  # an int cell reads as 10, not 10.0
    assert doc.word_count is not None and doc.word_count > 0


def test_messy_summary_xlsx(campaign: Campaign) -> None:
    """Title rows, merged cells, blank rows, extra columns, another column order."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "深圳市机关事业单位工会劳模和工匠人才创新工作室推荐汇总表"
    sheet.merge_cells("A1:H1")
    sheet["A3"] = "推荐单位（盖章）"
    sheet["B3"] = "健康与环境工程学院"
    sheet.append([])
    sheet.append(["工作室\n名称", "联系电话（手机）", "序号", "领衔人姓名", "工作室类型", "备注"])
    sheet.append(["绿色化工创新工作室", 13800001111, 1, "何静", "劳模", ""])
    sheet.append([])
    sheet.append([None, None, 2, None, None, None])  # an unfilled numbered row
    sheet.append(["  环境监测 工匠工作室 ", "0755-26000000", 3, "罗斌", "工匠", "新建"])
    sheet.merge_cells("F7:F8")
    sheet.append(["合计", None, None, None, None, "2 个"])
    data = _xlsx_bytes(workbook)
    doc = read_document("汇总.xlsx", data, "xlsx", campaign)
    assert doc.kind == "summary"
    assert doc.unit_name == "健康与环境工程学院"
    assert [(s.name, s.leader, s.phone) for s in doc.studios] == [
        ("绿色化工创新工作室", "何静", "13800001111"),
        ("环境监测 工匠工作室", "罗斌", "0755-26000000"),
    ]
    assert doc.studios[1].fields["工作室类型"] == "工匠"


def test_approval_docx(campaign: Campaign) -> None:
    studio = STUDIOS[2]
    doc = read_document("附件2.docx", samples.approval_docx(studio), "docx", campaign)
    assert doc.kind == "approval" and not doc.problems
    assert doc.unit_name == studio.unit
    for label, value in [
        ("工作室名称", studio.name),
        ("所在单位", studio.unit),
        ("领衔人姓名", studio.leader),
        ("性别", "女"),
        ("出生年月", studio.born),
        ("职务/职称", studio.position),
        ("联系电话", studio.phone),
        ("电子邮箱", studio.email),
        ("团队人数", str(studio.team_size)),
        ("活动场所", studio.venue),
    ]:
        assert doc.fields[label] == value, label
    assert doc.fields["工作室基本情况"].startswith(studio.name)
    assert doc.fields["主要创新成果"].startswith(studio.achievements)
    assert doc.studios == (doc.studios[0],)
    assert (doc.studios[0].name, doc.studios[0].leader) == (studio.name, studio.leader)


def test_approval_blank_fields(campaign: Campaign) -> None:
    data = samples.approval_docx(STUDIOS[0], blank=["联系电话", "主要创新成果"])
    doc = read_document("附件2.docx", data, "docx", campaign)
    assert doc.fields["联系电话"] == "" and doc.fields["主要创新成果"] == ""
    assert doc.fields["电子邮箱"] == STUDIOS[0].email  # the neighbour is not shifted into place
    with pytest.raises(ValueError):
        samples.approval_docx(STUDIOS[0], blank=["不存在的栏目"])


@pytest.mark.parametrize("words", [2000, 2001, 1999])
def test_material_word_count(campaign: Campaign, words: int) -> None:
    studio = STUDIOS[4]
    doc = read_document("附件3.docx", samples.material_docx(studio, words), "docx", campaign)
    assert doc.kind == "material" and not doc.problems
    assert doc.word_count == words
    assert doc.outline_covered == tuple(campaign.spec("material").outline)
    assert [s.name for s in doc.studios] == [studio.name]


def test_material_without_outline(campaign: Campaign) -> None:
    data = samples.material_docx(STUDIOS[1], 1500, outline=False)
    doc = read_document("申报书.docx", data, "docx", campaign)
    assert (doc.kind, doc.word_count, doc.outline_covered) == ("material", 1500, ())


def test_material_text_is_mixed() -> None:
    text = "".join(samples.material_text(STUDIOS[0], 2000))
    assert "，" in text and "。" in text and "“" in text
    assert all(word in text for word in ("PDCA", "SCI/EI", "3D", "2019"))


# ---------------------------------------------------------------- recognition


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("附件1.docx", "summary"),
        ("附件一 推荐汇总表.docx", "summary"),
        ("附件１.docx", "summary"),  # full-width digit
        ("附 件 1.xlsx", "summary"),
        ("机电学院汇总表.xlsx", "summary"),
        ("附件2-精密制造.docx", "approval"),
        ("附件二.docx", "approval"),
        ("推荐审批表（一式三份）.docx", "approval"),
        ("附件3.docx", "material"),
        ("精密制造工作室申报材料.docx", "material"),
        ("参考提纲.docx", "material"),
        ("附件叁 申报书.docx", "material"),
        ("新建 Microsoft Word 文档.docx", "unknown"),
        ("附件1附件2.docx", "unknown"),  # two names, no content to choose
    ],
)
def test_recognise_by_name(campaign: Campaign, name: str, kind: str) -> None:
    assert recognise(name, "", campaign) == kind


@pytest.mark.parametrize(
    ("data", "fmt", "kind"),
    [
        (samples.summary_docx(UNIT, STUDIOS[:1]), "docx", "summary"),
        (samples.summary_xlsx(UNIT, STUDIOS[:1]), "xlsx", "summary"),
        (samples.approval_docx(STUDIOS[0]), "docx", "approval"),
        (samples.material_docx(STUDIOS[0], 1800), "docx", "material"),
        (samples.material_docx(STUDIOS[0], 1200, outline=False), "docx", "material"),
    ],
)
def test_recognise_by_content(campaign: Campaign, data: bytes, fmt: str, kind: str) -> None:
    doc = read_document(f"新建 Microsoft Word 文档.{fmt}", data, fmt, campaign)
    assert doc.kind == kind


def test_content_beats_a_wrong_name(campaign: Campaign) -> None:
    doc = read_document("附件3.docx", samples.approval_docx(STUDIOS[0]), "docx", campaign)
    assert doc.kind == "approval"


def test_recognise_from_plain_text(campaign: Campaign) -> None:
    text = "\n".join(samples.material_text(STUDIOS[0], 900))
    assert recognise("doc1.docx", text, campaign) == "material"


@pytest.mark.skipif(not SEED_FORMS.is_dir(), reason="seed forms not present")
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("附件1-推荐汇总表.docx", "summary"),
        ("附件2-推荐审批表.docx", "approval"),
        ("附件3-申报材料参考提纲.docx", "material"),
    ],
)
def test_seed_forms_by_content(campaign: Campaign, name: str, kind: str) -> None:
    data = (SEED_FORMS / name).read_bytes()
    doc = read_document("新建 Microsoft Word 文档.docx", data, "docx", campaign)
    assert doc.kind == kind and not doc.problems
    assert doc.studios == ()  # the blank forms name no studio
    if kind == "approval":
        assert doc.fields["工作室名称"] == "" and doc.unit_name is None


# ---------------------------------------------------------------- hostile and broken files


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _with_member(data: bytes, name: str, payload: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    members[name] = payload
    return _zip(members)


@pytest.mark.parametrize(
    ("data", "fmt", "code"),
    [
        (b"this is not a zip file at all", "docx", "corrupt"),
        (b"PK\x03\x04broken", "docx", "corrupt"),
        (_zip({"readme.txt": b"hello"}), "docx", "corrupt"),
        (_zip({"readme.txt": b"hello"}), "xlsx", "corrupt"),
        (OLE_MAGIC + b"\0" * 512, "docx", "corrupt"),  # an old .doc renamed
        (OLE_MAGIC + b"\0" * 64 + "EncryptedPackage".encode("utf-16-le"), "docx", "encrypted"),
        (OLE_MAGIC + b"\0" * 64 + "EncryptedPackage".encode("utf-16-le"), "ole", "encrypted"),
        (
            _with_member(samples.approval_docx(STUDIOS[0]), "word/vbaProject.bin", b"\0"),
            "docx",
            "macro",
        ),
        (
            _with_member(samples.summary_xlsx(UNIT, STUDIOS), "xl/vbaProject.bin", b"\0"),
            "xlsx",
            "macro",
        ),
        (_docx_bytes(docx.Document()), "docx", "empty"),
        (_xlsx_bytes(openpyxl.Workbook()), "xlsx", "empty"),
        (
            _with_member(samples.approval_docx(STUDIOS[0]), "word/document.xml", b" " * 3_000_000),
            "docx",
            "too-large",
        ),  # compression ratio of a bomb
    ],
)
def test_problem_codes(campaign: Campaign, data: bytes, fmt: str, code: str) -> None:
    doc = read_document("附件2-审批表.docx", data, fmt, campaign)
    assert [p.code for p in doc.problems] == [code]
    problem = doc.problems[0]
    assert problem.message and problem.fix and problem.document == "附件2-审批表.docx"
    assert doc.kind == "approval"  # recognised by name when the content cannot be read
    assert doc.word_count is None


def test_too_large_part_is_refused_from_the_directory(campaign: Campaign) -> None:
    # 21 MB of text that does not compress: refused for size, not ratio, before parsing.
    noise = random.Random(7).randbytes(21 * 2**20)
    data = _with_member(samples.approval_docx(STUDIOS[0]), "word/document.xml", noise)
    doc = read_document("x.docx", data, "docx", campaign)
    assert [p.code for p in doc.problems] == ["too-large"]


def test_other_formats_by_name_only(campaign: Campaign) -> None:
    doc = read_document("附件3 申报材料.pdf", b"%PDF-1.7 ...", "pdf", campaign)
    assert (doc.kind, doc.word_count, doc.problems, doc.format) == ("material", None, (), "pdf")


# ---------------------------------------------------------------- tables: nesting and merges


def test_nested_table_counts(campaign: Campaign) -> None:
    document = docx.Document()
    document.add_paragraph("说明")
    outer = document.add_table(rows=1, cols=2)
    outer.cell(0, 0).text = "外层"
    inner = outer.cell(0, 1).add_table(rows=1, cols=2)
    inner.cell(0, 0).text = "内层表格"
    inner.cell(0, 1).text = "Python"
    doc = read_document("x.docx", _docx_bytes(document), "docx", campaign)
    assert "内层表格" in doc.text
    assert doc.word_count == 2 + 2 + 4 + 1


def test_merged_cells_count_once(campaign: Campaign) -> None:
    document = docx.Document()
    table = document.add_table(rows=3, cols=3)
    merged = table.cell(0, 0).merge(table.cell(1, 2))  # 2 rows x 3 columns into one cell
    merged.text = "合并单元格"
    table.cell(2, 0).text = "甲"
    doc = read_document("x.docx", _docx_bytes(document), "docx", campaign)
    assert doc.word_count == 5 + 1
    assert doc.text.count("合并单元格") == 1


def test_vertically_merged_summary_column(campaign: Campaign) -> None:
    data = samples.summary_docx(UNIT, STUDIOS[:2])
    document = docx.Document(io.BytesIO(data))
    table = document.tables[0]
    before = read_document("附件1.docx", data, "docx", campaign).word_count
    table.cell(1, 3).merge(table.cell(2, 3)).text = "同一单位"
    doc = read_document("附件1.docx", _docx_bytes(document), "docx", campaign)
    assert [s.fields["领衔人所在单位及职务"] for s in doc.studios] == ["同一单位", "同一单位"]
    replaced = sum(count_words(f"{s.unit} {s.position}") for s in STUDIOS[:2])
    assert before is not None and doc.word_count == before - replaced + 4  # merged text once
    assert doc.text.count("同一单位") == 1


# ---------------------------------------------------------------- studio keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("智能制造劳模创新工作室", "《智能制造劳模创新工作室》"),
        ("智能制造劳模创新工作室", "智能制造 劳模创新工作室"),
        ("智能制造劳模创新工作室", "智能制造劳模创新"),
        ("大数据与AI应用创新工作室", "大数据与ＡＩ应用创新工作室"),
        ("“绿色化工”创新工作室", "绿色化工创新工作室"),
        ("环境监测（工匠）工作室", "环境监测(工匠)工作室"),
    ],
)
def test_studio_key_matches(a: str, b: str) -> None:
    assert studio_key(a) == studio_key(b)


def test_studio_key_keeps_distinctions() -> None:
    assert studio_key("智能制造劳模创新工作室") != studio_key("智能制造劳模工作室")
    assert studio_key("工作室") == "工作室"


def test_text_box_counts_once(campaign: Campaign) -> None:
    """Word stores a text box twice (DrawingML choice, VML fallback); 字数 counts it once."""
    from docx.oxml import parse_xml

    box = "<w:txbxContent><w:p><w:r><w:t>文本框内容</w:t></w:r></w:p></w:txbxContent>"
    xml = (
        '<w:p xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
        ' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
        ' xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"'
        ' xmlns:v="urn:schemas-microsoft-com:vml">'
        "<w:r><w:t>正文</w:t></w:r><w:r><mc:AlternateContent>"
        f'<mc:Choice Requires="wps"><w:drawing><wps:txbx>{box}</wps:txbx></w:drawing></mc:Choice>'
        f"<mc:Fallback><w:pict><v:shape><v:textbox>{box}</v:textbox></v:shape></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
    )
    document = docx.Document()
    document.element.body.insert(0, parse_xml(xml))
    doc = read_document("x.docx", _docx_bytes(document), "docx", campaign)
    assert doc.word_count == 2 + 5
    assert doc.text.split("\n") == ["正文", "文本框内容"]


def test_key_values_inline_and_label_like_values(campaign: Campaign) -> None:
    """A "label：value" cell is read; a value that starts like a label stays a value."""
    document = docx.Document()
    document.add_paragraph("推荐审批表")
    table = document.add_table(rows=4, cols=4)
    table.cell(0, 0).text = "工作室名称：绿色化工创新工作室"
    table.cell(0, 1).text = "所在单位（部门）"
    table.cell(0, 2).text = "健康与环境工程学院"
    table.cell(1, 0).text = "领 衔 人 姓 名"  # spaced out to fill the cell, as forms do
    table.cell(1, 1).text = "何静"
    table.cell(1, 2).text = "性别"
    table.cell(1, 3).text = "女"
    table.cell(2, 0).text = "出生年月"
    table.cell(2, 2).text = "电子邮箱"  # 出生年月 left empty: the next label is not its value
    table.cell(2, 3).text = "hejing@sztu.edu.cn"
    table.cell(3, 0).text = "工作室基本情况（300字以内）"
    table.cell(3, 1).merge(table.cell(3, 3)).text = "工作室名称：绿色化工创新工作室，成立于2020年。"
    doc = read_document("审批表.docx", _docx_bytes(document), "docx", campaign)
    assert doc.kind == "approval"
    assert doc.fields["工作室名称"] == "绿色化工创新工作室"
    assert doc.unit_name == "健康与环境工程学院"
    assert doc.fields["领衔人姓名"] == "何静" and doc.fields["性别"] == "女"
    assert doc.fields["出生年月"] == "" and doc.fields["电子邮箱"] == "hejing@sztu.edu.cn"
    assert doc.fields["工作室基本情况"].endswith("成立于2020年。")
