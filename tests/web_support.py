"""Helpers for the dashboard, workbook and materials tests: a campaign's state made by the real
intake (mail built as clients send it, recorded by `poller.record`), and a logged-in client."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.config import Settings
from mailbot.demo.mailfactory import ClientStyle, build_mail
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    StudioSample,
    approval_docx,
    material_docx,
    summary_docx,
)
from mailbot.intake.cycle import Runtime, record, save_raw
from mailbot.store.models import Message
from mailbot.timefmt import OFFICE_ZONE
from mailbot.web import create_app

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
OFFICE = "office@test.example"
PASSWORD = "工会-办公室-2022"
ON_TIME = datetime(2022, 10, 9, 10, 0, tzinfo=OFFICE_ZONE)
LATE = datetime(2022, 10, 11, 9, 0, tzinfo=OFFICE_ZONE)
ROSTER_UNIT = "马克思主义学院"  # on the roster of `campaign(roster=True)`, never writes


def campaign(tmp_path: Path, *, roster: bool = False) -> Campaign:
    """The real campaign; with `roster`, one extra roster unit that never writes in."""
    if not roster:
        return load_rules(RULES)
    text = RULES.read_text(encoding="utf-8")
    text += f'\n[[units]]\nname = "{ROSTER_UNIT}"\nemails = ["makesi@test.example"]\n'
    path = tmp_path / "rules-with-roster.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


def make_runtime(tmp_path: Path, *, roster: bool = False, password: str = PASSWORD) -> Runtime:
    settings = Settings(state_dir=tmp_path / "state", from_address=OFFICE,
                        office_email="clerk@test.example", office_password=password)
    return Runtime(settings, campaign(tmp_path, roster=roster))


def full_set(studio: StudioSample = SAMPLE_STUDIOS[0], words: int = 1500,
             ) -> list[tuple[str, bytes]]:
    return [("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),
            ("附件2-推荐审批表.docx", approval_docx(studio)),
            ("附件3-申报材料.docx", material_docx(studio, words))]


def deliver(runtime: Runtime, sender: str, files: Sequence[tuple[str, bytes]], *,
            received: datetime = ON_TIME, subject: str = "工作室申报材料",
            style: ClientStyle = "rfc2231") -> Message:
    """One applicant's mail through the real intake, as the poller records it."""
    # The body names the call, so that the mail is the campaign's whatever its subject.
    raw = build_mail(sender=sender, to=OFFICE, subject=subject, body="请查收申报材料。",
                     attachments=files, style=style, date=received)
    message, _new = record(runtime, raw, save_raw(runtime.settings.state_dir, raw), received)
    return message


def campaign_state(runtime: Runtime) -> None:
    """A small campaign: one complete unit, one missing a form, one late, one question."""
    first, second, third = SAMPLE_STUDIOS[:3]
    deliver(runtime, "jidian@test.example", full_set(first), style="outlook")
    deliver(runtime, "xinxi@test.example", full_set(second)[:2], style="qq",
            received=ON_TIME.replace(hour=11))
    deliver(runtime, "houqin@test.example", full_set(third), received=LATE)
    deliver(runtime, "renshi@test.example", [], subject="请问申报截止时间？",
            received=ON_TIME.replace(hour=8))


def app_for(runtime: Runtime, **kwargs: object) -> Flask:
    app = create_app(runtime.settings, runtime.campaign, runtime=runtime, **kwargs)  # type: ignore[arg-type]
    app.config["TESTING"] = True
    return app


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: FlaskClient, password: str = PASSWORD) -> FlaskClient:
    page = client.get("/login").get_data(as_text=True)
    answer = client.post("/login", data={"csrf_token": csrf_of(page), "password": password})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def page_csrf(client: FlaskClient, path: str = "/") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))


def without_password(runtime: Runtime) -> Settings:
    return replace(runtime.settings, office_password="")
