"""The print bundle: one PDF of the materials, per unit or of all units, ready to print.

A cover page lists what is inside (unit, form, studio, file name, pages); then each file in the
order of the forms (`parts`). Word and Excel files, .doc/.wps/.et and the rest are printed to
PDF by headless LibreOffice (documents.convert: isolated, bounded, one run for the whole batch);
a PDF scan goes in as it is; an image scan is placed on an A4 page first. A file that cannot be
printed is listed on the cover as not included, with the reason, and the rest still come out.
The PDFs are joined with pypdf, with a bookmark per unit and per file. What LibreOffice printed
is kept by content (documents.conversions, the cache the reader's conversions use too), so the
next bundle prints only what is new.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pypdf import PdfReader, PdfWriter

from mailbot.atomic import write_bytes
from mailbot.campaign.rules import Campaign
from mailbot.campaign.units import named_unit
from mailbot.documents import conversions, convert
from mailbot.documents.conversions import ConversionCache
from mailbot.errors import DocumentError
from mailbot.office import printdocx as pd
from mailbot.office.bundle.cover import Line, cover_docx
from mailbot.office.bundle.parts import Part, unit_parts
from mailbot.store.handles import Session
from mailbot.store.models import Unit
from mailbot.timefmt import show, utcnow

__all__ = ["Bundle", "Line", "Part", "build", "unit_parts", "write"]

IMAGES = ("png", "jpeg", "gif", "bmp", "tiff")  # what python-docx can place on a page
MAX_COVER_PASSES = 3  # the cover's own length moves every page number after it
COVER_LINES_PER_PAGE = 22  # a first guess at the cover's length; checked after printing it
CACHE = conversions.FOLDER  # in the state directory, shared with the reader's conversions


@dataclass(frozen=True)
class Bundle:
    content: bytes
    lines: tuple[Line, ...]
    path: Path | None = None

    @property
    def documents(self) -> int:
        return sum(1 for line in self.lines if line.pages)

    @property
    def pages(self) -> int:
        return len(PdfReader(io.BytesIO(self.content)).pages)

    @property
    def problems(self) -> list[str]:
        return [f"“{ln.part.filename}”（{ln.part.unit} {ln.part.label}）未收入 PDF：{ln.problem}"
                for ln in self.lines if not ln.pages]


def write(session: Session, campaign: Campaign, state_dir: Path, out: Path, *,
          unit: str | None = None) -> Bundle:
    """The bundle of `unit` (its name, alias or address) or of every unit, written to `out`."""
    unit_id = named_unit(session, campaign, unit).id if unit else None
    made = build(session, campaign, state_dir, unit_id=unit_id)
    return replace(made, path=write_bytes(out, made.content))


def build(session: Session, campaign: Campaign, state_dir: Path, *,
          unit_id: int | None = None, now: datetime | None = None) -> Bundle:
    """The bundle of one unit (`unit_id`) or of every unit that sent files. Raises
    DocumentError ("convert-unavailable") when LibreOffice is not installed."""
    parts = unit_parts(session, campaign, state_dir, unit_id)
    chosen = session.get(Unit, unit_id) if unit_id is not None else None
    units = len(dict.fromkeys(part.unit for part in parts))
    scope = chosen.display_name if chosen is not None else f"全部单位（{units} 个）"
    printed = _print_all(parts, ConversionCache(state_dir))
    cover, lines = _cover(campaign.campaign.title, scope, show(now or utcnow()), parts, printed)
    writer = PdfWriter()
    writer.append(cover, import_outline=False)
    writer.add_metadata({"/Title": f"{campaign.campaign.title} 申报材料（{scope}）"})
    unit_mark, unit_name = None, None
    for line, pdf in zip(lines, printed, strict=True):
        if isinstance(pdf, str):
            continue
        if unit_mark is None or line.part.unit != unit_name:
            unit_mark = writer.add_outline_item(title=line.part.unit, page_number=line.first - 1)
            unit_name = line.part.unit
        writer.append(pdf, import_outline=False)  # its own bookmarks (sheet names) are noise
        name = " ".join(x for x in (line.part.label, line.part.studio, line.part.filename) if x)
        writer.add_outline_item(title=name, page_number=line.first - 1, parent=unit_mark)
    out = io.BytesIO()
    writer.write(out)
    return Bundle(out.getvalue(), tuple(lines))


def _cover(title: str, scope: str, made_at: str, parts: Sequence[Part],
           printed: Sequence[PdfReader | str]) -> tuple[PdfReader, list[Line]]:
    """The cover as a PDF and the lines it lists; laid out again until its own page count is
    the one its page numbers assumed."""
    cover_pages = 1 + len(parts) // COVER_LINES_PER_PAGE
    for _attempt in range(MAX_COVER_PASSES):
        lines, page = [], cover_pages + 1
        for part, pdf in zip(parts, printed, strict=True):
            if isinstance(pdf, str):
                lines.append(Line(part, 0, 0, pdf))
            else:
                lines.append(Line(part, len(pdf.pages), page))
                page += len(pdf.pages)
        [data] = convert.to_pdf([(cover_docx(title, scope, made_at, lines), "docx")])
        if data is None:
            raise DocumentError("corrupt", "LibreOffice 未能生成目录页。")
        cover = PdfReader(io.BytesIO(data))
        if len(cover.pages) == cover_pages:
            break
        cover_pages = len(cover.pages)
    return cover, lines


def _print_all(parts: Sequence[Part], cache: ConversionCache) -> list[PdfReader | str]:
    """Each part as an open PDF, or the reason it could not be printed.

    What LibreOffice prints is kept in `cache` under the hash of the received file (which never
    changes), so the next bundle only prints what is new: the first bundle of thirty units
    takes about a minute, the next a few seconds."""
    results: list[PdfReader | str] = []
    pending: list[tuple[int, conversions.Key, bytes, str]] = []  # (index, key, data, extension)
    for index, part in enumerate(parts):
        try:
            data = part.path.read_bytes()
        except OSError:
            results.append("文件已不在服务器上")
            continue
        if part.format == "pdf":
            results.append(_open_pdf(data, rewrite=True))
            continue
        # The format names what is done before printing (a spreadsheet set one page wide, an
        # image placed on a page; CONVERTER_VERSION changes when that does); a .wps is read as
        # the .doc it is, so the same bytes sent under either name share their entry.
        read_as = convert.TARGETS[part.format][0] if part.format in convert.TARGETS else part.format
        key = conversions.key(data, read_as, "pdf")
        kept = cache.get(key)
        source = _source(part.format, data) if kept is None else kept
        if isinstance(source, bytes):
            results.append(_open_pdf(source))
        elif isinstance(source, str):
            results.append(source)
        else:
            results.append("")  # printed below, all in one LibreOffice run
            pending.append((index, key, *source))
    printed = _libreoffice([(data, extension) for _i, _k, data, extension in pending])
    for (index, key, _data, _extension), pdf in zip(pending, printed, strict=True):
        results[index] = _open_pdf(pdf) if pdf is not None else "LibreOffice 无法打开此文件"
        if pdf is not None:
            cache.put(key, pdf)
    return results


def _source(fmt: str, data: bytes) -> tuple[bytes, str] | str:
    """(data, extension LibreOffice reads it by), or why the file cannot be printed."""
    if fmt in ("xlsx", "xlsm"):
        return _one_page_wide(data), fmt
    if fmt in ("docx", "docm"):  # headless LibreOffice runs no macro
        return data, fmt
    if fmt in convert.TARGETS:
        return data, convert.TARGETS[fmt][0]
    if fmt in IMAGES:
        return _image_page(data)
    if fmt == "encrypted-ooxml":
        return "文件设有打开密码"
    return f"文件已损坏或不是可打印的文档（检测为 {fmt}）"


def _image_page(data: bytes) -> tuple[bytes, str] | str:
    """A scanned page (an image) on an A4 page of its own, as large as the page allows."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.image.exceptions import UnrecognizedImageError
    from docx.image.image import Image
    from docx.shared import Emu, Mm

    try:
        image = Image.from_blob(data)
    except (UnrecognizedImageError, ValueError, IndexError):
        return "图片已损坏，无法打开"
    document = pd.new_document(landscape=image.px_width > image.px_height)
    section = document.sections[0]
    room_w = pd.usable_width(document)
    room_h = int((section.page_height or 0) - 2 * pd.TOP_MARGIN - Mm(10))  # and a blank line
    scale = min(room_w / max(image.px_width, 1), room_h / max(image.px_height, 1))
    document.add_picture(io.BytesIO(data), width=Emu(int(image.px_width * scale)),
                         height=Emu(int(image.px_height * scale)))
    document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    return pd.to_bytes(document), "docx"


def _one_page_wide(data: bytes) -> bytes:
    """A spreadsheet whose sheets have no page setup of their own printed one page wide (a
    附件1 left as it is spills its right-hand columns onto extra pages); as it was when it
    already has one, or when openpyxl cannot rewrite it."""
    import openpyxl
    from openpyxl.worksheet.properties import PageSetupProperties

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), keep_vba=True)
        for sheet in book.worksheets:
            properties = sheet.sheet_properties.pageSetUpPr
            if (properties is not None and properties.fitToPage) or sheet.page_setup.scale:
                continue
            sheet.page_setup.orientation = "landscape"
            sheet.page_setup.paperSize = sheet.page_setup.paperSize or sheet.PAPERSIZE_A4
            sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
            sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    except Exception:
        return data


def _libreoffice(items: list[tuple[bytes, str]]) -> list[bytes | None]:
    """One LibreOffice run for the lot. A file that hangs it (the run times out) or crashes
    it (the files after it come out missing) must cost only itself: whatever did not come out
    of the shared run is printed again, each file on its own."""
    try:
        results = convert.to_pdf(items)
    except DocumentError as exc:
        if exc.code == "convert-unavailable":
            raise
        results = [None] * len(items)
    if len(items) > 1:
        for index, pdf in enumerate(results):
            if pdf is None:
                results[index] = _alone(items[index])
    return results


def _alone(item: tuple[bytes, str]) -> bytes | None:
    try:
        [pdf] = convert.to_pdf([item], timeout=convert.DEFAULT_TIMEOUT)
    except DocumentError as exc:
        if exc.code == "convert-unavailable":
            raise
        return None
    return pdf


def _open_pdf(data: bytes, *, rewrite: bool = False) -> PdfReader | str:
    """The PDF, opened; or why it cannot go in. With `rewrite` (a PDF that came by mail) it is
    copied through pypdf once here, so a broken one fails now, whole, and not half-way into
    the bundle after some of its pages."""
    # A PDF from a stranger can break a parser in many ways; one file must not stop the bundle.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return "PDF 设置了打开密码"
        if not reader.pages:
            return "PDF 没有页面"
        if rewrite:
            copy, out = PdfWriter(), io.BytesIO()
            copy.append(reader)
            copy.write(out)
            reader = PdfReader(io.BytesIO(out.getvalue()))
        return reader
    except Exception as exc:
        return f"PDF 已损坏，无法读取（{type(exc).__name__}）"
