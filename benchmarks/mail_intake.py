"""Mail-side benchmark: memory and time of one poll over big, hostile and ordinary mail.

Each scenario runs in its own child process against a private Dovecot (tests/servers.py), so
what is measured is that scenario's alone; "poll peak" is the most memory Python held during
the poll (tracemalloc: IMAP buffers, parsing, documents). Scenarios:

* over-limit — a 60 MB mail with max_message_bytes = 50 MB: only its header is fetched;
* under-limit — a 40 MB mail (a 30 MB scan attached) fetched and parsed whole;
* zip-bomb — a 64 MB-of-zeros zip member in a small attachment: refused unopened;
* corpus — the whole tests/corpus parsed in-process, mails per second.

    .venv/bin/python benchmarks/mail_intake.py [--only over-limit under-limit zip-bomb corpus]
                                               [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("over-limit", "under-limit", "zip-bomb", "corpus")


def _mail(size: int) -> bytes:
    from mailbot.demo.mailfactory import build_mail
    return build_mail(sender="big@bench.example", to="office@bench.example",
                      subject="申报材料（大附件）",
                      attachments=[("扫描件.pdf", b"%PDF-1.4\n" + os.urandom(size))],
                      style="outlook")


def _bomb() -> bytes:
    from mailbot.demo.mailfactory import build_mail
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("附件3.docx", b"\x00" * (64 * 1024 * 1024))
    return build_mail(sender="bomb@bench.example", to="office@bench.example",
                      subject="申报材料（炸弹）",
                      attachments=[("附件.zip", buffer.getvalue())], style="outlook")


def run_poll(scenario: str) -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "tests"))
    from intake_support import OFFICE, make_bot
    from servers import Dovecot, SmtpRelay

    from mailbot.intake.cycle import Runtime, run_cycle

    raw = {"over-limit": lambda: _mail(60 * 1024 * 1024 * 3 // 4),  # base64 grows it by 4/3
           "under-limit": lambda: _mail(30 * 1024 * 1024),
           "zip-bomb": _bomb}[scenario]()
    server = Dovecot()
    server.start()
    relay = SmtpRelay(server)
    relay.start()
    try:
        bot = make_bot(server, relay, Path(tempfile.mkdtemp()))
        server.deliver(OFFICE, raw)
        size = len(raw)
        del raw
        runtime = Runtime(replace(bot.settings, max_message_bytes=50 * 1024 * 1024),
                          bot.campaign)
        tracemalloc.start()
        started = time.perf_counter()
        report = run_cycle(runtime)
        seconds = time.perf_counter() - started
        _now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result = next(iter(report.results))
        return {"scenario": scenario, "mail MB": round(size / 2**20, 1),
                "result": result, "seconds": round(seconds, 2),
                "poll peak MB": round(peak / 2**20, 1)}
    finally:
        relay.stop()
        server.close()


def run_corpus() -> dict[str, object]:
    from mailbot.mail.parse import parse_message
    mails = [p.read_bytes() for p in sorted((ROOT / "tests" / "corpus").glob("*/*.eml"))]
    started = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        for raw in mails:
            parse_message(raw, ["litiantian@sztu.edu.cn"])
    seconds = time.perf_counter() - started
    return {"scenario": "corpus", "mail MB": round(sum(map(len, mails)) / 2**20, 1),
            "result": f"{len(mails) * rounds / seconds:.0f} mails/s",
            "seconds": round(seconds, 2), "poll peak MB": "-"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="one JSON list, for run.py")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_corpus() if args.child == "corpus" else run_poll(args.child),
                         ensure_ascii=False))
        return 0
    rows = []
    for scenario in args.only:
        done = subprocess.run([sys.executable, __file__, "--child", scenario], check=True,
                              capture_output=True, text=True, cwd=ROOT)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    headers = list(rows[0])
    widths = [max(len(str(h)), *(len(str(r[h])) for r in rows)) for h in headers]
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
