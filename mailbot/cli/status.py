"""Counts for `mailbot status`: messages by result, units by progress.

Units are counted in the status words of CONTRACT.md (已齐全, 未齐全, 未提交), every word shown
even at zero, so the office reads the same vocabulary as on the dashboard and the status pages.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from mailbot.campaign.dossier import UNIT_WORDS, campaign_progress, unsaved_progress
from mailbot.store.models import RESULTS
from mailbot.store.queries.operations import count_messages_by_result

if TYPE_CHECKING:
    from mailbot.intake.cycle import Runtime


def counts(runtime: Runtime) -> tuple[dict[str, int], dict[str, int]]:
    with runtime.sessions() as session:
        found = count_messages_by_result(session)
        by_result = {result: found.get(result, 0) for result in RESULTS}
        entries = campaign_progress(session, runtime.campaign)
        # Roster units the rules gained since the last poll: counted, not written (a reader).
        entries += unsaved_progress(runtime.campaign, [entry.unit for entry in entries])
        progress = Counter(entry.status for entry in entries)
    return by_result, {word: progress.get(word, 0) for word in UNIT_WORDS}
