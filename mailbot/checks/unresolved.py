"""A form sent earlier with a problem still counts against the set until a new version comes.

Without this, a unit whose 附件2 was rejected could send only its 附件3 next and be accepted.
"""

from __future__ import annotations

from mailbot.checks.base import Submission
from mailbot.findings import Finding


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for held in submission.held:
        if held.ok or not held.earlier:
            continue
        spec = submission.campaign.spec(held.kind)
        findings.append(Finding(
            code="unresolved",
            message=f"之前发送的{spec.display}“{held.filename}”仍有问题，尚未收到更正后的版本。",
            fix=f"请按上次回复的说明更正后，重新发送{spec.display}。",
            document=held.filename,
        ))
    return findings
