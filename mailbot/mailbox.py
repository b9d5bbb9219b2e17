"""The submission mailbox over IMAP (imap-tools), seen as: which mail is new, fetch it, mark it.

New means "not yet marked handled": marked by a keyword (`$MailbotHandled`) and, when a folder is
configured and the server can MOVE, moved there. The database is the real record — a mail
recorded but not yet marked (a crash between the two) is only marked on the next poll.
Nothing here ever deletes or expunges: imap-tools' flag() and move() fallbacks both EXPUNGE,
which would also erase mail the office deleted by hand, so STORE and MOVE are issued directly.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError
from imap_tools.imap_utf7 import utf7_encode

from mailbot.config import Settings
from mailbot.errors import MailboxError

DEFAULT_IMAP_TIMEOUT = 60.0
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    received_at: datetime  # INTERNALDATE: when the mailbox received it (aware)
    raw: bytes


class Mailbox:
    """One logged-in IMAP connection to the submission folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.imap_folder
        self._box: BaseMailBox | None = None
        self._capabilities: set[bytes] = set()

    def __enter__(self) -> Mailbox:
        server = self.settings.imap
        port = server.port_for("imap")
        self.settings.require_imap()
        try:
            box: BaseMailBox
            if server.security == "ssl":
                box = MailBox(server.host, port, timeout=DEFAULT_IMAP_TIMEOUT,
                              ssl_context=ssl.create_default_context())
            elif server.security == "starttls":
                box = MailBoxStartTls(server.host, port, timeout=DEFAULT_IMAP_TIMEOUT,
                                      ssl_context=ssl.create_default_context())
            else:
                box = MailBoxUnencrypted(server.host, port, timeout=DEFAULT_IMAP_TIMEOUT)
            box.login(server.user, server.password, initial_folder=None)
        except (TimeoutError, ImapToolsError, imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"IMAP {server.host}:{port}: cannot log in as {server.user}: "
                               f"{_reason(exc)}") from exc
        self._box = box
        # Servers may list more after login (MOVE, UIDPLUS); imaplib keeps the greeting's list.
        typ, data = self._call("CAPABILITY", box.client.capability)
        self._capabilities = set((data[0] or b"").upper().split()) if typ == "OK" else set()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._box is not None:
            try:
                self._box.logout()
            except (ImapToolsError, imaplib.IMAP4.error, OSError):
                pass  # the connection is going away anyway
            self._box = None

    @property
    def client(self) -> imaplib.IMAP4:
        if self._box is None:
            raise MailboxError("IMAP connection is not open")
        return self._box.client

    def open_folder(self) -> int:
        """Select the submission folder read-write; returns its UIDVALIDITY."""
        typ, _data = self._call("SELECT", lambda: self.client.select(_quote(self.folder)))
        if typ != "OK":
            raise MailboxError(f"IMAP folder {self.folder!r} cannot be opened: {_data!r}")
        values = self.client.untagged_responses.get("UIDVALIDITY") or [b"0"]
        last = values[-1]
        return int(last if isinstance(last, bytes) else last[0])

    def pending_uids(self) -> list[int]:
        """UIDs not yet marked handled, oldest first."""
        keyword = self.settings.handled_keyword
        typ, data = self._call("SEARCH", lambda: self.client.uid("SEARCH", "UNKEYWORD", keyword))
        if typ != "OK":  # a server without keywords: the database filters out handled mail
            typ, data = self._call("SEARCH", lambda: self.client.uid("SEARCH", "ALL"))
        return sorted(int(uid) for uid in (data[0] or b"").split())

    def fetch(self, uid: int) -> FetchedMail | None:
        """The whole mail as the server holds it, without setting \\Seen; None if it is gone."""
        typ, data = self._call("FETCH", lambda: self.client.uid(
            "FETCH", str(uid), "(UID INTERNALDATE BODY.PEEK[])"))
        if typ != "OK":
            raise MailboxError(f"IMAP FETCH of UID {uid} failed: {data!r}")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                meta, raw = item
                found = _INTERNALDATE.search(meta)
                if found is None:  # some servers put INTERNALDATE after the literal
                    found = _INTERNALDATE.search(b" ".join(x for x in data if isinstance(x, bytes)))
                if found is None:
                    raise MailboxError(f"IMAP server sent no INTERNALDATE for UID {uid}")
                return FetchedMail(uid=uid, received_at=_parse_internaldate(found.group(1)),
                                   raw=bytes(raw))
        return None

    def mark_handled(self, uid: int) -> None:
        """Mark a recorded mail on the server: keyword, then move if a folder is configured."""
        keyword = self.settings.handled_keyword
        self._call("STORE", lambda: self.client.uid("STORE", str(uid), "+FLAGS", f"({keyword})"))
        target = self.settings.handled_folder
        if target and b"MOVE" in self._capabilities:
            self._call("CREATE", lambda: self.client.create(_quote(target)))  # fails if exists
            typ, data = self._call("MOVE", lambda: self.client.uid("MOVE", str(uid),
                                                                   _quote(target)))
            if typ != "OK":
                raise MailboxError(f"IMAP MOVE of UID {uid} to {target!r} failed: {data!r}")

    def _call(self, what: str, command: Callable[[], tuple[str, list[Any]]]
              ) -> tuple[str, list[Any]]:
        try:
            return command()
        except (TimeoutError, imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"IMAP {what} failed: {_reason(exc)}") from exc


def _parse_internaldate(value: bytes) -> datetime:
    return datetime.strptime(value.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")


def _quote(folder: str) -> str:
    encoded = utf7_encode(folder).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
