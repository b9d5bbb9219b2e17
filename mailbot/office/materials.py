"""materials.zip: the version that counts of each form of every unit, as `单位/附件N-原文件名`.

The archive is streamed: `stream()` yields it chunk by chunk while reading each file from disk,
so however many units and files there are, memory holds one chunk, never the whole zip. zipfile
writes to an unseekable sink with data descriptors, and flags every non-ASCII name as UTF-8
(general purpose bit 11), which Windows Explorer, 7-Zip, WinRAR and macOS read correctly.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from mailbot.campaign.dossier import latest_documents
from mailbot.campaign.rules import Campaign
from mailbot.store import blobs
from mailbot.store.blobs import Kept
from mailbot.store.handles import Session
from mailbot.store.queries.units import units_in_order
from mailbot.timefmt import local

CHUNK = 64 * 1024
MISSING_NOTE = "缺失文件说明.txt"
_NUMERALS = "〇一二三四五六七八九"  # 附件一 is 附件1 (the rules' name patterns say so too)
_LONGEST = 120  # characters in one name inside the zip
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')  # not allowed in a Windows file name


@dataclass(frozen=True)
class Entry:
    name: str  # inside the zip: 单位/附件N-原文件名
    path: Kept  # the kept file (store.blobs: the state dir or the database)
    modified: datetime  # when the office received it (office time)


def entries(session: Session, campaign: Campaign, state_dir: Path) -> list[Entry]:
    """What goes in the zip, in unit order; duplicate names get a suffix (2), (3)…"""
    chosen: list[Entry] = []
    used: set[str] = set()
    store = blobs.for_session(session, state_dir)
    for unit in units_in_order(session):
        documents = latest_documents(session, unit, campaign)
        if not documents:
            continue
        folder = _unique(_safe(unit.display_name) or f"单位{unit.id}", used, is_folder=True)
        for doc in documents:
            label = campaign.spec(doc.kind).label if campaign.has(doc.kind) else "未识别"
            name = labelled(label, _safe(doc.filename) or "file")
            full = _unique(f"{folder}/{name}", used)
            chosen.append(Entry(full, Kept(store, doc.stored_path),
                                local(doc.message.received_at).replace(tzinfo=None)))
    return chosen


def labelled(label: str, filename: str) -> str:
    """`附件N-原文件名`, unless the name already starts with the label (附件1-推荐汇总表.docx,
    附件 1 汇总表.docx, 附件一汇总表.docx): then the name as sent, never 附件1-附件1-…"""
    match = re.fullmatch(r"(\D*?)(\d)", label)
    numbers = f"{match.group(2)}{_NUMERALS[int(match.group(2))]}" if match else ""
    prefix = (re.escape(match.group(1)) + rf"\s*[{numbers}](?!\d)" if match
              else re.escape(label))
    if re.match(prefix, filename):
        return filename
    return f"{label}-{filename}"


def stream(items: list[Entry]) -> Iterator[bytes]:
    """The zip of `items`, chunk by chunk. A file gone from disk is listed in a note instead."""
    sink = _Sink()
    missing: list[str] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for item in items:
            try:
                size = item.path.size()
                source = item.path.open()  # closed below, across yields
            except OSError:
                missing.append(item.name)
                continue
            info = zipfile.ZipInfo(item.name, date_time=_zip_time(item.modified))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = size  # lets zipfile choose ZIP64 up front for very large files
            try:
                with archive.open(info, "w") as target:
                    while chunk := source.read(CHUNK):
                        target.write(chunk)
                        yield from sink.drain()
            finally:
                source.close()
            yield from sink.drain()
        if missing:
            note = "以下文件在服务器上已找不到，未能打包：\n" + "\n".join(missing) + "\n"
            archive.writestr(MISSING_NOTE, note.encode("utf-8"))
    yield from sink.drain()


class _Sink:
    """A write-only file for zipfile: keeps what was written until it is drained.

    It has tell() but no seek(), so zipfile streams (data descriptors after each member)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes, /) -> int:
        self._chunks.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        if self._chunks:
            data, self._chunks = b"".join(self._chunks), []
            yield data


def _safe(name: str) -> str:
    """A file or folder name every unzip tool accepts: no separators, no reserved characters."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    if len(cleaned) <= _LONGEST:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    if not (dot and stem and len(ext) <= 16):
        return cleaned[:_LONGEST]
    # Cut the stem, never the extension: "附件3-….docx" must still open in Word.
    return stem[:_LONGEST - len(dot + ext)].rstrip(" .") + dot + ext


def _unique(name: str, used: set[str], *, is_folder: bool = False) -> str:
    """`name`, or `name (2)`… before the extension; compared as Windows does, ignoring case."""
    candidate, number = name, 1
    path = PurePosixPath(name)
    while candidate.lower() in used:
        number += 1
        if is_folder:
            candidate = f"{name} ({number})"
        else:
            candidate = str(path.with_name(f"{path.stem} ({number}){path.suffix}"))
    used.add(candidate.lower())
    return candidate


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    moment = max(moment, datetime(1980, 1, 1))  # the zip format starts in 1980
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)

