"""Dashboard sessions against a real `mailbot serve` child, restarted between the steps: a
logout and a password change stay final in the new process; HEAD never logs in or counts; behind
a trusted proxy one attacker's guesses do not lock the office out; hostile URLs are not 5xx."""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import selectors
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_serve import ROOT, NoRedirect
from web_support import campaign_state, make_runtime

from mailbot.web import auth

BOUND = 60.0  # seconds: generous bounds on a child under load, never a measurement
FIRST, SECOND = "第一个办公室口令", "第二个办公室口令"


class Served:
    """`mailbot serve --port 0` on one state dir; `restart` starts a new process on it."""

    def __init__(self, state: Path, cwd: Path) -> None:
        self.state, self.cwd = state, cwd
        self.child: subprocess.Popen[str] | None = None
        self.base = ""

    def start(self, password: str, **extra: str) -> Served:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
        env.update(MAILBOT_STATE_DIR=str(self.state), MAILBOT_OFFICE_PASSWORD=password,
                   MAILBOT_RULES=str(ROOT / "rules" / "laomo-gongjiang-2022.toml"), **extra)
        child = subprocess.Popen([sys.executable, "-m", "mailbot", "serve", "--port", "0"],
                                 cwd=self.cwd, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        self.child = child
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            assert selector.select(BOUND), "no URL line from `mailbot serve`"
        line = child.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line + (child.stderr.read() if child.stderr else "")
        self.base = found.group(0)
        return self

    def stop(self) -> None:
        if self.child is None:
            return
        child, self.child = self.child, None
        child.send_signal(signal.SIGTERM)
        try:
            assert child.wait(timeout=BOUND) == 0
        finally:
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=BOUND)

    def restart(self, password: str, **extra: str) -> Served:
        self.stop()
        return self.start(password, **extra)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    runtime = make_runtime(tmp_path)
    campaign_state(runtime)
    server = Served(runtime.settings.state_dir, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def browser() -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar)), jar


def status(opener: urllib.request.OpenerDirector, url: str, data: bytes | None = None,
           headers: dict[str, str] | None = None) -> int:
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers or {}),
                         timeout=BOUND) as answer:
            code: int = answer.status
            return code
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code


def form_token(opener: urllib.request.OpenerDirector, base: str,
               headers: dict[str, str] | None = None) -> str:
    request = urllib.request.Request(base + "/login", headers=headers or {})
    with opener.open(request, timeout=BOUND) as answer:
        page = answer.read().decode()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def log_in(base: str, password: str, headers: dict[str, str] | None = None,
           ) -> tuple[int, urllib.request.OpenerDirector, str]:
    """A new browser logs in; (status of the POST, the browser, its session cookie)."""
    opener, jar = browser()
    token = form_token(opener, base, headers)
    form = urllib.parse.urlencode({"csrf_token": token, "password": password}).encode()
    code = status(opener, base + "/login", form, headers)
    cookie = next((c.value for c in jar if c.name == "mailbot_session"), "")
    return code, opener, cookie


def with_cookie(base: str, path: str, cookie: str) -> int:
    opener = urllib.request.build_opener(NoRedirect)
    return status(opener, base + path, headers={"Cookie": f"mailbot_session={cookie}"})


def test_logout_and_a_password_change_stay_final_across_restarts(served: Served) -> None:
    served.start(FIRST)
    code, leaving, left = log_in(served.base, FIRST)
    assert code == 302
    code, _staying, stayed = log_in(served.base, FIRST)
    assert code == 302 and with_cookie(served.base, "/", stayed) == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      leaving.open(served.base + "/", timeout=BOUND).read().decode())
    assert token is not None
    assert status(leaving, served.base + "/logout",
                  urllib.parse.urlencode({"csrf_token": token.group(1)}).encode()) == 302

    served.restart(FIRST)
    assert with_cookie(served.base, "/", left) == 302  # logged out before the restart
    assert with_cookie(served.base, "/", stayed) == 200  # the restart alone ends nothing

    served.restart(SECOND)
    assert with_cookie(served.base, "/", stayed) == 302  # a new password ends every session
    served.restart(FIRST)
    assert with_cookie(served.base, "/", stayed) == 302  # and the old one does not revive it
    assert log_in(served.base, FIRST)[0] == 302


def test_head_login_with_a_password_body_neither_logs_in_nor_counts(served: Served) -> None:
    served.start(FIRST)
    opener, jar = browser()
    token = form_token(opener, served.base)
    cookie = next(c.value for c in jar if c.name == "mailbot_session")
    host = urllib.parse.urlsplit(served.base)
    for password in (FIRST, "guess") * 4:
        connection = http.client.HTTPConnection(host.hostname or "", host.port, timeout=BOUND)
        body = urllib.parse.urlencode({"csrf_token": token, "password": password})
        connection.request("HEAD", "/login", body=body, headers={
            "Cookie": f"mailbot_session={cookie}",
            "Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        assert answer.status == 200 and answer.read() == b""
        given = re.search(r"mailbot_session=([^;]+)", answer.getheader("Set-Cookie") or "")
        cookie = given.group(1) if given else cookie  # what a browser would keep
        connection.close()
        assert with_cookie(served.base, "/", cookie) == 302  # the right password did not log in
    assert log_in(served.base, FIRST)[0] == 302  # and eight HEADs did not slow anybody down


def test_behind_a_trusted_proxy_an_attacker_does_not_lock_out_the_office(
        served: Served) -> None:
    # The child listens on 127.0.0.1: our requests come "from the proxy" there.
    served.start(FIRST, MAILBOT_TRUSTED_PROXIES="127.0.0.1")
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    codes = [log_in(served.base, "guess", attacker)[0] for _ in range(auth.FREE_FAILURES + 2)]
    assert codes == [401] * auth.FREE_FAILURES + [429, 429]
    assert log_in(served.base, FIRST, {"X-Forwarded-For": "198.51.100.7"})[0] == 302


def test_without_trusted_proxies_everyone_counts_as_the_peer(served: Served) -> None:
    served.start(FIRST)
    codes = [log_in(served.base, "guess", {"X-Forwarded-For": f"192.0.2.{n}"})[0]
             for n in range(auth.FREE_FAILURES + 1)]
    assert codes == [401] * auth.FREE_FAILURES + [429]  # a forged header buys nothing


def test_hostile_urls_are_4xx_never_5xx(served: Served) -> None:
    served.start(FIRST)
    code, _opener, cookie = log_in(served.base, FIRST)
    assert code == 302
    for path in ("/files/99999999999999999999999", "/units/99999999999999999999999",
                 "/messages/9223372036854775808/raw.eml", "/replies/-1", "/files/%00"):
        assert with_cookie(served.base, path, cookie) == 404, path
    assert with_cookie(served.base, "/login?next=/%0D%0ASet-Cookie:%20x=1", cookie) == 302
    anonymous, _jar = browser()
    assert status(anonymous, served.base + "/login?next=/%0D%0ALocation:%20//evil") == 200
