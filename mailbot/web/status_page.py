"""A unit's own status page, `/s/<token>`: open without a login, showing that unit and no other.

The token in the link is the only credential (campaign.statuslink); a wrong, malformed or revoked
token is a plain 404 that says nothing about whether such a unit exists. The page reads the same
dossier (`UnitProgress`) as the workbook and the dashboard, so it never disagrees with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, make_response, render_template

from mailbot.campaign import statuslink
from mailbot.campaign.dossier import held_of, unit_progress
from mailbot.checks.completeness import missing
from mailbot.findings import Finding
from mailbot.intake.cycle import Runtime
from mailbot.store.queries import dashboard as queries

bp = Blueprint("status", __name__)


@dataclass(frozen=True)
class Version:
    label: str
    filename: str
    received_at: object
    word_count: int | None
    counts: bool  # the version that counts now
    problems: list[str]


@bp.get("/s/<token>")
def page(token: str) -> Response:
    if not statuslink.plausible(token):
        abort(404)
    everyone: Runtime = current_app.extensions["mailbot.runtime"]
    with everyone.sessions() as session:  # the token names a unit of one of the campaigns
        owner = queries.campaign_of_status_token(session, token)
    if owner is None:
        abort(404)
    runtime = everyone.lanes.get(owner, everyone)
    campaign = runtime.campaign
    with runtime.sessions() as session:
        unit = queries.unit_of_status_token(session, token)
        if unit is None:
            abort(404)
        progress = unit_progress(session, unit, campaign)
        current = {doc.id for doc in progress.latest}
        rows = queries.unit_documents_newest_first(session, unit.id, by_position=False)
        findings = queries.findings_of_messages(session, {row.message_pk for row in rows})
        versions = [Version(label=campaign.spec(row.kind).label if campaign.has(row.kind)
                            else "未识别", filename=row.filename,
                            received_at=row.message.received_at, word_count=row.word_count,
                            counts=row.id in current,
                            problems=[f.message for f in findings
                                      if f.message_pk == row.message_pk
                                      and f.document == row.filename])
                    for row in rows]
        still: list[Finding] = missing(campaign, [held_of(doc) for doc in progress.latest])
        html = render_template("status.html", unit=unit, progress=progress, versions=versions,
                               missing=still)
    response = make_response(html)
    # The token is in the address: never hand it on to another site, never index the page.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
