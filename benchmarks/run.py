"""All benchmarks, one command, one table: figure, measured, target, met?

Each benchmark runs as its own child process (and starts its own children: the floor, `mailbot
poll`, `mailbot run`), one after the other, never two at once:

* backfill.py — 1,000 realistic submissions from Dovecot against the floor (imap-tools fetch +
  python-docx open-and-count of the same mails): rate, ratio, peak RSS; and where the time goes
  (the same poll with SMTP unreachable, then the sending alone);
* reply_latency.py — `mailbot run` with IDLE: delivery to reply in the applicant's INBOX;
* workbook_export.py — 汇总表.xlsx for 10,000 received mails;
* mail_intake.py — an over-limit mail, a 40 MB mail, a zip bomb, the mail corpus.

    .venv/bin/python benchmarks/run.py [--quick]      (also: make bench)

`--quick` runs small sizes to see that everything works; its figures are not judged. The full
run takes about ten minutes on two cores. Figures vary with the machine's other load: the
backfill ratio is to the mean of two floor runs, one before and one after the bot's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from common import ROOT, table

HERE = ROOT / "benchmarks"
FULL = {"mails": 1000, "latency": 30, "backlog": 200, "rows": 10_000}
QUICK = {"mails": 100, "latency": 5, "backlog": 20, "rows": 1000}


def _child(script: str, *args: str) -> Any:
    """Run one benchmark script with --json; its last line of output is the result."""
    started = time.monotonic()
    print(f"running {script} {' '.join(args)} …", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, str(HERE / script), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed:\n{done.stdout}\n{done.stderr}")
    print(f"  done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _judge(value: float, limit: float, judged: bool) -> str:
    if not judged:
        return "(quick run)"
    return "yes" if value <= limit else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, figures not judged")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    judged = not args.quick

    backfill = _child("backfill.py", "--mails", str(size["mails"]))
    latency = _child("reply_latency.py", "--mails", str(size["latency"]),
                     "--backlog", str(size["backlog"]))
    export = _child("workbook_export.py", "--sizes", str(size["rows"]))[0]
    intake = {row["scenario"]: row for row in _child("mail_intake.py")}

    b, n = backfill, backfill["mails"]
    export_seconds = export["build"] + export["save"]
    rows: list[tuple[str, str, str, str]] = [
        (f"backfill: {n} submissions, floor (imap-tools + python-docx)",
         f"{b['floor']:.1f} s ({b['floor_a']:.1f}, {b['floor_b']:.1f})", "", ""),
        (f"backfill: {n} submissions, mailbot poll", f"{b['poll']:.1f} s", "", ""),
        ("backfill: submissions per second", f"{b['rate']:.1f}", "", ""),
        ("backfill: ratio to the floor", f"{b['ratio']:.2f}", "≤ 1.5",
         _judge(b["ratio"], 1.5, judged)),
        ("backfill: peak RSS of the poll", f"{b['poll_rss']:.0f} MB", "≤ 200 MB",
         _judge(b["poll_rss"], 200, judged)),
        ("backfill: poll with SMTP down (replies queued), ratio",
         f"{b['quiet']:.1f} s, {b['quiet_ratio']:.2f}", "", ""),
        ("backfill: then sending the queued replies", f"{b['send']:.1f} s", "", ""),
        ("backfill: peak RSS of the floor", f"{b['floor_rss']:.0f} MB", "", ""),
        (f"reply latency with IDLE, p50 ({latency['mails']} mails)", f"{latency['p50']:.2f} s",
         "", ""),
        ("reply latency with IDLE, p95", f"{latency['p95']:.2f} s", "≤ 3 s",
         _judge(latency["p95"], 3.0, judged)),
        ("reply latency with IDLE, max", f"{latency['max']:.2f} s", "", ""),
        (f"workbook export, {export['mails']} mails ({export['rows']} rows)",
         f"{export_seconds:.2f} s", "≤ 3 s", _judge(export_seconds, 3.0, judged)),
        ("workbook export, peak RSS", f"{export['rss']:.0f} MB", "", ""),
    ]
    for name, what in (("over-limit", "mail over max_message_bytes (header only)"),
                       ("under-limit", "mail under the limit, fetched whole"),
                       ("zip-bomb", "zip bomb in a small mail")):
        row = intake[name]
        rows.append((f"{row['mail MB']} MB {what}",
                     f"{row['seconds']} s, {row['poll peak MB']} MB traced, {row['result']}",
                     "", ""))
    rows.append(("mail corpus parsed (tests/corpus)", str(intake["corpus"]["result"]), "", ""))
    print(table(["figure", "measured", "target", "met?"], rows))
    print(f"(measured {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
