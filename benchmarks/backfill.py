"""Backfill benchmark: 1,000 realistic submissions from a real Dovecot, against the floor.

The floor, measured in the same run on the same mails: a bare imap-tools fetch of every mail
plus a bare python-docx open-and-count of every .docx attachment — the least any intake must do.
mailbot runs as `mailbot poll` in a child process, so its peak RSS is its own.

    .venv/bin/python benchmarks/backfill.py [--mails 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from servers import Dovecot, SmtpRelay  # noqa: E402

from mailbot.mailfactory import STYLES, build_mail  # noqa: E402
from mailbot.samples import (  # noqa: E402
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    summary_docx,
)
from mailbot.timefmt import OFFICE_ZONE  # noqa: E402

OFFICE = "office@bench.example"
DISTINCT_SETS = 40  # distinct documents; every mail is still its own unit and Message-ID

FLOOR = textwrap.dedent("""
    import io, resource, sys, time, docx
    from imap_tools import MailBoxUnencrypted
    from mailbot.documents.wordcount import count_words
    host, port, user, password = sys.argv[1:5]
    started = time.perf_counter()
    words = 0
    with MailBoxUnencrypted(host, int(port)).login(user, password) as box:
        for msg in box.fetch(mark_seen=False, bulk=50):
            for att in msg.attachments:
                if att.filename.lower().endswith(".docx") or att.content_type.endswith(
                        "wordprocessingml.document"):
                    document = docx.Document(io.BytesIO(att.payload))
                    texts = [p.text for p in document.paragraphs]
                    texts += [c.text for t in document.tables for r in t.rows for c in r.cells]
                    words += sum(count_words(t) for t in texts)
        print(time.perf_counter() - started, words,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")

# `mailbot poll`, reporting its own peak RSS (KiB) as the last line on stderr.
MEASURED_POLL = textwrap.dedent("""
    import resource, sys
    from mailbot.cli import app
    try:
        app(["poll"])
    except SystemExit as exit:
        if exit.code:
            raise
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
""")


def build_mails(count: int) -> list[tuple[bytes, datetime]]:
    sets = []
    for k in range(DISTINCT_SETS):
        studio = replace(SAMPLE_STUDIOS[k % len(SAMPLE_STUDIOS)], unit=f"第{k}学院",
                         name=f"第{k}创新工作室")
        sets.append([("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),
                     ("附件2-推荐审批表.docx", approval_docx(studio)),
                     ("附件3-申报材料.docx", material_docx(studio, 1200 + 17 * k))])
    mails = []
    for n in range(count):
        received = datetime(2022, 10, 8 + n // 600, 8 + n // 60 % 10, n % 60, tzinfo=OFFICE_ZONE)
        raw = build_mail(sender=f"unit-{n:04d}@bench.example", to=OFFICE, body="请查收。",
                         subject=f"申报材料 {n}", attachments=sets[n % DISTINCT_SETS],
                         style=STYLES[n % len(STYLES)], date=received,
                         message_id=f"<bench-{n}@client.bench.example>")
        mails.append((raw, received))
    return mails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    args = parser.parse_args()
    print(f"building {args.mails} submissions …", file=sys.stderr)
    mails = build_mails(args.mails)
    size_mb = sum(len(raw) for raw, _ in mails) / 1e6
    dovecot = Dovecot()
    dovecot.start()
    relay = SmtpRelay(dovecot)
    relay.start()
    try:
        for raw, received in mails:
            dovecot.append(OFFICE, raw, internaldate=received)
        python = sys.executable
        floor = subprocess.run([python, "-c", FLOOR, dovecot.host, str(dovecot.imap_port),
                                OFFICE, dovecot.password], capture_output=True, text=True,
                               check=True)
        floor_seconds = float(floor.stdout.split()[0])
        floor_rss = float(floor.stdout.split()[2]) / 1024
        with tempfile.TemporaryDirectory() as state:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")},
                   "MAILBOT_IMAP_HOST": dovecot.host, "MAILBOT_IMAP_PORT": str(dovecot.imap_port),
                   "MAILBOT_IMAP_USER": OFFICE, "MAILBOT_IMAP_PASSWORD": dovecot.password,
                   "MAILBOT_IMAP_SECURITY": "none", "MAILBOT_SMTP_HOST": relay.host,
                   "MAILBOT_SMTP_PORT": str(relay.port), "MAILBOT_SMTP_SECURITY": "none",
                   "MAILBOT_FROM": OFFICE, "MAILBOT_STATE_DIR": state}
            started = time.perf_counter()
            poll = subprocess.run([python, "-c", MEASURED_POLL], env=env, cwd=state,
                                  capture_output=True, text=True)
            bot_seconds = time.perf_counter() - started
            if poll.returncode != 0:
                raise SystemExit(poll.stderr)
            bot_rss = float(poll.stderr.strip().splitlines()[-1]) / 1024
    finally:
        relay.stop()
        dovecot.close()
    rows = [
        ("submissions", f"{args.mails} ({size_mb:.1f} MB, 3 .docx each)"),
        ("floor: imap-tools fetch + python-docx count", f"{floor_seconds:.2f} s"),
        ("mailbot poll (fetch, check, record, workbook, replies)", f"{bot_seconds:.2f} s"),
        ("submissions per second", f"{args.mails / bot_seconds:.1f}"),
        ("ratio to floor (target ≤ 1.5)", f"{bot_seconds / floor_seconds:.2f}"),
        ("peak RSS of the poll (target ≤ 200 MB)", f"{max(bot_rss, 0):.0f} MB"),
        ("peak RSS of the floor", f"{floor_rss:.0f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(poll.stdout.strip().splitlines()[0])
    print(f"(measured {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
