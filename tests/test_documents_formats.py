"""Formats by content, each wrong one with its own precise problem (no LibreOffice needed).

The format given to the reader is what sniff.detect_format found in the bytes, as the intake and
`mailbot check` do; the extension only says what the sender meant.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.checks import DOCUMENT_CHECKS, Submission, run_checks
from mailbot.demo import samples
from mailbot.documents import read_document
from mailbot.findings import Severity
from mailbot.mail.sniff import detect_format
from mailbot.timefmt import utcnow

ROOT = Path(__file__).resolve().parents[1]
STUDIO = samples.SAMPLE_STUDIOS[2]


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")


def _macro_enabled(data: bytes, main: bytes, macro: bytes) -> bytes:
    """The package re-typed as Word/Excel write a .docm/.xlsm, with its VBA project."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "[Content_Types].xml":
                content = content.replace(main, macro)
            archive.writestr(info.filename, content)
    return out.getvalue()


DOCM = _macro_enabled(samples.approval_docx(STUDIO),
                      b"wordprocessingml.document.main+xml",
                      b"application/vnd.ms-word.document.macroEnabled.main+xml")
XLSM = _macro_enabled(samples.summary_xlsx(STUDIO.unit, [STUDIO]),
                      b"spreadsheetml.sheet.main+xml",
                      b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")


def read(campaign: Campaign, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return read_document(name, data, detect_format(data, name), campaign)


@pytest.mark.parametrize(("name", "data", "fmt", "code"), [
    ("附件2.docm", DOCM, "docm", "macro"),
    ("附件2.docx", DOCM, "docm", "macro"),  # renamed: the content still says macros
    ("附件1.xlsm", XLSM, "xlsm", "macro"),
    ("附件2.docx", b"", "empty", "empty"),
    ("附件2.docx", b"PK\x03\x04 the rest is missing", "zip", "corrupt"),
    ("附件1.xlsx", b"\x00\x01\x02 not a spreadsheet" * 10, "unknown", "corrupt"),
])
def test_each_wrong_file_has_its_own_problem(campaign: Campaign, name: str, data: bytes,
                                             fmt: str, code: str) -> None:
    doc = read(campaign, name, data)
    assert doc.format == fmt
    [problem] = doc.problems
    assert problem.code == code and problem.fix and problem.document == name
    assert problem.message.startswith(f"“{name}”：")  # a reply lists several files' problems


def test_a_renamed_docx_is_read_by_content(campaign: Campaign) -> None:
    doc = read(campaign, "附件2-审批表.pdf", samples.approval_docx(STUDIO))
    assert (doc.format, doc.kind, doc.problems) == ("docx", "approval", ())
    assert doc.fields["工作室名称"] == STUDIO.name


@pytest.mark.parametrize(("name", "data", "fmt"), [
    ("附件2-盖章版.pdf", b"%PDF-1.7\n%stamped\n%%EOF\n", "pdf"),
    ("附件2 审批表.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 32, "jpeg"),
])
def test_a_stamped_scan_of_the_approval_form_is_kept_as_the_signed_copy(
        campaign: Campaign, name: str, data: bytes, fmt: str) -> None:
    doc = read(campaign, name, data)
    assert (doc.format, doc.kind, doc.word_count, doc.problems) == (fmt, "approval", None, ())
    [finding] = run_checks(DOCUMENT_CHECKS, Submission(campaign, utcnow(), (doc,), ()))
    assert (finding.code, finding.severity) == ("signed-copy", Severity.INFO)
    assert "盖章扫描件" in finding.message


def test_a_scan_of_the_material_is_a_warning(campaign: Campaign) -> None:
    doc = read(campaign, "附件3-申报材料.pdf", b"%PDF-1.4\n%%EOF\n")
    [finding] = run_checks(DOCUMENT_CHECKS, Submission(campaign, utcnow(), (doc,), ()))
    assert (finding.code, finding.severity) == ("scan-only", Severity.WARNING)
    assert "无法统计字数" in finding.message and ".docx" in finding.fix
