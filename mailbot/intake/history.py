"""The documents of each unit as one intake cycle knows them: read from the database the first
time a unit sends in the cycle, then kept up to date with what the cycle itself records.

A unit that sends its set five times in a backfill was read five times, each time with every
earlier version and its mail; now it is read once. What the cycle writes is added only once
the mail's own transaction (its savepoint) has succeeded: a mail rolled back leaves no trace.
Changes other processes make meanwhile (the office confirming a sender) are seen from the next
cycle on, as the set of recorded UIDs is (`cycle.recorded_uids`). The units sent for most
recently are kept, `UNITS_KEPT` of them: a backfill of thousands of units costs what it did
before, never the memory of all their documents.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from mailbot.campaign.dossier import pick_latest
from mailbot.campaign.rules import Campaign
from mailbot.store.handles import Session
from mailbot.store.models import Document, Unit
from mailbot.store.queries.intake import unit_documents_in_order

UNITS_KEPT = 100


class UnitHistory:
    """Each unit's recognised documents in the dossier's order (oldest mail first, then id)."""

    def __init__(self) -> None:
        self._rows: OrderedDict[int, list[Document]] = OrderedDict()
        self._proposed: dict[int, list[Document]] = {}

    def latest(self, session: Session, unit: Unit, campaign: Campaign,
               added: Iterable[Document]) -> list[Document]:
        """The versions that count (`dossier.latest_documents`) with this mail's rows `added`
        (flushed: they have their ids). Kept for the next mail once `keep` is called."""
        known = self._rows.get(unit.id)
        if known is None:  # read once; the query already finds this mail's flushed rows
            rows = unit_documents_in_order(session, unit.id)
        else:
            rows = sorted([*known, *(row for row in added if row.kind != "unknown")],
                          key=lambda row: (row.message.received_at, row.id))
        self._proposed[unit.id] = rows
        return pick_latest(rows, campaign)

    def keep(self) -> None:
        """The mail's transaction succeeded: what it added is part of the history."""
        for unit_id, rows in self._proposed.items():
            self._rows[unit_id] = rows
            self._rows.move_to_end(unit_id)
        while len(self._rows) > UNITS_KEPT:
            self._rows.popitem(last=False)
        self._proposed.clear()

    def forget(self) -> None:
        """The mail's transaction was rolled back: nothing it added happened."""
        self._proposed.clear()

    def clear(self) -> None:
        """Everything is forgotten (the cycle's transaction was rolled back)."""
        self._rows.clear()
        self._proposed.clear()
