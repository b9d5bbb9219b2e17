"""Dashboard benchmark: server time of every page with 10,000 mails from 500 units.

The database is filled as workbook_export.py fills it (20 mails of three documents per unit);
each page is then requested through the real Flask application (its test client: server time,
no network), logged in, a few times; the slowest of the runs of each page is reported, with the
target of issue 14 (every page ≤ 300 ms). With --postgres the database is one of a private
PostgreSQL cluster started for the run (tests/pgserver.py), the dashboard's kept files its
`blobs` table, as on a dashboard machine of a several-worker install.

    .venv/bin/python benchmarks/dashboard.py [--mails 10000] [--postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from common import ROOT, database, peak_rss_mb, settle_statistics
from workbook_export import fill

TARGET_MS = 300.0
RUNS = 3
PASSWORD = "bench-password"


def measure(mails: int, postgres: bool = False) -> dict[str, object]:
    from sqlalchemy import select

    from mailbot.campaign.rules import load_campaigns
    from mailbot.config import Settings
    from mailbot.intake.cycle import Runtime
    from mailbot.store.models import Message, Unit
    from mailbot.web import create_app
    from mailbot.web.server import settle_heap

    campaign = load_campaigns(ROOT / "rules")[0]
    with tempfile.TemporaryDirectory() as folder, database(Path(folder), postgres) as url:
        state = Path(folder)
        fill(url, mails)
        settle_statistics(url)
        runtime = Runtime(Settings(state_dir=state, database_url=url, office_password=PASSWORD,
                                   from_address="office@bench.example"), campaign)
        app = create_app(runtime.settings, campaign, runtime=runtime)
        settle_heap()  # as `mailbot serve` does before its first request
        client = app.test_client()
        login_page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
        assert token is not None
        client.post("/login", data={"csrf_token": token.group(1), "password": PASSWORD})
        with runtime.sessions() as session:
            unit_id = session.scalars(select(Unit.id).order_by(Unit.id.desc())).first()
            message_id = session.scalars(select(Message.id).order_by(Message.id.desc())).first()
        pages = {"overview /": "/", "units /units": "/units",
                 "units, filtered": "/units?state=incomplete&q=1",
                 "a unit /units/N": f"/units/{unit_id}",
                 "a mail /messages/N": f"/messages/{message_id}",
                 "quarantine /quarantine": "/quarantine", "waiting /inbox": "/inbox"}
        timings: dict[str, float] = {}
        for name, path in pages.items():
            slowest = 0.0
            for _ in range(RUNS):
                started = time.perf_counter()
                answer = client.get(path)
                answer.get_data()
                slowest = max(slowest, time.perf_counter() - started)
                assert answer.status_code == 200, (path, answer.status_code)
            timings[name] = slowest * 1000
        runtime.sessions.kw["bind"].dispose()  # before its cluster stops
        return {"mails": mails, "units": max(1, mails // 20), "pages_ms": timings,
                "slowest_ms": max(timings.values()), "rss": peak_rss_mb(),
                "database": "postgresql" if postgres else "sqlite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true",
                        help="on a private PostgreSQL cluster started for the run")
    parser.add_argument("--json", action="store_true", help="one JSON object, for run.py")
    args = parser.parse_args()
    result = measure(args.mails, args.postgres)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{'PostgreSQL' if args.postgres else 'SQLite'}: "
          f"{result['mails']} mails, {result['units']} units (slowest of {RUNS} runs, ms; "
          f"target ≤ {TARGET_MS:.0f})")
    for name, ms in result["pages_ms"].items():  # type: ignore[attr-defined]
        print(f"  {name:<28} {ms:8.1f}")
    print(f"peak RSS {result['rss']:.0f} MB")


if __name__ == "__main__":
    main()
