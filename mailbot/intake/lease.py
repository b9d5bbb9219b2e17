"""The lease of a campaign's mailbox folder (store.coordination): of several workers on one
database, one fetches a folder at a time; it is renewed while the fetch goes on and given up at
the end, and a dead holder's lease is taken over."""

from __future__ import annotations

import logging
import time

from mailbot.config import Settings
from mailbot.mail.safetext import one_line
from mailbot.store import coordination
from mailbot.store.handles import Sessions
from mailbot.store.queries import leases

log = logging.getLogger(__name__)


class FolderLease:
    """The lease of the campaign's mailbox folder, renewed while the fetch goes on."""

    def __init__(self, sessions: Sessions, settings: Settings, campaign: str) -> None:
        self.sessions = sessions
        self.name = (f"{campaign}:{settings.imap.user}@"
                     f"{settings.imap.host}/{settings.imap_folder}")[:512]
        self.taken_at = 0.0

    def take(self) -> bool:
        answer = leases.take_lease(self.sessions, self.name)
        taken = answer.ours
        if answer.unwritable is not None:
            # The lease only spares work (the unique keys keep every mail single): a database
            # that cannot write it now is reported by the recording itself, in its own words.
            log.warning("cannot take the lease of %s, fetching without it: %s", self.name,
                        one_line(answer.unwritable))
            taken = True
        self.taken_at = time.monotonic()
        return taken

    def still_ours(self) -> bool:
        """Renewed a third of the way through: never lapses while we work."""
        if time.monotonic() - self.taken_at < coordination.LEASE_SECONDS / 3:
            return True
        return self.take()

    def release(self) -> None:
        # Whether or not the database could write it now: it expires by itself within a minute.
        leases.release_lease(self.sessions, self.name)
