"""What the benchmarks share: the test servers, the environment of a `mailbot` child process,
peak memory as the kernel counts it, a plain table, and the database a figure is measured on
(a SQLite file, or a private PostgreSQL cluster started for the run: tests/pgserver.py)."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/servers.py: the private Dovecot and SMTP relay

if TYPE_CHECKING:
    from pgserver import PostgresCluster
    from servers import Dovecot, SmtpRelay

OFFICE = "office@bench.example"

def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (MiB), as the kernel counts it.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child started
    by a big parent reports the parent's memory as its own (the first backfill figures, 251 MB
    for a poll that peaks near 110 MB, were the benchmark's own mails in its parent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# For a child started with `python -c`: defines peak_rss_mb() there too.
PEAK_RSS_SNIPPET = inspect.getsource(peak_rss_mb)


def mailbot_env(dovecot: Dovecot, relay: SmtpRelay | None, state: Path | str,
                **extra: str) -> dict[str, str]:
    """The environment of a `mailbot` child process pointed at the test servers; no MAILBOT_*
    of the caller's own leaks in. Without a relay, replies have nowhere to go and stay queued."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update({
        "MAILBOT_IMAP_HOST": dovecot.host, "MAILBOT_IMAP_PORT": str(dovecot.imap_port),
        "MAILBOT_IMAP_USER": OFFICE, "MAILBOT_IMAP_PASSWORD": dovecot.password,
        "MAILBOT_IMAP_SECURITY": "none", "MAILBOT_FROM": OFFICE, "MAILBOT_STATE_DIR": str(state),
        "MAILBOT_SMTP_HOST": dovecot.host, "MAILBOT_SMTP_SECURITY": "none",
        # Port 9 (discard) is closed on loopback: connection refused at once.
        "MAILBOT_SMTP_PORT": str(relay.port) if relay is not None else "9",
    })
    env.update(extra)
    return env


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster (tests/pgserver.py: initdb + pg_ctl as a non-root user on a
    free loopback port, fsync off), stopped and removed afterwards."""
    from pgserver import PostgresCluster, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@contextmanager
def database(state: Path, postgres: bool) -> Iterator[str]:
    """The URL of an empty database for one measurement: a SQLite file in `state`, or with
    `postgres` a database of a cluster started for it."""
    if not postgres:
        yield f"sqlite:///{state / 'mailbot.sqlite3'}"
        return
    with postgres_cluster() as cluster:
        yield cluster.new_database()


def settle_statistics(url: str) -> None:
    """After a bulk fill: on PostgreSQL, VACUUM ANALYZE, which autovacuum does by itself within
    a minute of a load this size. Without it the planner has no statistics for the new tables
    and every index-only scan visits the heap: a state a running install is never in for long.
    SQLite keeps no statistics unless asked (mailbot never runs ANALYZE): nothing to do."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell (East Asian wide characters count two)."""
    def width(text: str) -> int:
        import unicodedata
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True))
             .rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    # The test servers are imported by the benchmarks that start them only: a child measuring
    # its own memory (workbook_export) should not carry aiosmtpd and the rest.
    if name in ("Dovecot", "SmtpRelay"):
        import servers
        return getattr(servers, name)
    raise AttributeError(name)


__all__ = ["OFFICE", "PEAK_RSS_SNIPPET", "ROOT", "Dovecot", "SmtpRelay", "database",
           "mailbot_env", "peak_rss_mb", "postgres_cluster", "settle_statistics", "table"]
