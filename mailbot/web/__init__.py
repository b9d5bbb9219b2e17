"""The office dashboard (`mailbot serve`): server-rendered pages in Chinese, behind a login.

    app.py        create_app(): Flask, security headers, error pages
    auth.py       the password hash, the session cookie, CSRF, the guard, login throttling
    views.py      overview, units, a unit, quarantine, a mail, a reply; paper copies, reprocess
    roster.py     a roster unit the rules gained since the last poll (not saved yet)
    downloads.py  /workbook.xlsx, /materials.zip, stored files, raw mail
    dashboard.py  what the pages show, derived from the database (nothing is stored here)
    actions.py    what the office can change: reprocess a quarantined mail, mark a paper copy
    handling.py   the quarantine and failed replies: assign to a unit, dismiss, forward, resend,
                  give up — each recorded as an OfficeAction
    server.py     waitress, with a clean stop on SIGINT/SIGTERM
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

from mailbot.campaign.rules import Campaign
from mailbot.config import Settings
from mailbot.intake.cycle import Runtime
from mailbot.web.app import create_app
from mailbot.web.server import DEFAULT_HOST, DEFAULT_PORT, DashboardServer, serve_until_signalled


def serve(settings: Settings, campaign: Campaign, *, host: str = DEFAULT_HOST,
          port: int = DEFAULT_PORT, announce: Callable[[str], None] = print,
          campaigns: Sequence[Campaign] = ()) -> None:
    """Serve the dashboard for this configuration until SIGINT/SIGTERM (`campaign` first,
    the others a click away)."""
    server = DashboardServer(create_app(settings, campaign, campaigns=campaigns), host, port)
    serve_until_signalled(server, lambda url: announce(f"办公室网页已启动：{url}（Ctrl+C 停止）"))


def serve_demo(runtime: Runtime, *, port: int = DEFAULT_PORT,
               announce: Callable[[str], None] = print) -> None:
    """`mailbot demo --serve`: the dashboard on the demo's state, with a password made up now
    (or the configured one), until SIGINT/SIGTERM."""
    password = runtime.settings.office_password or secrets.token_urlsafe(9)
    settings = replace(runtime.settings, office_password=password)
    server = DashboardServer(create_app(settings, runtime.campaign, runtime=runtime),
                             DEFAULT_HOST, port)
    serve_until_signalled(server, lambda url: announce(
        f"办公室网页已启动：{url}  登录密码：{password}（Ctrl+C 停止）"))


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DashboardServer", "create_app", "serve", "serve_demo"]
