"""Workbook export benchmark: 汇总表.xlsx for 1,000 and 10,000 received mails.

Each size runs in its own child process, so the peak RSS printed is that size's alone. The
database is filled directly (units, mails, three documents and a finding per mail): what is
measured is `workbook.build` (read the database, derive progress, fill three styled sheets) and
`save` (write the .xlsx), exactly what `mailbot export` and GET /workbook.xlsx do.

With --postgres the same on PostgreSQL: a private cluster started for the run (tests/pgserver.py,
by the parent, a database of its own per size), the children handed its URL.

    .venv/bin/python benchmarks/workbook_export.py [--sizes 1000 10000] [--postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, peak_rss_mb, postgres_cluster, settle_statistics

MAILS_PER_UNIT = 20
TARGET_SECONDS = 3.0  # for 10,000 mails


def fill(url: str, mails: int) -> None:
    from mailbot.store.database import open_database
    from mailbot.store.models import Document, FindingRow, Message, Unit, UnitAddress

    sessions = open_database(url)
    start = datetime(2022, 9, 30, 1, 0, tzinfo=UTC)
    with sessions.begin() as session:
        units = []
        for number in range(max(1, mails // MAILS_PER_UNIT)):
            unit = Unit(key=f"address:unit{number}@bench.example", name=f"第{number}号学院（工会）",
                        created_at=start)
            unit.addresses.append(UnitAddress(address=f"unit{number}@bench.example"))
            units.append(unit)
        session.add_all(units)
        session.flush()
        for number in range(mails):
            unit = units[number % len(units)]
            received = start + timedelta(minutes=number)
            message = Message(
                message_id=f"<{number}@bench.example>", unit_id=unit.id, received_at=received,
                from_addr=unit.addresses[0].address,
                subject=f"=关于劳模工作室申报材料（第{number}封）",
                raw_path=f"raw/{number}.eml", size=120_000, result="补正" if number % 3 else "受理",
                late=number % 7 == 0, receipt_no=f"GZS2022-{number:05d}", processed_at=received)
            session.add(message)
            session.flush()
            studio = f"第{number // len(units) % 5}号劳模创新工作室"  # five studios per unit
            for position, (kind, name) in enumerate((("summary", "附件1-推荐汇总表.docx"),
                                                     ("approval", "附件2-推荐审批表.docx"),
                                                     ("material", "附件3-申报材料.docx"))):
                session.add(Document(
                    message_pk=message.id, unit_id=unit.id, position=position, filename=name,
                    format="docx", kind=kind, sha256=f"{number:064d}", stored_path=f"files/{name}",
                    size=40_000, word_count=1800 if kind == "material" else None,
                    studio_name="" if kind == "summary" else studio,
                    studio_key="" if kind == "summary" else studio, unit_name=unit.name,
                    leader="陈建华", phone="13826501234",
                    studios_json=json.dumps([studio], ensure_ascii=False)
                    if kind == "summary" else "[]"))
            session.add(FindingRow(
                message_pk=message.id, code="word-limit", severity="error",
                message="附件3《申报材料》共 2317 字，超过 2000 字。\n请删减后重新发送。"))


def child(mails: int, url: str = "") -> dict[str, float]:
    """One size measured in this process; `url`: an empty database ("": a SQLite file)."""
    from mailbot.campaign.rules import load_rules
    from mailbot.office import workbook
    from mailbot.store.database import open_database

    campaign = load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")
    with tempfile.TemporaryDirectory() as folder:
        url = url or f"sqlite:///{folder}/bench.sqlite3"
        fill(url, mails)
        settle_statistics(url)
        sessions = open_database(url)
        started = time.perf_counter()
        with sessions() as session:
            book = workbook.build(session, campaign)
        built = time.perf_counter()
        target = Path(folder) / "汇总表.xlsx"
        book.save(target)
        saved = time.perf_counter()
        import openpyxl  # the sheets are streamed: their sizes are read back from the file

        written = openpyxl.load_workbook(target, read_only=True)
        rows = sum((sheet.max_row or 1) - 1 for sheet in written.worksheets)
        written.close()
        sessions.kw["bind"].dispose()
        return {"mails": mails, "rows": rows, "build": built - started, "save": saved - built,
                "size": target.stat().st_size,
                "rss": peak_rss_mb()}


def _sizes(sizes: list[int], postgres: bool) -> list[dict[str, float]]:
    """Each size in a child process of its own, on a fresh SQLite file or PostgreSQL database."""
    def run(size: int, *url: str) -> dict[str, float]:
        done = subprocess.run([sys.executable, __file__, "--child", str(size), *url],
                              check=True, capture_output=True, text=True)
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    if not postgres:
        return [run(size) for size in sizes]
    with postgres_cluster() as cluster:
        return [run(size, "--url", cluster.new_database()) for size in sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--postgres", action="store_true",
                        help="on a private PostgreSQL cluster started for the run")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="one JSON list, for run.py")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url)))
        return
    rows = _sizes(args.sizes, args.postgres)
    if args.json:
        print(json.dumps(rows))
        return
    print("PostgreSQL (a private cluster)" if args.postgres else "SQLite")
    print(f"{'mails':>7} {'rows (3 sheets)':>16} {'build s':>8} {'save s':>7} {'total s':>8}"
          f" {'file MiB':>9} {'peak RSS MiB':>13}")
    for row in rows:
        print(f"{row['mails']:>7} {row['rows']:>16} {row['build']:>8.2f} {row['save']:>7.2f}"
              f" {row['build'] + row['save']:>8.2f} {row['size'] / 2**20:>9.2f}"
              f" {row['rss']:>13.0f}")


if __name__ == "__main__":
    main()
