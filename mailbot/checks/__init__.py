"""The checks: small pure functions from a Submission to typed findings.

A check never touches the database, the network or the clock; what it needs is in the
Submission (the time a mail was received is passed in). The order is the two tables below, read
in one place: first what can be said of each document of this mail, then — once the documents
without errors are known — what can be said of the unit's whole set.
"""

from __future__ import annotations

from mailbot.checks import (
    blank_template,
    completeness,
    formats,
    lateness,
    outline,
    readable,
    required_fields,
    summary_studios,
    unresolved,
    word_limit,
)
from mailbot.checks.base import Check, Held, Submission
from mailbot.findings import Finding

DOCUMENT_CHECKS: tuple[Check, ...] = (
    readable.check,  # corrupt / encrypted / empty files first
    formats.check,  # recognised, and in a format the office can open
    summary_studios.check,  # 附件1 lists at least one studio
    required_fields.check,  # 附件2 has every required field filled
    word_limit.check,  # 附件3 within the 字数 limit
    blank_template.check,  # not the blank 参考提纲 sent back as the material
    outline.check,  # 附件3 covers the outline's headings (a warning)
)

SET_CHECKS: tuple[Check, ...] = (
    completeness.check,  # the unit's whole set, over every mail it sent
    unresolved.check,  # forms from earlier mails that still await a corrected version
    lateness.check,  # received after the deadline (by INTERNALDATE)
)


def run_checks(checks: tuple[Check, ...], submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check(submission))
    return findings


__all__ = ["DOCUMENT_CHECKS", "SET_CHECKS", "Check", "Held", "Submission", "run_checks"]
