"""附件3 (the material) follows the outline: which of its headings are missing (a warning).

The notice asks for material "written to the outline of 附件3"; the office reads it heading by
heading. A material without some headings may still be fine (a unit can merge two sections), so
this never stops acceptance: it names what is missing so the applicant can decide. Headings are
found wherever they appear, numbered or not (一、工作室基本情况, （二）领衔人简介,
工作室基本情况：…), compared without spaces and with full-width forms folded.
"""

from __future__ import annotations

from mailbot.checks.base import Submission
from mailbot.findings import Finding, Severity


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for doc in submission.documents:
        if doc.problems or doc.word_count is None or not submission.campaign.has(doc.kind):
            continue
        spec = submission.campaign.spec(doc.kind)
        if not spec.outline:
            continue
        absent = [heading for heading in spec.outline if heading not in doc.outline_covered]
        if not absent:
            continue
        names = "、".join(f"“{heading}”" for heading in absent)
        findings.append(Finding(
            code="outline",
            message=(f"{spec.display}“{doc.filename}”中没有找到参考提纲的以下部分："
                     f"{names}（共 {len(spec.outline)} 部分，缺 {len(absent)} 部分）。"),
            fix="如确有遗漏，请按参考提纲补充后重新发送；如已在其他部分中写到，可不必理会。",
            severity=Severity.WARNING,
            document=doc.filename,
        ))
    return findings
