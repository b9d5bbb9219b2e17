"""附件2 (the approval form) has every field the rules call required filled in."""

from __future__ import annotations

from mailbot.checks.base import Submission, content_read
from mailbot.findings import Finding


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for doc in submission.documents:
        if not content_read(doc, submission.campaign):
            continue
        spec = submission.campaign.spec(doc.kind)
        missing = [label for label in spec.required_fields
                   if not doc.fields.get(label, "").strip()]
        if missing:
            names = "、".join(f"“{label}”" for label in missing)
            findings.append(Finding(
                code="required-field",
                message=f"{spec.display}“{doc.filename}”中以下栏目未填写：{names}。",
                fix="请补填这些栏目后重新发送该表。",
                document=doc.filename,
            ))
    return findings
