"""Conversion cache benchmark: the official form when the units sent their 附件1 as .doc.

`--units` units (default 20) each send a whole set through the real intake, the 附件1 saved by
Word 97 (.doc, made by LibreOffice from our own sample; each unit's differs). Measured, with
real LibreOffice, the wall time and the soffice runs (convert.soffice_runs) of
`official.render(..., "docx")`, what `mailbot export --official` and GET /official.docx do:

* cold — the intake kept nothing (a state directory from before the cache, or a LibreOffice
  upgrade since): the first export converts each .doc once, all of them ahead in one soffice
  run per 20 (conversions.prefetch); the second converts none. Before the cache, every export
  converted each .doc by a soffice run of its own (41 s for 20 units on 2 shared cores).
* after the intake — the intake kept its conversions (`mailbot poll`/`run` set the process's
  cache): the first export already converts nothing.

    .venv/bin/python benchmarks/conversions.py [--units 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import table

WORD_97 = "doc:MS Word 97"


def _sets(units: int) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """(sender, files) of each unit: a .doc 附件1 and .docx 附件2/附件3."""
    from web_support import full_set

    from mailbot.demo.samples import SAMPLE_STUDIOS, summary_docx
    from mailbot.documents import convert

    found = []
    for n in range(units):
        studio = replace(SAMPLE_STUDIOS[0], unit=f"第{n + 1}号学院",
                         name=f"第{n + 1}号劳模创新工作室")
        summary = convert.export(summary_docx(studio.unit, [studio]), "docx", WORD_97)
        found.append((f"unit{n + 1}@bench.example",
                      [("附件1-推荐汇总表.doc", summary), *full_set(studio)[1:]]))
    return found


def _export(runtime: Any) -> tuple[float, int, int]:
    """(seconds, soffice runs, rows) of one export of the official form as .docx."""
    from mailbot.documents import convert
    from mailbot.office import official

    runs, started = convert.soffice_runs(), time.perf_counter()
    with runtime.sessions() as session:
        content = official.render(session, runtime.campaign, runtime.settings.state_dir, "docx")
    seconds = time.perf_counter() - started
    with runtime.sessions() as session:
        rows = len(official.collect(session, runtime.campaign, runtime.settings.state_dir).rows)
    assert content
    return seconds, convert.soffice_runs() - runs, rows


def _scenario(sets: list[tuple[str, list[tuple[str, bytes]]]], folder: Path,
              intake_keeps: bool) -> list[tuple[float, int, int]]:
    from web_support import deliver, make_runtime

    from mailbot.documents import conversions

    runtime = make_runtime(folder)
    conversions.use(conversions.ConversionCache(runtime.settings.state_dir)
                    if intake_keeps else None)
    try:
        for sender, files in sets:
            deliver(runtime, sender, files)
    finally:
        conversions.use(None)
    return [_export(runtime), _export(runtime)]


def measure(units: int) -> dict[str, object]:
    sets = _sets(units)
    result: dict[str, object] = {"units": units}
    with tempfile.TemporaryDirectory() as folder:
        for name, keeps in (("cold", False), ("after_intake", True)):
            (first, second) = _scenario(sets, Path(folder) / name, keeps)
            result[name] = {"first": {"seconds": first[0], "soffice_runs": first[1]},
                            "second": {"seconds": second[0], "soffice_runs": second[1]},
                            "rows": first[2]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    result = measure(args.units)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    rows = []
    for name in ("cold", "after_intake"):
        scenario: dict[str, Any] = result[name]  # type: ignore[assignment]
        for which in ("first", "second"):
            rows.append([name, which, f"{scenario[which]['seconds']:.2f} s",
                         scenario[which]["soffice_runs"], scenario["rows"]])
    print(f"official form (.docx), {args.units} units sending a .doc 附件1")
    print(table(["intake", "export", "time", "soffice runs", "rows"], rows))


if __name__ == "__main__":
    main()
