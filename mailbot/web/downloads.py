"""Downloads: the workbook, materials.zip, the form sent upward (/official.docx, .xlsx), the
print bundle (PDF), one stored file, one raw mail (CONTRACT.md URLs).

The workbook is built from the database at the moment of the request (so a paper copy marked a
second ago is in it); materials.zip is streamed as it is written (mailbot.office.materials).
"""

from __future__ import annotations

import tempfile
from typing import BinaryIO
from urllib.parse import quote

from flask import Blueprint, abort, request, send_file, stream_with_context
from werkzeug.wrappers import Response

from mailbot.errors import ConfigError, DocumentError
from mailbot.office import bundle, materials, official, workbook
from mailbot.store.models import Document, Message, Unit
from mailbot.timefmt import local
from mailbot.web.views import now, runtime, session_scope

bp = Blueprint("downloads", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
IN_MEMORY_LIMIT = 8 * 1024 * 1024  # a larger workbook spills to a temporary file


@bp.get("/workbook.xlsx")
def workbook_xlsx() -> Response:
    with session_scope() as session:
        book = workbook.build(session, runtime().campaign)
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_LIMIT)  # noqa: SIM115 - sent, then closed
    book.save(spool)
    spool.seek(0)
    return send_file(spool, mimetype=XLSX, as_attachment=True, download_name="汇总表.xlsx",
                     max_age=0)


@bp.get("/materials.zip")
def materials_zip() -> Response:
    with session_scope() as session:
        items = materials.entries(session, runtime().campaign, runtime().settings.state_dir)
    name = f"申报材料-{local(now()):%Y%m%d-%H%M}.zip"
    response = Response(stream_with_context(materials.stream(items)), mimetype="application/zip")
    response.headers["Content-Disposition"] = _attachment(name)
    return response


@bp.get("/official.<fmt>")
def official_form(fmt: str) -> Response:
    """The form sent upward (CONTRACT `export --official`); ?include_incomplete=1 lists the
    incomplete studios too, marked."""
    if fmt not in official.FORMATS:
        abort(404)
    incomplete = request.args.get("include_incomplete", "") in ("1", "true", "yes")
    campaign = runtime().campaign
    try:
        with session_scope() as session:
            content = official.render(session, campaign, runtime().settings.state_dir, fmt,
                                      include_incomplete=incomplete)
    except ConfigError as exc:
        abort(503, description=str(exc))
    name = f"{official.official_form(campaign).title}.{fmt}"
    response = Response(content, mimetype=DOCX if fmt == "docx" else XLSX)
    response.headers["Content-Disposition"] = _attachment(name, f"official.{fmt}")
    return response


@bp.get("/bundle.pdf", defaults={"unit_id": None})
@bp.get("/units/<int:unit_id>/bundle.pdf")
def bundle_pdf(unit_id: int | None) -> Response:
    """The print bundle: every unit's materials, or one unit's, with a cover page."""
    try:
        with session_scope() as session:
            unit = session.get(Unit, unit_id) if unit_id is not None else None
            if unit_id is not None and unit is None:
                abort(404)
            scope = unit.display_name if unit is not None else "全部单位"
            made = bundle.build(session, runtime().campaign, runtime().settings.state_dir,
                                unit_id=unit_id, now=now())
    except DocumentError as exc:  # no LibreOffice on this server
        abort(503, description=str(exc))
    response = Response(made.content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = _attachment(
        f"申报材料打印版-{scope}-{local(now()):%Y%m%d-%H%M}.pdf", "bundle.pdf")
    return response


@bp.get("/files/<int:document_id>")
def file(document_id: int) -> Response:
    with session_scope() as session:
        doc = session.get(Document, document_id) or abort(404)
        source, name = _kept(doc.stored_path), doc.filename or f"附件{doc.id}"
    return send_file(source, as_attachment=True, download_name=name, max_age=0,
                     mimetype="application/octet-stream")


@bp.get("/messages/<int:message_id>/raw.eml")
def raw(message_id: int) -> Response:
    with session_scope() as session:
        found = session.get(Message, message_id) or abort(404)
        source = _kept(found.raw_path)
    return send_file(source, as_attachment=True, download_name=f"原始邮件-{message_id}.eml",
                     mimetype="message/rfc822", max_age=0)


def _kept(key: str) -> BinaryIO:
    """A kept file (store.blobs: the state dir, or the database), 404 when it is gone or the
    key would leave the state dir."""
    try:
        return runtime().blobs.open(key)
    except OSError:
        abort(404, description="文件已不在服务器上。")


def _attachment(name: str, fallback: str = "materials.zip") -> str:
    """Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
