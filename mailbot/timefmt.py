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


_OFFSET_UNITS = {"d": "天", "h": "小时", "m": "分钟"}


def before_deadline(offset: str) -> str:
    """A reminder offset from the rules as the office reads it: "1d" → "截止前1天",
    "3h" → "截止前3小时" (anything unexpected is shown as written)."""
    text = offset.strip().lower()
    number, unit = text[:-1].strip(), text[-1:]
    if number.isdigit() and unit in _OFFSET_UNITS:
        return f"截止前{int(number)}{_OFFSET_UNITS[unit]}"
    return f"截止前{offset}"
