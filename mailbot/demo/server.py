"""An embedded loopback mail server for ``mailbot demo``.

``mailbot demo`` must show the whole job without root, system packages or real
accounts, so it brings its own mail system: pymap's in-memory ``dict`` backend
serves IMAP and aiosmtpd serves SMTP, both on 127.0.0.1 and both in one asyncio
loop on a daemon thread.  Each SMTP message is stored straight into every
recipient's INBOX through pymap's backend API, so a reply the bot sends shows
up in the applicant's mailbox exactly as a real provider would deliver it.

pymap quirks handled here (pymap 0.36.7):

* TLS is off: pymap would advertise STARTTLS with no certificate, which a
  client could try and fail.  Passwords are kept in clear text, because the
  default PBKDF2 hash (500,000 rounds) costs ~0.3 s per login.
* The dict backend only allows the system flags as permanent flags, so a
  ``STORE +FLAGS ($MailbotHandled)`` would answer OK and silently drop the
  keyword.  Our mailboxes advertise ``\\*`` so keywords stick.
* A message appended without a date gets a naive ``datetime.now()``; we always
  pass an aware time, so INTERNALDATE carries a real offset.
* The greeting calls ``socket.getfqdn()`` on every connection (slow without
  DNS); we use a fixed greeting.  Likewise aiosmtpd's hostname.
* MOVE, UIDPLUS etc. appear only in the post-login CAPABILITY (imaplib keeps
  the pre-login list, so imap-tools falls back to COPY + EXPUNGE; both work).
* In a session that keeps INBOX selected, new mail shows only after a command
  has reported it: NOOP before searching.  FETCH answers may carry an extra
  unsolicited ``n FETCH (FLAGS ...)`` item before the one asked for.
* IDLE is not advertised by default: the bot then polls, which is what the
  demo wants (pymap's IDLE is unreliable with imap-tools).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from argparse import Namespace
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, Login
from pymap.backend.dict.filter import FilterSet
from pymap.backend.dict.mailbox import MailboxData, MailboxSet
from pymap.concurrent import Subsystem
from pymap.config import BackendCapability
from pymap.imap import IMAPServer
from pymap.parsing.message import AppendMessage
from pymap.parsing.specials import FetchRequirement, ObjectId
from pymap.parsing.specials.flag import Flag, Wildcard
from pymap.user import UserMetadata
from pysasl.hashing import Cleartext

__all__ = ["DemoMailServer", "DemoServerError"]

_START_TIMEOUT = 10.0  # seconds; startup normally takes a few tens of ms
_CALL_TIMEOUT = 10.0
_T = TypeVar("_T")


def _hide_aiosmtpd_login_data_warning(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 logs "Session.login_data is deprecated" on every successful
    # AUTH, from its own code; it would show up in the demo's output.
    return not str(record.msg).startswith("Session.login_data is deprecated")


class DemoServerError(RuntimeError):
    """The embedded mail server could not start or answer."""


class _KeywordMailboxData(MailboxData):
    # \* in PERMANENTFLAGS lets clients store keywords such as $MailbotHandled.
    @property
    def permanent_flags(self) -> frozenset[Flag]:
        return super().permanent_flags | {Wildcard}


class _KeywordMailboxSet(MailboxSet):
    """A MailboxSet whose INBOX and new folders all keep keywords."""

    def __init__(self) -> None:
        super().__init__()
        self._inbox = self._new_mailbox()

    def _new_mailbox(self) -> MailboxData:
        return _KeywordMailboxData(self._content_cache, self._thread_cache)

    async def add_mailbox(self, name: str) -> ObjectId:
        object_id = await super().add_mailbox(name)
        async with self._set_lock.write_lock():
            # super() built a plain MailboxData; it is still empty, so swap it.
            self._set[name] = mbx = self._new_mailbox()
            mbx._mailbox_id = object_id
        return object_id

    async def rename_mailbox(self, before: str, after: str) -> None:
        await super().rename_mailbox(before, after)
        if not isinstance(self._inbox, _KeywordMailboxData):
            self._inbox = self._new_mailbox()  # RENAME INBOX leaves a new, empty one


class _DemoConfig(Config):
    def __init__(self, *args: Any, idle: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle = idle

    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(idle=self._idle, object_id=True, multi_append=True)

    @property
    def greeting(self) -> bytes:
        return b"mailbot demo IMAP ready"  # avoids a getfqdn() per connection


class DemoMailServer:
    """pymap IMAP (dict backend, in memory) + aiosmtpd SMTP on 127.0.0.1, in a background thread."""

    host: str
    imap_port: int
    smtp_port: int
    delivered: list[tuple[str, list[str], bytes]]

    def __init__(self, users: Mapping[str, str], *, idle: bool = False) -> None:
        self.host = "127.0.0.1"
        self.imap_port = 0
        self.smtp_port = 0
        self.delivered = []
        self._users = dict(users)
        self._idle = idle
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._config: _DemoConfig | None = None
        self._login: Login | None = None
        self.startup_seconds = 0.0  # of the last start(), for the demo to print

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise DemoServerError("demo mail server already started")
        self._ready.clear()
        self._error = None
        self._stopping = None
        self.delivered.clear()  # mailboxes start empty again too: all state is in memory
        smtp_log = logging.getLogger("mail.log")
        if _hide_aiosmtpd_login_data_warning not in smtp_log.filters:
            smtp_log.addFilter(_hide_aiosmtpd_login_data_warning)
        began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="mailbot-demo-mail", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or self._error is not None:
            self.stop()
            raise DemoServerError(f"demo mail server did not start: {self._error or 'timeout'}")
        # Listening is not answering: probe both the way a client would.
        self._probe(self.imap_port, b"* OK", None)
        self._probe(self.smtp_port, b"220", b"QUIT\r\n")
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and self._stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stopping.set)
        if thread is not None:
            thread.join(_START_TIMEOUT)
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _probe(self, port: int, expect: bytes, goodbye: bytes | None) -> None:
        try:
            with socket.create_connection((self.host, port), timeout=_START_TIMEOUT) as sock:
                greeting = sock.makefile("rb").readline()
                if goodbye:
                    sock.sendall(goodbye)
        except OSError as exc:
            self.stop()
            raise DemoServerError(f"demo mail server on port {port} did not answer: {exc}") from exc
        if not greeting.startswith(expect):
            self.stop()
            raise DemoServerError(f"demo mail server on port {port} greeted {greeting!r}")

    # -- the server thread ---------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        args = Namespace(debug=False, passlib_cfg=None, proxy_protocol=None,
                         inherited_sockets=None, host=self.host, port=0)
        config = _DemoConfig(
            args, host=self.host, port=0, idle=self._idle,
            demo_data=False, demo_user="", demo_password="",
            tls_enabled=False,  # else LOGIN needs STARTTLS
            ssl_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
            hash_context=Cleartext(), cpu_subsystem=Subsystem.for_asyncio(),
            invalid_user_sleep=0.0, reject_dnsbl=False)
        login = Login(config)
        self._config, self._login = config, login
        for user, password in self._users.items():
            await self._add_user(user, password)
        imap = IMAPServer(login, config)
        imap_cb = ProxyProtocolReader(config.proxy_protocol).get_callback(imap)
        # Port 0 in-process: no window in which another program can take the port.
        imap_server = await asyncio.start_server(imap_cb, self.host, 0)
        smtp_server = await asyncio.get_running_loop().create_server(
            self._smtp_protocol, self.host, 0)
        self.imap_port = imap_server.sockets[0].getsockname()[1]
        self.smtp_port = smtp_server.sockets[0].getsockname()[1]
        try:
            self._ready.set()
            await self._stopping.wait()
        finally:
            await self._shutdown(imap_server, smtp_server)

    @staticmethod
    async def _shutdown(*servers: asyncio.Server) -> None:
        for server in servers:
            server.close()  # stop accepting
        # Clients may still be connected (the bot keeps its IMAP session).  End
        # their tasks first: from Python 3.12 wait_closed() waits for them.
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2.0)
            except TimeoutError:
                pass  # a half-closed socket must not hang stop(); the loop is going anyway

    def _smtp_protocol(self) -> SMTP:
        return SMTP(_SmtpHandler(self), hostname="mailbot-demo.localhost",
                    enable_SMTPUTF8=True, auth_require_tls=False,
                    authenticator=self._smtp_authenticate)

    def _smtp_authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                           mechanism: str, auth_data: Any) -> AuthResult:
        # AUTH is optional, but a client that tries it with a known login succeeds.
        ok = (isinstance(auth_data, LoginPassword)
              and self._users.get(auth_data.login.decode("utf-8", "replace"))
              == auth_data.password.decode("utf-8", "replace"))
        # handled=False: let aiosmtpd send the 535 itself (True means "already answered").
        return AuthResult(success=ok, handled=False)

    async def _add_user(self, user: str, password: str) -> None:
        assert self._config is not None and self._login is not None
        self._users[user] = password
        self._login.users_dict[user] = UserMetadata(self._config, user, password=password)
        # Create the mailboxes now so delivery works before the user ever logs in.
        self._config.set_cache.setdefault(user, (_KeywordMailboxSet(), FilterSet()))

    def _mailbox_set(self, user: str) -> MailboxSet:
        assert self._config is not None
        try:
            return self._config.set_cache[user][0]
        except KeyError:
            raise KeyError(f"no mailbox for {user!r}") from None

    def resolve(self, address: str) -> str | None:
        """The login that receives mail for ``address`` (case-insensitive), if any."""
        wanted = address.strip().strip("<>").casefold()
        return next((u for u in self._users if u.casefold() == wanted), None)

    # -- direct access for the demo ------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None or self._thread is None:
            coro.close()
            raise DemoServerError("demo mail server is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise DemoServerError("call the async helpers from inside the server loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CALL_TIMEOUT)

    def add_user(self, user: str, password: str) -> None:
        """Create another login (and mailbox) while the server runs."""
        self._call(self._add_user(user, password))

    def append(self, user: str, raw: bytes, internaldate: datetime | None = None,
               folder: str = "INBOX") -> None:
        """Deliver ``raw`` as if received at ``internaldate`` (naive = local time)."""
        self._call(self._append(user, raw, internaldate, folder))

    async def _append(self, user: str, raw: bytes, internaldate: datetime | None,
                      folder: str = "INBOX") -> int:
        when = internaldate or datetime.now(UTC)
        if when.tzinfo is None:
            when = when.astimezone()  # naive means local time, as in imaplib
        mailboxes = self._mailbox_set(user)
        try:
            mbx = await mailboxes.get_mailbox(folder)
        except KeyError:
            await mailboxes.add_mailbox(folder)
            mbx = await mailboxes.get_mailbox(folder)
        # recent=True: like a fresh delivery, seen by the next SELECT.
        message = await mbx.append(AppendMessage(raw, when, frozenset()), recent=True)
        return message.uid

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """The raw mails in ``folder``, in UID order."""
        return self._call(self._messages(user, folder))

    async def _messages(self, user: str, folder: str) -> list[bytes]:
        mbx = await self._mailbox_set(user).get_mailbox(folder)
        found = [msg async for msg in mbx.messages()]
        found.sort(key=lambda msg: msg.uid)
        return [bytes(await msg.load_content(FetchRequirement.BODY)) for msg in found]


class _SmtpHandler:
    """aiosmtpd hooks: accept only known mailboxes, deliver before saying 250."""

    def __init__(self, server: DemoMailServer) -> None:
        self._server = server

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self._server.resolve(address) is None:
            return "550 5.1.1 No such mailbox here"  # a typo should fail loudly, not vanish
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # One copy per mailbox, even if the client named it twice (any case).
        users = dict.fromkeys(self._server.resolve(rcpt) for rcpt in envelope.rcpt_tos)
        for user in users:
            if user is not None:
                await self._server._append(user, raw, None)
        self._server.delivered.append((envelope.mail_from or "", list(envelope.rcpt_tos), raw))
        return "250 2.0.0 Delivered"
