"""Real mail servers on loopback for the test suite: a private Dovecot and an SMTP relay.

Tests talk to mail the way the bot and the applicants do, over IMAP, LMTP and SMTP,
and assert on what actually landed in a mailbox. Nothing here imports ``mailbot``.

- :class:`Dovecot` runs its own Dovecot (IMAP + LMTP, plain text, Maildir) from a
  config file in a temporary directory, on free loopback ports. Any user name logs in
  with :attr:`Dovecot.password`, so tests invent addresses (``office@test.example``)
  as they go; user names are full addresses and each gets its own Maildir.
- :class:`SmtpRelay` is an aiosmtpd server that hands every accepted message to
  Dovecot over LMTP before answering ``250``, so once the bot's send returns, the
  reply is already in the recipient's INBOX. With ``smtputf8=True`` it offers SMTPUTF8
  (RFC 6531); Dovecot 2.3's LMTP does not, so a recipient with a non-ASCII local part is
  accepted and listed in :attr:`SmtpRelay.messages` but not stored in Dovecot.

Dovecot refuses to store mail as uid 0, so as root the mail belongs to
``nobody``/``nogroup``; as any other user, everything runs as that user.
"""

from __future__ import annotations

import asyncio
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imap_tools.imap_utf7 import utf7_decode, utf7_encode

DEFAULT_PASSWORD = "secret"
DEFAULT_SENDER = "sender@test.example"
STARTUP_TIMEOUT = 60.0  # a bound, not a pause: start() returns at the greeting
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 60.0
LOG_TAIL_LINES = 30

# Dovecot is /usr/sbin/dovecot on Debian, which is not on an ordinary user's PATH.
_DOVECOT_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])

_UID_RE = re.compile(rb"\bUID (\d+)")
_FLAGS_RE = re.compile(rb"\bFLAGS \(([^)]*)\)")
_INTERNALDATE_RE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
# A LIST reply: (attributes) "delimiter" name, the name quoted or an atom.
_LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>"(?:[^"\\]|\\.)*"|\S+)$')


class ServerError(RuntimeError):
    """A test mail server failed to start or refused a request."""


PORT_ATTEMPTS = 5  # first starts of Dovecot that lost a port to another process


_PORTS_GIVEN: set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody was listening on a moment ago, and never one this
    process was given before: the kernel may hand out a port again as soon as the probing
    socket closes, and two listeners of one server on one port stop it starting (Dovecot:
    "duplicate listener")."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        with _PORTS_LOCK:
            if port not in _PORTS_GIVEN:
                _PORTS_GIVEN.add(port)
                return port


def find_dovecot() -> str | None:
    """Path of the ``dovecot`` binary, or None when it is not installed."""
    return shutil.which("dovecot", path=_DOVECOT_SEARCH_PATH)


def _mail_owner() -> tuple[str, str]:
    """User and group that own the mail: Dovecot will not run mail processes as root."""
    if os.geteuid() == 0:
        return "nobody", "nogroup"
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def _imap_quote(name: str) -> str:
    """A mailbox name as IMAP wants it: modified UTF-7, quoted."""
    encoded = utf7_encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_unquote(name: bytes) -> str:
    if name.startswith(b'"'):
        name = re.sub(rb"\\(.)", rb"\1", name[1:-1])
    return utf7_decode(name)


def _check(result: tuple[str, list[Any]], what: str) -> list[Any]:
    typ, data = result
    if typ != "OK":
        raise ServerError(f"IMAP {what} failed: {typ} {data!r}")
    return data


def _fetch_lines(data: list[Any]) -> Iterator[bytes]:
    """The response lines of a FETCH, literals left out (imaplib interleaves them)."""
    for item in data:
        if isinstance(item, tuple):
            yield item[0]
        elif item not in (None, b")"):
            yield item


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for a process told to terminate; kill it if it takes too long."""
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Dovecot:
    """A private Dovecot: IMAP and LMTP on loopback, Maildir under a temporary directory.

    ``start()`` returns once the IMAP greeting can be read; ``stop()`` ends every
    Dovecot process; ``restart()`` brings it back on the same ports with the same mail.
    ``close()`` stops it for good and removes the temporary directory.
    """

    def __init__(self, binary: str | None = None, password: str = DEFAULT_PASSWORD,
                 extra_config: str = "") -> None:
        binary = binary or find_dovecot()
        if binary is None:
            raise ServerError("Dovecot is not installed: run scripts/install-test-deps.sh as root")
        self.binary = binary
        self.host = "127.0.0.1"
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        self.password = password
        self.root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._ever_started = False
        # Appended last, so it overrides: TLS, an imaps listener, another passdb… (see
        # tests/mailbox_support.py); Dovecot takes the last value of a setting.
        self.extra_config = extra_config
        self._write_config()

    # -- lifecycle -------------------------------------------------------------

    def _write_config(self) -> None:
        user, group = _mail_owner()
        mail_root = self.root / "mail"
        mail_root.mkdir(exist_ok=True)
        # Mail processes run as `user`: they must reach into the temp dir and create
        # each user's home under mail/ on first delivery.
        self.root.chmod(0o755)
        shutil.chown(mail_root, user, group)
        unprivileged = os.geteuid() != 0
        self.config_path.write_text(
            f"""\
# Private Dovecot for the mailbot test suite; written by tests/servers.py.
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = mailbot-test-{self.imap_port}
log_path = {self.log_path}
# Names the server in the Received: header it adds, the same on every machine.
hostname = mail.test.example
protocols = imap lmtp
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Keep the domain: office@a and office@b are different mailboxes.
auth_username_format = %Lu

passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={mail_root}/%u allow_all_users=yes
}}
mail_location = maildir:~/Maildir
# Throwaway mail: durability only slows the tests down.
mail_fsync = never
# IDLE normally learns of new mail through inotify; poll quickly where that is missing.
mailbox_idle_check_interval = 1 secs

service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
"""
            + (_UNPRIVILEGED_CONFIG.format(user=user, group=group) if unprivileged else "")
            + self.extra_config
        )

    def start(self) -> None:
        """Run Dovecot in the foreground (so it is our child) and wait for its greeting.

        free_port() can only say a port was free a moment ago: when another process took one
        before Dovecot bound it, a first start tries again on new ports (a restart keeps its
        ports, which the test's settings already name)."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._start_once()
            except ServerError as exc:
                if (self._ever_started or attempt == PORT_ATTEMPTS
                        or "Address already in use" not in str(exc)):
                    raise
                self.imap_port, self.lmtp_port = free_port(), free_port()
                self._write_config()

    def _start_once(self) -> None:
        if self._process is not None:
            raise ServerError("Dovecot is already running")
        # Before its log process is up (a config error, say) Dovecot writes to stderr.
        with (self.root / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, so crash() can end it all
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise ServerError(f"Dovecot exited with status {code} on start.\n{self.log_tail()}")
            if self._greets():
                self._ever_started = True
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"Dovecot did not greet on {self.host}:{self.imap_port} within "
                    f"{STARTUP_TIMEOUT:.0f} s.\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.imap_port), timeout=1) as sock:
                return sock.makefile("rb").readline().startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """End Dovecot and all its child processes; a no-op when it is not running.

        Takes about a second: on SIGTERM the master stops its children and then sleeps
        1 s to let its log process finish before it closes the listening sockets.
        """
        if self._process is None:
            return
        process, self._process = self._process, None
        process.terminate()
        _reap(process)

    def crash(self) -> None:
        """End Dovecot at once, sessions and all, as a machine or network failure would.

        stop() lets the IMAP sessions already open finish their work; this does not."""
        if self._process is None:
            return
        process, self._process = self._process, None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports, with the same mail."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop Dovecot and remove its directory (config, logs and all mail).

        Returns at once: waiting out the master's shutdown and removing the directory
        happen in a thread, so a test does not pay the second :meth:`stop` takes. The
        thread is not a daemon, so the interpreter still waits for it at exit.
        """
        process, self._process = self._process, None
        if process is not None:
            process.terminate()

        def finish() -> None:
            if process is not None:
                _reap(process)
            # Only now: until the master is gone its children may still write here.
            shutil.rmtree(self.root, ignore_errors=True)

        threading.Thread(target=finish, name=f"dovecot-close-{self.imap_port}").start()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of Dovecot's log and stderr, for error messages."""
        parts = []
        for path in (self.root / "stderr.log", self.log_path):
            if path.exists() and (text := path.read_text(errors="replace").strip()):
                tail = "\n".join(text.splitlines()[-lines:])
                parts.append(f"--- {path} (last {lines} lines) ---\n{tail}")
        return "\n".join(parts) or f"(Dovecot wrote nothing to {self.root})"

    # -- putting mail in ------------------------------------------------------

    def deliver(self, rcpt: str, raw: bytes, sender: str = DEFAULT_SENDER) -> None:
        """Deliver ``raw`` to ``rcpt``'s INBOX over LMTP, as a mail server would.

        Dovecot prepends ``Return-Path:``, ``Delivered-To:`` and ``Received:`` headers;
        the rest of the message is stored as sent.
        """
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=CLIENT_TIMEOUT) as lmtp:
            lmtp.ehlo_or_helo_if_needed()
            options = ["BODY=8BITMIME"] if lmtp.has_extn("8bitmime") else []
            # One recipient per transaction: smtplib reads only one reply after DATA,
            # while LMTP sends one per recipient.
            lmtp.sendmail(sender, [rcpt], raw, mail_options=options)

    def append(
        self,
        user: str,
        raw: bytes,
        internaldate: datetime | None = None,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
    ) -> None:
        """Store ``raw`` with IMAP APPEND, creating ``folder`` if needed.

        ``internaldate`` (timezone-aware) becomes the message's INTERNALDATE, which is
        how a test makes mail "received" at a chosen moment; None means now.
        imaplib turns bare LF line endings into CRLF on the way.
        """
        if internaldate is not None and internaldate.utcoffset() is None:
            raise ValueError("internaldate must be timezone-aware: a naive time is ambiguous")
        date = imaplib.Time2Internaldate(internaldate) if internaldate is not None else None
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        with self.imap(user) as client:
            mailbox = _imap_quote(folder)
            typ, data = client.append(mailbox, flag_list, date, raw)
            if typ == "NO" and b"[TRYCREATE]" in data[0]:
                _check(client.create(mailbox), f"CREATE {folder}")
                typ, data = client.append(mailbox, flag_list, date, raw)
            _check((typ, data), f"APPEND to {folder}")

    # -- reading mail back ----------------------------------------------------

    @contextmanager
    def imap(self, user: str) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib client for ``user``, logged out afterwards."""
        client = imaplib.IMAP4(self.host, self.imap_port, timeout=CLIENT_TIMEOUT)
        try:
            _check(client.login(user, self.password), f"LOGIN {user}")
            yield client
        finally:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                client.shutdown()

    def _fetch(self, user: str, folder: str, items: str) -> list[bytes]:
        """FETCH ``items`` for every message, read-only; the raw imaplib data."""
        with self.imap(user) as client:
            # EXAMINE, not SELECT: looking must not change \\Recent or anything else.
            _check(client.select(_imap_quote(folder), readonly=True), f"EXAMINE {folder}")
            uids = _check(client.uid("SEARCH", "ALL"), "UID SEARCH")[0].split()
            if not uids:
                return []
            return _check(client.uid("FETCH", "1:*", f"(UID {items})"), f"UID FETCH {items}")

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in ``folder`` as IMAP serves it (CRLF line endings), in UID order.

        Read with BODY.PEEK[], so no \\Seen flag is set.
        """
        found: list[tuple[int, bytes]] = []
        for item in self._fetch(user, folder, "BODY.PEEK[]"):
            if isinstance(item, tuple) and (uid := _UID_RE.search(item[0])):
                found.append((int(uid.group(1)), item[1]))
        return [raw for _, raw in sorted(found)]

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags, system flags (``\\Seen``) and keywords (``$Forwarded``) alike."""
        result: dict[int, set[str]] = {}
        for line in _fetch_lines(self._fetch(user, folder, "FLAGS")):
            uid, flags = _UID_RE.search(line), _FLAGS_RE.search(line)
            if uid and flags:
                result[int(uid.group(1))] = set(flags.group(1).decode().split())
        return result

    def internaldates(self, user: str, folder: str = "INBOX") -> dict[int, datetime]:
        """UID -> INTERNALDATE, timezone-aware (in the offset the server reports)."""
        result: dict[int, datetime] = {}
        for line in _fetch_lines(self._fetch(user, folder, "INTERNALDATE")):
            uid, date = _UID_RE.search(line), _INTERNALDATE_RE.search(line)
            if uid and date:
                text = date.group(1).decode().strip()  # days below 10 come space-padded
                result[int(uid.group(1))] = datetime.strptime(text, "%d-%b-%Y %H:%M:%S %z")
        return result

    def folders(self, user: str) -> list[str]:
        """The names of ``user``'s folders, decoded from modified UTF-7."""
        with self.imap(user) as client:
            data = _check(client.list(), "LIST")
        names = []
        for line in data:
            if isinstance(line, bytes) and (match := _LIST_RE.match(line)):
                names.append(_imap_unquote(match.group("name")))
        return sorted(names)


# As an ordinary user, Dovecot cannot switch users or chroot, so every process runs
# as that user and the login processes stay unchrooted.
_UNPRIVILEGED_CONFIG = """
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass(frozen=True)
class RelayedMessage:
    """One message the relay accepted, as the client sent it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None  # the AUTH user name, None when the client did not log in
    mail_options: tuple[str, ...] = ()  # MAIL FROM parameters, e.g. ("SMTPUTF8",)


class _RelayHandler:
    """aiosmtpd handler: deliver to Dovecot first, then say 250 — or, queueing, keep the mail in
    a queue file (written and fsynced), say 250, and deliver it later, as Postfix does."""

    def __init__(self, relay: SmtpRelay) -> None:
        self.relay = relay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        if self.relay.queue_dir is not None:
            await asyncio.to_thread(self.relay.enqueue, mail_from, list(envelope.rcpt_tos), raw)
            self._accepted(session, envelope, raw, mail_from)
            return "250 2.0.0 Queued"
        try:
            # Awaited before answering: the client must not see 250 before the mail is stored.
            for rcpt in envelope.rcpt_tos:
                if not rcpt.isascii():
                    continue  # only offered with smtputf8=True; LMTP cannot take it
                await asyncio.to_thread(self.relay.dovecot.deliver, rcpt, raw, mail_from)
        except (smtplib.SMTPException, OSError) as error:
            return f"451 4.3.0 Relay to Dovecot LMTP failed: {error}"
        self._accepted(session, envelope, raw, mail_from)
        return "250 2.0.0 Delivered"

    def _accepted(self, session: Session, envelope: Envelope, raw: bytes, mail_from: str) -> None:
        login = session.auth_data
        self.relay.messages.append(
            RelayedMessage(
                mail_from=mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                login=login.login.decode() if isinstance(login, LoginPassword) else None,
                mail_options=tuple(envelope.mail_options),
            )
        )


def _accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    # A bot configured with SMTP credentials logs in; any user and password will do.
    return AuthResult(success=True, auth_data=auth_data)


class SmtpRelay:
    """An SMTP server on loopback relaying every message into :class:`Dovecot` via LMTP.

    No TLS; AUTH PLAIN/LOGIN is offered and any credentials pass, but is never required.
    ``stop()`` takes it down (connections are refused) and ``start()`` brings it back
    on the same port. ``messages`` lists what was accepted, in order.
    """

    def __init__(self, dovecot: Dovecot, smtputf8: bool = False, queueing: bool = False) -> None:
        self.dovecot = dovecot
        self.smtputf8 = smtputf8
        # Queueing (the benchmarks' relay): 250 once the mail is in a queue file; `drain()`
        # delivers the queue.
        self.queue_dir = Path(tempfile.mkdtemp(prefix="relay-queue-")) if queueing else None
        self._queued: list[tuple[Path, str, list[str]]] = []
        self._queue_lock = threading.Lock()
        self.host = dovecot.host
        self.port = free_port()
        self.messages: list[RelayedMessage] = []
        self._controller: Controller | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._controller is not None:
                raise ServerError("the SMTP relay is already running")
            # A stopped Controller has closed its event loop, so every start needs a new one.
            controller = Controller(
                _RelayHandler(self),
                hostname=self.host,
                port=self.port,
                server_hostname="relay.test.example",
                authenticator=_accept_any_login,
                auth_require_tls=False,
                enable_SMTPUTF8=self.smtputf8,
            )
            controller.start()
            self._controller = controller

    def enqueue(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        """Keep a mail in the queue (on disk, fsynced, before the 250) until `drain`."""
        assert self.queue_dir is not None
        handle, name = tempfile.mkstemp(dir=self.queue_dir)
        with os.fdopen(handle, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        with self._queue_lock:
            self._queued.append((Path(name), mail_from, rcpt_tos))

    def drain(self) -> None:
        """Deliver every queued mail to Dovecot (a no-op for a delivering relay). Called
        between measurements: Postfix hands replies on to the recipients' own servers,
        elsewhere, so their delivery is no work of the machine the bot runs on."""
        with self._queue_lock:
            queued, self._queued = self._queued, []
        for path, mail_from, rcpt_tos in queued:
            for rcpt in rcpt_tos:
                if rcpt.isascii():
                    self.dovecot.deliver(rcpt, path.read_bytes(), mail_from)
            path.unlink()

    def stop(self) -> None:
        """Take the relay down; a no-op when it is not running."""
        with self._lock:
            if self._controller is not None:
                self._controller.stop()
                self._controller = None
