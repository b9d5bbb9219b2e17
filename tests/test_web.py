"""The dashboard through Flask's test client: the login, the refusals, CSRF, and every page
showing what the real intake recorded."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from web_support import (
    ON_TIME,
    PASSWORD,
    ROSTER_UNIT,
    app_for,
    campaign_state,
    csrf_of,
    deliver,
    full_set,
    login,
    make_runtime,
    page_csrf,
)

from mailbot.demo.samples import SAMPLE_STUDIOS
from mailbot.errors import ConfigError
from mailbot.intake.cycle import Runtime
from mailbot.store.models import Document, Unit, UnitAddress
from mailbot.web import auth, create_app

NOW = datetime(2022, 10, 8, 12, 0, tzinfo=UTC)  # 2022-10-08 20:00 in Shanghai


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    runtime = make_runtime(tmp_path, roster=True)
    campaign_state(runtime)
    return runtime


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return app_for(runtime, clock=lambda: NOW)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return login(app.test_client())


def _url(rule: object) -> str:
    """A concrete URL for a rule, with a made-up value for each argument."""
    from werkzeug.routing import Rule

    assert isinstance(rule, Rule)
    values = {name: 1 for name in rule.arguments}
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


def test_every_route_refuses_a_request_without_a_session(app: Flask) -> None:
    # The rule: no session → GET/HEAD are sent to the login page (302), anything else is 403.
    routes = [rule for rule in app.url_map.iter_rules()
              if rule.endpoint not in ("auth.login", "status.page")]  # status: tests below
    assert len(routes) >= 12, [r.rule for r in routes]
    for anonymous in (app.test_client(), _pre_login_client(app)):
        for rule in routes:
            url = _url(rule)
            for method in sorted((rule.methods or set()) - {"OPTIONS"}):
                answer = anonymous.open(url, method=method)
                if method in ("GET", "HEAD"):
                    assert answer.status_code == 302, (method, url)
                    assert answer.headers["Location"].startswith("/login?next="), url
                else:
                    assert answer.status_code == 403, (method, url)
                assert b"PK" not in answer.data[:2] and "xlsx" not in answer.content_type
    # An unknown address is refused the same way: nothing tells a stranger what exists.
    assert app.test_client().get("/no/such/page").status_code == 302


def _pre_login_client(app: Flask) -> FlaskClient:
    """A visitor who opened the login page: has a session cookie, but no login in it."""
    visitor = app.test_client()
    visitor.get("/login")
    return visitor


def test_login_with_the_right_password_then_logout_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/").status_code == 302
    page = client.get("/login?next=/units").get_data(as_text=True)
    assert "办公室密码" in page
    answer = client.post("/login", data={"csrf_token": csrf_of(page), "password": PASSWORD,
                                         "next": "/units"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/units"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "mailbot_session=" in cookie
    assert client.get("/").status_code == 200
    stolen = client.get_cookie("mailbot_session")
    assert stolen is not None
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert client.get("/").status_code == 302
    # The old cookie, replayed after logout, is refused too.
    replay = app.test_client()
    replay.set_cookie("mailbot_session", stolen.value)
    assert replay.get("/").status_code == 302


def test_wrong_password_is_refused_and_repeated_failures_slow_down(app: Flask) -> None:
    gate: auth.Gate = app.extensions["mailbot.gate"]
    clock = {"now": 100.0}
    gate.throttle.clock = lambda: clock["now"]
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for _ in range(auth.FREE_FAILURES):
        wrong = client.post("/login", data={"csrf_token": token, "password": "guess"})
        assert wrong.status_code == 401 and "密码不正确" in wrong.get_data(as_text=True)
    # Now even the right password waits: the throttle answers before checking anything.
    slowed = client.post("/login", data={"csrf_token": token, "password": PASSWORD})
    assert slowed.status_code == 429 and "秒后再试" in slowed.get_data(as_text=True)
    clock["now"] += 3
    assert client.post("/login", data={"csrf_token": token,
                                       "password": PASSWORD}).status_code == 302
    assert client.get("/").status_code == 200


def test_login_refuses_a_form_without_its_csrf_token(app: Flask) -> None:
    client = app.test_client()
    client.get("/login")
    answer = client.post("/login", data={"password": PASSWORD})
    assert answer.status_code == 400 and "刷新页面" in answer.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_every_post_needs_the_csrf_token_even_when_logged_in(client: FlaskClient,
                                                             runtime: Runtime) -> None:
    unit_id = _unit_id(runtime, "jidian@test.example")
    for url in (f"/units/{unit_id}/paper", "/messages/1/reprocess", "/logout"):
        assert client.post(url, data={"action": "mark", "date": "2022-10-08"}).status_code == 400
        assert client.post(url, data={"csrf_token": "forged", "date": "2022-10-08"}
                           ).status_code == 400
    with runtime.sessions() as session:
        assert session.get(Unit, unit_id).paper_received_at is None  # type: ignore[union-attr]
    assert client.get("/").status_code == 200  # and the forged logout did not log us out


def test_login_never_redirects_to_another_site(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        answer = client.post("/login", data={"csrf_token": token, "password": PASSWORD,
                                             "next": target})
        assert answer.headers["Location"] == "/", target
        client.post("/logout", data={"csrf_token": page_csrf(client)})
        token = csrf_of(client.get("/login").get_data(as_text=True))


def test_the_password_may_be_configured_as_its_hash(tmp_path: Path) -> None:
    hashed = auth.hash_password("另一个密码")
    assert hashed.startswith("scrypt:") and "另一个密码" not in hashed
    runtime = make_runtime(tmp_path, password=hashed)
    app = app_for(runtime)
    login(app.test_client(), "另一个密码")
    # The hash itself is not a password.
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"csrf_token": token,
                                       "password": hashed}).status_code == 401


def test_a_plain_password_is_kept_only_as_a_hash(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    app = create_app(runtime.settings, runtime.campaign)  # as `mailbot serve` builds it
    gate: auth.Gate = app.extensions["mailbot.gate"]
    assert auth.is_hashed(gate.password_hash) and PASSWORD not in gate.password_hash
    served: Runtime = app.extensions["mailbot.runtime"]
    assert served.settings.office_password == ""


def test_no_password_configured_is_a_clear_error(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, password="")
    with pytest.raises(ConfigError, match="MAILBOT_OFFICE_PASSWORD"):
        create_app(runtime.settings, runtime.campaign, runtime=runtime)


def test_the_cookie_key_is_private_and_survives_a_restart(runtime: Runtime) -> None:
    first = app_for(runtime)
    client = login(first.test_client())
    key_file = runtime.settings.state_dir / auth.SECRET_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    cookie = client.get_cookie("mailbot_session")
    assert cookie is not None
    restarted = app_for(runtime).test_client()  # a new process would read the same key
    restarted.set_cookie("mailbot_session", cookie.value)
    assert restarted.get("/").status_code == 200


def test_security_headers_on_every_page(client: FlaskClient) -> None:
    answer = client.get("/")
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "<script" not in answer.get_data(as_text=True)


def test_overview_counts_units_and_time_left(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'id="count-complete">2<' in page  # jidian on time, houqin late but complete
    assert 'id="count-incomplete">1<' in page  # xinxi missing 附件3 (renshi only asked: 咨询)
    assert 'id="count-waiting">1<' in page  # renshi's question awaits an answer
    assert 'id="count-silent">1<' in page  # the roster unit that never wrote
    assert 'id="count-late">1<' in page
    assert 'id="count-quarantined">0<' in page
    assert "还剩 1 天 21 小时" in page  # 2022-10-08 20:00 → 2022-10-10 17:30
    assert "2022-10-10 17:30:00" in page


def test_units_table_filters(client: FlaskClient) -> None:
    everything = client.get("/units").get_data(as_text=True)
    for name in ("中德智能制造学院", ROSTER_UNIT):
        assert name in everything
    assert "renshi@test.example" not in everything  # a question makes nobody a unit
    silent = client.get("/units?state=silent").get_data(as_text=True)
    assert ROSTER_UNIT in silent and "中德智能制造学院" not in silent
    late = client.get("/units?late=yes").get_data(as_text=True)
    assert "houqin@test.example" in late and "jidian@test.example" not in late
    found = client.get("/units?q=XINXI").get_data(as_text=True)
    assert "xinxi@test.example" in found and "jidian@test.example" not in found
    assert "没有符合条件的单位" in client.get("/units?paper=yes").get_data(as_text=True)
    assert client.get("/units?state=<script>").status_code == 200  # unknown filter: ignored


def test_unit_page_shows_mails_files_findings_replies_and_versions(
        client: FlaskClient, runtime: Runtime) -> None:
    # A second, corrected version of 附件3 supersedes the first.
    deliver(runtime, "xinxi@test.example", [full_set(SAMPLE_STUDIOS[1])[2]],
            received=ON_TIME.replace(hour=15), subject="补交附件3")
    page = client.get(f"/units/{_unit_id(runtime, 'xinxi@test.example')}").get_data(as_text=True)
    assert "附件1-推荐汇总表.docx" in page and "附件3-申报材料.docx" in page
    assert "补交附件3" in page and "受理" in page and "补正" in page
    assert "尚未收到附件3《申报材料》" in page  # the first mail's finding
    assert page.count("当前版本") == 3
    assert "补正通知" in page and "受理回执" in page  # the replies queued for each mail
    assert "待发送" in page  # no SMTP in this test: they wait in the outbox


def test_a_file_downloads_byte_for_byte_with_its_chinese_name(client: FlaskClient,
                                                              runtime: Runtime) -> None:
    page = client.get(f"/units/{_unit_id(runtime, 'jidian@test.example')}").get_data(as_text=True)
    link = page.split('href="/files/')[1].split('"')[0]
    with client.get(f"/files/{link}") as answer:
        assert answer.status_code == 200
        assert "filename*=UTF-8''%E9%99%84%E4%BB%B61" in answer.headers["Content-Disposition"]
        data = answer.data
    with runtime.sessions() as session:
        stored = session.get(Document, int(link))
        assert stored is not None and stored.filename == "附件1-推荐汇总表.docx"
        assert hashlib.sha256(data).hexdigest() == stored.sha256  # the bytes the applicant sent


def test_reply_page_shows_what_the_applicant_was_told(client: FlaskClient,
                                                      runtime: Runtime) -> None:
    page = client.get(f"/units/{_unit_id(runtime, 'jidian@test.example')}").get_data(as_text=True)
    reply = page.split('href="/replies/')[1].split('"')[0]
    text = client.get(f"/replies/{reply}").get_data(as_text=True)
    assert "回执编号" in text and "C3行政楼1307" in text


def test_workbook_download_is_the_current_workbook(client: FlaskClient) -> None:
    with client.get("/workbook.xlsx") as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/vnd.openxmlformats")
        assert "%E6%B1%87%E6%80%BB%E8%A1%A8.xlsx" in answer.headers["Content-Disposition"]
        book = openpyxl.load_workbook(io.BytesIO(answer.data))
    assert book.sheetnames == ["汇总", "单位进度", "收件记录"]
    assert len(list(book["收件记录"].iter_rows(min_row=2))) == 4


def test_marking_a_paper_copy_shows_on_the_page_and_in_the_workbook(
        client: FlaskClient, runtime: Runtime) -> None:
    unit_id = _unit_id(runtime, "jidian@test.example")
    token = page_csrf(client, f"/units/{unit_id}")
    future = client.post(f"/units/{unit_id}/paper", data={"csrf_token": token, "action": "mark",
                                                           "date": "2022-10-09"})
    assert "不晚于今天" in client.get(future.headers["Location"]).get_data(as_text=True)
    client.post(f"/units/{unit_id}/paper", data={"csrf_token": token, "action": "mark",
                                                 "date": "2022-10-07"})
    page = client.get(f"/units/{unit_id}").get_data(as_text=True)
    assert "已收到（2022-10-07）" in page
    rows = _sheet(runtime.settings.workbook_path, "单位进度")
    assert rows["中德智能制造学院"]["纸质版"] == "已收到（2022-10-07）"
    client.post(f"/units/{unit_id}/paper", data={"csrf_token": token, "action": "undo"})
    assert _sheet(runtime.settings.workbook_path, "单位进度")["中德智能制造学院"]["纸质版"] == "未收到"


def test_not_found_pages_are_plain_404s_once_logged_in(client: FlaskClient) -> None:
    for url in ("/units/999", "/messages/999", "/files/999", "/replies/999",
                "/messages/999/raw.eml"):
        answer = client.get(url)
        assert answer.status_code == 404 and "找不到" in answer.get_data(as_text=True), url


def _unit_id(runtime: Runtime, address: str) -> int:
    with runtime.sessions() as session:
        found = session.scalar(select(UnitAddress).where(UnitAddress.address == address))
        assert found is not None
        return found.unit_id


def _sheet(path: Path, name: str) -> dict[str, dict[str, object]]:
    rows = list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True))
    # Keyed by unit name, without the （名单外） flag of units not on the roster.
    return {str(row[0]).removesuffix("（名单外）"): dict(zip(rows[0], row, strict=True))
            for row in rows[1:]}


def test_the_dashboard_and_the_workbook_show_the_same_standing(tmp_path: Path) -> None:
    # A 附件3 of 2317 字 is received, with an error to correct: the workbook's 单位进度 and the
    # dashboard's units table and unit page read the same FormState, so neither says 未收.
    runtime = make_runtime(tmp_path)
    studio = SAMPLE_STUDIOS[0]
    deliver(runtime, "jidian@test.example", full_set(studio, words=2317))
    book = openpyxl.load_workbook(runtime.write_workbook())
    header, row = ([c.value for c in r] for r in book["单位进度"].iter_rows(max_row=2))
    in_workbook = dict(zip(header, row, strict=True))
    assert in_workbook["附件3"] == "1/1（待更正）" and in_workbook["附件1"] == "已收"
    assert in_workbook["状态"] == "未齐全"

    client = login(app_for(runtime, clock=lambda: NOW).test_client())
    units_page = client.get("/units").get_data(as_text=True)
    with runtime.sessions() as session:
        unit_id = session.scalars(select(Unit.id)).one()
    unit_page = client.get(f"/units/{unit_id}").get_data(as_text=True)
    for page in (units_page, unit_page):
        assert "1/1（待更正）" in page
        assert ">未收<" not in page and ">缺<" not in page
