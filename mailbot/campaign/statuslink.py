"""A unit's personal status link (CONTRACT "Replies"): `{public_url}/s/{token}`.

The token is 128 random bits kept on the unit, issued the first time a reply or reminder to the
unit is written and carried by every later one. Knowing it is the only credential the status page
asks for, so it is never derived from anything guessable; the office can revoke it (the page is
then a 404) or reissue a new one, which also revokes the old.
"""

from __future__ import annotations

import secrets

from mailbot.store.models import Unit

TOKEN_BYTES = 16


def issue(unit: Unit) -> str:
    """A new token for the unit; any earlier link stops working."""
    unit.status_token = secrets.token_urlsafe(TOKEN_BYTES)
    return unit.status_token


def revoke(unit: Unit) -> None:
    unit.status_token = None


def url_for_unit(public_url: str, unit: Unit | None) -> str:
    """The unit's link, issuing a token when it has none; "" when no public URL is set."""
    if not public_url or unit is None:
        return ""
    token = unit.status_token or issue(unit)
    return f"{public_url.rstrip('/')}/s/{token}"


def plausible(token: str) -> bool:
    """Only what `issue` can make is looked up (anything else is a 404 without a query)."""
    return 16 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)
