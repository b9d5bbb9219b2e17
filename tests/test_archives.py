"""Zip archives and winmail.dat opened: exact names from every platform, hostile zips refused."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.demo.mailfactory import build_mail
from mailbot.demo.wrappers import macos_zip, windows_zip, winmail_dat
from mailbot.mail.archives import ArchiveLimits, expand_archive, is_archive, member_name
from mailbot.mail.containers import open_containers
from mailbot.mail.parse import Attachment, parse_message
from mailbot.mail.sniff import detect_format
from mailbot.mail.tnef import TnefError, unpack

DOCX = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: stands in for any file below
NAMES = ["附件1-推荐汇总表（镕喆堃）.docx", "附件２ 推荐审批表.docx", "佐证/获奖证书 (2).pdf"]


def names(data: bytes, **limits: int) -> list[tuple[str, str]]:
    expansion = expand_archive("材料.zip", data, detect_format(data), ArchiveLimits(**limits))
    assert expansion.opened, expansion.findings
    return [(m.filename, m.path) for m in expansion.members]


def codes(data: bytes, **limits: int) -> list[str]:
    expansion = expand_archive("材料.zip", data, detect_format(data), ArchiveLimits(**limits))
    assert not expansion.opened
    return [f.code for f in expansion.findings]


def test_chinese_windows_names_are_gbk_without_the_utf8_flag() -> None:
    data = windows_zip([(n, b"x") for n in NAMES])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert all(not info.flag_bits & 0x800 for info in zf.infolist())
        assert "附件1" not in zf.namelist()[0]  # Python alone reads mojibake (cp437)
    assert names(data) == [(n.rsplit("/", 1)[-1], f"材料.zip/{n}") for n in NAMES]


def test_the_unicode_path_field_wins_only_when_it_belongs_to_the_name() -> None:
    data = windows_zip([("附件1.docx", b"x")], unicode_extra=True)
    assert names(data) == [("附件1.docx", "材料.zip/附件1.docx")]
    # A field written for another name (the entry renamed later) is ignored.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
    body = b"\x01" + struct.pack("<I", zlib.crc32(b"old")) + "旧名字.docx".encode()
    info.extra = struct.pack("<HH", 0x7075, len(body)) + body
    assert member_name(info) == "附件1.docx"


def test_macos_archive_utility_nfd_names_and_machinery() -> None:
    data = macos_zip([("申报材料/附件3-申报材料（é版）.docx", b"x"), ("申报材料/附件1.docx", b"y")])
    expansion = expand_archive("申报材料.zip", data, "zip")
    assert [m.filename for m in expansion.members] == ["附件3-申报材料（é版）.docx", "附件1.docx"]
    assert all("__MACOSX" not in m.path and ".DS_Store" not in m.path for m in expansion.members)
    assert len(expansion.skipped) == 3  # two AppleDouble files and .DS_Store


def test_utf8_flagged_names_folders_and_lock_files() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:  # Python (and 7-Zip) set the UTF-8 flag
        zf.writestr("材料/", b"")
        zf.writestr("材料/附件1.docx", b"x")
        zf.writestr("材料/~$附件1.docx", b"lock")  # Word's owner file of an open document
        zf.writestr("材料\\Thumbs.db", b"thumbs")
    assert names(buffer.getvalue()) == [("附件1.docx", "材料.zip/材料/附件1.docx")]


def test_paths_never_escape() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("../../../../etc/cron.d/附件1.docx", "/etc/passwd", "C:\\Windows\\..\\x.pdf",
                     "a/./b/../c.txt"):
            zf.writestr(zipfile.ZipInfo(name), b"x")
    assert names(buffer.getvalue()) == [
        ("附件1.docx", "材料.zip/etc/cron.d/附件1.docx"), ("passwd", "材料.zip/etc/passwd"),
        ("x.pdf", "材料.zip/Windows/x.pdf"), ("c.txt", "材料.zip/a/b/c.txt")]


def test_zip_in_zip_to_a_depth() -> None:
    level = windows_zip([("附件3.docx", DOCX)])
    for depth in range(4):
        level = windows_zip([(f"第{depth}层.zip", level)])
    expansion = expand_archive("材料.zip", level, "zip")
    [member] = expansion.members  # three levels opened, the fourth kept as it is
    assert member.path == "材料.zip/第3层.zip/第2层.zip/第1层.zip"
    assert member.format == "zip"


def test_a_damaged_zip_inside_a_good_one_is_kept_and_reported() -> None:
    data = windows_zip([("附件1.docx", DOCX), ("坏的.zip", b"PK\x03\x04broken")])
    expansion = expand_archive("材料.zip", data, "zip")
    assert expansion.opened and [m.filename for m in expansion.members] == ["附件1.docx", "坏的.zip"]
    assert [f.code for f in expansion.findings] == ["archive-damaged"]


@pytest.mark.parametrize(("limits", "count", "size"), [
    ({"max_members": 3}, 4, 10),
    ({"max_total_bytes": 1000}, 3, 400),
])
def test_limits_on_count_and_total_size(limits: dict[str, int], count: int, size: int) -> None:
    data = windows_zip([(f"{n}.pdf", bytes(range(256)) * (size // 256 + 1)) for n in range(count)])
    assert codes(data, **limits) == ["archive-limit"]


def test_a_zip_bomb_is_refused_before_it_is_inflated() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("附件3.docx", b"\x00" * (64 * 1024 * 1024))
    assert len(buffer.getvalue()) < 100 * 1024
    [finding] = expand_archive("附件.zip", buffer.getvalue(), "zip").findings
    assert finding.code == "archive-limit" and "压缩炸弹" in finding.message


def test_a_member_lying_about_its_size_cannot_inflate_more() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("附件1.docx", b"A" * 100_000)
    data = bytearray(buffer.getvalue())
    # Declare 10 bytes in both headers: zipfile stops there and the CRC check fails.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        struct.pack_into("<I", data, at + offset, 10)
    assert codes(bytes(data)) == ["archive-damaged"]


def test_encrypted_and_damaged_zips_are_refused() -> None:
    data = bytearray(windows_zip([("附件1.docx", b"secret")]))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "encrypted" bit
        at = data.find(signature)
        data[at + offset] |= 1
    assert codes(bytes(data)) == ["archive-encrypted"]
    assert codes(windows_zip([("附件1.docx", b"x")])[:40]) == ["archive-damaged"]


@pytest.mark.parametrize(("magic", "label"), [(b"Rar!\x1a\x07\x00", "RAR"),
                                              (b"7z\xbc\xaf\x27\x1c", "7z")])
def test_rar_and_7z_ask_for_plain_files_or_a_zip(magic: bytes, label: str) -> None:
    [finding] = expand_archive("材料", magic + b"\x00" * 32, detect_format(magic + b"\x00" * 32)
                               ).findings
    assert finding.code == "archive-unsupported" and label in finding.message
    assert ".zip" in finding.fix and "附件" in finding.fix


def test_a_damaged_document_is_not_taken_for_an_archive() -> None:
    assert not is_archive("附件1.docx", "zip")
    assert is_archive("附件1.zip", "zip") and is_archive("x", "rar")


def test_winmail_dat_unicode_and_ansi_names() -> None:
    files = [("附件2-推荐审批表（镕喆）.docx", b"PK\x03\x04one"), ("附件3 申报材料.pdf", b"%PDF-1.4")]
    assert [(f.filename, f.data) for f in unpack(winmail_dat(files))] == files
    assert [(f.filename, f.data) for f in unpack(winmail_dat(files, unicode_names=False))] == files


def test_winmail_dat_with_only_the_body_is_no_attachment() -> None:
    tnef = winmail_dat([], body="李老师：材料稍后发送。")
    found, findings = open_containers([Attachment("winmail.dat", "application/ms-tnef", tnef,
                                                  detect_format(tnef))])
    assert found == [] and findings == []


def test_a_broken_winmail_dat_is_kept_and_reported() -> None:
    with pytest.raises(TnefError):
        unpack(b"not tnef at all")
    broken = Attachment("winmail.dat", "application/ms-tnef", b"garbage", "unknown")
    found, findings = open_containers([broken])
    assert found == [broken] and [f.code for f in findings] == ["tnef-unreadable"]


def test_a_zip_inside_winmail_dat_is_opened_too() -> None:
    tnef = winmail_dat([("材料.zip", windows_zip([("附件1.docx", DOCX)]))])
    found, _ = open_containers([Attachment("winmail.dat", "application/ms-tnef", tnef, "unknown")])
    assert [(a.filename, a.source) for a in found] == [("附件1.docx", "winmail.dat/材料.zip/附件1.docx")]


def test_parse_message_opens_zips_and_keeps_plain_attachments() -> None:
    raw = build_mail(sender="a@b.cn", to="o@x.cn", subject="s", style="outlook",
                     attachments=[("说明.pdf", b"%PDF-1.4"),
                                  ("材料.zip", windows_zip([("附件1.docx", DOCX)])),
                                  ("申报材料.rar", b"Rar!\x1a\x07\x00" + b"\x00" * 8)])
    parsed = parse_message(raw)
    assert [(a.filename, a.source) for a in parsed.attachments] == [
        ("说明.pdf", ""), ("附件1.docx", "材料.zip/附件1.docx"), ("申报材料.rar", "")]
    assert [f.code for f in parsed.findings] == ["archive-unsupported"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.integers(min_value=0, max_value=400))
def test_never_raises_on_mangled_zips(noise: bytes, cut: int) -> None:
    data = bytearray(windows_zip([(n, b"x" * 50) for n in NAMES]))
    data[cut : cut + len(noise)] = noise
    expansion = expand_archive("材料.zip", bytes(data), "zip")
    assert expansion.opened or expansion.findings


def test_winmail_dat_with_the_files_in_mapi_properties_as_exchange_writes_it() -> None:
    from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
    docx = approval_docx(SAMPLE_STUDIOS[0])
    assert docx.endswith(b"\x00\x00")  # a zip's end record: tnefparse strips such bytes
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 992 + b"\x00" * 24  # 2 sectors
    files = [("附件2-推荐审批表.docx", docx), ("旧版.doc", ole)]
    found = unpack(winmail_dat(files, data_in_mapi=True))
    assert [(f.filename, f.data) for f in found] == files
    assert found[0].format == "docx"
