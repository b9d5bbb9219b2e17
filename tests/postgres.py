"""A private PostgreSQL cluster on loopback for the tests: initdb in a temporary folder, the
server on a free port, ready when it says so on stderr (an event, not a sleep).

Debian's `postgresql` puts the binaries in /usr/lib/postgresql/<version>/bin; initdb and
postgres refuse to run as root, so under root they run as the `postgres` user (or `nobody`).
Without PostgreSQL the tests that need it skip with the reason — under CI they fail
(tests/prerequisites.py).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prerequisites import unavailable

READY = "database system is ready to accept connections"
START_BOUND = 120.0  # seconds; a loaded CI machine can be slow to run initdb's first start
MISSING = ("PostgreSQL is not installed: run `make test` as root, which installs the Debian "
           "package postgresql (scripts/install-test-deps.sh)")


@dataclass
class Cluster:
    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """A fresh, empty database in the cluster; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             dbname="postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _account() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or under root an unprivileged account."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    unavailable("running as root and there is no `postgres` or `nobody` account for PostgreSQL")


def start_cluster() -> Iterator[Cluster]:
    """Start a cluster, yield it, stop it and remove its files."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed: pip install -e '.[test]'")
    binaries = _binaries()
    if binaries is None:
        unavailable(MISSING)
    account = _account()
    home = Path(tempfile.mkdtemp(prefix="mailbot-pg-"))
    as_account: dict[str, object] = {}
    if account is not None:
        os.chown(home, account.pw_uid, account.pw_gid)
        as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    user = "mailbot"
    try:
        subprocess.run([str(binaries / "initdb"), "-D", str(home / "data"), "-U", user,
                        "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                       check=True, capture_output=True, timeout=START_BOUND, cwd=home,
                       **as_account)  # type: ignore[call-overload]
        port = _free_port()
        server = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(home / "data"), "-p", str(port),
             "-h", "127.0.0.1", "-k", str(home), "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=home,
            **as_account)  # type: ignore[call-overload]
        reader = _wait_ready(server)
        try:
            yield Cluster("127.0.0.1", port, user)
        finally:
            server.send_signal(signal.SIGINT)  # "fast" shutdown: does not wait for clients
            server.wait(timeout=60)
            reader.join(timeout=60)  # it has read the log to its end
            assert server.stderr is not None
            server.stderr.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _wait_ready(server: subprocess.Popen[str]) -> threading.Thread:
    """Block until the server logs that it accepts connections (or dies, or the bound ends);
    the thread that goes on reading its log (a full pipe would stall the server)."""
    ready = threading.Event()
    seen: list[str] = []

    def read() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            seen.append(line)
            if READY in line:
                ready.set()
        ready.set()  # the server exited: stop waiting, the check below says why

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(START_BOUND) or not any(READY in line for line in seen):
        server.kill()
        server.wait(timeout=60)
        reader.join(timeout=60)
        raise RuntimeError("PostgreSQL did not start: " + "".join(seen[-20:]))
    return reader
