"""IMAP IDLE (RFC 2177): answer a new mail within seconds instead of at the next poll.

`IdleWatcher.run` keeps one connection to the submission folder in IDLE and calls `on_news`
(the service's guarded intake cycle) whenever the server announces new mail, plus once after
every (re)connection to catch up on what arrived while it was away. It never processes mail
itself: the cycle does, on its own connection, under the service's lock.

What real servers do, and what the loop does about it:

* IDLE is re-issued every `renew_seconds` (default 24 min): RFC 2177 warns servers may log an
  idle client off after 30 minutes, and NAT boxes forget quiet connections sooner.
* A dropped connection, a BYE, a restart of the server, a timeout: reconnect, waiting 1 s, 2 s,
  4 s… up to `max_backoff` between attempts; the scheduled poll goes on meanwhile.
* No IDLE capability: the watcher says so and returns; the scheduled poll is all there is.
* The login refused (a changed password): no retry can help; `on_refused` is told, and returns.
* News that arrives while a cycle runs is announced when IDLE is re-issued — sometimes before
  the server's "+ idling", which imaplib files away in `untagged_responses`: looked at too —
  and sometimes right after it, in the same TCP segment. imaplib then holds "* 3 EXISTS" in its
  buffered reader, where waiting on the socket (imap-tools' `idle.poll`) never sees it: the news
  would wait for the next renewal, 24 minutes on. `_wait` reads what is buffered before it
  waits on the socket at all.
"""

from __future__ import annotations

import imaplib
import io
import logging
import selectors
import socket
import ssl
import threading
from collections.abc import Callable

from imap_tools.errors import ImapToolsError

from mailbot.config import Settings
from mailbot.errors import LoginRefused, MailboxError
from mailbot.mail.imap import Mailbox

log = logging.getLogger(__name__)

DEFAULT_RENEW_SECONDS = 24 * 60
DEFAULT_MIN_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 300.0
_NEWS = (b"EXISTS", b"RECENT")
_CONNECTION_ERRORS = (MailboxError, ImapToolsError, imaplib.IMAP4.error, OSError, TimeoutError,
                      EOFError)


class _Disconnected(Exception):
    """The server said BYE or closed the connection."""


class IdleWatcher:
    """Wait for new mail with IDLE and call `on_news`; survive drops; stop on request."""

    def __init__(self, settings: Settings, on_news: Callable[[], None], *,
                 renew_seconds: float = DEFAULT_RENEW_SECONDS,
                 min_backoff: float = DEFAULT_MIN_BACKOFF,
                 max_backoff: float = DEFAULT_MAX_BACKOFF,
                 on_refused: Callable[[LoginRefused], None] | None = None) -> None:
        self.settings = settings
        self.on_news = on_news
        self.on_refused = on_refused  # the login was refused: retrying cannot help
        self.renew_seconds = min(renew_seconds, 29 * 60)  # imap-tools refuses more, rightly
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stopping = threading.Event()
        self.supported: bool | None = None  # None until a connection has told us
        self.connections = 0  # successful (re)connections, for the log and the tests
        self.failures = 0  # connections lost or refused, likewise
        self.waiting = threading.Event()  # set while blocked waiting for the server's news
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        """Block until `stop()`; returns early if the server has no IDLE."""
        delay = self.min_backoff
        while not self.stopping.is_set():
            try:
                self._session()
                if self.supported is False:
                    return
                delay = self.min_backoff  # a session that ended cleanly: start over at once
            except LoginRefused as exc:
                if self.on_refused is not None:
                    self.on_refused(exc)  # the owner reports it, once
                else:
                    log.error("IMAP IDLE stopped: %s", exc)
                return
            except (*_CONNECTION_ERRORS, _Disconnected) as exc:
                if self.stopping.is_set():
                    break
                self.failures += 1
                log.warning("IMAP IDLE connection lost (%s); reconnecting in %.0f s",
                            exc or type(exc).__name__, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.max_backoff)

    def stop(self) -> None:
        """Make `run` return soon: a blocked wait is woken by shutting its socket down."""
        self.stopping.set()
        with self._lock:
            if self._socket is not None:
                try:
                    self._socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _session(self) -> None:
        with Mailbox(self.settings) as box:
            box.open_folder()
            if not box.has("IDLE"):
                self.supported = False
                log.info("IMAP server offers no IDLE: new mail is fetched by the scheduled poll")
                return
            self.supported = True
            with self._lock:
                self._socket = box.client.sock
            self.connections += 1
            try:
                self._idle_loop(box)
            finally:
                with self._lock:
                    self._socket = None

    def _idle_loop(self, box: Mailbox) -> None:
        client = box.client
        while not self.stopping.is_set():
            # Filed by SELECT, by the last IDLE's start and DONE: the first round catches up.
            if _pop_news(client):
                self._news()
                continue
            box.box.idle.start()  # type: ignore[no-untyped-call]
            try:
                if _pop_news(client):
                    responses = [b"EXISTS"]
                else:
                    self.waiting.set()
                    try:
                        responses = _wait(client, self.renew_seconds)
                    finally:
                        self.waiting.clear()
            finally:
                if not self.stopping.is_set():
                    box.box.idle.stop()  # type: ignore[no-untyped-call]
            if any(line.startswith(b"* BYE") for line in responses):
                raise _Disconnected("server said BYE")
            if self.stopping.is_set():
                return
            if not responses and _closed(client):
                raise _Disconnected("connection closed")
            if any(word in line for line in responses for word in _NEWS):
                self._news()

    def _news(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self.on_news()
        except Exception:  # the cycle logs its own failures; the watcher must outlive them
            log.exception("intake cycle after IDLE news failed")


def _pop_news(client: imaplib.IMAP4) -> bool:
    found = False
    for name in ("EXISTS", "RECENT"):
        if client.untagged_responses.pop(name, None):
            found = True
    return found


def _wait(client: imaplib.IMAP4, timeout: float) -> list[bytes]:
    """The server's lines within `timeout` ([] when none came). A line imaplib has already read
    into its buffer counts at once; a closed connection raises IMAP4.abort (EOF)."""
    if not _buffered(client):
        with selectors.DefaultSelector() as selector:
            selector.register(client.sock, selectors.EVENT_READ)
            if not selector.select(timeout):
                return []
    lines = [client._get_line()]
    while _buffered(client):
        lines.append(client._get_line())
    return lines


def _buffered(client: imaplib.IMAP4) -> bool:
    """Whether a line can be read without waiting: bytes in imaplib's reader or TLS's buffer.

    `peek` on the reader returns its buffer; only when that is empty does it try the socket,
    made non-blocking for the moment, so this never waits (that read keeps what it got)."""
    sock = client.sock
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    previous = sock.gettimeout()
    sock.settimeout(0)
    reader = client.file
    try:
        return isinstance(reader, io.BufferedReader) and bool(reader.peek(1))
    except OSError:  # nothing there yet (EAGAIN, SSLWantRead)
        return False
    finally:
        sock.settimeout(previous)


def _closed(client: imaplib.IMAP4) -> bool:
    """Whether the peer closed the connection (poll saw EOF and read nothing)."""
    try:
        client.noop()
    except (imaplib.IMAP4.error, OSError):
        return True
    return False
