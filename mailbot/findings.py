"""Typed findings: what a check or a reader says about a submission.

A finding is data, not an exception: checks return lists of them and the pipeline decides.
`message` is Chinese, written for the applicant; `fix` says how to put it right.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"  # the set cannot be accepted until this is fixed (补正)
    WARNING = "warning"  # reported, but does not stop acceptance
    INFO = "info"  # noted in the record only (e.g. lateness under the accept policy)


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    fix: str = ""
    severity: Severity = Severity.ERROR
    document: str | None = None  # the attachment's file name, when the finding is about one

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR
