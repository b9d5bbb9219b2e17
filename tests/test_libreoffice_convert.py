""".doc, .wps, .et, .xls, .odt and .rtf: converted with headless LibreOffice and checked like the
rest; without LibreOffice, a correction request asks for .docx/.xlsx.

The inputs are made by LibreOffice itself from our own .docx/.xlsx samples (and a WPS file is a
Word 97 file as WPS Office writes it, .wps named). Needs LibreOffice (`make test` installs
libreoffice-writer-nogui and libreoffice-calc-nogui as root); without it the tests that convert
skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import olefile
import pytest
from intake_support import Bot, body, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.checks import DOCUMENT_CHECKS, Submission, run_checks
from mailbot.demo import samples
from mailbot.documents import convert, read_document
from mailbot.errors import DocumentError
from mailbot.mail.sniff import detect_format
from mailbot.timefmt import utcnow

ROOT = Path(__file__).resolve().parents[1]
STUDIO = samples.SAMPLE_STUDIOS[1]
UNIT = "城市交通与物流学院"
WORD_97 = "doc:MS Word 97"
EXCEL_97 = "xls:MS Excel 97"


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")



@pytest.fixture(scope="module")
def legacy_files(soffice: str) -> dict[str, bytes]:
    """Our samples, saved by LibreOffice in the formats applicants send."""
    approval = samples.approval_docx(STUDIO)
    material = samples.material_docx(STUDIO, 1999)
    summary = samples.summary_xlsx(UNIT, [STUDIO])
    word_97 = convert.export(approval, "docx", WORD_97, soffice=soffice)
    excel_97 = convert.export(summary, "xlsx", EXCEL_97, soffice=soffice)
    return {
        "附件2-审批表.doc": word_97,
        "附件2-审批表.wps": word_97,  # WPS Writer saves the Word 97 format under .wps
        "附件3-申报材料.odt": convert.export(material, "docx", "odt", soffice=soffice),
        "附件3-申报材料.rtf": convert.export(material, "docx", "rtf", soffice=soffice),
        "附件3-申报材料.doc": convert.export(material, "docx", WORD_97, soffice=soffice),
        "附件1-汇总表.xls": excel_97,
        "附件1-汇总表.et": excel_97,  # WPS Spreadsheets: the Excel 97 format under .et
        "附件1-汇总表.ods": convert.export(summary, "xlsx", "ods", soffice=soffice),
    }


def _read(campaign: Campaign, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return read_document(name, data, detect_format(data, name), campaign)


@pytest.mark.parametrize(("name", "fmt"), [
    ("附件2-审批表.doc", "doc"), ("附件2-审批表.wps", "wps"),
])
def test_word_97_and_wps_approval_forms_are_read(
        campaign: Campaign, legacy_files: dict[str, bytes], name: str, fmt: str) -> None:
    doc = _read(campaign, name, legacy_files[name])
    assert (doc.format, doc.kind, doc.converted, doc.problems) == (fmt, "approval", True, ())
    assert doc.fields["工作室名称"] == STUDIO.name and doc.unit_name == STUDIO.unit
    assert doc.fields["联系电话"] == STUDIO.phone and doc.fields["团队人数"] == "7"
    # Checked like the .docx it became: no "wrong format" for the office's sake.
    assert run_checks(DOCUMENT_CHECKS, Submission(campaign, utcnow(), (doc,), ())) == []


@pytest.mark.parametrize("name", ["附件3-申报材料.odt", "附件3-申报材料.rtf", "附件3-申报材料.doc"])
def test_converted_material_keeps_its_word_count(
        campaign: Campaign, legacy_files: dict[str, bytes], name: str) -> None:
    doc = _read(campaign, name, legacy_files[name])
    assert (doc.kind, doc.converted, doc.word_count) == ("material", True, 1999)
    assert [s.name for s in doc.studios] == [STUDIO.name]
    assert len(doc.outline_covered) == 8


@pytest.mark.parametrize("name", ["附件1-汇总表.xls", "附件1-汇总表.et", "附件1-汇总表.ods"])
def test_converted_spreadsheets_list_their_studios(
        campaign: Campaign, legacy_files: dict[str, bytes], name: str) -> None:
    doc = _read(campaign, name, legacy_files[name])
    assert (doc.kind, doc.converted, doc.problems) == ("summary", True, ())
    assert doc.unit_name == UNIT
    assert [(s.name, s.leader, s.phone) for s in doc.studios] == [
        (STUDIO.name, STUDIO.leader, STUDIO.phone)]


def test_without_libreoffice_the_applicant_is_asked_for_docx(
        campaign: Campaign, legacy_files: dict[str, bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The one case a real peer cannot produce here: LibreOffice missing on this machine.
    monkeypatch.setattr(convert, "find_soffice", lambda: None)
    doc = _read(campaign, "附件2-审批表.doc", legacy_files["附件2-审批表.doc"])
    [problem] = doc.problems
    assert problem.code == "convert-unavailable" and ".doc" in problem.message
    assert ".docx" in problem.fix and doc.kind == "approval"
    sheet = _read(campaign, "附件1-汇总表.et", legacy_files["附件1-汇总表.et"])
    assert [p.code for p in sheet.problems] == ["convert-unavailable"]
    assert ".xlsx" in sheet.problems[0].fix


def _rewrite_stream(tmp_path: Path, data: bytes, stream: str, change: int, value: bytes) -> bytes:
    """The file with `value` written at offset `change` of `stream` (same length)."""
    path = tmp_path / "edited.bin"
    path.write_bytes(data)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        content = bytearray(ole.openstream(stream).read())
        content[change:change + len(value)] = value
        ole.write_stream(stream, bytes(content))
    return path.read_bytes()


def test_password_protected_word_97_file_is_named_as_such(
        campaign: Campaign, legacy_files: dict[str, bytes], tmp_path: Path) -> None:
    data = legacy_files["附件2-审批表.doc"]
    flags = olefile.OleFileIO(data).openstream("WordDocument").read(12)[10:12]
    encrypted = struct.pack("<H", struct.unpack("<H", flags)[0] | 0x0100)  # FIB fEncrypted
    doc = _read(campaign, "附件2.doc", _rewrite_stream(tmp_path, data, "WordDocument", 10,
                                                      encrypted))
    assert [p.code for p in doc.problems] == ["encrypted"]
    assert "密码" in doc.problems[0].fix


def test_password_protected_excel_97_file_is_named_as_such(
        campaign: Campaign, legacy_files: dict[str, bytes], tmp_path: Path) -> None:
    data = legacy_files["附件1-汇总表.xls"]
    head = olefile.OleFileIO(data).openstream("Workbook").read(24)
    bof_length = struct.unpack_from("<H", head, 2)[0]
    # The record after BOF becomes FILEPASS (0x002F), as Excel writes for a password.
    edited = _rewrite_stream(tmp_path, data, "Workbook", 4 + bof_length, struct.pack("<H", 0x2F))
    doc = _read(campaign, "附件1.xls", edited)
    assert [p.code for p in doc.problems] == ["encrypted"]


@pytest.mark.parametrize(("name", "data", "code"), [
    ("附件2.doc", b"", "empty"),
    ("附件2.doc", b"\x00\x01garbage that is no Word file at all" * 20, "corrupt"),
    ("附件1.xls", olefile.MAGIC + b"\x00" * 600, "corrupt"),
    ("附件2.docx", b"PK\x03\x04" + b"\x00" * 100, "corrupt"),
])
def test_broken_files_get_a_precise_problem(campaign: Campaign, name: str, data: bytes,
                                            code: str) -> None:
    doc = read_document(name, data, detect_format(data, name), campaign)
    assert [p.code for p in doc.problems] == [code]
    assert doc.problems[0].fix


def test_a_truncated_word_97_file_is_corrupt(campaign: Campaign,
                                             legacy_files: dict[str, bytes]) -> None:
    data = legacy_files["附件2-审批表.doc"]
    doc = _read(campaign, "附件2.doc", data[: len(data) // 3])
    assert [p.code for p in doc.problems] == ["corrupt"]


def test_conversion_is_bounded_in_time(legacy_files: dict[str, bytes]) -> None:
    started = time.monotonic()
    with pytest.raises(DocumentError) as raised:
        convert.convert(legacy_files["附件2-审批表.doc"], "doc", timeout=0.05)
    assert raised.value.code == "corrupt" and "超时" in str(raised.value)
    assert time.monotonic() - started < 60  # killed, not left to run for minutes


def test_concurrent_conversions_do_not_collide(legacy_files: dict[str, bytes]) -> None:
    """Each call has its own LibreOffice profile, so two at once both succeed."""
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work(name: str, fmt: str) -> None:
        try:
            results.append(convert.convert(legacy_files[name], fmt))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=args)
               for args in (("附件2-审批表.doc", "doc"), ("附件1-汇总表.xls", "xls"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(detect_format(data) for data in results) == ["docx", "xlsx"]


def test_oversized_input_is_refused_before_libreoffice_starts() -> None:
    with pytest.raises(DocumentError) as raised:
        convert.convert(b"\0" * (convert.MAX_INPUT + 1), "doc")
    assert raised.value.code == "too-large"


def test_a_web_page_saved_as_doc_is_read(campaign: Campaign, soffice: str) -> None:
    """Web systems export "Word" files that are HTML pages with a .doc name."""
    paragraphs = samples.material_text(STUDIO, 1200)
    page = ("<html><head><meta charset='utf-8'></head><body>"
            + "".join(f"<p>{text}</p>" for text in paragraphs) + "</body></html>").encode()
    doc = read_document("附件3-申报材料.doc", page, detect_format(page, "附件3-申报材料.doc"),
                        campaign)
    assert (doc.format, doc.kind, doc.converted, doc.problems) == ("text", "material", True, ())
    assert doc.word_count == 1200


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def test_a_set_in_old_formats_is_accepted_by_the_bot(
        bot: Bot, legacy_files: dict[str, bytes]) -> None:
    unit = "wps-user@test.example"
    bot.submit(unit, [(name, legacy_files[name]) for name in
                      ("附件1-汇总表.et", "附件2-审批表.wps", "附件3-申报材料.odt")])
    assert bot.poll().results == {"受理": 1}
    [studio] = bot.sheet("汇总")
    assert (studio["工作室名称"], studio["领衔人"], studio["材料字数"]) == (
        STUDIO.name, STUDIO.leader, 1999)
    [record] = bot.sheet("收件记录")
    assert record["识别"].split("\n") == ["附件1", "附件2", "附件3"]
    assert "1999 字" in body(bot.replies(unit)[0])


def test_linked_content_is_never_fetched(campaign: Campaign, soffice: str) -> None:
    """LibreOffice loads an HTML page's images; a stranger's document must not make the
    office's server call a URL of their choosing (a tracking pixel, an internal address)."""
    calls: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                calls.append(connection.recv(256))

    thread = threading.Thread(target=serve)
    thread.start()
    page = (f"<html><body><p>附件3 申报材料</p><img src='http://127.0.0.1:{port}/pixel.png'>"
            f"<img src='http://localhost:{port}/logo.png'></body></html>").encode()
    try:
        doc = read_document("附件3.doc", page, "text", campaign)
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert doc.converted and not doc.problems
    assert calls == []
