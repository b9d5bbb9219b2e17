"""A mail the office assigned to a unit from the quarantine: processed as that unit's mail.

The office has read the mail and says whose it is, so routing and the sender's claim are not
asked (`pipeline.handle(..., unit=…)`). A mail without a usable sender address — the usual reason
it was quarantined — is answered at the unit's known address instead: the reply, the hourly
limit and the office's later answers all follow `reply_to`, so that is the one field changed.
"""

from __future__ import annotations

from dataclasses import replace

from mailbot.mail import addresses
from mailbot.mail.parse import NO_SENDER, ParsedMessage
from mailbot.store.models import Unit


def for_unit(parsed: ParsedMessage, unit: Unit) -> ParsedMessage:
    """The parsed mail as the unit's: its reply address the unit's when it has none usable."""
    if addresses.normalise(parsed.reply_to or parsed.from_addr) is not None:
        return parsed
    known = [a.address for a in unit.addresses]
    # Without any address the mail is still processed; its reply is held ("找不到回复地址").
    unprocessable = None if parsed.unprocessable == NO_SENDER else parsed.unprocessable
    return replace(parsed, reply_to=known[0] if known else "", unprocessable=unprocessable)
