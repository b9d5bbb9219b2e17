"""Read the documents as the office reads them: recognise each form, take out its data, count 字数.

The public surface::

    read_document(filename, data, fmt, campaign) -> ReadDocument   never raises for bad input
    recognise(filename, text, campaign) -> DocKind             name first, content wins
    count_words(text) -> int                                   Word's / LibreOffice's 字数
    count_document_words(paragraphs) -> int
    studio_key(name) -> str                                    tolerant key to match studios
    ReadDocument, DocKind, StudioEntry                             the frozen results

Inside: ooxml (package limits, before any parser runs), opc (a Word package's parts, hardened
lxml parsing), docx_reader and xlsx_reader (file → Content), tables (forms found by labels and
headers), recognise, reader (orchestration); convert (headless LibreOffice) and conversions
(its results kept by content in the state directory, so each file is converted once).
"""

from __future__ import annotations

import unicodedata

from mailbot.documents.model import DocKind, ReadDocument, StudioEntry
from mailbot.documents.reader import read_document
from mailbot.documents.recognise import recognise
from mailbot.documents.wordcount import count_document_words, count_words

__all__ = [
    "DocKind",
    "ReadDocument",
    "StudioEntry",
    "count_document_words",
    "count_words",
    "read_document",
    "recognise",
    "studio_key",
]

# Brackets and quotes people put around or inside a studio name, in any width; NFKC has already
# folded the full-width （） to () before these are removed.
_DROP = frozenset("()（）《》〈〉<>「」『』【】[]〔〕“”‘’\"'`")
_SUFFIX = "工作室"


def studio_key(name: str) -> str:
    """A key under which spellings of one studio's name agree.

    NFKC, no whitespace, no brackets or quotes, lower case, and a trailing 工作室 dropped, so
    《智能制造劳模创新工作室》, 智能制造 劳模创新工作室 and 智能制造劳模创新 share a key. Only
    工作室 is dropped: "创新" is part of many names (劳模创新 vs 劳模), so dropping 创新工作室 would
    merge different studios.
    """
    folded = unicodedata.normalize("NFKC", name)
    kept = "".join(ch for ch in folded if not ch.isspace() and ch not in _DROP).lower()
    if kept.endswith(_SUFFIX) and len(kept) > len(_SUFFIX):
        kept = kept[: -len(_SUFFIX)]
    return kept
