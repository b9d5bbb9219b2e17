"""The print bundle: one PDF of the materials in the order of the forms, with a cover page that
lists every file — built by LibreOffice from what the real intake recorded, read back with
pypdf (pages, text, bookmarks), written by `mailbot bundle` and served by the dashboard."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from test_cli import mailbot
from web_support import (
    ON_TIME,
    ROSTER_UNIT,
    RULES,
    app_for,
    campaign_state,
    deliver,
    full_set,
    login,
    make_runtime,
)

from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_xlsx
from mailbot.documents import convert
from mailbot.intake.cycle import Runtime
from mailbot.office import bundle
from mailbot.store.models import Unit

FIRST, MISSING_MATERIAL, LATE_ONE, PAIR_A, PAIR_B = SAMPLE_STUDIOS
SCAN_PDF = "附件2-盖章页扫描.pdf"
SCAN_PNG = "附件1-盖章页.png"
BROKEN = "附件3-补充材料.docx"


def png(width: int, height: int) -> bytes:
    """A grey image, written by hand (no imaging library among the dependencies)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def scan_pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """campaign_state, and a unit that sends two studios, two scans and a broken file."""
    runtime = make_runtime(tmp_path_factory.mktemp("bundle"))
    campaign_state(runtime)
    deliver(runtime, "shiyan@test.example",
            [("附件1-推荐汇总表.xlsx", summary_xlsx(PAIR_A.unit, [PAIR_A, PAIR_B])),
             *[(f"附件2-{s.leader}.docx", approval_docx(s)) for s in (PAIR_A, PAIR_B)],
             *[(f"附件3-{s.leader}.docx", material_docx(s, 1200)) for s in (PAIR_A, PAIR_B)],
             (SCAN_PNG, png(300, 200)), (SCAN_PDF, scan_pdf(2)),
             (BROKEN, b"PK\x03\x04 this is not a document")],
            received=ON_TIME.replace(hour=15))
    return runtime


@pytest.fixture(scope="module")
def everything(runtime: Runtime, soffice: str) -> bundle.Bundle:
    with runtime.sessions() as session:
        return bundle.build(session, runtime.campaign, runtime.settings.state_dir)


def order(made: bundle.Bundle) -> list[tuple[str, str, str]]:
    return [(line.part.unit, line.part.label, line.part.studio) for line in made.lines]


def test_files_come_unit_by_unit_in_the_order_of_the_forms(everything: bundle.Bundle) -> None:
    assert order(everything)[:8] == [
        (FIRST.unit, "附件1", ""), (FIRST.unit, "附件2", FIRST.name),
        (FIRST.unit, "附件3", FIRST.name),
        (MISSING_MATERIAL.unit, "附件1", ""),
        (MISSING_MATERIAL.unit, "附件2", MISSING_MATERIAL.name),
        (LATE_ONE.unit, "附件1", ""), (LATE_ONE.unit, "附件2", LATE_ONE.name),
        (LATE_ONE.unit, "附件3", LATE_ONE.name)]
    # The unit of two studios: its 附件1 (the editable one, then the stamped scan), each
    # studio's 附件2 and 附件3 in the order of its 附件1, then what names no studio.
    pair = [(label, studio, line.part.filename) for (_u, label, studio), line
            in zip(order(everything), everything.lines, strict=True) if _u == PAIR_A.unit]
    assert pair[:6] == [
        ("附件1", "", "附件1-推荐汇总表.xlsx"), ("附件1", "", SCAN_PNG),
        ("附件2", PAIR_A.name, f"附件2-{PAIR_A.leader}.docx"),
        ("附件3", PAIR_A.name, f"附件3-{PAIR_A.leader}.docx"),
        ("附件2", PAIR_B.name, f"附件2-{PAIR_B.leader}.docx"),
        ("附件3", PAIR_B.name, f"附件3-{PAIR_B.leader}.docx")]
    assert {name for _l, _s, name in pair[6:]} == {SCAN_PDF, BROKEN}


def test_each_document_is_on_the_pages_the_cover_gives(everything: bundle.Bundle) -> None:
    reader = PdfReader(io.BytesIO(everything.content))
    included = [line for line in everything.lines if line.pages]
    cover_pages = included[0].first - 1
    assert cover_pages >= 1
    assert len(reader.pages) == cover_pages + sum(line.pages for line in included)
    assert everything.documents == len(included) == len(everything.lines) - 1
    for line in included:
        assert line.first == cover_pages + 1 + sum(
            other.pages for other in included[:included.index(line)])
        text = reader.pages[line.first - 1].extract_text()
        if line.part.filename.endswith((".png", ".pdf")):
            assert text.strip() == "", line.part.filename  # a scan: an image, a blank page
        elif line.part.label == "附件1":
            assert "推荐汇总表" in text and line.part.unit in text, line.part.filename
        else:
            assert line.part.studio[:6] in text, line.part.filename
    scan = next(line for line in included if line.part.filename == SCAN_PDF)
    assert scan.pages == 2
    image = next(line for line in included if line.part.filename == SCAN_PNG)
    box = reader.pages[image.first - 1].mediabox  # a wide scan on a landscape page
    assert float(box.width) > float(box.height)


def test_the_cover_lists_every_file_and_what_was_left_out(everything: bundle.Bundle) -> None:
    reader = PdfReader(io.BytesIO(everything.content))
    first = next(line.first for line in everything.lines if line.pages)
    cover = "".join(reader.pages[n].extract_text() for n in range(first - 1))
    flat = "".join(cover.split())  # a long name may wrap inside its cell
    for line in everything.lines:
        assert "".join(line.part.filename.split()) in flat, line.part.filename
        assert line.part.unit in flat
    assert "劳模和工匠人才创新工作室推荐申报" in flat
    [left_out] = [line for line in everything.lines if not line.pages]
    assert left_out.part.filename == BROKEN and "未收入" in flat
    assert everything.problems == [f"“{BROKEN}”（{PAIR_A.unit} 附件3）未收入 PDF："
                                   f"{left_out.problem}"]
    # A bookmark per unit, in order, so the clerk can jump to one.
    units = [item.title for item in reader.outline if not isinstance(item, list)]
    assert units == [FIRST.unit, MISSING_MATERIAL.unit, LATE_ONE.unit, PAIR_A.unit]


def test_printed_files_are_kept_for_the_next_bundle(runtime: Runtime,
                                                    everything: bundle.Bundle) -> None:
    cache = runtime.settings.state_dir / bundle.CACHE
    kept = sorted(cache.rglob("*.pdf"))
    converted = [line for line in everything.lines if line.pages
                 and not line.part.filename.endswith(".pdf")]
    assert len(kept) == len(converted)  # every file LibreOffice printed, and no cover
    assert {stat.S_IMODE(folder.stat().st_mode) for folder in (cache, *(p.parent for p in kept))
            } == {0o700}
    assert {stat.S_IMODE(path.stat().st_mode) for path in kept} == {0o600}
    before = convert.soffice_runs()
    with runtime.sessions() as session:
        again = bundle.build(session, runtime.campaign, runtime.settings.state_dir)
    assert [(ln.part.filename, ln.pages, ln.first) for ln in again.lines] == [
        (ln.part.filename, ln.pages, ln.first) for ln in everything.lines]
    assert sorted(cache.rglob("*.pdf")) == kept
    assert convert.soffice_runs() - before <= bundle.MAX_COVER_PASSES  # the cover alone
    # A kept PDF cut short (a full disk, a crash) is printed again, never put in the bundle.
    whole = kept[0].read_bytes()
    kept[0].write_bytes(whole[: len(whole) // 2])
    with runtime.sessions() as session:
        third = bundle.build(session, runtime.campaign, runtime.settings.state_dir)
    assert [(ln.part.filename, ln.pages) for ln in third.lines] == [
        (ln.part.filename, ln.pages) for ln in everything.lines]
    assert kept[0].stat().st_size > len(whole) // 2


def broken_docx() -> bytes:
    """A Word package whose document is not XML: detected as .docx, refused by LibreOffice."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("[Content_Types].xml", (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'))
        package.writestr("word/document.xml", "<w:document not xml")
    return out.getvalue()


def test_a_file_libreoffice_refuses_costs_only_itself(tmp_path: Path, soffice: str) -> None:
    runtime = make_runtime(tmp_path)
    deliver(runtime, "jidian@test.example",
            [*full_set(FIRST), ("附件3-补充说明.docx", broken_docx())])
    with runtime.sessions() as session:
        made = bundle.build(session, runtime.campaign, runtime.settings.state_dir)
    [refused] = [line for line in made.lines if not line.pages]
    assert refused.part.filename == "附件3-补充说明.docx"
    assert refused.problem == "LibreOffice 无法打开此文件"
    assert made.documents == 3  # printed in the same run as the refused one, or again alone
    assert len(list((runtime.settings.state_dir / bundle.CACHE).rglob("*.pdf"))) == 3


def test_a_unit_without_files_gets_a_cover_saying_so(tmp_path: Path, soffice: str) -> None:
    runtime = make_runtime(tmp_path, roster=True)
    with runtime.sessions() as session:
        silent = session.query(Unit).filter(Unit.name == ROSTER_UNIT).one()
        made = bundle.build(session, runtime.campaign, runtime.settings.state_dir,
                            unit_id=silent.id)
    reader = PdfReader(io.BytesIO(made.content))
    assert len(reader.pages) == 1 and made.lines == ()
    text = reader.pages[0].extract_text()
    assert ROSTER_UNIT in text and "暂无已收到的材料" in text


def test_mailbot_bundle_for_one_unit(runtime: Runtime, soffice: str, tmp_path: Path) -> None:
    env = {"MAILBOT_STATE_DIR": str(runtime.settings.state_dir), "MAILBOT_RULES": str(RULES)}
    out = tmp_path / "打印" / "机电.pdf"
    result = mailbot("bundle", "--unit", FIRST.unit, "--out", str(out), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and "3 份文件" in result.stdout
    reader = PdfReader(out)
    cover = reader.pages[0].extract_text()
    assert FIRST.unit in cover and LATE_ONE.unit not in cover
    assert [item.title for item in reader.outline if not isinstance(item, list)] == [FIRST.unit]
    result = mailbot("bundle", "--unit", "不存在的学院", "--out", str(out), cwd=tmp_path, env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "没有找到单位" in result.stderr


def test_the_dashboard_offers_the_bundle_per_unit_and_for_all(runtime: Runtime,
                                                             soffice: str) -> None:
    client = login(app_for(runtime).test_client())
    assert "/bundle.pdf" in client.get("/").get_data(as_text=True)
    with runtime.sessions() as session:
        unit_id = session.query(Unit.id).filter(Unit.name == LATE_ONE.unit).scalar()
    page = client.get(f"/units/{unit_id}").get_data(as_text=True)
    assert f"/units/{unit_id}/bundle.pdf" in page
    answer = client.get(f"/units/{unit_id}/bundle.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert "filename*=UTF-8''" in answer.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(answer.data))
    assert LATE_ONE.unit in reader.pages[0].extract_text()
    assert len(reader.pages) >= 1 + 3
    assert client.get("/units/99999/bundle.pdf").status_code == 404
