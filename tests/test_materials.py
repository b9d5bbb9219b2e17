"""materials.zip: the version that counts of each form per unit, named 单位/附件N-原文件名,
UTF-8 names flagged, written as a stream."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from web_support import ON_TIME, app_for, deliver, full_set, login, make_runtime

from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.intake.cycle import Runtime
from mailbot.office import materials
from mailbot.store.blobs import Kept, LocalBlobs
from mailbot.store.models import Document

FIRST, SECOND = SAMPLE_STUDIOS[:2]


def _zip(runtime: Runtime) -> zipfile.ZipFile:
    with runtime.sessions() as session:
        items = materials.entries(session, runtime.campaign, runtime.settings.state_dir)
    return zipfile.ZipFile(io.BytesIO(b"".join(materials.stream(items))))


def test_latest_file_of_each_form_per_unit_named_unit_and_label(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "jidian@test.example", full_set(FIRST, 1500))
    newer = material_docx(FIRST, 1700)
    deliver(runtime, "jidian@test.example", [("附件3-申报材料（修改稿）.docx", newer)],
            received=ON_TIME.replace(hour=15))
    deliver(runtime, "xinxi@test.example", full_set(SECOND)[:2])
    archive = _zip(runtime)
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted([
        f"{FIRST.unit}/附件1-推荐汇总表.docx",
        f"{FIRST.unit}/附件2-推荐审批表.docx",
        f"{FIRST.unit}/附件3-申报材料（修改稿）.docx",  # the newer version only
        f"{SECOND.unit}/附件1-推荐汇总表.docx",
        f"{SECOND.unit}/附件2-推荐审批表.docx",
    ])
    assert archive.read(f"{FIRST.unit}/附件3-申报材料（修改稿）.docx") == newer
    info = archive.getinfo(f"{FIRST.unit}/附件1-推荐汇总表.docx")
    assert info.date_time[:5] == (2022, 10, 9, 10, 0)  # when the office received it


def test_every_non_ascii_name_carries_the_utf8_flag_in_both_headers(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "jidian@test.example", full_set(FIRST), style="outlook")
    with runtime.sessions() as session:
        items = materials.entries(session, runtime.campaign, runtime.settings.state_dir)
    data = b"".join(materials.stream(items))
    archive = zipfile.ZipFile(io.BytesIO(data))
    for info in archive.infolist():
        assert info.flag_bits & 0x800, info.filename  # central directory: UTF-8
        assert info.flag_bits & 0x08, info.filename  # streamed: sizes in a data descriptor
        # The local header, read raw, says the same and holds the name as UTF-8 bytes.
        at = info.header_offset
        (flags,) = struct.unpack("<H", data[at + 6:at + 8])
        (name_length,) = struct.unpack("<H", data[at + 26:at + 28])
        start = at + 30
        assert flags & 0x800
        assert data[start:start + name_length].decode("utf-8") == info.filename


def test_two_files_that_would_share_a_name_get_a_suffix(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    both = [FIRST, replace(SECOND, unit=FIRST.unit)]  # one unit nominating two studios
    deliver(runtime, "jidian@test.example", [
        ("附件1.docx", summary_docx(FIRST.unit, both)),
        ("审批表.docx", approval_docx(both[0])),
        ("申报材料.docx", material_docx(both[0], 1200))])
    deliver(runtime, "jidian@test.example", [
        ("审批表.docx", approval_docx(both[1])),
        ("申报材料.docx", material_docx(both[1], 1300))], received=ON_TIME.replace(hour=11))
    names = _zip(runtime).namelist()
    assert f"{FIRST.unit}/附件2-审批表.docx" in names
    assert f"{FIRST.unit}/附件2-审批表 (2).docx" in names
    assert f"{FIRST.unit}/附件3-申报材料 (2).docx" in names
    assert len(names) == len(set(names)) == 5


def test_a_file_missing_on_disk_is_listed_in_a_note(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "jidian@test.example", full_set(FIRST))
    with runtime.sessions() as session:
        doc = session.query(Document).filter_by(kind="approval").one()
        (runtime.settings.state_dir / doc.stored_path).unlink()
    archive = _zip(runtime)
    assert len(archive.namelist()) == 3
    note = archive.read(materials.MISSING_NOTE).decode("utf-8")
    assert f"{FIRST.unit}/附件2-推荐审批表.docx" in note


def test_the_zip_is_streamed_in_chunks_never_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))  # random: deflate cannot shrink it
    kept = Kept(LocalBlobs(tmp_path), "big.bin")
    items = [materials.Entry(f"单位{n}/附件3-材料.bin", kept, datetime(2022, 10, 9, 10, 0))
             for n in range(3)]
    chunks = materials.stream(items)
    first = next(chunks)
    assert len(first) < 1024 * 1024  # the first bytes leave before the first file is read
    sizes = [len(first), *(len(chunk) for chunk in chunks)]
    assert len(sizes) > 50 and max(sizes) < 1024 * 1024
    assert sum(sizes) > 18 * 1024 * 1024


def test_materials_zip_over_http_is_a_streamed_response(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "jidian@test.example", full_set(FIRST))
    client = login(app_for(runtime).test_client())
    with client.get("/materials.zip") as answer:
        assert answer.status_code == 200 and answer.is_streamed
        assert answer.headers["Content-Type"] == "application/zip"
        assert "Content-Length" not in answer.headers
        assert "filename*=UTF-8''%E7%94%B3%E6%8A%A5%E6%9D%90%E6%96%99-" in \
            answer.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(answer.data))
    with runtime.sessions() as session:
        stored = {d.sha256 for d in session.query(Document)}
    assert {hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist()} == stored


def test_a_name_that_already_carries_its_label_is_not_prefixed_again() -> None:
    assert materials.labelled("附件1", "附件1-推荐汇总表.docx") == "附件1-推荐汇总表.docx"
    assert materials.labelled("附件1", "附件 1 推荐汇总表.docx") == "附件 1 推荐汇总表.docx"
    assert materials.labelled("附件3", "附件三申报材料.docx") == "附件三申报材料.docx"
    assert materials.labelled("附件1", "附件10-佐证.docx") == "附件1-附件10-佐证.docx"
    assert materials.labelled("附件2", "附件1.docx") == "附件2-附件1.docx"  # as recognised
    assert materials.labelled("附件2", "审批表.docx") == "附件2-审批表.docx"
