"""What one intake cycle remembers from one mail to the next, so that nothing is done twice.

`UnitHistory` — the documents of each unit, and the unit names its documents give (what a reply
may call the unit): read from the database the first time a unit sends in the cycle, then kept
up to date with what the cycle itself records.

A unit that sends its set five times in a backfill was read five times, each time with every
earlier version and its mail; now it is read once. What the cycle writes is added only once
the mail's own transaction (its savepoint) has succeeded: a mail rolled back leaves no trace.
Changes other processes make meanwhile (the office confirming a sender) are seen from the next
cycle on, as the set of recorded UIDs is (`cycle.recorded_uids`). The units sent for most
recently are kept, `UNITS_KEPT` of them: a backfill of thousands of units costs what it did
before, never the memory of all their documents.

`ReadDocuments` — attachments already read this cycle, by content: a unit that sends its set
again with one form corrected has the other forms read once. Reading is a pure function of the
file, its name, its format and the campaign's rules.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256

from mailbot.campaign.dossier import pick_latest
from mailbot.campaign.rules import Campaign
from mailbot.documents import ReadDocument
from mailbot.store.handles import Session
from mailbot.store.models import Document, Unit
from mailbot.store.queries.dossier import unit_documents
from mailbot.store.queries.units import names_given

UNITS_KEPT = 100
DOCUMENTS_KEPT = 300  # a few megabytes of text at most


class UnitHistory:
    """Each unit's recognised documents in the dossier's order (oldest mail first, then id)."""

    def __init__(self) -> None:
        self._rows: OrderedDict[int, list[Document]] = OrderedDict()
        self._proposed: dict[int, list[Document]] = {}
        # The unit names (推荐单位) all of a unit's documents give, the unrecognised ones too.
        self._names: OrderedDict[int, set[str]] = OrderedDict()
        self._proposed_names: dict[int, set[str]] = {}

    def latest(self, session: Session, unit: Unit, campaign: Campaign,
               added: Iterable[Document]) -> list[Document]:
        """The versions that count (`dossier.latest_documents`) with this mail's rows `added`
        (flushed: they have their ids). Kept for the next mail once `keep` is called."""
        known = self._rows.get(unit.id)
        if known is None:  # read once; the query already finds this mail's flushed rows
            rows = list(unit_documents(session, unit.id))
        else:
            rows = sorted([*known, *(row for row in added if row.kind != "unknown")],
                          key=lambda row: (row.message.received_at, row.id))
        self._proposed[unit.id] = rows
        names = self._names.get(unit.id)
        if names is not None:  # every mail of the unit passes here: the names stay complete
            self._proposed_names[unit.id] = names | {row.unit_name for row in added
                                                     if row.unit_name}
        return pick_latest(rows, campaign)

    def names(self, session: Session, unit: Unit) -> set[str]:
        """The unit names (推荐单位) the unit's documents give, this mail's included (asked
        after `latest`): read once a cycle, as the documents are."""
        names = self._proposed_names.get(unit.id)
        if names is None:  # the query finds this mail's rows: they are flushed
            names = self._proposed_names[unit.id] = names_given(session, unit.id)
        return names

    def keep(self) -> None:
        """The mail's transaction succeeded: what it added is part of the history."""
        for unit_id, rows in self._proposed.items():
            self._rows[unit_id] = rows
            self._rows.move_to_end(unit_id)
        while len(self._rows) > UNITS_KEPT:
            self._rows.popitem(last=False)
        for unit_id, names in self._proposed_names.items():
            self._names[unit_id] = names
            self._names.move_to_end(unit_id)
        while len(self._names) > UNITS_KEPT:
            self._names.popitem(last=False)
        self._proposed.clear()
        self._proposed_names.clear()

    def forget(self) -> None:
        """The mail's transaction was rolled back: nothing it added happened."""
        self._proposed.clear()
        self._proposed_names.clear()

    def clear(self) -> None:
        """Everything is forgotten (the cycle's transaction was rolled back)."""
        self._rows.clear()
        self._proposed.clear()
        self._names.clear()
        self._proposed_names.clear()


Read = Callable[[str, bytes, str, Campaign], ReadDocument]


class ReadDocuments:
    """Attachments read this cycle, by (content, name, format, campaign). Only documents that
    could be read are kept: a conversion that failed for the moment is tried again."""

    def __init__(self) -> None:
        self._read: OrderedDict[tuple[bytes, str, str, str], ReadDocument] = OrderedDict()

    def read(self, reader: Read, filename: str, data: bytes, fmt: str,
             campaign: Campaign) -> ReadDocument:
        key = (sha256(data).digest(), filename, fmt, campaign.campaign.key)
        known = self._read.get(key)
        if known is not None:
            self._read.move_to_end(key)
            return known
        document = reader(filename, data, fmt, campaign)
        if document.readable:
            self._read[key] = document
            if len(self._read) > DOCUMENTS_KEPT:
                self._read.popitem(last=False)
        return document


@dataclass
class CycleMemory:
    """Everything one cycle remembers between its mails (and forgets at its end)."""

    units: UnitHistory = field(default_factory=UnitHistory)
    documents: ReadDocuments = field(default_factory=ReadDocuments)
