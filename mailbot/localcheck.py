"""`mailbot check FILE...`: the bot's own reading and document checks, on local files.

The same reader and the same DOCUMENT_CHECKS as the intake, so an applicant or the office sees
before sending exactly what the bot will say after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailbot.checks import DOCUMENT_CHECKS, Submission, run_checks
from mailbot.documents import read_document
from mailbot.findings import Finding
from mailbot.rules import Campaign
from mailbot.sniff import detect_format
from mailbot.timefmt import utcnow

MAX_LOCAL_FILE = 200 * 1024 * 1024


def check_files(paths: list[Path], campaign: Campaign) -> list[dict[str, Any]]:
    return [check_file(path, campaign) for path in paths]


def check_file(path: Path, campaign: Campaign) -> dict[str, Any]:
    problems: list[Finding]
    try:
        if path.stat().st_size > MAX_LOCAL_FILE:
            raise OSError(f"larger than {MAX_LOCAL_FILE // (1024 * 1024)} MB")
        data = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "kind": "unknown", "format": "unknown", "word_count": None,
                "label": "未识别",
                "problems": [{"code": "unreadable", "message": f"无法读取文件：{exc}"}]}
    fmt = detect_format(data, path.name)
    doc = read_document(path.name, data, fmt, campaign)
    # No time check offline: lateness is decided by when the mailbox receives the mail.
    problems = run_checks(DOCUMENT_CHECKS, Submission(campaign, utcnow(), (doc,), ()))
    return {
        "file": str(path),
        "kind": doc.kind,
        "format": fmt,
        "word_count": doc.word_count,
        "label": campaign.spec(doc.kind).display if campaign.has(doc.kind) else "未识别",
        "problems": [{"code": p.code, "message": p.message + (p.fix and f" {p.fix}"),
                      "severity": p.severity.value} for p in problems],
    }
