"""`mailbot check FILE... [--json]`: the bot's own reading and checks, on local files.

The same path as the intake, so an applicant or the office sees before sending exactly what the
bot will say after: the format detected from the content (sniff.detect_format), the same reader
(with the same LibreOffice conversion of .doc/.wps/.xls/.et/.odt/.rtf), the same DOCUMENT_CHECKS,
and — when the files include a 附件1, i.e. a whole set is being checked — the same completeness
check across them (every listed studio has its 附件2 and 附件3; no form for an unlisted studio).
Lateness is not checked: it depends on when the mailbox receives the mail.

JSON (CONTRACT.md), one object per file, in the order given::

    {"file": str, "kind": "summary"|"approval"|"material"|"unknown", "format": str,
     "word_count": int|null, "problems": [{"code": str, "message": str}]}

`problems` holds errors and warnings (information such as "signed copy kept" is left out); each
message ends with how to fix it. A set-level problem without a file of its own (a studio's
missing form) is listed under the 附件1 that names the studio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailbot.checks import DOCUMENT_CHECKS, Held, Submission, completeness, run_checks
from mailbot.checks.formats import SCAN_FORMATS, SIGNED_KINDS
from mailbot.documents import Document, read_document, studio_key
from mailbot.findings import Finding, Severity
from mailbot.rules import Campaign
from mailbot.sniff import detect_format
from mailbot.timefmt import utcnow

MAX_LOCAL_FILE = 200 * 1024 * 1024
UNRECOGNISED = "未识别"


def label(campaign: Campaign, kind: str) -> str:
    """How a kind is named to people: 附件2《推荐审批表》, or 未识别."""
    return campaign.spec(kind).display if campaign.has(kind) else UNRECOGNISED


def check_files(paths: list[Path], campaign: Campaign) -> list[dict[str, Any]]:
    """One result per path (see the module docstring for the shape)."""
    read: list[tuple[Path, Document | None, Finding | None]] = []
    for path in paths:
        document, failure = _read(path, campaign)
        read.append((path, document, failure))
    documents = tuple(doc for _path, doc, _failure in read if doc is not None)
    # No time check offline: lateness is decided by when the mailbox receives the mail.
    findings = run_checks(DOCUMENT_CHECKS, Submission(campaign, utcnow(), documents, ()))
    if any(doc.kind == "summary" and doc.studios for doc in documents):
        findings += _set_findings(campaign, documents, findings)
    else:
        findings += _lone_scans(campaign, documents)
    results = []
    summaries = [doc.filename for doc in documents if doc.kind == "summary"]
    for path, doc, failure in read:
        if doc is None:
            assert failure is not None
            results.append(_result(path, "unknown", "unknown", None, [failure]))
            continue
        own = [f for f in findings if f.document == doc.filename
               or (f.document is None and doc.filename in summaries[:1])]
        results.append(_result(path, doc.kind, doc.format, doc.word_count, own))
    return results


def _read(path: Path, campaign: Campaign) -> tuple[Document | None, Finding | None]:
    try:
        if not path.is_file():
            raise OSError("不是文件或不存在")
        if path.stat().st_size > MAX_LOCAL_FILE:
            raise OSError(f"文件大于 {MAX_LOCAL_FILE // (1024 * 1024)} MB")
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return None, Finding("unreadable", f"无法读取文件“{path}”：{reason}。",
                             "请确认文件路径正确、文件可以打开。")
    return read_document(path.name, data, detect_format(data, path.name), campaign), None


def _set_findings(campaign: Campaign, documents: tuple[Document, ...],
                  document_findings: list[Finding]) -> list[Finding]:
    """Completeness across the given files, as the intake judges a unit's set."""
    held = tuple(_held(doc, document_findings) for doc in documents
                 if doc.kind != "unknown" and campaign.has(doc.kind))
    return completeness.check(Submission(campaign, utcnow(), documents, held))


def _lone_scans(campaign: Campaign, documents: tuple[Document, ...]) -> list[Finding]:
    """Without a set to complete, still say that a stamped scan needs its editable file (the
    intake says it through the completeness check)."""
    findings = []
    for doc in documents:
        if doc.format not in SCAN_FORMATS or doc.kind not in SIGNED_KINDS:
            continue
        if any(other.kind == doc.kind and other.format not in SCAN_FORMATS
               for other in documents):
            continue
        spec = campaign.spec(doc.kind)
        formats = "、".join("." + f for f in spec.formats)
        findings.append(Finding(
            code="scan-only",
            message=f"“{doc.filename}”是{spec.display}的盖章扫描件，只能作为签字盖章件存档。",
            fix=f"可编辑的{spec.display}（{formats} 格式）仍需一并发送。",
            severity=Severity.WARNING, document=doc.filename))
    return findings


def _held(doc: Document, findings: list[Finding]) -> Held:
    studio = doc.studios[0] if doc.kind != "summary" and doc.studios else None
    return Held(kind=doc.kind, filename=doc.filename,
                studio_key=studio_key(studio.name) if studio else "",
                studio_name=studio.name if studio else "",
                ok=not any(f.is_error and f.document == doc.filename for f in findings),
                listed_studios=tuple(s.name for s in doc.studios) if doc.kind == "summary"
                else (), earlier=False, scan=doc.format in SCAN_FORMATS)


def _result(path: Path, kind: str, fmt: str, words: int | None,
            findings: list[Finding]) -> dict[str, Any]:
    problems = [{"code": f.code, "message": f.message + f.fix}
                for f in findings if f.severity is not Severity.INFO]
    return {"file": str(path), "kind": kind, "format": fmt, "word_count": words,
            "problems": problems}
