"""字数 against LibreOffice itself: write the .docx, convert it headless to .odt, read
``meta:word-count``, compare with what our reader counts.

Generated documents (hypothesis) mix Han, full-width and half-width punctuation, Latin words,
numbers with decimals, e-mail addresses and URLs, tabs, ideographic and no-break spaces and line
breaks inside a paragraph, in paragraphs and in tables (nested, with merged cells). Hand-made
documents cover the other parts: text boxes, footnotes, endnotes, tracked changes, hidden text,
and the two deliberate divergences (headers/footers and list numbers, which Word does not count
and LibreOffice does).

Needs LibreOffice (`make test` installs libreoffice-writer-nogui as root); without it these tests
skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo import docx_build as build
from mailbot.demo import samples
from mailbot.documents import convert, count_words, read_document

ROOT = Path(__file__).resolve().parents[1]
BATCH = 8  # documents per soffice run: its start-up is most of the cost
SEED_FORMS = Path("/work/shared/seed/forms")  # the blank official forms, when present
CAMPAIGN = load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")



def libreoffice_counts(documents: Sequence[bytes]) -> list[int]:
    """LibreOffice's counts; a document it failed to convert in the batch is tried alone once
    (soffice occasionally dies in the middle of a long batch)."""
    counts = convert.libreoffice_word_counts(documents)
    for index, count in enumerate(counts):
        if count is None:
            counts[index] = convert.libreoffice_word_counts([documents[index]])[0]
    assert all(count is not None for count in counts), "LibreOffice did not convert a document"
    return [count for count in counts if count is not None]


def our_count(data: bytes, campaign: Campaign = CAMPAIGN) -> int | None:
    doc = read_document("x.docx", data, "docx", campaign)
    if [p.code for p in doc.problems] == ["empty"]:
        return 0  # no visible text at all: refused as empty, and LibreOffice counts 0
    assert not doc.problems, doc.problems
    return doc.word_count


# ---------------------------------------------------------------- generated documents

# Han of the Basic Multilingual Plane (extension A included). Extension B and beyond are left out:
# LibreOffice 7.4 sometimes counts such a character twice after a space (README, 字数).
HAN = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.sampled_from("工作室劳模工匠创新深圳市机关事业单位㐀䶵"),
)
FULL_WIDTH = st.one_of(
    st.sampled_from("，。、：；！？（）《》【】「」『』〔〕…—～·“”‘’％＋－＝＠＃＆￥"),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
)
HALF_WIDTH = st.sampled_from(string.punctuation)
LATIN = st.from_regex(r"[A-Za-z]{1,10}(['’][a-z]{1,2})?", fullmatch=True)
NUMBER = st.from_regex(r"-?[0-9]{1,6}([.,][0-9]{1,3})?(%|‰|℃|万元)?", fullmatch=True)
EMAIL = st.from_regex(r"[a-z][a-z0-9._]{0,10}@[a-z0-9]{1,8}\.(com|cn|edu\.cn)", fullmatch=True)
URL = st.from_regex(
    r"https?://(www\.)?[a-z0-9]{1,10}\.(com|cn|org)(/[A-Za-z0-9_.-]{1,8}){0,3}(\?[a-z]=[0-9]{1,3})?",
    fullmatch=True,
)
SPACE = st.sampled_from([" ", "  ", "\t", "\u3000", "\u00a0", "\n"])
CHUNK = st.one_of(HAN, HAN, FULL_WIDTH, HALF_WIDTH, LATIN, NUMBER, EMAIL, URL, SPACE, SPACE)
TEXT = st.lists(CHUNK, max_size=14).map("".join)
PARAGRAPH = TEXT.map(build.paragraph)


@st.composite
def tables(draw: st.DrawFn, depth: int = 1) -> str:
    """A table of 1–3 rows over 1–3 grid columns; cells may span columns and hold paragraphs
    and (to `depth`) tables of their own."""
    columns = draw(st.integers(1, 3))
    content = PARAGRAPH if depth == 0 else st.one_of(PARAGRAPH, PARAGRAPH, tables(depth - 1))
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        row, used = [], 0
        while used < columns:
            span = draw(st.integers(1, columns - used))
            blocks = draw(st.lists(content, min_size=1, max_size=2))
            row.append(build.cell(*blocks, span=span))
            used += span
        rows.append(row)
    return build.table(rows, columns)


BLOCKS = st.lists(st.one_of(PARAGRAPH, PARAGRAPH, tables()), min_size=1, max_size=6)


# A failing example is a batch of documents: its repr is long, and that is fine.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(BLOCKS, min_size=BATCH, max_size=BATCH))
def test_generated_documents_agree_with_libreoffice(soffice: str,
                                                    batch: list[list[str]]) -> None:
    documents = [build.docx(blocks) for blocks in batch]
    theirs = libreoffice_counts(documents)
    ours = [our_count(data) for data in documents]
    disagree = [(index, mine, lo) for index, (mine, lo) in enumerate(zip(ours, theirs, strict=True))
                if mine != lo]
    texts = {index: read_document("x.docx", documents[index], "docx", CAMPAIGN).text
             for index, _mine, _lo in disagree}
    assert not disagree, [(mine, lo, texts[index]) for index, mine, lo in disagree]


# ---------------------------------------------------------------- parts of a document

P, run = build.paragraph, build.run
PARTS: dict[str, tuple[bytes, int]] = {
    # name: (document, what we count)
    "body": (build.docx([P("工作室成立于2019年，现有成员12人。")]), 16),
    "line break and tab": (build.docx([P("abc\ndef\tghi　jkl")]), 4),
    "nested table, merged cells": (build.docx([build.table([
        [build.cell(P("外层"), build.table([["内层表格", "Python 3.11"]])), "右"],
        [build.cell(P("合并的单元格"), span=2)],
    ])]), 2 + 4 + 2 + 1 + 6),
    "vertical merge": (build.docx([build.table([
        [build.cell(P("上下合并"), merge="restart"), "甲"],
        [build.cell(merge="continue"), "乙"],
    ])]), 6),
    "text box": (build.docx([P("正文", build.text_box(P("文本框里的字")), "内容")]), 4 + 6),
    "footnote": (build.docx([P("成果显著", build.footnote_reference(1), "。")],
                            footnotes=["见《深圳特区报》2022年报道"]), 4 + 1 + 1 + 12),
    "footnote after a Latin word": (build.docx([P("see Smith", build.footnote_reference(1), ".")],
                                               footnotes=["ibid."]), 2 + 1),
    "endnote": (build.docx([P("经费保障", build.endnote_reference(1), "。")],
                           endnotes=["单位专项经费"]), 4 + 1 + 1 + 6),
    "tracked insertion and deletion": (build.docx([P("工作室", build.inserted("新增"),
                                                     build.deleted("删去的字"), "成员")]), 7),
    "hidden text": (build.docx([P("可见", run("隐藏文字", "<w:vanish/>"), "内容")]), 4),
    "comment": (build.docx([P("正文内容", build.comment_reference(0))],
                           comments=["批注不计入字数"]), 4),
}


@pytest.fixture(scope="module")
def parts_counts(soffice: str) -> dict[str, int]:
    names = list(PARTS)
    return dict(zip(names, libreoffice_counts([PARTS[name][0] for name in names]), strict=True))


@pytest.mark.parametrize("name", list(PARTS))
def test_document_parts_agree_with_libreoffice(parts_counts: dict[str, int], name: str) -> None:
    data, expected = PARTS[name]
    assert our_count(data) == expected
    assert parts_counts[name] == expected


def test_headers_and_footers_are_not_counted(soffice: str) -> None:
    """Deliberate divergence: Word leaves headers and footers out, LibreOffice counts them."""
    body = [P("申报材料正文")]
    data = build.docx(body, header="深圳技术大学", footer="第 1 页")
    plain, with_parts = libreoffice_counts([build.docx(body), data])
    assert our_count(data) == plain == 6
    assert with_parts == plain + count_words("深圳技术大学") + count_words("第 1 页")


def test_list_numbers_are_not_counted(soffice: str) -> None:
    """Deliberate divergence: Word leaves automatic list numbers out, LibreOffice counts them
    (一、 is 2 words, 1. is 1)."""
    blocks = [P("工作室基本情况", numbered=build.CHINESE_LIST), P("领衔人简介", numbered=build.CHINESE_LIST),
              P("Overview", numbered=build.DECIMAL_LIST)]
    data = build.docx(blocks, numbering=True)
    (libreoffice,) = libreoffice_counts([data])
    assert our_count(data) == 7 + 5 + 1
    assert libreoffice == our_count(data) + 2 + 2 + 1


def test_our_samples_and_the_official_forms_agree_with_libreoffice(soffice: str) -> None:
    studio = samples.SAMPLE_STUDIOS[4]
    documents = [samples.summary_docx("中德智能制造学院", samples.SAMPLE_STUDIOS),
                 samples.approval_docx(studio), samples.material_docx(studio, 2000),
                 samples.material_docx(studio, 2001)]
    documents += [path.read_bytes() for path in sorted(SEED_FORMS.glob("*.docx"))]
    assert [our_count(data) for data in documents] == libreoffice_counts(documents)
