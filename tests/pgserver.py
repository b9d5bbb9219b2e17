"""A private PostgreSQL cluster for the tests: initdb + pg_ctl on a free loopback port.

Debian's `postgresql` package provides the binaries (`make test` installs it as root). initdb and
pg_ctl refuse to run as root, so as root they run as the `postgres` user (or `nobody`) through
runuser, in a temporary directory handed to that user. `pg_ctl start -w` returns only once the
server accepts connections: no polling with sleeps here. Each test gets a database of its own
(CREATE DATABASE is a few milliseconds), so one cluster serves the whole session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from servers import free_port

START_TIMEOUT_SECONDS = 120  # pg_ctl -w waits at most this long for the server to accept


def find_pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _run_as() -> list[str]:
    """The prefix that runs a command as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


class PostgresCluster:
    """One running cluster; `new_database()` hands out an empty database URL per test."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mailbot-pg-"))
        self.data = self.root / "data"
        self._numbers = itertools.count(1)
        self._prefix = _run_as()

    def _owner(self) -> tuple[int, int] | None:
        if not self._prefix:
            return None
        entry = pwd.getpwnam(self._prefix[2])
        return entry.pw_uid, entry.pw_gid

    def start(self) -> None:
        owner = self._owner()
        if owner is not None:
            os.chown(self.root, *owner)
        self._pg("initdb", "-D", str(self.data), "-U", "mailbot", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-c listen_addresses={self.host} -c port={self.port} "
                   f"-c unix_socket_directories='{self.root}' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                 "-w", "-t", str(START_TIMEOUT_SECONDS), "-o", options, "start")

    def _pg(self, program: str, *args: str) -> None:
        done = subprocess.run([*self._prefix, str(self.bin_dir / program), *args],
                              capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"{tail}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://mailbot@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"test_{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(host=self.host, port=self.port, user="mailbot", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
