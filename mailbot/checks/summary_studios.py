"""附件1 (the summary table) must list at least one nominated studio."""

from __future__ import annotations

from mailbot.checks.base import Submission, content_read
from mailbot.findings import Finding


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for doc in submission.documents:
        if (not submission.campaign.lists_studios(doc.kind)
                or not content_read(doc, submission.campaign)):
            continue
        if not doc.studios:
            spec = submission.campaign.spec(doc.kind)
            column = spec.studio_column or "工作室名称"
            findings.append(Finding(
                code="summary-empty",
                message=f"{spec.display}“{doc.filename}”中没有填写任何推荐的工作室。",
                fix=f"请在表格的“{column}”一栏逐行填写推荐的工作室后重新发送。",
                document=doc.filename,
            ))
    return findings
