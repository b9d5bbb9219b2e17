"""A document the reader could not open (corrupt, encrypted, empty…) is reported as read."""

from __future__ import annotations

from mailbot.checks.base import Submission
from mailbot.findings import Finding


def check(submission: Submission) -> list[Finding]:
    return [problem for doc in submission.documents for problem in doc.problems]
