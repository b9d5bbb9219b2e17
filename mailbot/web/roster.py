"""The page of a roster unit the rules gained since the last poll, and the actions on it.

`mailbot serve` is a reader: it writes nothing by starting, so such a unit is not in the store
yet (no id) — the overview and the units list show it 未提交 all the same (`dashboard.unit_rows`).
Its page says what there is to say (nothing received); an action on it (a paper copy, a status
link) is a write anyway, so it saves the roster first, as a poll would, then acts as on any unit.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from mailbot.campaign.dossier import unsaved_progress
from mailbot.campaign.units import ROSTER_PREFIX
from mailbot.timefmt import local
from mailbot.web import actions, dashboard, views

bp = Blueprint("roster", __name__)


@bp.get("/units/roster")
def unit() -> str | Response:
    """A roster unit the rules gained since the last poll: its page, with nothing received
    yet, written by nobody (the first action on it saves it). Once saved: its usual page."""
    name = request.args.get("name", "")
    campaign = views.runtime().campaign
    with views.session_scope() as session:
        held = dashboard.held_units(session, campaign)
        saved = next((u for u in held if u.key == ROSTER_PREFIX + name), None)
        if saved is not None:
            return redirect(url_for("views.unit", unit_id=saved.id))
        found = next((entry for entry in unsaved_progress(campaign, held)
                      if entry.unit.name == name), None)
        if found is None:
            abort(404)
        return render_template(
            "unit.html", row=dashboard.row_of(found.standing, 0), unit=found.unit, versions=[],
            messages=[], replies=[], today=local(views.now()).date().isoformat(),
            paper_action=url_for("roster.paper", name=name),
            link_action=url_for("roster.status_link", name=name))


@bp.post("/units/roster/paper")
def paper() -> Response:
    """Mark the paper copy of a roster unit not saved yet: saved first, then as any unit."""
    return views.paper(_saved_roster_unit())


@bp.post("/units/roster/status-link")
def status_link() -> Response:
    """Issue (or revoke) the status link of a roster unit not saved yet: saved first."""
    return views.status_link(_saved_roster_unit())


def _saved_roster_unit() -> int:
    """The id of the roster unit `?name=`, saving it now if the rules gained it (a 404 if the
    roster has no such unit)."""
    try:
        return actions.save_roster_unit(views.runtime(), request.args.get("name", ""))
    except LookupError:
        abort(404)
