"""Reply latency: from a submission's delivery to its reply in the applicant's INBOX, with IDLE.

`mailbot run` runs as a child process against a private Dovecot and the SMTP relay of
tests/servers.py, with IDLE on and the scheduled poll every 10 minutes, so every reply measured
is one IDLE brought. First a backlog of earlier submissions (default 200) is taken in, so the
database and the workbook the service rewrites each cycle are those of a campaign under way.
Then realistic submissions (three .docx each, each from its own address) are delivered over
LMTP one at a time, each once the previous reply has arrived and a short pause has passed.
(Received today, after the 2022 deadline, they are flagged late and answered all the same.)

The clock starts when Dovecot has accepted the delivery (the LMTP transaction returned) and
stops when the relay has handed the reply to Dovecot's LMTP for the applicant's INBOX — the
relay answers the bot's SMTP only after that, so the reply is in the INBOX by then.

With `--filled N` the database is first filled directly with N earlier mails from N/20 units
(as workbook_export.py fills it: rows, no mail on the server), so the campaign the replies are
measured in holds N + backlog mails without delivering them all.

    .venv/bin/python benchmarks/reply_latency.py [--mails 30] [--backlog 200] [--filled 0]
                                                 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from backfill import build_mails
from common import OFFICE, ROOT, Dovecot, SmtpRelay, mailbot_env, table
from workbook_export import fill

TARGET_P95 = 1.0  # seconds (issue 14)
PAUSE = 0.5  # seconds between a reply and the next delivery
TIMEOUT = 60.0  # seconds to wait for one reply before the run is called failed


class _Stamped(list):  # type: ignore[type-arg]
    """The relay's `messages`, with the moment each reply was handed to the INBOX."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}  # recipient -> monotonic time
        self.changed = threading.Condition()

    def append(self, item: Any) -> None:
        now = time.monotonic()
        super().append(item)
        with self.changed:
            for rcpt in item.rcpt_tos:
                self.arrived.setdefault(rcpt.lower(), now)
            self.changed.notify_all()

    def wait_for(self, rcpt: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while rcpt not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.arrived[rcpt]


def measure(mails: int, backlog: int, filled: int = 0) -> dict[str, Any]:
    print(f"building {backlog + mails} submissions …", file=sys.stderr)
    built = build_mails(backlog + mails)
    dovecot = Dovecot()
    dovecot.start()
    relay = SmtpRelay(dovecot)
    stamped = _Stamped()
    relay.messages = stamped
    relay.start()
    try:
        for raw, received in built[:backlog]:
            dovecot.append(OFFICE, raw, internaldate=received)
        with tempfile.TemporaryDirectory() as state:
            if filled:
                print(f"filling the database with {filled} earlier mails …", file=sys.stderr)
                fill(f"sqlite:///{Path(state) / 'mailbot.sqlite3'}", filled)
            config = Path(state) / "mailbot.toml"
            config.write_text("poll_seconds = 600\nidle = true\n", encoding="utf-8")
            with open(Path(state) / "service.log", "wb") as log:
                service = subprocess.Popen(
                    [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
                    env=mailbot_env(dovecot, relay, state), cwd=state, stdout=log, stderr=log)
                try:
                    started = time.monotonic()
                    last = f"unit-{backlog - 1:04d}@bench.example" if backlog else None
                    if last is not None and stamped.wait_for(last, TIMEOUT + backlog) is None:
                        raise SystemExit(f"the backlog was not answered:\n{_tail(state)}")
                    backlog_seconds = time.monotonic() - started
                    time.sleep(2 * PAUSE)  # the service is back in IDLE
                    latencies = []
                    for n in range(backlog, backlog + mails):
                        raw, _received = built[n]
                        dovecot.deliver(OFFICE, raw, sender=f"unit-{n:04d}@bench.example")
                        delivered = time.monotonic()
                        arrived = stamped.wait_for(f"unit-{n:04d}@bench.example", TIMEOUT)
                        if arrived is None:
                            raise SystemExit(f"no reply to submission {n} within {TIMEOUT:.0f} s:\n"
                                             f"{_tail(state)}")
                        latencies.append(arrived - delivered)
                        time.sleep(PAUSE)
                    service.send_signal(signal.SIGTERM)
                    service.wait(timeout=60)
                finally:
                    if service.poll() is None:  # a failed run: before its state goes
                        service.kill()
                        service.wait()
    finally:
        relay.stop()
        dovecot.close()
    ordered = sorted(latencies)
    return {"mails": mails, "backlog": backlog, "filled": filled,
            "backlog_seconds": backlog_seconds,
            "p50": statistics.median(ordered), "p95": _percentile(ordered, 95),
            "max": ordered[-1], "min": ordered[0], "mean": statistics.fmean(ordered),
            "latencies": latencies}


def _percentile(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile: a value that was measured, never one interpolated."""
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


def _tail(state: str) -> str:
    path = Path(state) / "service.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-30:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=30)
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--filled", type=int, default=0,
                        help="earlier mails written straight into the database first")
    parser.add_argument("--json", action="store_true", help="one JSON object, for run.py")
    args = parser.parse_args()
    os.chdir(ROOT)
    result = measure(args.mails, args.backlog, args.filled)
    if args.json:
        print(json.dumps(result))
        return
    print(table(["figure", "value"], [
        ("submissions measured (after a backlog of)", f"{result['mails']} ({result['backlog']})"),
        ("earlier mails filled into the database", f"{result['filled']}"),
        ("backlog taken in by the first cycles", f"{result['backlog_seconds']:.1f} s"),
        ("reply latency p50", f"{result['p50']:.2f} s"),
        ("reply latency p95 (target ≤ 1 s)", f"{result['p95']:.2f} s"),
        ("reply latency min / mean / max",
         f"{result['min']:.2f} / {result['mean']:.2f} / {result['max']:.2f} s"),
    ]))
    print(f"(measured {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
