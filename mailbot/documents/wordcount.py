r"""字数: count words exactly as LibreOffice's word count does (and, for Chinese text, Word's 字数).

The office checks the 2000-字 limit with Word, WPS or LibreOffice open, so the bot must arrive at
the same number. The rule below is LibreOffice 7.4's, read from its source (SwScanner::NextWord,
BreakIteratorImpl::getScriptClass and the ICU rules ``count_word.txt`` compiled into it) and
checked against LibreOffice itself by tests/test_wordcount_oracle.py:

1. The em dash — and the en dash – are separators, like spaces (LibreOffice's default
   "additional separators", copied from Word): ``创新——发展`` is 4.
2. Words never span whitespace: ICU's ``u_isspace`` — every Z* character (space, NBSP U+00A0,
   ideographic space U+3000, thin spaces…) and the controls TAB…CR, FS…US, NEL.
3. Every **Asian** character is one word by itself: Han (all extensions), kana, hangul, bopomofo,
   yi, CJK radicals, strokes and compatibility ideographs, and the CJK punctuation and full-width
   blocks (U+3000–303F, U+FE30–FE4F, U+FF00–FFEF): ``，。、：；！？（）《》【】“”``… are 1 each —
   except that “ ” ‘ ’ … · are *not* Asian (they belong to General Punctuation / Latin-1): they
   join whatever non-Asian text touches them, and stand alone next to Han.
4. The other characters between Asian ones form words by ICU's ``count_word`` rules: letters,
   digits, punctuation and symbols (ASCII ones included) run together into one word, so
   ``3.14``, ``li@sztu.edu.cn``, ``https://www.sztu.edu.cn/a?b=1``, ``“Python”``, ``……`` are 1
   each; a hyphen-minus joins words (``A-B`` is 1) but a hyphen not followed by a letter ends one
   (``a--b`` is 2); characters that are neither letters nor punctuation nor symbols — circled and
   superscript digits ``①②³`` — are one word each (``m²`` is 2); format characters (U+FEFF,
   U+2060, ZWJ, soft hyphen) glue letters together but count alone at a word's edge.

=====================================  =====  ==============================================
text                                   count  why
=====================================  =====  ==============================================
``工作室，成立于2019年。``               10     7 Han + ，。 (2) + 2019 (1)
``使用Python开发``                       5      使 用 | Python | 开 发 — Latin splits at Han
``他说：“你好。”``                       8      “ and ” stand alone between Han
``“Python”很好``                         3      “Python” is one word, then 很 好
``你好……``                               3      …… is one word
``创新——发展``                           4      dashes separate and do not count
``ＡＢＣ１２３``                         6      full-width forms: 1 each
=====================================  =====  ==============================================

Deliberate divergences (README "字数"), both LibreOffice 7.4 bugs we do not copy: it stops
counting the rest of a paragraph at a zero-width space U+200B that follows a word
(``a\u200bb c d`` counts 1; here U+200B simply separates words), and it sometimes counts a
character beyond the Basic Multilingual Plane (CJK extension B and later) twice when a space
precedes it (``中 𠀀`` counts 3; here 2). Character properties come from Python's unicodedata
(Unicode 14) rather than ICU 72: identical for Chinese and Latin text, approximate for combining
marks at the start of a word in Indic scripts.

Counting is additive over whitespace: ``count_words(a + " " + b) == count_words(a) +
count_words(b)``, and a document's count is the sum of its paragraphs' counts.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable

# LibreOffice's Asian script class (BreakIteratorImpl::getScriptClass): Unicode blocks it lists as
# ASIAN, plus the blocks it does not list whose characters' script is Han, kana, hangul,
# bopomofo, yi, Tangut, Khitan or Nüshu. Inclusive ranges, sorted, non-overlapping.
_ASIAN_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK Radicals Supplement, Kangxi Radicals
    (0x2FF0, 0x31BF),  # Ideographic Description … Bopomofo Extended (incl. CJK punctuation)
    (0x31C0, 0x31EF),  # CJK Strokes
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions (by script)
    (0x3200, 0x4DBF),  # Enclosed CJK, CJK Compatibility, Extension A
    (0x4E00, 0xA4CF),  # CJK Unified Ideographs, Yi Syllables, Yi Radicals
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A (by script)
    (0xAC00, 0xD7AF),  # Hangul Syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo Extended-B (by script)
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFE30, 0xFE4F),  # CJK Compatibility Forms (vertical punctuation)
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms
    (0x16FE0, 0x16FFF),  # Ideographic Symbols and Punctuation (by script)
    (0x17000, 0x18CFF),  # Tangut, Tangut Components, Khitan (by script)
    (0x18D00, 0x18D7F),  # Tangut Supplement (by script)
    (0x1AFF0, 0x1B2FF),  # Kana Extended-B, Kana Supplement/Extended-A, Small Kana, Nüshu
    (0x1F200, 0x1F200),  # SQUARE HIRAGANA HOKA (the Hiragana of its block)
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2EBEF),  # Extensions C, D, E, F (by script)
    (0x2F800, 0x2FA1F),  # CJK Compatibility Ideographs Supplement
    (0x30000, 0x323AF),  # Extensions G, H (by script)
)
_RANGE_STARTS = [start for start, _ in _ASIAN_RANGES]

# LibreOffice's default Tools ▸ Options ▸ Writer ▸ General ▸ "Additional separators".
DASH_SEPARATORS = "\u2014\u2013"
_ZWSP = "\u200b"

# ICU classes of the count_word rules, one letter per character of a non-Asian stretch:
# A letter/digit/punctuation/symbol ($ALetter), D hyphen-minus ($dash), E combining mark
# ($Extend), F format character ($Format, also $Control), G format character that also extends
# (ZWNJ), C other control, O anything else (one word each, then its marks).
_ALETTER_CATEGORIES = frozenset(
    {"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Nd", "Mc",
     "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}
)
_EXTEND_CATEGORIES = frozenset({"Mn", "Me"})
_ZWNJ = "\u200c"

# The rules themselves, over the class letters. $ALetterEx = $ALetter $Extend*, and so on.
_ALETTER_EX = "A[EG]*"
_FORMAT_EX = "[FG][EG]*"
_LETTER_SEQUENCE = f"{_ALETTER_EX}(?:(?:{_FORMAT_EX})*{_ALETTER_EX})*"
_RULES = (
    re.compile(_LETTER_SEQUENCE),  # $LetterSequence
    re.compile(f"(?:{_ALETTER_EX})*D+"),  # $ALetterEx* $dash+
    re.compile(f"(?:{_ALETTER_EX})*(?:D{_LETTER_SEQUENCE})+D*"),  # … ($dash $LetterSequence)+
    re.compile("[ADEO][EG]*"),  # [^$Control [:Ideographic:]] $Extend*
)


def is_asian(char: str) -> bool:
    """True when `char` is one word by itself whatever surrounds it (LibreOffice's ASIAN)."""
    code = ord(char)
    index = bisect_right(_RANGE_STARTS, code) - 1
    return index >= 0 and code <= _ASIAN_RANGES[index][1]


def is_space(char: str) -> bool:
    """ICU's u_isspace: Z* characters and the ASCII/Latin-1 spacing controls."""
    code = ord(char)
    if code <= 0x9F:
        return 0x09 <= code <= 0x0D or 0x1C <= code <= 0x20 or code in (0x85, 0xA0)
    return unicodedata.category(char).startswith("Z")


def _icu_class(char: str) -> str:
    if char == "-":
        return "D"
    if char == _ZWNJ:
        return "G"
    if 0x0E00 <= ord(char) <= 0x0EFF:
        return "O"  # Thai and Lao: the rules take them out of $ALetter
    category = unicodedata.category(char)
    if category in _ALETTER_CATEGORIES:
        return "A"
    if category in _EXTEND_CATEGORIES:
        return "E"
    if category == "Cf":
        return "F"
    if category in ("Cc", "Zl", "Zp"):
        return "C"
    return "O"


def _segments(classes: str) -> int:
    """How many ICU word segments a stretch of non-Asian, non-space characters makes.

    ICU picks, at each position, the longest match among the rules; a character no rule
    matches (a control) is a segment by itself."""
    count = 0
    position = 0
    while position < len(classes):
        longest = 0
        for rule in _RULES:
            match = rule.match(classes, position)
            if match is not None:
                longest = max(longest, match.end() - position)
        position += max(longest, 1)
        count += 1
    return count


def _count_run(run: str) -> int:
    """The words of one whitespace-free run: each Asian character, plus the ICU segments of
    each stretch of other characters between them."""
    total = 0
    stretch: list[str] = []
    for char in run:
        if is_asian(char):
            if stretch:
                total += _segments("".join(stretch))
                stretch = []
            total += 1
        else:
            stretch.append(_icu_class(char))
    if stretch:
        total += _segments("".join(stretch))
    return total


def count_words(text: str) -> int:
    """The 字数 of `text` (see the module docstring for the rule and examples)."""
    total = 0
    run: list[str] = []
    for char in text:
        if is_space(char) or char in DASH_SEPARATORS or char == _ZWSP:
            if run:
                total += _count_run("".join(run))
                run = []
        else:
            run.append(char)
    if run:
        total += _count_run("".join(run))
    return total


def count_document_words(paragraph_texts: Iterable[str]) -> int:
    """The 字数 of a document given as its paragraphs (body, tables, text boxes, notes).

    Counted paragraph by paragraph because paragraphs are separate even when their texts, joined
    without a separator, would run together: "Python" ending one paragraph and "3" starting the
    next are two words, not one.
    """
    return sum(count_words(text) for text in paragraph_texts)
