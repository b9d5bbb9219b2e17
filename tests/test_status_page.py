"""A unit's own status page: every reply carries the link, the page shows that unit and no other,
and a tampered, revoked or replaced token is a 404. Mail goes through Dovecot and the relay; the
pages are the real dashboard application."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from intake_support import body, make_bot
from servers import Dovecot, SmtpRelay
from sqlalchemy import select
from web_support import PASSWORD, full_set, login, page_csrf

from mailbot.demo.samples import SAMPLE_STUDIOS
from mailbot.intake.cycle import Runtime
from mailbot.store.models import Unit
from mailbot.web import create_app

pytestmark = pytest.mark.dovecot
PUBLIC = "https://shenbao.test.example"
LINK = re.compile(re.escape(PUBLIC) + r"/s/([A-Za-z0-9_-]+)")


def _token(mail_text: str) -> str:
    found = LINK.search(mail_text)
    assert found, mail_text
    return found.group(1)


def test_replies_carry_a_link_to_the_units_own_page(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                    tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    bot.public_url = PUBLIC
    first, second = SAMPLE_STUDIOS[:2]
    bot.submit("jidian@test.example", full_set(first))
    bot.submit("xinxi@test.example", full_set(second)[:2])  # 附件3 missing
    assert bot.poll().results == {"受理": 1, "补正": 1}
    [accepted] = bot.replies("jidian@test.example")
    [correction] = bot.replies("xinxi@test.example")
    token_a, token_b = _token(body(accepted)), _token(body(correction))
    assert token_a != token_b and len(token_a) >= 20

    runtime = Runtime(replace(bot.settings, office_password=PASSWORD), bot.campaign)
    app = create_app(runtime.settings, bot.campaign, runtime=runtime)
    app.config["TESTING"] = True
    anonymous = app.test_client()
    page_a = anonymous.get(f"/s/{token_a}")
    assert page_a.status_code == 200 and page_a.headers["Referrer-Policy"] == "no-referrer"
    text_a = page_a.get_data(as_text=True)
    assert first.unit in text_a and "已齐全" in text_a and "附件3-申报材料.docx" in text_a
    assert second.unit not in text_a and "xinxi@" not in text_a
    text_b = anonymous.get(f"/s/{token_b}").get_data(as_text=True)
    assert second.unit in text_b and first.unit not in text_b
    assert "未齐全" in text_b and "未收" in text_b and "附件3" in text_b  # what is still missing

    tampered = token_a[:-1] + ("A" if token_a[-1] != "A" else "B")
    for wrong in (tampered, token_a.upper(), "x" * 22, "a-b_c" * 5, "a" * 65, "%00" * 8):
        assert anonymous.get(f"/s/{wrong}").status_code == 404, wrong

    # The office revokes A's link, then reissues one: the old token stays dead.
    office = login(app.test_client())
    with runtime.sessions() as session:
        unit_a = session.scalars(select(Unit.id).where(Unit.status_token == token_a)).one()
    revoke = office.post(f"/units/{unit_a}/status-link",
                         data={"csrf_token": page_csrf(office), "action": "revoke"})
    assert revoke.status_code == 302
    assert anonymous.get(f"/s/{token_a}").status_code == 404
    assert anonymous.get(f"/s/{token_b}").status_code == 200  # other units are untouched
    office.post(f"/units/{unit_a}/status-link",
                data={"csrf_token": page_csrf(office), "action": "reissue"})
    with runtime.sessions() as session:
        fresh = session.get(Unit, unit_a)
        assert fresh is not None and fresh.status_token not in (None, token_a)
        new_token = fresh.status_token
    assert anonymous.get(f"/s/{token_a}").status_code == 404
    assert first.unit in anonymous.get(f"/s/{new_token}").get_data(as_text=True)
    unit_page = office.get(f"/units/{unit_a}").get_data(as_text=True)
    assert f"{PUBLIC}/s/{new_token}" in unit_page


def test_without_a_public_url_replies_carry_no_link(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                    tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    bot.submit("jidian@test.example", full_set(SAMPLE_STUDIOS[0]))
    bot.poll()
    [reply] = bot.replies("jidian@test.example")
    assert "/s/" not in body(reply) and "查看本单位的收件情况" not in body(reply)


def test_anonymous_client_is_still_refused_elsewhere(tmp_path: Path) -> None:
    from web_support import make_runtime

    runtime = make_runtime(tmp_path)
    client: FlaskClient = create_app(runtime.settings, runtime.campaign,
                                     runtime=runtime).test_client()
    assert client.get("/units").status_code == 302
    assert client.get("/s/" + "a" * 22).status_code == 404
