"""Times as people read them: Asia/Shanghai, `YYYY-MM-DD HH:MM:SS` (CONTRACT.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

OFFICE_ZONE = ZoneInfo("Asia/Shanghai")


def show(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return local(moment).strftime("%Y-%m-%d %H:%M:%S")


def local(moment: datetime) -> datetime:
    """The moment in office time; a naive value (as SQLite returns it) is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(OFFICE_ZONE)


def utcnow() -> datetime:
    return datetime.now(UTC)
