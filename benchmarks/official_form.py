"""Official form benchmark: the form sent upward (附件1 推荐汇总表) for 10,000 received mails.

The database is filled as workbook_export.py fills it (500 units, 20 mails of three documents
each, five studios per unit), every 附件1 naming all five studios (2,500 rows); then real files
are written for the versions to be read: each unit's 附件1 lists its five studios, and each
studio has its 附件2 and 附件3 (one file per studio name, shared by the units: what is read is
still one file per document, as the rows cache by document). Measured: `official.render` for
.docx and .xlsx, exactly what `mailbot export --official` and GET /official.docx,
/official.xlsx do, with every studio listed (--include-incomplete) so no row is skipped.
Target (issue 14): ≤ 3 s each. With --postgres the same on a private PostgreSQL cluster started
for the run (tests/pgserver.py); the files are then kept in its `blobs` table (store.blobs), as
every worker and dashboard of a several-machine install reads them.

    .venv/bin/python benchmarks/official_form.py [--mails 10000] [--postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, database, peak_rss_mb, settle_statistics
from workbook_export import MAILS_PER_UNIT, fill

TARGET_SECONDS = 3.0
STUDIOS = 5  # per unit, as fill() names them


def _files(state: Path, url: str, units: int) -> None:
    """Real .docx files for the filled rows, kept where the database keeps them (the state
    directory with SQLite, the `blobs` table with PostgreSQL), and the rows pointed at them."""
    from sqlalchemy import update

    from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
    from mailbot.store import blobs
    from mailbot.store.database import open_database
    from mailbot.store.models import Document

    sessions = open_database(url)
    store = blobs.store_for(sessions.kw["bind"], state)

    def studio(unit: int, k: int):  # type: ignore[no-untyped-def]
        return replace(SAMPLE_STUDIOS[k % len(SAMPLE_STUDIOS)], unit=f"第{unit}号学院（工会）",
                       name=f"第{k}号劳模创新工作室")

    for k in range(STUDIOS):
        store.put(f"files/approval-{k}.docx", approval_docx(studio(0, k)))
        store.put(f"files/material-{k}.docx", material_docx(studio(0, k), 1500))
    for unit in range(units):
        form = summary_docx(f"第{unit}号学院（工会）", [studio(unit, k) for k in range(STUDIOS)])
        store.put(f"files/summary-{unit + 1}.docx", form)
    with sessions.begin() as session:
        session.execute(update(Document).where(Document.kind == "summary").values(
            stored_path="files/summary-" + Document.unit_id.cast(Document.filename.type)
            + ".docx", studios_json=json.dumps([f"第{k}号劳模创新工作室" for k in range(STUDIOS)],
                                               ensure_ascii=False)))
        for kind in ("approval", "material"):
            for k in range(STUDIOS):
                session.execute(update(Document).where(
                    Document.kind == kind, Document.studio_key == f"第{k}号劳模创新工作室")
                    .values(stored_path=f"files/{kind}-{k}.docx"))


def measure(mails: int, postgres: bool = False) -> dict[str, object]:
    from mailbot.campaign.rules import load_rules
    from mailbot.office import official
    from mailbot.store.database import open_database

    campaign = load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")
    with tempfile.TemporaryDirectory() as folder, database(Path(folder), postgres) as url:
        state = Path(folder)
        fill(url, mails)
        _files(state, url, max(1, mails // MAILS_PER_UNIT))
        settle_statistics(url)
        sessions = open_database(url)
        seconds: dict[str, float] = {}
        rows = 0
        for fmt in official.FORMATS:
            started = time.perf_counter()
            with sessions() as session:
                content = official.render(session, campaign, state, fmt, include_incomplete=True)
            seconds[fmt] = time.perf_counter() - started
            assert content
        with sessions() as session:
            rows = len(official.collect(session, campaign, state, include_incomplete=True).rows)
        sessions.kw["bind"].dispose()  # before its cluster stops
        return {"mails": mails, "rows": rows, "seconds": seconds, "rss": peak_rss_mb(),
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
          f"{result['mails']} mails, {result['rows']} rows (target ≤ {TARGET_SECONDS:.0f} s)")
    for fmt, seconds in result["seconds"].items():  # type: ignore[attr-defined]
        print(f"  official.{fmt:<5} {seconds:6.2f} s")
    print(f"peak RSS {result['rss']:.0f} MB")


if __name__ == "__main__":
    main()
