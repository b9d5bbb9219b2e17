"""Dashboard sessions and the login through Flask's test client: logout and a password change
are final across a restart (web/sessions.py), only POST checks a password, the throttle counts
each client (behind trusted proxies too) atomically, and no hostile URL is a 5xx."""

from __future__ import annotations

import json
import os
import stat
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_support import (
    PASSWORD,
    app_for,
    campaign_state,
    csrf_of,
    login,
    make_runtime,
    page_csrf,
)
from werkzeug.routing import Rule

from mailbot.config import load_settings
from mailbot.errors import ConfigError
from mailbot.intake.cycle import Runtime
from mailbot.web import auth
from mailbot.web.clients import client_address, networks
from mailbot.web.sessions import SESSIONS_FILE

ATTACKER, OFFICE_PC, PROXY = "203.0.113.9", "198.51.100.7", "10.0.0.5"


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    runtime = make_runtime(tmp_path, roster=True)
    campaign_state(runtime)
    return runtime


def frozen(app: Flask) -> Flask:
    """No time passes for the throttle: what it allows depends on counts alone."""
    gate: auth.Gate = app.extensions["mailbot.gate"]
    gate.throttle.clock = lambda: 1000.0
    return app


def cookie_of(client: FlaskClient) -> str:
    found = client.get_cookie("mailbot_session")
    assert found is not None
    return found.value


def replay(app: Flask, cookie: str) -> int:
    """The status of the overview for a browser holding only this cookie."""
    browser = app.test_client()
    browser.set_cookie("mailbot_session", cookie)
    return browser.get("/").status_code


# --- revocation that survives a restart ---------------------------------------------------

def test_logout_stays_final_after_a_restart(runtime: Runtime) -> None:
    first = app_for(runtime)
    leaving, staying = login(first.test_client()), login(first.test_client())
    left, stayed = cookie_of(leaving), cookie_of(staying)
    leaving.post("/logout", data={"csrf_token": page_csrf(leaving)})
    restarted = app_for(runtime)  # a new process reads the same state dir
    assert replay(restarted, left) == 302  # logged out: refused, also after the restart
    assert replay(restarted, stayed) == 200  # a restart alone ends nobody's session
    kept = runtime.settings.state_dir / SESSIONS_FILE
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert set(data) == {"password", "sessions"} and len(data["sessions"]) == 1  # ids only


def test_a_new_password_ends_every_earlier_session_even_when_changed_back(
        runtime: Runtime) -> None:
    cookie = cookie_of(login(app_for(runtime).test_client()))
    changed = replace(runtime.settings, office_password="新的办公室密码")
    other = app_for(Runtime(changed, runtime.campaign))
    assert replay(other, cookie) == 302
    login(other.test_client(), "新的办公室密码")  # the new password works
    back = app_for(runtime)  # the old password again
    assert replay(back, cookie) == 302  # …does not revive the sessions it had


def test_a_logout_in_one_process_is_seen_at_once_by_another(runtime: Runtime) -> None:
    one, other = app_for(runtime), app_for(runtime)  # two `mailbot serve` on one state dir
    client = login(one.test_client())
    cookie = cookie_of(client)
    assert replay(other, cookie) == 200
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert replay(other, cookie) == 302


def test_trusted_proxies_setting_is_parsed_and_checked() -> None:
    settings = load_settings(environ={"MAILBOT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8 ::1"})
    assert settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    with pytest.raises(ConfigError, match=r"MAILBOT_TRUSTED_PROXIES.*nginx"):
        load_settings(environ={"MAILBOT_TRUSTED_PROXIES": "nginx"})
    assert load_settings(environ={}).trusted_proxies == ()


def test_a_damaged_session_list_logs_everybody_out_and_nobody_in(runtime: Runtime) -> None:
    cookie = cookie_of(login(app_for(runtime).test_client()))
    (runtime.settings.state_dir / SESSIONS_FILE).write_text("{not json", encoding="utf-8")
    app = app_for(runtime)
    assert replay(app, cookie) == 302
    login(app.test_client())  # and logging in again mends it


# --- only POST checks a password ----------------------------------------------------------

def test_head_with_a_password_neither_logs_in_nor_counts_as_a_try(runtime: Runtime) -> None:
    app = frozen(app_for(runtime))
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for password in (PASSWORD, "guess") * 5:
        answer = client.open("/login", method="HEAD",
                             data={"csrf_token": token, "password": password})
        assert answer.status_code == 200 and answer.data == b""
    assert client.get("/").status_code == 302  # not logged in by the right password
    gate: auth.Gate = app.extensions["mailbot.gate"]
    assert gate.throttle._failures == {}  # ten HEADs, no failure counted
    assert client.post("/login", data={"csrf_token": token,
                                       "password": PASSWORD}).status_code == 302


# --- the throttle: per client, atomic, behind trusted proxies -----------------------------

def test_parallel_guesses_from_one_client_get_only_the_free_tries(runtime: Runtime) -> None:
    app = frozen(app_for(runtime))
    clients = [app.test_client() for _ in range(12)]
    tokens = [csrf_of(c.get("/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(len(clients))
    codes: list[int] = []

    def guess(client: FlaskClient, token: str) -> None:
        start.wait()
        codes.append(client.post("/login", data={"csrf_token": token,
                                                 "password": "guess"}).status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens,
                                                                         strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(codes) == [401] * auth.FREE_FAILURES + [429] * (12 - auth.FREE_FAILURES)
    # Another client is not slowed down by them.
    other = app.test_client()
    token = csrf_of(other.get("/login").get_data(as_text=True))
    assert other.post("/login", data={"csrf_token": token, "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": OFFICE_PC}).status_code == 302


def _try(app: Flask, password: str, peer: str, forwarded: str = "") -> int:
    client = app.test_client()
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    token = csrf_of(client.get("/login", environ_base={"REMOTE_ADDR": peer},
                               headers=headers).get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "password": password},
                       environ_base={"REMOTE_ADDR": peer}, headers=headers).status_code


def test_behind_a_trusted_proxy_one_attacker_does_not_lock_out_the_office(
        tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    settings = replace(runtime.settings, trusted_proxies=("10.0.0.0/24",))
    app = frozen(app_for(Runtime(settings, runtime.campaign)))
    for _ in range(auth.FREE_FAILURES):
        assert _try(app, "guess", PROXY, ATTACKER) == 401
    assert _try(app, "guess", PROXY, ATTACKER) == 429
    # Writing another address to the left changes nothing: the proxy appended the real one.
    assert _try(app, "guess", PROXY, f"192.0.2.1, {ATTACKER}") == 429
    # The office, through the same proxy, logs in at once.
    assert _try(app, PASSWORD, PROXY, OFFICE_PC) == 302


def test_without_trusted_proxies_a_forged_header_buys_no_fresh_tries(runtime: Runtime) -> None:
    app = frozen(app_for(runtime))
    codes = [_try(app, "guess", ATTACKER, f"192.0.2.{n}") for n in range(6)]
    assert codes == [401] * auth.FREE_FAILURES + [429] * (6 - auth.FREE_FAILURES)


def test_the_client_is_the_right_most_untrusted_hop() -> None:
    trusted = networks(["10.0.0.0/8", "::1"])
    assert client_address("192.0.2.1", "198.51.100.1", trusted) == "192.0.2.1"  # not a proxy
    assert client_address("10.0.0.1", "6.6.6.6, 198.51.100.1, 10.2.3.4", trusted) == \
        "198.51.100.1"
    assert client_address("::1", "[2001:db8::5]:4711", trusted) == "2001:db8::5"
    assert client_address("10.0.0.1", "198.51.100.1:8080", trusted) == "198.51.100.1"
    assert client_address("10.0.0.1", "10.0.0.9, 10.0.0.8", trusted) == "10.0.0.9"
    assert client_address("10.0.0.1", "", trusted) == "10.0.0.1"
    assert client_address("10.0.0.1", "1.2.3.4, unknown", trusted) == "unknown"
    assert client_address("10.0.0.1", "x" * 500, trusted) == "x" * 64


# --- no hostile URL is a server error -----------------------------------------------------

HOSTILE = ("99999999999999999999999", str(2**63), str(2**63 - 1), "-1", "0", "007", "1.5",
           "１", "abc", "%00", "%0D%0ASet-Cookie:%20x=1", "..%2F..%2Fetc%2Fpasswd", "%2F",
           "%E6%9C%BA%E7%94%B5", "%FF%FE", "%ED%A0%80", "1%20", "x" * 3000, "1")
HOSTILE_QUERY = ("?next=/%0D%0ALocation:%20//evil.example&q=%00%FF&state=%0A&late=x"
                 "&paper=%ED%A0%80&campaign=../../x&date=9999-99-99")
HOSTILE_FORM = {"date": ["9999-12-31", "0001-01-01", "2022-13-45", "\x00", "９" * 10, "x" * 5000],
                "action": ["undo", "mark", "\r\n", ""],
                "unit": ["1", str(2**63), "-1", "１", "\x00"], "campaign": ["", "../x"],
                "reason": ["\x00", "x" * 5000], "address": ["\r\nBcc: x@evil.example", "a@b"],
                "note": ["\x00", ""]}


def _urls(rule: Rule) -> list[str]:
    """The rule's path with each argument replaced by each hostile value (the others: 1).
    Arguments given by the rule's defaults (`/bundle.pdf`: unit_id=None) are not in its path."""
    in_path = set(rule.arguments) - set(rule.defaults or {})
    if not in_path:
        return [rule.rule]
    urls = []
    for name in sorted(in_path):
        for value in HOSTILE:
            path = rule.rule
            for other in in_path:
                shown = value if other == name else "1"
                path = _fill(path, other, shown)
            urls.append(path)
    return urls


def _fill(path: str, argument: str, value: str) -> str:
    start = path.index("<")
    while not path[start:].split(">")[0].endswith((f":{argument}", f"<{argument}")):
        start = path.index("<", start + 1)
    end = path.index(">", start)
    return path[:start] + value + path[end + 1:]


def test_hostile_values_for_every_route_never_give_a_server_error(runtime: Runtime) -> None:
    app = app_for(runtime)
    app.config["TESTING"] = False  # a bug must show as the 500 a user would get
    client = login(app.test_client())
    token = page_csrf(client)
    checked = _walk(app, client, token) + _walk(app, app.test_client(), "")  # and anonymous
    assert checked > 600
    assert client.get("/").status_code == 200  # still logged in: nothing above logged us out
    assert client.get("/files/99999999999999999999999").status_code == 404
    assert client.get("/units/" + str(2**63)).status_code == 404


def _walk(app: Flask, client: FlaskClient, token: str) -> int:
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("auth.logout", "static"):
            continue  # logging out would end the walk; tested on its own
        for url in _urls(rule):
            for method in sorted((rule.methods or set()) - {"OPTIONS"}):
                forms = [{}] if method != "POST" else [
                    {key: value} for key, values in HOSTILE_FORM.items() for value in values]
                for form in forms:
                    answer = client.open(url + HOSTILE_QUERY, method=method,
                                         data={"csrf_token": token, **form})
                    answer.close()  # as a server would: a streamed file is closed here
                    assert answer.status_code < 500, (method, url, form)
                    checked += 1
    return checked


@pytest.mark.parametrize("target", [
    "/\r\nSet-Cookie: x=1", "/\t/evil.example", "/%0D%0A", "//evil.example", "///evil.example",
    "https://evil.example/", "javascript:alert(1)", "/\\evil.example", " /units", "/units ",
    "/\u2028/evil.example", "\x00/units", "/" + "x" * 3000])
def test_a_malformed_next_goes_to_the_overview(runtime: Runtime, target: str) -> None:
    app = app_for(runtime)
    client = app.test_client()
    page = client.get("/login?next=" + quote(target, safe=""))
    assert page.status_code == 200
    answer = client.post("/login", data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                                         "password": PASSWORD, "next": target})
    assert answer.status_code == 302
    expected = "/%0D%0A" if target == "/%0D%0A" else "/"  # percent-escaped text is a path
    assert answer.headers["Location"] == expected, target
    # Logged in, the login page with the same `next` redirects, never a 500.
    assert client.get("/login?next=" + quote(target, safe="")).status_code == 302


def test_a_chinese_next_is_kept_percent_encoded(runtime: Runtime) -> None:
    client = app_for(runtime).test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"csrf_token": token, "password": PASSWORD,
                                         "next": "/units?q=机电"})
    assert answer.headers["Location"] == "/units?q=%E6%9C%BA%E7%94%B5"
