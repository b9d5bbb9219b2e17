r"""字数: count words the way Word's 字数 and LibreOffice's word count do for Chinese text.

The office checks the 2000-字 limit with Word (or WPS) open, so the bot must arrive at the same
number. Both programs count every East Asian character as one word and every run of other
non-space characters as one word; we follow that rule (CONTRACT.md, "字数"):

=====================================  =====  ==============================================
text                                   count  why
=====================================  =====  ==============================================
``工作室``                               3      each Han character is 1
``工作室，成立于2019年。``               10     7 Han + ，。 (2) + 2019 (1)
``使用Python开发``                       5      使 用 | Python | 开 发 — Latin splits at Han
``hello world``                          2      two runs of non-space characters
``3.14``                                 1      a number is one run
``li@sztu.edu.cn``                       1      an e-mail address is one run
``https://www.sztu.edu.cn/a?b=1``        1      a URL is one run
``ＡＢＣ``                               3      full-width forms U+FF01–FF60 count 1 each
``a\tb``, ``a\u00a0b``, ``a\u3000b``     2      tab, NBSP and ideographic space separate words
``他说：“你好。”``                       8      “ ” next to Han are Chinese quotes: 1 each
``“Python”很好``                         3      “Python” is one Latin run, then 很 好
``don’t``                                1      ’ inside a Latin word is an apostrophe
``……``                                   2      a mark-only run counts each mark
=====================================  =====  ==============================================

What counts as one each ("Asian"):

* Han: CJK Unified Ideographs and extensions A–H, compatibility ideographs (and their
  supplement), radicals, strokes, bopomofo;
* kana (incl. half-width katakana) and hangul (syllables, jamo, half-width) — LibreOffice counts
  every Asian character as a word, so we do too (Word counts Korean by words; no applicant here
  writes Korean);
* full-width punctuation: CJK Symbols and Punctuation U+3001–303F (the ideographic space U+3000 is
  whitespace), full-width forms U+FF01–FF60 and U+FFE0–FFEE, vertical and compatibility forms
  U+FE10–FE1F and U+FE30–FE4F.

The marks “ ” ‘ ’ … — · are *ambiguous*: Unicode gives them to no script and Chinese text uses
them as its own quotes, ellipsis, dash and name separator. Like LibreOffice's "weak" characters
they take the script of their neighbour: the nearest preceding strong character in the same
whitespace-delimited run, else the nearest following one. Next to Han they count 1 each (Chinese
usage: “你好” is 4); next to Latin they are part of the Latin word (don’t is 1). A run made only of
such marks (…… or a lone —) counts each mark, as Chinese punctuation.

Whitespace is whatever ``str.isspace()`` says (tabs, line breaks, NBSP U+00A0, U+3000, …) plus the
invisible separators U+200B and U+FEFF. A word never spans whitespace, which makes the count
additive: ``count_words(a + " " + b) == count_words(a) + count_words(b)``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

# Inclusive code-point ranges counted one per character. Sorted, non-overlapping.
_ASIAN_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK Radicals Supplement, Kangxi Radicals
    (0x3001, 0x303F),  # CJK Symbols and Punctuation, minus U+3000 (a space)
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0x31A0, 0x31FF),  # Bopomofo Extended, CJK Strokes, Katakana Phonetic Extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7FF),  # Hangul Syllables, Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFE10, 0xFE1F),  # Vertical Forms
    (0xFE30, 0xFE4F),  # CJK Compatibility Forms (vertical punctuation)
    (0xFF01, 0xFF60),  # Full-width ASCII forms and brackets
    (0xFF61, 0xFFDC),  # Half-width CJK punctuation, katakana, hangul
    (0xFFE0, 0xFFEE),  # Full-width signs (￥ ￠ …) and half-width symbols
    (0x1B000, 0x1B16F),  # Kana Supplement / Extended
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2EBEF),  # Extensions C, D, E, F
    (0x2F800, 0x2FA1F),  # CJK Compatibility Ideographs Supplement
    (0x30000, 0x323AF),  # Extensions G, H
)
_RANGE_STARTS = [start for start, _ in _ASIAN_RANGES]

# Marks Chinese text borrows from general punctuation; they follow their neighbour's script.
WEAK_MARKS = frozenset("“”‘’…—·")

# Invisible separators that str.isspace() does not know but that never belong to a word.
_EXTRA_SPACE = frozenset("\u200b\ufeff")

_SPACE, _ASIAN, _OTHER, _WEAK = 0, 1, 2, 3


def is_asian(char: str) -> bool:
    """True when `char` is counted one by itself whatever surrounds it."""
    code = ord(char)
    index = bisect_right(_RANGE_STARTS, code) - 1
    return index >= 0 and code <= _ASIAN_RANGES[index][1]


def _kind(char: str) -> int:
    if char.isspace() or char in _EXTRA_SPACE:
        return _SPACE
    if char in WEAK_MARKS:
        return _WEAK
    if is_asian(char):
        return _ASIAN
    return _OTHER


def _count_token(kinds: list[int]) -> int:
    """Count one whitespace-free run whose characters are already classified."""
    strong = [k for k in kinds if k != _WEAK]
    if not strong:
        return len(kinds)  # only ambiguous marks: Chinese punctuation, one each
    resolved: list[int] = []
    previous = strong[0]  # before the first strong character, marks look ahead to it
    for kind in kinds:
        if kind == _WEAK:
            resolved.append(previous)
        else:
            resolved.append(kind)
            previous = kind
    count = 0
    in_run = False
    for kind in resolved:
        if kind == _ASIAN:
            count += 1
            in_run = False
        elif not in_run:
            count += 1
            in_run = True
    return count


def count_words(text: str) -> int:
    """The 字数 of `text` (see the module docstring for the rule and examples)."""
    total = 0
    token: list[int] = []
    for char in text:
        kind = _kind(char)
        if kind == _SPACE:
            if token:
                total += _count_token(token)
                token = []
        else:
            token.append(kind)
    if token:
        total += _count_token(token)
    return total


def count_document_words(paragraph_texts: Iterable[str]) -> int:
    """The 字数 of a document given as its paragraphs (body and table cells).

    Counted paragraph by paragraph because paragraphs are separate even when their texts, joined
    without a separator, would run together: "Python" ending one paragraph and "3" starting the
    next are two words, not one.
    """
    return sum(count_words(text) for text in paragraph_texts)
