"""Counts for `mailbot status`: messages by result, units by progress."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from mailbot.progress import campaign_progress
from mailbot.store import RESULTS, Message

if TYPE_CHECKING:
    from mailbot.poller import Runtime


def counts(runtime: Runtime) -> tuple[dict[str, int], dict[str, int]]:
    with runtime.sessions() as session:
        rows = session.execute(select(Message.result, func.count()).group_by(Message.result))
        found = {result: number for result, number in rows}
        by_result = {result: found.get(result, 0) for result in RESULTS}
        progress = Counter(entry.status
                           for entry in campaign_progress(session, runtime.campaign))
    return by_result, dict(sorted(progress.items()))
