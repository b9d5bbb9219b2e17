"""After the server renumbered a folder (a new UIDVALIDITY), find our mail again by Message-ID.

UIDs are only meaningful under one UIDVALIDITY. A server migration, a restore from backup, or a
folder deleted and recreated hands out a new UIDVALIDITY, new UIDs — and often drops our
`$MailbotHandled` keywords with them, so every mail looks new. Downloading and re-reading the
whole folder would be slow, and only the Message-ID check in the pipeline would stand between the
applicants and a second reply. Instead: fetch just the Message-ID headers of the pending mail,
and every one we already recorded gets its new place (a `mailbox_uids` row) at once, so the
cycle marks it handled without fetching it. Mail without a Message-ID, or not recorded yet, is
fetched as usual — and the pipeline's Message-ID check still catches any duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mailbot.mail.imap import Mailbox
from mailbot.store.handles import Sessions
from mailbot.store.models import MailboxUid
from mailbot.store.queries import mailbox as recorded

log = logging.getLogger(__name__)


def adopt_renumbered(sessions: Sessions, box: Mailbox, uidvalidity: int,
                     pending: Sequence[int]) -> int:
    """Record the new places of known mail when `uidvalidity` is new for this folder.

    Returns how many pending UIDs turned out to be mail already recorded."""
    if not pending:
        return 0
    with sessions() as session:
        seen_before = recorded.folder_uidvalidities(session, box.folder)
    if not seen_before or uidvalidity in seen_before:
        return 0  # a first run, or nothing renumbered
    log.warning("IMAP folder %s has a new UIDVALIDITY (%s, was %s): matching by Message-ID",
                box.folder, uidvalidity, ", ".join(str(v) for v in seen_before))
    ids = box.message_ids(pending)
    adopted = 0
    with sessions.begin() as session:
        known = recorded.message_pks(session, ids.values())
        for uid, message_id in ids.items():
            if message_id in known:
                session.add(MailboxUid(folder=box.folder, uidvalidity=uidvalidity, uid=uid,
                                       message_pk=known[message_id]))
                adopted += 1
    return adopted
