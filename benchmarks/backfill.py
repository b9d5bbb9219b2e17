"""Backfill benchmark: 200 realistic submissions from a real Dovecot, against two floors.

The mails of issue 14: three .docx each, from 40 units, each unit sending its set five times.
Two floors, measured in the same run on the same mails: the script an admin would write
(imap-tools fetch + python-docx open and text of every .docx), and a lean reader (imaplib
fetching 50 mails per round trip, zipfile, lxml iterparse of word/document.xml). mailbot runs as
`mailbot poll` in a child process (fresh state, SMTP relay up: replies included), so its peak RSS
is its own. Every one is timed the same way, from outside, start to exit: a person runs the
script as they run `mailbot poll` (the script's own clock, which leaves out its start and its
imports, is printed beside it). Three alternating rounds of floor, lean reader, poll: the
figures are medians, the ratios the medians of each round's ratio (the machine's load drifts).
Then where the time goes:
`mailbot poll` afresh with SMTP unreachable (replies stay queued), then a poll that only sends
them. The relay answers as Postfix does (the issue's "queueing SMTP relay"): 250 once the reply is
in a queue file on disk, fsynced. It hands the queue to Dovecot's LMTP between measurements:
Postfix passes replies on to the applicants' own servers, elsewhere, which is no work of the
machine the bot runs on. The floors send nothing.

    .venv/bin/python benchmarks/backfill.py [--mails 200] [--rounds 3] [--json] [--baseline DIR]

With --baseline DIR (a checkout of an earlier mailbot, e.g. ``git archive REV | tar -x -C DIR``),
that version's `mailbot poll` runs too, after the rounds and before one more floor, on the same
mails: before and after side by side under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
TARGET_RATIO = 1.0  # issue 14: no slower than the imap-tools + python-docx script
ROUNDS = 3
TARGET_RSS_MB = 150  # issue 14

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

# The lean reader: what a careful script does with the standard library and lxml alone —
# imaplib fetching 50 mails per round trip, the email package finding the .docx parts, zipfile
# opening each and lxml iterparse counting the paragraphs of word/document.xml.
LEAN = PEAK_RSS_SNIPPET + textwrap.dedent("""
    import email, imaplib, io, sys, time, zipfile
    from email import policy
    from lxml import etree
    from mailbot.documents.wordcount import count_words
    host, port, user, password = sys.argv[1:5]
    W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    started = time.perf_counter()
    words = docs = 0
    box = imaplib.IMAP4(host, int(port))
    box.login(user, password)
    box.select("INBOX", readonly=True)
    uids = box.uid("SEARCH", None, "ALL")[1][0].split()
    for start in range(0, len(uids), 50):
        batch = b",".join(uids[start:start + 50])
        for item in box.uid("FETCH", batch, "(BODY.PEEK[])")[1]:
            if not isinstance(item, tuple):
                continue
            msg = email.message_from_bytes(item[1], policy=policy.compat32)
            for part in msg.walk():
                if part.is_multipart() or not part.get_filename():
                    continue
                payload = part.get_payload(decode=True)
                if not payload.startswith(b"PK"):  # a .docx is a zip
                    continue
                docs += 1
                with zipfile.ZipFile(io.BytesIO(payload)) as z, z.open("word/document.xml") as x:
                    text = []
                    for _event, el in etree.iterparse(x, events=("end",)):
                        if el.tag == W + "t":
                            text.append(el.text or "")
                        elif el.tag == W + "p":
                            words += count_words("".join(text))
                            text.clear()
                            el.clear()
    box.logout()
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


def _floor(dovecot: Dovecot, script: str = FLOOR) -> tuple[float, float, float]:
    """A floor (FLOOR or LEAN) in a child process: its seconds from start to exit, timed from
    outside as `_poll` times the poll (interpreter and imports included); the seconds by its
    own clock (after its imports); its peak RSS (MB)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, dovecot.host, str(dovecot.imap_port),
                           OFFICE, dovecot.password], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    inside, _words, rss = done.stdout.split()
    return seconds, float(inside), float(rss)


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
        relay.drain()
    floor_c, _inside, _rss = _floor(dovecot)
    return {"base_poll": seconds, "base_rss": rss, "floor_c": floor_c}


def measure(mails: int, baseline: str | None = None,
            rounds: int = ROUNDS) -> dict[str, float | int | str]:
    print(f"building {mails} submissions …", file=sys.stderr)
    built = build_mails(mails)
    size_mb = sum(len(raw) for raw, _ in built) / 1e6
    dovecot = Dovecot()
    dovecot.start()
    relay = SmtpRelay(dovecot, queueing=True)
    relay.start()
    floors, insides, leans, polls, rss = [], [], [], [], []
    try:
        for raw, received in built:
            dovecot.append(OFFICE, raw, internaldate=received)
        del built
        for _round in range(rounds):  # alternating, so a drift in the load hits all three
            seconds, inside, floor_rss = _floor(dovecot)
            floors.append(seconds)
            insides.append(inside)
            seconds, _inside, lean_rss = _floor(dovecot, LEAN)
            leans.append(seconds)
            _unmark(dovecot)
            with tempfile.TemporaryDirectory() as state:
                seconds, poll_rss, summary = _poll(mailbot_env(dovecot, relay, state))
                relay.drain()
            polls.append(seconds)
            rss.append(poll_rss)
        base = _baseline(dovecot, relay, baseline) if baseline else {}
        _unmark(dovecot)
        with tempfile.TemporaryDirectory() as state:
            quiet, quiet_rss, _summary = _poll(mailbot_env(dovecot, None, state))
            send, _send_rss, sent = _poll(mailbot_env(dovecot, relay, state))
            relay.drain()
    finally:
        relay.stop()
        dovecot.close()
    floor, lean, poll = (statistics.median(xs) for xs in (floors, leans, polls))
    ratio = statistics.median(p / f for p, f in zip(polls, floors, strict=True))
    result: dict[str, float | int | str] = {
        "mails": mails, "size_mb": size_mb, "rounds": rounds,
        "floor": floor, "floors": " ".join(f"{x:.2f}" for x in floors),
        "floor_a": floors[0], "floor_b": floors[-1], "floor_rss": floor_rss,
        "floor_inside": statistics.median(insides),
        "inside_ratio": statistics.median(p / f for p, f in zip(polls, insides, strict=True)),
        "lean": lean, "leans": " ".join(f"{x:.2f}" for x in leans), "lean_rss": lean_rss,
        "poll": poll, "polls": " ".join(f"{x:.2f}" for x in polls), "poll_rss": max(rss),
        "rate": mails / poll, "ratio": ratio,
        "lean_ratio": statistics.median(p / x for p, x in zip(polls, leans, strict=True)),
        "quiet": quiet, "quiet_rss": quiet_rss, "quiet_ratio": quiet / floor, "send": send,
        "summary": summary, "sent": sent, **base}
    if base:  # the earlier poll against the last floor and the one after it
        result["base_ratio"] = base["base_poll"] / ((floors[-1] + base["floor_c"]) / 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="alternating rounds of floor, lean reader and poll (medians)")
    parser.add_argument("--json", action="store_true", help="one JSON object, for run.py")
    parser.add_argument("--baseline", metavar="DIR",
                        help="a checkout of an earlier mailbot, measured in the same run")
    args = parser.parse_args()
    r = measure(args.mails, args.baseline, args.rounds)
    if args.json:
        print(json.dumps(r, ensure_ascii=False))
        return
    print(table(["figure", "value"], [
        ("submissions", f"{r['mails']} ({r['size_mb']:.1f} MB, 3 .docx each)"),
        ("floor: imap-tools fetch + python-docx count",
         f"{r['floor']:.2f} s (median; runs {r['floors']})"),
        ("  the same by the script's own clock (after its imports)",
         f"{r['floor_inside']:.2f} s (poll to it: {r['inside_ratio']:.2f})"),
        ("lean reader: imaplib + zipfile + lxml iterparse",
         f"{r['lean']:.2f} s (median; runs {r['leans']})"),
        ("mailbot poll (fetch, check, record, workbook, replies)",
         f"{r['poll']:.2f} s (median; runs {r['polls']})"),
        ("submissions per second", f"{r['rate']:.1f}"),
        (f"ratio to floor, median of rounds (target ≤ {TARGET_RATIO})", f"{r['ratio']:.2f}"),
        ("ratio to the lean reader, median of rounds", f"{r['lean_ratio']:.2f}"),
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
