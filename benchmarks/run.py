"""All benchmarks, one command, one table: figure, measured, target, met?

Each benchmark runs as its own child process (and starts its own children: the floors, `mailbot
poll`, `mailbot run`), one after the other, never two at once:

* backfill.py — the 200 submissions of issue 14 (40 units, five versions each) from Dovecot
  against both floors — floor 1, the script an admin would write (imap-tools fetch +
  python-docx), and floor 2, a lean reader (imaplib, zipfile, lxml iterparse) — in three
  alternating rounds (medians); rate, ratios, peak RSS; and where the time goes (the same poll
  with SMTP unreachable, then the sending alone);
* reply_latency.py — `mailbot run` with IDLE, 10,000 earlier mails in the database: delivery
  to reply in the applicant's INBOX;
* workbook_export.py — 汇总表.xlsx for 10,000 received mails;
* dashboard.py — every dashboard page's server time with 10,000 mails from 500 units;
* official_form.py — the form sent upward (.docx, .xlsx) for 10,000 mails;
* the same three again with --postgres, on a private PostgreSQL cluster each starts for itself
  (tests/pgserver.py), their rows beside the SQLite ones;
* mail_intake.py — an over-limit mail, a 40 MB mail, a zip bomb, the mail corpus.

    .venv/bin/python benchmarks/run.py [--quick]      (also: make bench)

`--quick` runs small sizes to see that everything works; its figures are not judged. The full
run takes about ten minutes on two cores (the PostgreSQL rows about two of them). Figures vary
with the machine's other load (the load average at the end is printed with the table).
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
# Issue 14: 200 mails (40 units, five versions each); replies and pages at 10,000 mails.
FULL = {"mails": 200, "rounds": 3, "latency": 30, "backlog": 20, "filled": 10_000,
        "rows": 10_000}
QUICK = {"mails": 40, "rounds": 1, "latency": 5, "backlog": 5, "filled": 1000, "rows": 1000}
TARGET_RATIO = 1.0
TARGET_P95 = 1.0
TARGET_PAGE_MS = 300.0
TARGET_EXPORT_S = 3.0


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


def _scale_rows(exports: dict[str, Any], forms: dict[str, Any], pages: dict[str, Any],
                judged: bool) -> list[tuple[str, str, str, str]]:
    """The exports and dashboard pages at 10,000 mails, each figure on SQLite then on
    PostgreSQL (keys of the dicts: the database's name)."""
    rows: list[tuple[str, str, str, str]] = []
    for db, export in exports.items():
        seconds = export["build"] + export["save"]
        rows.append((f"workbook export, {export['mails']} mails ({export['rows']} rows), {db}",
                     f"{seconds:.2f} s, {export['rss']:.0f} MB", f"≤ {TARGET_EXPORT_S:.0f} s",
                     _judge(seconds, TARGET_EXPORT_S, judged)))
    for fmt in forms["SQLite"]["seconds"]:
        for db, form in forms.items():
            seconds = form["seconds"][fmt]
            rows.append((f"official form .{fmt}, {form['mails']} mails ({form['rows']} rows), "
                         f"{db}", f"{seconds:.2f} s", f"≤ {TARGET_EXPORT_S:.0f} s",
                         _judge(seconds, TARGET_EXPORT_S, judged)))
    for name in pages["SQLite"]["pages_ms"]:
        for db, page in pages.items():
            ms = page["pages_ms"][name]
            rows.append((f"dashboard {name}, {page['mails']} mails / {page['units']} units, {db}",
                         f"{ms:.0f} ms", f"≤ {TARGET_PAGE_MS:.0f} ms",
                         _judge(ms, TARGET_PAGE_MS, judged)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, figures not judged")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    judged = not args.quick

    b = _child("backfill.py", "--mails", str(size["mails"]), "--rounds", str(size["rounds"]))
    latency = _child("reply_latency.py", "--mails", str(size["latency"]),
                     "--backlog", str(size["backlog"]), "--filled", str(size["filled"]))
    exports, pages, forms = {}, {}, {}
    for name, flags in (("SQLite", ()), ("PostgreSQL", ("--postgres",))):
        exports[name] = _child("workbook_export.py", "--sizes", str(size["rows"]), *flags)[0]
        pages[name] = _child("dashboard.py", "--mails", str(size["rows"]), *flags)
        forms[name] = _child("official_form.py", "--mails", str(size["rows"]), *flags)
    intake = {row["scenario"]: row for row in _child("mail_intake.py")}

    n, rounds = b["mails"], b["rounds"]
    earlier = latency["filled"] + latency["backlog"]
    rows: list[tuple[str, str, str, str]] = [
        (f"backfill: {n} submissions, floor 1 (imap-tools + python-docx)",
         f"{b['floor']:.2f} s (runs {b['floors']})", "", ""),
        ("backfill: floor 1 by its own clock (after its imports); the poll's ratio to it",
         f"{b['floor_inside']:.2f} s; {b['inside_ratio']:.2f}", "", ""),
        (f"backfill: {n} submissions, floor 2 (imaplib + zipfile + lxml)",
         f"{b['lean']:.2f} s (runs {b['leans']})", "", ""),
        (f"backfill: {n} submissions, mailbot poll",
         f"{b['poll']:.2f} s (runs {b['polls']})", "", ""),
        ("backfill: submissions per second", f"{b['rate']:.1f}", "", ""),
        (f"backfill: ratio to floor 1 (median of {rounds})", f"{b['ratio']:.2f}",
         f"≤ {TARGET_RATIO}", _judge(b["ratio"], TARGET_RATIO, judged)),
        (f"backfill: ratio to floor 2 (median of {rounds})", f"{b['lean_ratio']:.2f}",
         "(aim ≤ 3)", ""),
        ("backfill: peak RSS of the poll", f"{b['poll_rss']:.0f} MB", "≤ 150 MB",
         _judge(b["poll_rss"], 150, judged)),
        ("backfill: peak RSS of floor 1 / floor 2",
         f"{b['floor_rss']:.0f} / {b['lean_rss']:.0f} MB", "", ""),
        ("backfill: poll with SMTP down (replies queued), ratio to floor 1",
         f"{b['quiet']:.2f} s, {b['quiet_ratio']:.2f}", "", ""),
        ("backfill: then sending the queued replies", f"{b['send']:.2f} s", "", ""),
        (f"reply latency with IDLE, p50 ({latency['mails']} mails, {earlier} earlier)",
         f"{latency['p50']:.2f} s", "", ""),
        ("reply latency with IDLE, p95", f"{latency['p95']:.2f} s", f"≤ {TARGET_P95:.0f} s",
         _judge(latency["p95"], TARGET_P95, judged)),
        ("reply latency with IDLE, max", f"{latency['max']:.2f} s", "", ""),
    ]
    rows += _scale_rows(exports, forms, pages, judged)
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
