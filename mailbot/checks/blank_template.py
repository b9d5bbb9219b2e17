"""A form sent back blank: the 参考提纲 (附件3's outline) with its headings and nothing written.

Units attach the notice's own 附件3 — the outline — instead of their material more often than
one would think (it is the file called 附件3 in the notice). It passes every other check: it is
a .docx, it covers every heading, it is far under 2000 字. What gives it away is that nothing in
it is more than the outline itself: each paragraph is the label, the title (…参考提纲), the
instruction (…2000字以内…), or a numbered heading with at most the outline's one-line
explanation after it. Real material writes paragraphs under (or after) the headings, so one
paragraph longer than that is enough to say it is not blank.
"""

from __future__ import annotations

import re

from mailbot.checks.base import Submission, content_read
from mailbot.documents import ReadDocument
from mailbot.findings import Finding

# The outline's own explanation after a heading runs to ~45 characters; a heading line with
# more than this is taken to carry the unit's own writing.
MAX_HEADING_LINE = 60
_NUMBERING = re.compile(r"^[（(]?[一二三四五六七八九十\d]{1,3}[)）、.．]?")
_TEMPLATE_MARKERS = ("参考提纲", "字以内", "围绕以下")


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for doc in submission.documents:
        if not content_read(doc, submission.campaign):
            continue
        spec = submission.campaign.spec(doc.kind)
        if not spec.outline or not is_blank_outline(doc, spec.label, spec.outline):
            continue
        findings.append(Finding(
            code="blank-outline",
            message=(f"“{doc.filename}”是{spec.display}的参考提纲（空白模板），"
                     "只有提纲标题，没有填写工作室的内容。"),
            fix=f"请按提纲逐项撰写本工作室的{spec.display}后重新发送。",
            document=doc.filename,
        ))
    return findings


def is_blank_outline(doc: ReadDocument, label: str, outline: list[str]) -> bool:
    """True when every paragraph is template text and at least half the headings are there."""
    if len(doc.outline_covered) * 2 < len(outline):
        return False
    headings = [_fold(heading) for heading in outline]
    for line in doc.text.splitlines():
        text = _fold(line)
        if not text or text == _fold(label) or any(m in text for m in _TEMPLATE_MARKERS):
            continue
        rest = _NUMBERING.sub("", text, count=1)
        if len(text) > MAX_HEADING_LINE or not any(rest.startswith(h) for h in headings):
            return False
    return True


def _fold(text: str) -> str:
    """Without spaces; full-width letters and digits as ASCII (the outline check's folding)."""
    return "".join(text.split()).translate(_FULL_WIDTH)


_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF5B) if chr(code).isalnum()}
