"""字数 as Word and LibreOffice count it: hand cases, then properties.

Every hand case was checked against LibreOffice 7.4 (tests/test_wordcount_oracle.py runs the
checks against the installed LibreOffice itself, on generated text).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.documents.wordcount import count_document_words, count_words, is_space

CASES = [
    ("", 0),
    ("   \t\n", 0),
    ("工作室", 3),
    ("劳模和工匠人才创新工作室", 12),
    ("工作室，成立于2019年。", 10),  # 工作室 ， 成立于 2019 年 。
    ("使用Python开发", 5),  # a Latin run splits where Han begins
    ("hello world", 2),
    ("Hello, world!", 2),  # ASCII punctuation belongs to its word
    ("3.14", 1),
    ("圆周率约为3.14。", 7),
    ("li@sztu.edu.cn", 1),
    ("邮箱：litiantian@sztu.edu.cn", 4),
    ("https://www.sztu.edu.cn/info/1062/1234.htm?id=5", 1),
    ("0755-23256570", 1),
    ("a\tb", 2),
    ("a\u00a0b", 2),  # NBSP separates
    ("a\u3000b", 2),  # so does the ideographic space, which is not counted
    ("\u3000\u3000首行缩进", 4),
    ("第一行\n第二行", 6),
    ("one\ntwo\r\nthree", 3),
    ("a\u200bb", 2),  # zero-width space separates (LibreOffice 7.4 stops counting there: a bug)
    ("a\ufeffb", 1),  # a format character glues letters…
    ("\ufeff你", 2),  # …but counts alone at a word's edge
    ("（一）申报条件", 7),  # full-width brackets count 1 each
    ("《通知》", 4),
    ("ＡＢＣ１２３", 6),  # full-width forms U+FF01–FF60: 1 each
    ("￥100", 2),  # U+FFE5 is full-width, 100 is a run
    ("10月10日17:30前", 6),  # 10 月 10 日 17:30 前
    ("他说：“你好。”", 8),  # “ ” between Han stand alone: 1 each
    ("“十四五”规划", 7),
    ("“Python”很好", 3),  # quotes that hug a Latin word belong to it
    ("你“a", 2),  # “ is not Asian: it joins the Latin word after it
    ("don’t stop", 2),  # an apostrophe inside a Latin word
    ("……", 1),  # … is not Asian: a run of them is one word
    ("你好……", 3),
    ("创新——发展", 4),  # em and en dashes separate and do not count
    ("a–b", 2),
    ("——", 0),
    ("买买提·艾力", 6),
    ("A-B", 1),
    ("a--b", 2),  # a hyphen not followed by a letter ends the word
    ("中-文", 3),
    ("m²", 2),  # superscript and circled digits are words by themselves
    ("①②③", 3),
    ("120℃", 1),
    ("x\u0301y", 1),  # a combining mark stays with its letter
    ("㎡", 1),  # CJK compatibility: Asian
    ("︐", 1),
    ("SCI/EI论文20余篇", 6),  # SCI/EI 论 文 20 余 篇
    ("ISO 9001认证", 4),
    ("ひらがな", 4),
    ("한국어", 3),
    ("𠀀𪚥", 2),  # extension B ideographs (outside the BMP)
    ("使用Python开发系统，" * 250, 2000),  # exactly 2000 with English words and ，
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_hand_cases(text: str, expected: int) -> None:
    assert count_words(text) == expected


def test_exactly_2000_mixed() -> None:
    # 26 (Han and ，。) + 8 (采用 Python 和 3D 打印 ，) + 6 (获 ISO 9001 认证 。) = 40 per paragraph
    paragraph = (
        "工作室围绕智能制造开展技术攻关，累计完成项目二十项。采用Python和3D打印，获ISO 9001认证。"
    )
    assert count_words(paragraph) == 40
    assert count_document_words([paragraph] * 50) == 2000
    assert count_document_words([paragraph] * 50 + ["。"]) == 2001


def test_paragraphs_never_join() -> None:
    assert count_document_words(["Python", "3"]) == 2
    assert count_words("Python" + "3") == 1


@given(st.text(), st.text())
def test_concatenation_with_a_space_adds(a: str, b: str) -> None:
    assert count_words(a + " " + b) == count_words(a) + count_words(b)


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)))
def test_han_counts_one_each(text: str) -> None:
    assert count_words(text) == len(text)


@given(st.lists(st.text()))
def test_document_is_sum_of_paragraphs(paragraphs: list[str]) -> None:
    assert count_document_words(paragraphs) == sum(count_words(p) for p in paragraphs)


@given(st.text())
def test_bounded_by_visible_characters(text: str) -> None:
    visible = [ch for ch in text if not is_space(ch) and ch not in "\u200b\u2013\u2014"]
    assert count_words(text) <= len(visible)
    assert (count_words(text) == 0) == (not visible)


@given(st.text(alphabet=st.characters(codec="utf-8")), st.text(alphabet="你好，。《》（）"))
def test_asian_characters_split_words(a: str, b: str) -> None:
    """An Asian character between two texts is a word boundary and one word itself."""
    assert count_words(a + "中" + b) == count_words(a) + 1 + count_words(b)
