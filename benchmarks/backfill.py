"""Backfill benchmark: 1,000 realistic submissions from a real Dovecot, against the floor.

The floor, measured in the same run on the same mails: a bare imap-tools fetch of every mail
plus a bare python-docx open-and-count of every .docx attachment — the least any intake must do.
mailbot runs as `mailbot poll` in a child process, so its peak RSS is its own. Each run:

1. the floor; 2. `mailbot poll` with the SMTP relay up — everything, replies included;
3. the floor again (the machine's load drifts: the ratio is to the mean of both floors);
4. `mailbot poll` on the same mails, afresh, with SMTP unreachable, so the replies stay queued,
   then a second `mailbot poll` that only sends them: where the time goes. The relay hands each
   reply to Dovecot's LMTP before it answers, so sending is the test servers' time as much as
   the bot's; the floor sends nothing.

    .venv/bin/python benchmarks/backfill.py [--mails 1000] [--json] [--baseline DIR]

With --baseline DIR (a checkout of an earlier mailbot, e.g. ``git archive REV | tar -x -C DIR``),
that version's `mailbot poll` runs too, between the second floor and a third one, on the same
mails: before and after side by side under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from datetime import datetime

from common import OFFICE, PEAK_RSS_SNIPPET, Dovecot, SmtpRelay, mailbot_env, table

from mailbot.demo.mailfactory import STYLES, build_mail
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    summary_docx,
)
from mailbot.timefmt import OFFICE_ZONE

# Distinct sets of forms. Each mail has its own sender and Message-ID, but its forms name one
# of 40 units, so the bot files 1,000 mails under 40 units, 25 versions each: every mail's
# unit has a long history to derive its current set from (a hard case, not an easy one).
DISTINCT_SETS = 40
TARGET_RATIO = 1.5
TARGET_RSS_MB = 200

FLOOR = PEAK_RSS_SNIPPET + textwrap.dedent("""
    import io, sys, time, docx
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
        print(time.perf_counter() - started, words, peak_rss_mb())
""")

# `mailbot poll`, reporting its own peak RSS (MB) as the last line on stderr.
MEASURED_POLL = PEAK_RSS_SNIPPET + textwrap.dedent("""
    import sys
    from mailbot.cli.main import app
    try:
        app(["poll"])
    except SystemExit as exit:
        if exit.code:
            raise
    print(peak_rss_mb(), file=sys.stderr)
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


def _floor(dovecot: Dovecot) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of the floor, in a child process."""
    done = subprocess.run([sys.executable, "-c", FLOOR, dovecot.host, str(dovecot.imap_port),
                           OFFICE, dovecot.password], capture_output=True, text=True, check=True)
    seconds, _words, rss = done.stdout.split()
    return float(seconds), float(rss)


def _poll(env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the summary line of one `mailbot poll` child process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED_POLL], env=env,
                          cwd=env["MAILBOT_STATE_DIR"], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    summary = (done.stdout.strip().splitlines() or [""])[0]
    return seconds, float(done.stderr.strip().splitlines()[-1]), summary


def _unmark(dovecot: Dovecot) -> None:
    """Make every mail new again for a second run of the bot (it marks with a keyword)."""
    with dovecot.imap(OFFICE) as client:
        client.select("INBOX")
        client.uid("STORE", "1:*", "-FLAGS", "($MailbotHandled)")


def _baseline(dovecot: Dovecot, relay: SmtpRelay, baseline: str) -> dict[str, float]:
    """The earlier version's poll (its mailbot package first on the path), then a third floor."""
    _unmark(dovecot)
    with tempfile.TemporaryDirectory() as state:
        env = mailbot_env(dovecot, relay, state)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline, env.get("PYTHONPATH")]))
        seconds, rss, _summary = _poll(env)
    floor_c, _rss = _floor(dovecot)
    return {"base_poll": seconds, "base_rss": rss, "floor_c": floor_c}


def measure(mails: int, baseline: str | None = None) -> dict[str, float | int | str]:
    print(f"building {mails} submissions …", file=sys.stderr)
    built = build_mails(mails)
    size_mb = sum(len(raw) for raw, _ in built) / 1e6
    dovecot = Dovecot()
    dovecot.start()
    relay = SmtpRelay(dovecot)
    relay.start()
    try:
        for raw, received in built:
            dovecot.append(OFFICE, raw, internaldate=received)
        del built
        floor_a, floor_rss = _floor(dovecot)
        with tempfile.TemporaryDirectory() as state:
            poll, poll_rss, summary = _poll(mailbot_env(dovecot, relay, state))
        floor_b, _rss = _floor(dovecot)
        base = _baseline(dovecot, relay, baseline) if baseline else {}
        _unmark(dovecot)
        with tempfile.TemporaryDirectory() as state:
            quiet, quiet_rss, _summary = _poll(mailbot_env(dovecot, None, state))
            send, _send_rss, sent = _poll(mailbot_env(dovecot, relay, state))
    finally:
        relay.stop()
        dovecot.close()
    floor = (floor_a + floor_b) / 2
    result: dict[str, float | int | str] = {
        "mails": mails, "size_mb": size_mb, "floor": floor, "floor_a": floor_a,
        "floor_b": floor_b, "floor_rss": floor_rss, "poll": poll, "poll_rss": poll_rss,
        "rate": mails / poll, "ratio": poll / floor, "quiet": quiet, "quiet_rss": quiet_rss,
        "quiet_ratio": quiet / floor, "send": send, "summary": summary, "sent": sent, **base}
    if base:  # each poll against the floors on either side of it
        result["base_ratio"] = base["base_poll"] / ((floor_b + base["floor_c"]) / 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object, for run.py")
    parser.add_argument("--baseline", metavar="DIR",
                        help="a checkout of an earlier mailbot, measured in the same run")
    args = parser.parse_args()
    r = measure(args.mails, args.baseline)
    if args.json:
        print(json.dumps(r, ensure_ascii=False))
        return
    print(table(["figure", "value"], [
        ("submissions", f"{r['mails']} ({r['size_mb']:.1f} MB, 3 .docx each)"),
        ("floor: imap-tools fetch + python-docx count",
         f"{r['floor']:.2f} s (runs: {r['floor_a']:.2f}, {r['floor_b']:.2f})"),
        ("mailbot poll (fetch, check, record, workbook, replies)", f"{r['poll']:.2f} s"),
        ("submissions per second", f"{r['rate']:.1f}"),
        (f"ratio to floor (target ≤ {TARGET_RATIO})", f"{r['ratio']:.2f}"),
        (f"peak RSS of the poll (target ≤ {TARGET_RSS_MB} MB)", f"{r['poll_rss']:.0f} MB"),
        ("peak RSS of the floor", f"{r['floor_rss']:.0f} MB"),
        ("mailbot poll, SMTP down (replies stay queued)",
         f"{r['quiet']:.2f} s (ratio {r['quiet_ratio']:.2f}, {r['quiet_rss']:.0f} MB)"),
        ("then a poll that only sends the queued replies", f"{r['send']:.2f} s"),
    ]))
    if "base_poll" in r:
        print(table(["baseline (--baseline)", "value"], [
            ("earlier mailbot poll", f"{r['base_poll']:.2f} s, peak RSS {r['base_rss']:.0f} MB"),
            ("its ratio to the floors around it (second and third)",
             f"{r['base_ratio']:.2f} (third floor {r['floor_c']:.2f} s)"),
        ]))
    print(r["summary"])
    print(r["sent"])
    print(f"(measured {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
