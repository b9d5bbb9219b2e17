"""The material (附件3) stays within the campaign's 字数 limit, counted as Word counts."""

from __future__ import annotations

from mailbot.checks.base import Submission
from mailbot.findings import Finding


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for doc in submission.documents:
        if doc.problems or doc.word_count is None or not submission.campaign.has(doc.kind):
            continue
        limit = submission.campaign.spec(doc.kind).max_words
        if limit is not None and doc.word_count > limit:
            spec = submission.campaign.spec(doc.kind)
            findings.append(Finding(
                code="word-limit",
                message=(f"{spec.display}“{doc.filename}”共 {doc.word_count} 字，"
                         f"超过 {limit} 字的上限（多 {doc.word_count - limit} 字）。"),
                fix=f"请删减至 {limit} 字以内后重新发送。",
                document=doc.filename,
            ))
    return findings
