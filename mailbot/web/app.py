"""The dashboard application: Flask, server-rendered Jinja2 pages, no JavaScript.

`create_app` hashes the configured password and keeps only the hash, loads (or makes) the cookie
key in the state dir, and wires the guard that refuses every request without an office session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response

from mailbot.campaign.rules import Campaign
from mailbot.config import Settings
from mailbot.intake.cycle import Runtime
from mailbot.timefmt import show, utcnow
from mailbot.web import auth, dashboard, downloads, handling, roster, status_page, views
from mailbot.web.clients import ClientAddress, networks

SESSION_LIFETIME = timedelta(hours=12)  # one working day; then log in again
MAX_FORM_BYTES = 64 * 1024  # the dashboard's forms are a few short fields
MAX_ROW_ID = 2**63 - 1  # SQLite's and PostgreSQL's BIGINT
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
ERROR_TITLES = {400: "请求无效", 401: "需要登录", 403: "没有权限", 404: "找不到页面",
                405: "不支持的操作", 413: "提交的内容过大", 429: "请求过于频繁",
                500: "服务器出错", 503: "暂时无法提供"}


def create_app(settings: Settings, campaign: Campaign, *, runtime: Runtime | None = None,
               clock: Callable[[], datetime] = utcnow,
               campaigns: Sequence[Campaign] = ()) -> Flask:
    """The dashboard for this state dir. Raises ConfigError when no office password is set.
    With several `campaigns`, every page is one campaign's (`?campaign=KEY`, remembered)."""
    key = auth.secret_key(settings.state_dir)
    gate = auth.Gate.configured(settings.office_password, key, settings.state_dir,
                                SESSION_LIFETIME.total_seconds())
    settings = replace(settings, office_password="")  # the plain password goes no further
    if runtime is None:  # `mailbot serve`: a reader, which writes nothing by starting; the
        # roster units the rules gained are shown unsaved, and saved by the first action on one
        runtime = Runtime(settings, campaign, campaigns=campaigns, reading=True)
    app = Flask(__name__, static_folder=None)
    # Before the blueprints: their <int:…> rules take this converter (ids the database can hold).
    app.url_map.converters["int"] = DatabaseId
    app.wsgi_app = ClientAddress(app.wsgi_app, networks(settings.trusted_proxies))  # type: ignore[method-assign]
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="mailbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
    )
    app.extensions["mailbot.gate"] = gate
    app.extensions["mailbot.runtime"] = runtime
    app.extensions["mailbot.clock"] = clock
    app.before_request(auth.guard)
    app.after_request(_headers)
    for blueprint in (auth.bp, views.bp, roster.bp, downloads.bp, status_page.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, _error)
    app.jinja_env.globals.update(
        csrf_token=auth.csrf_token, csrf_field=auth.CSRF_FIELD, show=show,
        state_labels=dashboard.STATE_LABELS, reply_kinds=dashboard.REPLY_KINDS,
        reply_status=dashboard.REPLY_STATUS, result_class=dashboard.result_class,
        reply_reason=dashboard.reply_reason, action_labels=handling.ACTION_LABELS,
        public_url=settings.public_url, unit_url=views.unit_url)
    app.context_processor(_campaign_context)
    return app


def _campaign_context() -> dict[str, Any]:
    """What the pages say about the campaign shown: the one this request is for."""
    shown = views.runtime(strict=False)
    campaign = shown.campaign
    return {"campaign": campaign.campaign, "office": campaign.office,
            "campaign_has_roster": bool(campaign.units),
            "has_official": campaign.official is not None,
            "label_of": lambda kind: campaign.spec(kind).label if campaign.has(kind)
            else "未识别",
            "campaign_has_studios": campaign.has_studios,
            # the 字数 is shown for the texts the rules limit (附件3), whatever their key
            "counts_words": lambda kind: campaign.has(kind)
            and campaign.spec(kind).max_words is not None,
            "campaign_choices": [(key, lane.campaign.campaign.title) for key, lane
                                 in views.everyone().lanes.items()]}


class DatabaseId(IntegerConverter):
    """<int:…> in our routes is a row id: 0 to 2**63-1. A larger number would overflow the
    database's integer (a 500); outside the range the rule does not match, so it is a 404."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 0)
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Referrer-Policy", "same-origin")  # the status page: no-referrer
    # Every page shows applicants' data: never keep it in a shared or proxy cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    title = ERROR_TITLES.get(code, "出错了")
    # Werkzeug's own descriptions are English: show only the ones mailbot wrote (in Chinese).
    own = error.description != type(error).description
    description = error.description if own and code not in (404, 405) else ""
    return render_template("error.html", code=code, title=title, description=description or "",
                           show_nav=auth.gate().signed_in()), code
