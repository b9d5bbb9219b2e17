"""Workers benchmark: one `mailbot poll` vs two at once on PostgreSQL, and SQLite, same mails.

The backfill of benchmarks/backfill.py (1,000 submissions by default, 3 .docx each) from a real
Dovecot, in one run, each variant on the same mails (made new again between variants):
1. SQLite, one worker; 2. PostgreSQL, one worker; 3. PostgreSQL, two workers started at the same
moment, each with its own empty state directory — the time until both have exited.

One mailbox folder is fetched by one worker at a time (its lease, store.coordination), so a
second worker on the same folder takes over the sending, not the reading: the figure shows what
that buys. Workers scale with folders and campaigns, and they survive each other.

    .venv/bin/python benchmarks/workers.py [--mails 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from backfill import _unmark, build_mails
from common import OFFICE, Dovecot, SmtpRelay, mailbot_env, table
from pgserver import PostgresCluster, find_pg_bin


def _workers(dovecot: Dovecot, relay: SmtpRelay, count: int, url: str = "") -> float:
    """Seconds until `count` `mailbot poll` started at once have all exited."""
    with tempfile.TemporaryDirectory() as root:
        extra = {"MAILBOT_DATABASE_URL": url} if url else {}
        envs = [mailbot_env(dovecot, relay, Path(root) / f"w{n}", **extra) for n in range(count)]
        started = time.perf_counter()
        running = [subprocess.Popen([sys.executable, "-m", "mailbot", "poll"], env=env,
                                    cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for env in envs]
        for process in running:
            out, err = process.communicate()
            if process.returncode != 0:
                raise SystemExit(err)
            print(out.strip().splitlines()[0] if out.strip() else "", file=sys.stderr)
        return time.perf_counter() - started


def _recorded(url: str) -> tuple[int, int, int]:
    """(messages, distinct Message-IDs, replies sent) in the database at `url`."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as db:
        rows = db.execute(text("SELECT count(*), count(DISTINCT message_id) FROM messages")).one()
        sent = db.execute(text("SELECT count(*) FROM replies WHERE status = 'sent'")).scalar()
    engine.dispose()
    return int(rows[0]), int(rows[1]), int(sent or 0)


def measure(mails: int) -> dict[str, float | int]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    print(f"building {mails} submissions …", file=sys.stderr)
    built = build_mails(mails)
    dovecot, cluster = Dovecot(), PostgresCluster(bin_dir)
    dovecot.start()
    cluster.start()
    relay = SmtpRelay(dovecot)
    relay.start()
    try:
        for raw, received in built:
            dovecot.append(OFFICE, raw, internaldate=received)
        del built
        sqlite_one = _workers(dovecot, relay, 1)
        _unmark(dovecot)
        one_url = cluster.new_database()
        pg_one = _workers(dovecot, relay, 1, one_url)
        _unmark(dovecot)
        two_url = cluster.new_database()
        pg_two = _workers(dovecot, relay, 2, two_url)
        one, two = _recorded(one_url), _recorded(two_url)
    finally:
        relay.stop()
        dovecot.close()
        cluster.close()
    return {"mails": mails, "sqlite_one": sqlite_one, "pg_one": pg_one, "pg_two": pg_two,
            "one_messages": one[0], "one_distinct": one[1], "one_sent": one[2],
            "two_messages": two[0], "two_distinct": two[1], "two_sent": two[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    r = measure(args.mails)
    if args.json:
        print(json.dumps(r))
        return
    print(table(["variant (same mails, same run)", "seconds", "mails/s"], [
        ("SQLite, one worker", f"{r['sqlite_one']:.1f}", f"{r['mails'] / r['sqlite_one']:.1f}"),
        ("PostgreSQL, one worker", f"{r['pg_one']:.1f}", f"{r['mails'] / r['pg_one']:.1f}"),
        ("PostgreSQL, two workers at once", f"{r['pg_two']:.1f}",
         f"{r['mails'] / r['pg_two']:.1f}"),
    ]))
    print(f"PostgreSQL one worker: {r['one_messages']} recorded ({r['one_distinct']} distinct), "
          f"{r['one_sent']} replies sent; two workers: {r['two_messages']} recorded "
          f"({r['two_distinct']} distinct), {r['two_sent']} replies sent")
    print(f"(measured {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
