"""Each attachment is one of the campaign's forms, in a format the office can open.

An attachment we cannot recognise is not an error: applicants add certificates and photos as
supporting evidence (佐证材料). It is kept and mentioned, so a misnamed form is noticed.

A .doc/.wps/.xls/.et/.odt/.rtf that LibreOffice converted is checked as the .docx/.xlsx it became.
A PDF or photo of a form that is stamped (附件1, 附件2) is welcome as the signed copy beside the
editable file; a scan of the material earns a warning, because its 字数 cannot be counted. Neither
ever stands in for the editable file: the completeness check still asks for that.
"""

from __future__ import annotations

from mailbot.checks.base import Submission
from mailbot.findings import Finding, Severity

# Scans and photos of a stamped form are welcome beside the editable file, never instead of it.
SCAN_FORMATS = frozenset({"pdf", "png", "jpeg", "gif", "bmp", "tiff", "webp"})


def check(submission: Submission) -> list[Finding]:
    findings: list[Finding] = []
    for doc in submission.documents:
        if doc.problems:
            continue  # already reported by `readable`
        if doc.kind == "unknown":
            findings.append(Finding(
                code="unrecognised",
                message=f"附件“{doc.filename}”未能识别为本次申报的表格或材料，已作为佐证材料保存。",
                fix=_name_it(submission),
                severity=Severity.WARNING,
                document=doc.filename,
            ))
            continue
        spec = submission.campaign.spec(doc.kind)
        if doc.format in spec.formats or doc.converted:
            continue
        allowed = "、".join(f".{fmt}" for fmt in spec.formats)
        # Forms that carry a stamp or signature (推荐单位（盖章）, 单位意见（盖章）).
        if doc.format in SCAN_FORMATS and spec.is_signed:
            findings.append(Finding(
                code="signed-copy",
                message=f"“{doc.filename}”是{spec.display}的盖章扫描件（或照片），已存档。",
                severity=Severity.INFO,
                document=doc.filename,
            ))
            continue
        if doc.format in SCAN_FORMATS:
            findings.append(Finding(
                code="scan-only",
                message=(f"“{doc.filename}”是{spec.display}的扫描件、PDF 或照片，"
                         "无法统计字数，也无法汇总。"),
                fix=f"请发送可编辑的 {allowed} 文件（扫描件可随纸质版一并提交）。",
                severity=Severity.WARNING,
                document=doc.filename,
            ))
            continue
        findings.append(Finding(
            code="wrong-format",
            message=f"“{doc.filename}”是{spec.display}，但文件格式为 {doc.format}，无法汇总。",
            fix=f"请用 Word 或 WPS 打开后“另存为” {allowed} 格式，再重新发送。",
            document=doc.filename,
        ))
    return findings


def _name_it(submission: Submission) -> str:
    """如果它是附件1、附件2或附件3，请在文件名中注明（例如“附件2-推荐审批表.docx”）…"""
    specs = submission.campaign.documents
    labels = "、".join(spec.label for spec in specs[:-1])
    labels = f"{labels}或{specs[-1].label}" if labels else specs[-1].label
    example = specs[1] if len(specs) > 1 else specs[0]
    return (f"如果它是{labels}，请在文件名中注明（例如“{example.label}-{example.title}."
            f"{example.formats[0]}”）后重新发送。")
