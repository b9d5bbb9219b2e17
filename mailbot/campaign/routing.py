"""Which campaign a received mail belongs to, if any (CONTRACT "Campaigns and the mailbox").

The clerk's own work mailbox receives the applications and everything else: personal mail,
meeting notices, newsletters. A mail is a campaign's when

1. it continues one of our threads (In-Reply-To/References, or its own Message-ID, name a mail
   we sent for that campaign);
2. its attachments are recognised as the campaign's forms (names or content);
3. its sender is one of the campaign's unit addresses (the roster, or units that wrote before);
4. its subject or body names the call: the title, a keyword of the rules, a document's label
   (附件1) or title (推荐审批表).

Mail the mailbox received before a campaign `opens` is never that campaign's. In a shared mailbox
a mail for no campaign is left alone (None); with `shared=False` every mail is a campaign's.

Pure: what the database knows comes in as lookups, and reading an attachment's content is the
caller's `recognise`, so this module decides and never touches a row, a file or a server.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbot.campaign.rules import Campaign
from mailbot.documents.recognise import kinds_by_name
from mailbot.mail.parse import Attachment, ParsedMessage

BODY_CHARS = 20_000  # a quoted thread below this much text adds nothing the top did not say
QUOTED_BYTES = 256 * 1024  # of a raw automatic mail searched for returned Message-IDs
_MESSAGE_ID = re.compile(rb"(?im)^(?:message-id|in-reply-to|references):[ \t]*(<[^<>\s]{1,500}>)")

# Why a mail was found to be a campaign's, for `poll --dry-run` and the logs.
THREAD, FORMS, SENDER, WORDS, MAILBOX = "回复本机器人", "附件为申报表格", "已知单位邮箱", \
    "主题或正文提及申报", "专用邮箱"


@dataclass(frozen=True)
class Known:
    """What the caller's records say, as lookups (a campaign is named by its key)."""

    thread: Callable[[str], str | None]  # a Message-ID we sent -> that campaign's key
    senders: Callable[[str], Collection[str]]  # an address -> keys of campaigns it is a unit's


@dataclass(frozen=True)
class Decision:
    campaign: Campaign | None
    why: str  # one of the reasons above; "" when the mail is no campaign's


def by_name(attachment: Attachment, campaign: Campaign) -> bool:
    """The cheap recognition: the file name matches one of the campaign's forms."""
    return bool(attachment.filename) and bool(kinds_by_name(attachment.filename, campaign))


def route(parsed: ParsedMessage, received_at: datetime, campaigns: Sequence[Campaign],
          known: Known, *, shared: bool = True,
          recognise: Callable[[Attachment, Campaign], bool] = by_name,
          quoted: Sequence[str] = ()) -> Decision:
    """The one campaign `parsed` belongs to, or Decision(None, "") (see the module docstring).

    `quoted`: Message-IDs the mail's returned parts name (`quoted_ids`); they count as the
    thread only for automatic mail — a bounce of one of our replies is that campaign's.
    Signals are tried strongest first across all open campaigns, so a mail answering one call's
    thread is never taken by another call whose keyword its subject happens to name."""
    open_ = [c for c in campaigns if c.campaign.opens_at is None
             or received_at >= c.campaign.opens_at]
    tests: list[tuple[str, Callable[[Campaign], bool]]] = [
        (THREAD, lambda c: _continues(parsed, c, known,
                                      tuple(quoted) if parsed.automatic else ())),
        (FORMS, lambda c: any(recognise(a, c) for a in parsed.attachments)),
        (SENDER, lambda c: _sender_known(parsed, c, known)),
    ]
    for why, test in tests:
        for campaign in open_:
            if test(campaign):
                return Decision(campaign, why)
    # Words last, and the most specific wins: "优秀工会工作者推荐" names that call by its title
    # even though another call's keyword "推荐" is in it too.
    named = [(_named_length(parsed, c), -i, c) for i, c in enumerate(open_)]
    best = max(named, key=lambda entry: entry[:2], default=None)
    if best is not None and best[0] > 0:
        return Decision(best[2], WORDS)
    if not shared and campaigns:
        return Decision(open_[0] if open_ else campaigns[0], MAILBOX)
    return Decision(None, "")


def quoted_ids(raw: bytes) -> tuple[str, ...]:
    """The Message-IDs named anywhere in the first part of a raw mail (a bounce returns the
    original's headers in a part of its own)."""
    return tuple(dict.fromkeys(m.decode("ascii", "replace")
                               for m in _MESSAGE_ID.findall(raw[:QUOTED_BYTES])))


def _continues(parsed: ParsedMessage, campaign: Campaign, known: Known,
               quoted: tuple[str, ...]) -> bool:
    ids = (parsed.message_id, parsed.in_reply_to or "", *parsed.references, *quoted)
    return any(known.thread(i) == campaign.campaign.key for i in ids if i)


def _sender_known(parsed: ParsedMessage, campaign: Campaign, known: Known) -> bool:
    key = campaign.campaign.key
    for address in {parsed.from_addr, parsed.reply_to} - {""}:
        if any(address in unit.emails for unit in campaign.units):
            return True
        if key in known.senders(address):
            return True
    return False


def fold(text: str) -> str:
    """Text as compared: NFKC (附件１ → 附件1, full-width letters), lower case, no whitespace."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if not ch.isspace())


def call_words(campaign: Campaign) -> tuple[str, ...]:
    """The words that name this call: title, keywords, each form's label and title."""
    info = campaign.campaign
    words = [info.title, *info.keywords]
    for spec in campaign.documents:
        words += [spec.label, spec.title]
    return tuple(dict.fromkeys(w for w in (fold(word) for word in words) if w))


def _named_length(parsed: ParsedMessage, campaign: Campaign) -> int:
    """How specifically the mail names the call: the length of the longest of its words in
    the subject or body (0: none)."""
    text = fold(parsed.subject + "\n" + parsed.body_text[:BODY_CHARS])
    return max((len(word) for word in call_words(campaign) if word in text), default=0)
