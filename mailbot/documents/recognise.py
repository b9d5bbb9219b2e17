"""Which of the campaign's documents an attachment is: by its file name, then by its content.

The name is tried first because it is cheap and usually right: after NFKC folding (附件１ → 附件1)
and without spaces, it is matched against each spec's `name_patterns`. But applicants name files
badly — 新建 Microsoft Word 文档.docx, 工作室.docx, or 附件2 on what is really the material — so
the content is scored too, and **content wins whenever it is unambiguous**, even against the name.
The name decides only when the content is silent or torn; a name matching several specs and
content that cannot choose between them give "unknown" (the pipeline then asks the sender).

Content evidence, per spec:

* title (2): one of the spec's `content_markers` (the form's title, 推荐审批表…) in the first
  lines, where a form's title is; a marker deep in the text proves little (the approval form has
  a 工作室基本情况 row, and the material is about exactly that);
* 附件N line (1): the first line is just the attachment label, as the official forms begin;
* structure (3): a table headed by the spec's `studio_column` with a row below it → the form
  that lists the studios (summary); at least three labels only the approval form has (所在单位,
  性别, 出生年月…) as table keys → the form with a `studio_field` (approval); four or more
  outline headings → the spec with that `outline` (material; two or three: 1);
* length (1): 800 字 or more of prose outside tables → a spec with an outline or a 字数 limit
  and no required fields (a text, not a form).

Content is unambiguous at 3 points or more with a lead of 2; it merely leans at 2 with any lead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.campaign.rules import Campaign
from mailbot.documents.model import DocKind
from mailbot.documents.tables import APPROVAL_ONLY, normalise
from mailbot.documents.wordcount import count_words

HEAD_LINES = 8  # how many non-empty lines count as "the first lines"
HEAD_CHARS = 400
PROSE_WORDS = 800

_SUMMARY_ONLY = ("领衔人所在单位及职务", "领衔人荣誉称号", "领衔人")


@dataclass(frozen=True)
class Evidence:
    """Structural facts a reader saw (tables are invisible in plain text)."""

    summary_table: bool = False  # a table headed by the studio column, with a row below
    approval_labels: int = 0  # how many approval-only labels appear as table keys
    outline_hits: int = 0  # how many of the material outline's headings appear
    prose_words: int = 0  # 字数 outside tables


def fold_name(filename: str) -> str:
    """A file name as matched: NFKC (full-width digits and letters folded), no whitespace."""
    folded = unicodedata.normalize("NFKC", filename)
    return "".join(ch for ch in folded if not ch.isspace())


def kinds_by_name(filename: str, campaign: Campaign) -> list[DocKind]:
    """The specs whose name patterns match `filename`, in the rules' order."""
    folded = fold_name(filename)
    return [
        spec.key
        for spec in campaign.documents
        if any(pattern.search(folded) for pattern in spec.compiled_patterns)
    ]


def outline_covered(text: str, outline: Sequence[str]) -> tuple[str, ...]:
    """The outline headings present in `text` (compared without whitespace, NFKC-folded)."""
    folded = normalise(text)
    return tuple(heading for heading in outline if normalise(heading) in folded)


def text_outline(campaign: Campaign) -> list[str]:
    """The outline headings of the campaign's text (the first spec with an outline)."""
    return next((spec.outline for spec in campaign.documents if spec.outline), [])


def evidence_from_text(text: str, campaign: Campaign) -> Evidence:
    """Evidence guessed from plain text, when no reader saw the tables: each table cell is a
    line of its own in `ReadDocument.text`, so a line that is exactly a label is a label cell."""
    lines = {normalise(line) for line in text.splitlines()}
    summary = False
    listing = campaign.studio_list
    if listing is not None:
        column = listing.studio_column or "工作室名称"
        summary = normalise(column) in lines and any(h in lines for h in _SUMMARY_ONLY)
    outline = text_outline(campaign)
    return Evidence(
        summary_table=summary,
        approval_labels=sum(1 for label in APPROVAL_ONLY if label in lines),
        outline_hits=len(outline_covered(text, outline)),
        prose_words=count_words(text),
    )


def content_scores(text: str, campaign: Campaign, evidence: Evidence) -> dict[DocKind, int]:
    """Points per spec key from the content (see the module docstring)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()][:HEAD_LINES]
    head = normalise("".join(lines))[:HEAD_CHARS]
    first = fold_name(lines[0]) if lines else ""
    scores: dict[DocKind, int] = {}
    for spec in campaign.documents:
        score = 0
        if any(normalise(marker) in head for marker in spec.content_markers):
            score += 2
        if len(first) <= 6 and any(p.fullmatch(first) for p in spec.compiled_patterns):
            score += 1
        if spec.lists_studios and evidence.summary_table:
            score += 3
        if spec.studio_field is not None and evidence.approval_labels >= 3:
            score += 3
        if spec.outline:
            score += 3 if evidence.outline_hits >= 4 else 1 if evidence.outline_hits >= 2 else 0
        if (spec.outline or spec.max_words) and not spec.required_fields:
            score += 1 if evidence.prose_words >= PROSE_WORDS else 0
        scores[spec.key] = score
    return scores


def recognise(
    filename: str, text: str, campaign: Campaign, *, evidence: Evidence | None = None
) -> DocKind:
    """The kind of one attachment: a document key of the rules, or "unknown".

    `text` may be empty (formats we do not read): then only the name decides. Readers pass the
    `evidence` they saw; without it, structure is guessed from `text`.
    """
    by_name = kinds_by_name(filename, campaign)
    if not text.strip():
        return by_name[0] if len(by_name) == 1 else "unknown"
    scores = content_scores(text, campaign, evidence or evidence_from_text(text, campaign))
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    if top >= 3 and top - second >= 2:
        return best  # unambiguous content beats the name
    if len(by_name) == 1:
        return by_name[0]
    leaning = top >= 2 and top > second
    if leaning and (not by_name or best in by_name):
        return best
    if by_name:
        # Several names match: let the content choose among them if it prefers one.
        among = sorted(((scores.get(k, 0), k) for k in by_name), reverse=True)
        if among[0][0] > 0 and (len(among) == 1 or among[0][0] > among[1][0]):
            return among[0][1]
    return "unknown"
