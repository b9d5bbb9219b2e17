"""Received after the deadline? Judged by when the mailbox received it, never by `Date:`."""

from __future__ import annotations

from mailbot.checks.base import Submission
from mailbot.findings import Finding, Severity
from mailbot.timefmt import show


def check(submission: Submission) -> list[Finding]:
    info = submission.campaign.campaign
    if submission.received_at <= submission.campaign.cutoff:
        return []
    refused = info.late_policy == "refuse"
    return [Finding(
        code="late",
        message=(f"本邮件于 {show(submission.received_at)} 收到，"
                 f"晚于申报截止时间 {show(info.deadline_at)}。"),
        fix=("逾期材料不再受理，如有特殊情况请直接联系校工会办公室。" if refused
             else "材料已登记并标注为逾期，是否受理由校工会办公室决定。"),
        severity=Severity.ERROR if refused else Severity.WARNING,
    )]

