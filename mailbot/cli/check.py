"""`mailbot check FILE... [--json]`: the bot's own reading and checks, on local files.

The same path as the intake, so an applicant or the office sees before sending exactly what the
bot will say after: the format detected from the content (sniff.detect_format), the same reader
(with the same LibreOffice conversion of .doc/.wps/.xls/.et/.odt/.rtf), the same DOCUMENT_CHECKS,
and — when the files include a 附件1, i.e. a whole set is being checked — the same completeness
check across them (every listed studio has its 附件2 and 附件3; no form for an unlisted studio).
Lateness is not checked: it depends on when the mailbox receives the mail.

JSON (CONTRACT.md), one object per file, in the order given::

    {"file": str, "kind": <a document key of the rules>|"unknown", "format": str,
     "word_count": int|null,
     "problems": [{"code": str, "message": str, "severity": "error"|"warning"}]}

`problems` holds errors and warnings (information such as "signed copy kept" is left out); each
message ends with how to fix it. A set-level problem without a file of its own (a studio's
missing form) is listed under the 附件1 that names the studio.

`verdict` says what the files would get if they were one unit's whole set, sent in one mail:
受理 when nothing is an error and the set is complete, else 补正 with every reason — including,
for files without a 附件1, the forms the set still lacks (which the per-file results leave out,
since the unit may have sent them before).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mailbot.campaign.rules import Campaign
from mailbot.checks import DOCUMENT_CHECKS, Held, Submission, completeness, run_checks
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.documents import ReadDocument, read_document, studio_key
from mailbot.errors import DocumentError
from mailbot.findings import Finding, Severity
from mailbot.mail.sniff import detect_format
from mailbot.timefmt import utcnow

MAX_LOCAL_FILE = 200 * 1024 * 1024
UNRECOGNISED = "未识别"
ACCEPT, CORRECT = "受理", "补正"
# The table for people names the formats that are not a file suffix (the JSON keeps the codes).
FORMAT_WORDS = {"unknown": "无法识别", "empty": "空文件", "encrypted-ooxml": "加密文件",
                "ole": "旧版 Office 文件", "text": "纯文本", "exe": "可执行程序"}
# Not documents: Word's lock files (~$name.docx), hidden files, desktop metadata.
_SKIPPED_NAMES = ("~$", ".")


@dataclass(frozen=True)
class Verdict:
    result: str  # 受理 | 补正
    reasons: tuple[str, ...]  # every error, each with its fix (empty for 受理)


def label(campaign: Campaign, kind: str) -> str:
    """How a kind is named to people: 附件2《推荐审批表》, or 未识别."""
    return campaign.spec(kind).display if campaign.has(kind) else UNRECOGNISED


def expand(paths: list[Path]) -> list[Path]:
    """The files to check: each file as given, every file under a folder (recursively, in name
    order). A path that does not exist stops the command: a typo must not look like a pass."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(_SKIPPED_NAMES) for part in p.relative_to(path).parts)))
        elif path.exists():
            files.append(path)
        else:
            raise DocumentError("missing", f"文件或文件夹不存在：{path}")
    if not files:
        raise DocumentError("missing", "没有找到要检查的文件：" + "、".join(map(str, paths)))
    return files


def check_files(paths: list[Path], campaign: Campaign) -> list[dict[str, Any]]:
    """One result per path (see the module docstring for the shape)."""
    return check_set(paths, campaign)[0]


def check_set(paths: list[Path], campaign: Campaign) -> tuple[list[dict[str, Any]], Verdict]:
    """The per-file results and the verdict the files would get as one unit's whole set."""
    read: list[tuple[Path, ReadDocument | None, Finding | None]] = []
    for path in paths:
        document, failure = _read(path, campaign)
        read.append((path, document, failure))
    documents = tuple(doc for _path, doc, _failure in read if doc is not None)
    # No time check offline: lateness is decided by when the mailbox receives the mail.
    findings = run_checks(DOCUMENT_CHECKS, Submission(campaign, utcnow(), documents, ()))
    whole_set = _set_findings(campaign, documents, findings)
    # A campaign with a studio list: the files are a whole set when they include that list.
    if campaign.studio_list is None or any(campaign.lists_studios(doc.kind) and doc.studios
                                           for doc in documents):
        findings += whole_set
    else:
        findings += _lone_scans(campaign, documents)
    results = []
    summaries = [doc.filename for doc in documents if campaign.lists_studios(doc.kind)]
    for path, doc, failure in read:
        if doc is None:
            assert failure is not None
            results.append(_result(path, "unknown", "unknown", None, [failure]))
            continue
        own = [f for f in findings if f.document == doc.filename
               or (f.document is None and doc.filename in summaries[:1])]
        results.append(_result(path, doc.kind, doc.format, doc.word_count, own))
    failures = [failure for _path, _doc, failure in read if failure is not None]
    return results, _verdict([*failures, *findings, *whole_set])


def _verdict(findings: list[Finding]) -> Verdict:
    reasons: dict[str, None] = {}  # ordered and without repeats (the set's findings come twice)
    for finding in findings:
        if finding.is_error:
            reasons.setdefault(finding.message + finding.fix)
    return Verdict(CORRECT if reasons else ACCEPT, tuple(reasons))


def _read(path: Path, campaign: Campaign) -> tuple[ReadDocument | None, Finding | None]:
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


def _set_findings(campaign: Campaign, documents: tuple[ReadDocument, ...],
                  document_findings: list[Finding]) -> list[Finding]:
    """Completeness across the given files, as the intake judges a unit's set."""
    held = tuple(_held(campaign, doc, document_findings) for doc in documents
                 if doc.kind != "unknown" and campaign.has(doc.kind))
    return completeness.check(Submission(campaign, utcnow(), documents, held))


def _lone_scans(campaign: Campaign, documents: tuple[ReadDocument, ...]) -> list[Finding]:
    """Without a set to complete, still say that a stamped scan needs its editable file (the
    intake says it through the completeness check)."""
    findings = []
    for doc in documents:
        if (doc.format not in SCAN_FORMATS or not campaign.has(doc.kind)
                or not campaign.spec(doc.kind).is_signed):
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


def _held(campaign: Campaign, doc: ReadDocument, findings: list[Finding]) -> Held:
    lists = campaign.lists_studios(doc.kind)
    studio = doc.studios[0] if not lists and doc.studios else None
    return Held(kind=doc.kind, filename=doc.filename,
                studio_key=studio_key(studio.name) if studio else "",
                studio_name=studio.name if studio else "",
                ok=not any(f.is_error and f.document == doc.filename for f in findings),
                listed_studios=tuple(s.name for s in doc.studios) if lists else (),
                earlier=False, scan=doc.format in SCAN_FORMATS)


def _result(path: Path, kind: str, fmt: str, words: int | None,
            findings: list[Finding]) -> dict[str, Any]:
    problems = [{"code": f.code, "message": f.message + f.fix, "severity": f.severity.value}
                for f in findings if f.severity is not Severity.INFO]
    return {"file": str(path), "kind": kind, "format": fmt, "word_count": words,
            "problems": problems}


def render(console: Console, campaign: Campaign, results: list[dict[str, Any]],
           verdict: Verdict) -> None:
    """The report for people: one row per file, errors and warnings in their own columns (a
    warning never reads like a refusal), then the verdict as the last lines."""
    table = Table("文件", "识别为", "格式", "字数", "需要更正", "提醒（不影响受理）",
                  show_lines=True)
    for column in table.columns:
        column.overflow = "fold"  # Chinese has no spaces to wrap at: fold, never cut off
    for result in results:
        errors = [p["message"] for p in result["problems"] if p["severity"] == "error"]
        warnings = [p["message"] for p in result["problems"] if p["severity"] == "warning"]
        words = "" if result["word_count"] is None else str(result["word_count"])
        fmt = FORMAT_WORDS.get(result["format"], result["format"])
        cells = (result["file"], label(campaign, result["kind"]), fmt, words,
                 "\n".join(f"✗{m}" for m in errors) or "无",
                 "\n".join(f"!{m}" for m in warnings) or "无")
        table.add_row(*(Text(cell) for cell in cells))  # Text: a [bracket] in a name is no markup
    console.print(table)
    # The verdict as whole lines: the terminal wraps them, so a copy keeps each reason whole.
    if verdict.result == ACCEPT:
        console.print(f"结论：{ACCEPT}。以上文件作为本单位的全部材料一次发送，将被受理"
                      f"{'（提醒事项请自行斟酌）' if any_warning(results) else ''}。",
                      highlight=False, markup=False, soft_wrap=True)
        return
    console.print(f"结论：{CORRECT}。以上文件作为本单位的全部材料一次发送，将收到补正通知，"
                  f"原因如下（共 {len(verdict.reasons)} 项）：",
                  highlight=False, markup=False, soft_wrap=True)
    for number, reason in enumerate(verdict.reasons, 1):
        console.print(f"  {number}. {reason}", highlight=False, markup=False, soft_wrap=True)


def any_warning(results: list[dict[str, Any]]) -> bool:
    return any(p["severity"] == "warning" for r in results for p in r["problems"])
