"""Attachments that wrap other files — zip archives and Outlook's winmail.dat — opened.

`open_containers` replaces each container by the files it holds, so the applicant's forms are
recognised whether they were attached one by one, zipped (by Chinese Windows, macOS, WinRAR…),
zipped twice, or wrapped by Outlook in TNEF. Every file keeps its exact name; `Attachment.source`
says where it came from ("材料.zip/计算机学院/附件1.docx") for the office.

A container that cannot be opened stays the attachment it was, with a `Finding` asking for plain
attachments or a .zip: RAR and 7z archives, encrypted or damaged zips, zip bombs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from mailbot.checks import mail as mail_findings
from mailbot.findings import Finding
from mailbot.mail import archives, tnef

if TYPE_CHECKING:
    from mailbot.mail.parse import Attachment


def open_containers(attachments: Sequence[Attachment],
                    limits: archives.ArchiveLimits = archives.DEFAULT_LIMITS,
                    ) -> tuple[list[Attachment], list[Finding]]:
    """The attachments with every container replaced by its files; findings for the rest."""
    opened: list[Attachment] = []
    findings: list[Finding] = []
    for attachment in attachments:
        if tnef.is_tnef(attachment.filename, attachment.content_type, attachment.data):
            _open_tnef(attachment, opened, findings, limits)
        elif archives.is_archive(attachment.filename, attachment.format):
            _open_archive(attachment, opened, findings, limits)
        else:
            opened.append(attachment)
    return opened, findings


def _open_archive(attachment: Attachment, opened: list[Attachment], findings: list[Finding],
                  limits: archives.ArchiveLimits) -> None:
    prefix = attachment.source.rpartition("/")[0] if attachment.source else ""
    name = f"{prefix}/{attachment.filename}" if prefix else attachment.filename
    expansion = archives.expand_archive(name, attachment.data, attachment.format, limits)
    findings.extend(expansion.findings)
    if not expansion.opened:
        opened.append(attachment)
        return
    for member in expansion.members:
        opened.append(replace(attachment, filename=member.filename, data=member.data,
                              format=member.format, source=member.path,
                              content_type="application/octet-stream"))


def _open_tnef(attachment: Attachment, opened: list[Attachment], findings: list[Finding],
               limits: archives.ArchiveLimits) -> None:
    name = attachment.filename or "winmail.dat"
    try:
        files = tnef.unpack(attachment.data)
    except tnef.TnefError:
        opened.append(attachment)
        findings.append(mail_findings.tnef_unreadable(name, attachment.filename))
        return
    # A winmail.dat with no files carried only the rich-text body: nothing the sender attached.
    inner = [replace(attachment, filename=f.filename, data=f.data, format=f.format,
                     source=f"{name}/{f.filename}", content_type="application/octet-stream")
             for f in files]
    more, more_findings = open_containers(inner, limits)  # a zip sent inside winmail.dat
    opened.extend(more)
    findings.extend(more_findings)
