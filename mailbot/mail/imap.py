"""The submission mailbox over IMAP (imap-tools), seen as: which mail is new, fetch it, mark it.

New means "not yet marked handled": marked by a keyword (`$MailbotHandled`) and, when a folder is
configured and the server can MOVE, moved there (one folder per result if so configured; "/" in
a configured name is a subfolder, translated to the server's own separator). The
database is the real record — a mail recorded but not yet marked (a crash between the two) is
only marked on the next poll. Nothing here ever deletes or expunges: imap-tools' flag() and move()
fallbacks both EXPUNGE, which would also erase mail the office deleted by hand, so STORE and MOVE
are issued directly; without MOVE, handled mail is only flagged.

Real servers, and what each needs:

* SSL (993) or STARTTLS (143), verified against the system's CAs plus `imap.ca_file`;
* NetEase 163/126 refuse SELECT ("Unsafe Login") until the client says who it is with the
  ID command (RFC 2971): sent after login whenever the server advertises ID;
* QQ Mail and 163 take an authorisation code (授权码) instead of the web password;
* Microsoft 365 takes only OAuth2: `imap.auth = "xoauth2"` with an access token, or a command
  printing a fresh one at every login (tokens live an hour).

A mail over `max_message_bytes` (by RFC822.SIZE, asked first) is never downloaded: only its
header is, bounded, so memory stays bounded whatever arrives; `FetchedMail.omitted` says so.
`fetch_all` asks for the sizes of many mails in one command and then fetches several whole mails
per round trip, at most FETCH_BATCH_BYTES of them (a larger mail under the limit comes alone).
"""

from __future__ import annotations

import functools
import imaplib
import logging
import re
import shlex
import ssl
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxLoginError

from mailbot import __version__
from mailbot.config import Settings
from mailbot.errors import MailboxError
from mailbot.mail import logins
from mailbot.mail.fetched import (
    _INTERNALDATE,
    _MESSAGE_ID,
    _SIZE,
    _UID,
    FetchedMail,
    batch_uids,
    parse_internaldate,
    quote_folder,
    uid_set,
)
from mailbot.store.models import IGNORED, QUARANTINED

log = logging.getLogger(__name__)

DEFAULT_IMAP_TIMEOUT = 60.0
TOKEN_COMMAND_TIMEOUT = 60.0
HEADER_LIMIT = 256 * 1024  # of an oversized mail only this much of the header is fetched
ID_FIELDS = {"name": "mailbot", "version": __version__, "vendor": "mailbot"}
META_BATCH = 500  # UIDs whose size and date are asked in one FETCH
MARK_BATCH = 200  # UIDs marked (or moved) by one command



class Mailbox:
    """One logged-in IMAP connection to the submission folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.imap_folder
        self._box: BaseMailBox | None = None
        self._capabilities: set[bytes] = set()
        self._created: set[str] = set()
        self._separator: str | None = None
        self.server_id: dict[str, str] = {}  # what the server said about itself in ID

    def __enter__(self) -> Mailbox:
        server = self.settings.imap
        port = server.port_for("imap")
        self.settings.require_imap()
        box: BaseMailBox | None = None
        try:
            box = self._connect(port)
            self._login(box)
        except (TimeoutError, ImapToolsError, imaplib.IMAP4.error, OSError, MailboxError) as exc:
            if box is not None:
                _close(box)
            if isinstance(exc, MailboxError):
                raise
            raise MailboxError(f"IMAP {server.host}:{port}: cannot log in as {server.user}: "
                               f"{_reason(exc)}") from exc
        self._box = box
        try:
            # Servers may list more after login (MOVE, UIDPLUS, ID); imaplib keeps the greeting's.
            typ, data = self._call("CAPABILITY", box.client.capability)
            self._capabilities = set((data[0] or b"").upper().split()) if typ == "OK" else set()
            if b"ID" in self._capabilities:
                self._send_id()
        except BaseException:
            # `with` calls __exit__ only after __enter__ returned: free the connection here.
            _close(box)
            self._box = None
            raise
        return self

    def _login(self, box: BaseMailBox) -> None:
        """LOGIN or XOAUTH2. The server's NO is a refusal (MailboxLoginRefused: one line, exit 2,
        no retry) unless it says the failure is temporary; a broken connection is not."""
        server = self.settings.imap
        try:
            if server.auth == "xoauth2":
                box.xoauth2(server.user, self._access_token(), initial_folder=None)
            else:
                box.login(server.user, server.password, initial_folder=None)
        except MailboxLoginError as exc:
            said = b" ".join(x for x in exc.command_result[1] if isinstance(x, bytes))
            self._refused(said.decode("utf-8", "replace") or str(exc))
        except imaplib.IMAP4.abort:
            raise  # the connection broke: the network, retried
        except imaplib.IMAP4.error as exc:  # AUTHENTICATE's NO, or BAD
            self._refused(_reason(exc))
        except UnicodeEncodeError:
            self._refused("用户名或密码含非 ASCII 字符，IMAP LOGIN 无法发送")

    def _refused(self, said: str) -> NoReturn:
        if logins.imap_temporary(said):
            raise MailboxError(f"IMAP {self.settings.imap.host}: login failed for now: "
                               f"{logins.one_line(said)}")
        raise logins.imap_refused(self.settings, said)

    def _connect(self, port: int) -> BaseMailBox:
        server = self.settings.imap
        if server.security == "none":
            return MailBoxUnencrypted(server.host, port, timeout=DEFAULT_IMAP_TIMEOUT)
        context = ssl.create_default_context(cafile=server.ca_file or None)
        if server.security == "ssl":
            return MailBox(server.host, port, timeout=DEFAULT_IMAP_TIMEOUT, ssl_context=context)
        return MailBoxStartTls(server.host, port, timeout=DEFAULT_IMAP_TIMEOUT,
                               ssl_context=context)

    def _access_token(self) -> str:
        server = self.settings.imap
        if not server.oauth2_token_command:
            return server.oauth2_token
        try:
            done = subprocess.run(shlex.split(server.oauth2_token_command), capture_output=True,
                                  text=True, timeout=TOKEN_COMMAND_TIMEOUT, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise MailboxError(f"imap.oauth2_token_command failed: {_reason(exc)}") from exc
        token = done.stdout.strip()
        if not token:
            raise MailboxError("imap.oauth2_token_command printed no token")
        return token

    def _send_id(self) -> None:
        """RFC 2971 ID: 163/126 refuse SELECT without it; others log it, or ignore it."""
        fields = " ".join(f'"{k}" "{v}"' for k, v in ID_FIELDS.items())
        typ, _data = self._call("ID", lambda: self.client.xatom("ID", f"({fields})"))
        if typ != "OK":
            log.warning("IMAP server refused the ID command: %r", _data)
            return
        answer = self.client.untagged_responses.pop("ID", [None])[-1]
        if isinstance(answer, bytes):
            pairs = re.findall(rb'"((?:[^"\\]|\\.)*)"', answer)
            self.server_id = {pairs[i].decode(errors="replace"): pairs[i + 1].decode(
                errors="replace") for i in range(0, len(pairs) - 1, 2)}

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._box is not None:
            try:
                self._box.logout()
            except (ImapToolsError, imaplib.IMAP4.error, OSError):
                _close(self._box)  # the connection is going away anyway: free the socket
            self._box = None

    @property
    def box(self) -> BaseMailBox:
        if self._box is None:
            raise MailboxError("IMAP connection is not open")
        return self._box

    @property
    def client(self) -> imaplib.IMAP4:
        return self.box.client

    def has(self, capability: str) -> bool:
        return capability.upper().encode() in self._capabilities

    def open_folder(self, readonly: bool = False) -> int:
        """Select the submission folder read-write (`readonly`: EXAMINE, which changes no
        flag, not even \\Recent); returns its UIDVALIDITY."""
        typ, _data = self._call("SELECT", lambda: self.client.select(quote_folder(self.folder),
                                                                     readonly=readonly))
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

    def message_ids(self, uids: Iterable[int]) -> dict[int, str]:
        """UID -> Message-ID (with angle brackets) for those that have one; headers only."""
        wanted = ",".join(str(uid) for uid in uids)
        if not wanted:
            return {}
        typ, data = self._call("FETCH", lambda: self.client.uid(
            "FETCH", wanted, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
        found: dict[int, str] = {}
        for item in data if typ == "OK" else []:
            if isinstance(item, tuple) and len(item) == 2:
                uid, value = _UID.search(item[0]), _MESSAGE_ID.search(item[1] or b"")
                if uid and value:
                    found[int(uid.group(1))] = value.group(0).decode("ascii", "replace")
        return found

    def fetch(self, uid: int, header_only_before: datetime | None = None) -> FetchedMail | None:
        """The mail as the server holds it, without setting \\Seen; None if it is gone.

        Over `max_message_bytes` only the header is fetched (`FetchedMail.omitted` > 0); so is
        a mail received before `header_only_before` (`early`: in a shared mailbox, older than
        every campaign, so nobody's: years of the clerk's mail are never downloaded). A mail
        the server cannot serve (it answers NO) is skipped with a warning: the poll goes on with
        the next one, and this one is tried again at the next poll."""
        typ, data = self._call("FETCH", lambda: self.client.uid(
            "FETCH", str(uid), "(UID RFC822.SIZE INTERNALDATE)"))
        meta = b" ".join(x if isinstance(x, bytes) else x[0] for x in data
                         if isinstance(x, bytes | tuple)) if typ == "OK" else b""
        date, size = _INTERNALDATE.search(meta), _SIZE.search(meta)
        if typ != "OK" or date is None:
            if typ == "OK":
                return None  # no such UID any more
            log.warning("IMAP server cannot serve UID %s (%r); skipped this time", uid, data)
            return None
        received_at = parse_internaldate(date.group(1))
        total = int(size.group(1)) if size else 0
        omitted = total if total > self.settings.max_message_bytes else 0
        early = header_only_before is not None and received_at < header_only_before
        item = f"BODY.PEEK[HEADER]<0.{HEADER_LIMIT}>" if omitted or early else "BODY.PEEK[]"
        typ, data = self._call("FETCH", lambda: self.client.uid("FETCH", str(uid),
                                                               f"(UID {item})"))
        if typ != "OK":
            log.warning("IMAP server cannot serve UID %s (%r); skipped this time", uid, data)
            return None
        for part in data:
            if isinstance(part, tuple) and len(part) == 2:
                return FetchedMail(uid=uid, received_at=received_at, raw=bytes(part[1]),
                                   omitted=0 if early else omitted, early=early)
        return None

    def fetch_all(self, uids: Sequence[int],
                  header_only_before: datetime | None = None) -> Iterator[FetchedMail]:
        """What fetch() gives for each of `uids`, with fewer round trips: one FETCH of sizes
        and dates per META_BATCH mails, one of whole mails per batch_uids() group. A mail gone
        meanwhile is left out; a batch the server refuses is fetched one mail at a time, so only
        the mail it cannot serve is skipped (as fetch() does). Mail received before
        `header_only_before` comes first, header only, as fetch() gives it."""
        one = functools.partial(self.fetch, header_only_before=header_only_before)
        for start in range(0, len(uids), META_BATCH):
            chunk = uids[start:start + META_BATCH]
            meta = self._metadata(chunk)
            if meta is None:
                yield from filter(None, map(one, chunk))
                continue
            early = {uid for uid in chunk if uid in meta and header_only_before is not None
                     and meta[uid][0] < header_only_before}
            yield from filter(None, map(one, [uid for uid in chunk if uid in early]))
            limit = self.settings.max_message_bytes
            sizes = [(uid, meta[uid][1]) for uid in chunk if uid in meta and uid not in early]
            for group in batch_uids(sizes, limit):
                if len(group) == 1 and meta[group[0]][1] > limit:
                    fetched = one(group[0])  # only its header: fetch() knows how
                    if fetched is not None:
                        yield fetched
                    continue
                bodies = self._bodies(group)
                if bodies is None:
                    yield from filter(None, map(one, group))
                    continue
                for uid in group:
                    if uid in bodies:
                        yield FetchedMail(uid=uid, received_at=meta[uid][0], raw=bodies.pop(uid))

    def _metadata(self, uids: Sequence[int]) -> dict[int, tuple[datetime, int]] | None:
        """UID -> (INTERNALDATE, RFC822.SIZE) of those still there; None if the server said NO."""
        wanted = ",".join(map(str, uids))
        typ, data = self._call("FETCH", lambda: self.client.uid(
            "FETCH", wanted, "(UID RFC822.SIZE INTERNALDATE)"))
        if typ != "OK":
            return None
        found: dict[int, tuple[datetime, int]] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid, date, size = _UID.search(line), _INTERNALDATE.search(line), _SIZE.search(line)
            if uid and date:
                found[int(uid.group(1))] = (parse_internaldate(date.group(1)),
                                            int(size.group(1)) if size else 0)
        return found

    def _bodies(self, uids: Sequence[int]) -> dict[int, bytes] | None:
        """UID -> the whole mail, for one batch; None if the server said NO."""
        wanted = ",".join(map(str, uids))
        typ, data = self._call("FETCH", lambda: self.client.uid(
            "FETCH", wanted, "(UID BODY.PEEK[])"))
        if typ != "OK":
            return None
        found: dict[int, bytes] = {}
        for index, item in enumerate(data):
            if not (isinstance(item, tuple) and len(item) == 2):
                continue
            # The UID comes before the literal or, from some servers, after it.
            after = data[index + 1] if index + 1 < len(data) else b""
            uid = _UID.search(item[0]) or _UID.search(after if isinstance(after, bytes) else b"")
            if uid:
                found[int(uid.group(1))] = bytes(item[1])
        return found

    def target_folder(self, result: str = "") -> str:
        """Where handled mail with this result goes ("": it stays, only flagged)."""
        settings = self.settings
        if result == IGNORED and settings.ignored_folder:
            return settings.ignored_folder
        if result == QUARANTINED and settings.quarantine_folder:
            return settings.quarantine_folder
        return settings.handled_folder

    def mark_handled(self, uid: int, result: str = "") -> None:
        """Mark a recorded mail on the server: keyword, then move if a folder is configured."""
        self.mark_all([(uid, result)])

    def mark_all(self, marks: Sequence[tuple[int, str]]) -> None:
        """`mark_handled` of each (UID, result), a few round trips for all: one STORE over the
        UID set, one MOVE per target folder."""
        keyword = self.settings.handled_keyword
        for start in range(0, len(marks), MARK_BATCH):
            chosen = uid_set(uid for uid, _result in marks[start:start + MARK_BATCH])
            self._call("STORE", functools.partial(self.client.uid, "STORE", chosen, "+FLAGS",
                                                  f"({keyword})"))
        moves: dict[str, list[int]] = {}
        for uid, result in marks:
            target = self.target_folder(result)
            if target and target != self.folder and b"MOVE" in self._capabilities:
                moves.setdefault(target, []).append(uid)
        for target, uids in moves.items():
            name = quote_folder(target.replace("/", self._delimiter()))
            if target not in self._created:
                # NO when it exists: fine
                self._call("CREATE", functools.partial(self.client.create, name))
                self._created.add(target)
            for start in range(0, len(uids), MARK_BATCH):
                chunk = uid_set(uids[start:start + MARK_BATCH])
                typ, data = self._call("MOVE", functools.partial(self.client.uid, "MOVE",
                                                                 chunk, name))
                if typ != "OK":
                    # The keyword is set, so the mail is not taken for new again: a folder that
                    # cannot be made (a bad name, a quota) must not stop the poll. The office
                    # sees it in INBOX.
                    log.warning("IMAP MOVE of UID %s to %r failed (%r): left in %s, marked "
                                "handled", chunk, target, data, self.folder)

    def _delimiter(self) -> str:
        """The server's hierarchy separator: "/" in configured names means a subfolder."""
        if self._separator is None:
            typ, data = self._call("LIST", lambda: self.client.list('""', '""'))
            found = re.match(rb'\([^)]*\) "(.)"', data[0] or b"") if typ == "OK" and data else None
            self._separator = found.group(1).decode() if found else "/"
        return self._separator

    def _call(self, what: str, command: Callable[[], tuple[str, list[Any]]]
              ) -> tuple[str, list[Any]]:
        try:
            return command()
        except (TimeoutError, imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"IMAP {what} failed: {_reason(exc)}") from exc


def _close(box: BaseMailBox) -> None:
    try:
        box.client.shutdown()
    except OSError:
        pass


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
