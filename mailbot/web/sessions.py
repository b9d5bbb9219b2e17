"""Dashboard logins that end for good: the live session ids, kept in the state directory.

The session cookie is signed, not stored, so anyone holding an old cookie could replay it until
it expires. What makes a logout final, also across a restart of `mailbot serve`, is this list on
the server (`state/dashboard-sessions.json`, 0600): a session counts only while its id is here.
Logging in adds the id, logging out removes it. The list also records a fingerprint of the
configured password: a process started with another password empties it, so a password change
ends every earlier session — and changing the password back does not bring them back.

Several processes may serve one state dir (a restart overlapping the old process, a second
`mailbot serve`): each change is a read-modify-write under an OS lock, written atomically, and a
reader looks at the file again whenever it changed on disk. A damaged or unreadable list counts
as empty: everybody logs in again, nobody gets in without the password.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mailbot.errors import StateError

log = logging.getLogger(__name__)

SESSIONS_FILE = "dashboard-sessions.json"
LOCK_FILE = "dashboard-sessions.lock"
MAX_SESSIONS = 1000  # a handful of clerks; the oldest go first if it ever fills up


class SessionBook:
    """The live session ids with their expiry (seconds since the epoch)."""

    def __init__(self, state_dir: Path, fingerprint: str, lifetime_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / SESSIONS_FILE
        self._lock_path = state_dir / LOCK_FILE
        self.lifetime = lifetime_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) last read
        self._live: dict[str, float] = {}
        state_dir.mkdir(parents=True, exist_ok=True)
        with self._change() as data:
            if data.get("password") != fingerprint:
                # Another password than the one these sessions logged in with: all are over.
                data["password"], data["sessions"] = fingerprint, {}

    def add(self, sid: str) -> None:
        with self._change() as data:
            data["sessions"][sid] = self.clock() + self.lifetime

    def remove(self, sid: str) -> None:
        with self._change() as data:
            data["sessions"].pop(sid, None)

    def live(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            self._refresh()
            expires = self._live.get(sid)
        return expires is not None and expires > self.clock()

    def _refresh(self) -> None:
        """Re-read the file if it changed since the last look (another process wrote it)."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._live = None, {}
            return
        signature = (found.st_ino, found.st_size, found.st_mtime_ns)
        if signature != self._seen:
            self._live = _sessions(self._read())
            self._seen = signature

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s): every dashboard session ends", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    @contextmanager
    def _change(self) -> Iterator[dict[str, Any]]:
        """Read the list under the OS lock, let the caller change it, write it back atomically."""
        with self._lock:
            try:
                handle = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StateError(f"cannot open {self._lock_path}: {exc.strerror}") from exc
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                data = self._read()
                data["sessions"] = _sessions(data)
                yield data
                now = self.clock()
                kept = {k: v for k, v in data["sessions"].items() if v > now}
                newest = sorted(kept.items(), key=lambda item: item[1])[-MAX_SESSIONS:]
                data["sessions"] = dict(newest)
                self._write(data)
                self._live, self._seen = dict(data["sessions"]), None
            finally:
                os.close(handle)  # releases the lock too

    def _write(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_suffix(".tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(handle, 0o600)  # a leftover temporary file may have been more open
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from exc


def _sessions(data: dict[str, Any]) -> dict[str, float]:
    found = data.get("sessions")
    if not isinstance(found, dict):
        return {}
    return {k: float(v) for k, v in found.items()
            if isinstance(k, str) and isinstance(v, int | float)}
