"""What every check sees (Submission) and returns (findings): the contract, written once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbot.campaign.rules import Campaign
from mailbot.documents import ReadDocument
from mailbot.findings import Finding


@dataclass(frozen=True)
class Held:
    """A document the unit holds: the latest version of one form, from this mail or an earlier."""

    kind: str  # summary | approval | material
    filename: str
    studio_key: str  # tolerant key of the studio it is about ("" when unknown)
    studio_name: str
    ok: bool  # readable and without an error finding of its own
    listed_studios: tuple[str, ...] = ()  # summary: the studio names it lists
    earlier: bool = True  # came with an earlier mail (not the one being checked)
    scan: bool = False  # a PDF or photo of the form: kept, but never stands in for the file


@dataclass(frozen=True)
class Submission:
    campaign: Campaign
    received_at: datetime  # IMAP INTERNALDATE, aware
    documents: tuple[ReadDocument, ...]  # what this mail brought, as read
    held: tuple[Held, ...]  # the unit's current set after this mail (latest version of each)


Check = Callable[[Submission], Sequence[Finding]]


def content_read(doc: ReadDocument, campaign: Campaign) -> bool:
    """Was the document's content actually read (its own format, or converted)? Only then can
    its fields, rows and 字数 be judged; a file in another format is reported by `formats`."""
    if doc.problems or not campaign.has(doc.kind):
        return False
    return doc.converted or doc.format in campaign.spec(doc.kind).formats
