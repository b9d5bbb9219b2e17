"""`mailbot serve` from the outside: a child process, plain HTTP from the standard library.

What an acceptance check does by hand with curl: the refusals without a session, the login, the
two downloads, a clean stop on SIGTERM, and the one-line errors of the command line.
"""

from __future__ import annotations

import http.cookiejar
import io
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from web_support import campaign_state, make_runtime

from mailbot.web.auth import hash_password

ROOT = Path(__file__).resolve().parent.parent
MAILBOT = [sys.executable, "-m", "mailbot"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # show the 302 itself


def environment(state: Path, password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(MAILBOT_STATE_DIR=str(state), MAILBOT_OFFICE_PASSWORD=password,
               MAILBOT_RULES=str(ROOT / "rules" / "laomo-gongjiang-2022.toml"))
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    runtime = make_runtime(tmp_path)
    campaign_state(runtime)
    child = subprocess.Popen(
        [*MAILBOT, "serve", "--port", "0"], cwd=tmp_path, text=True,
        env=environment(runtime.settings.state_dir, hash_password("外部检查口令")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    line = child.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, line + (child.stderr.read() if child.stderr else "")
    try:
        yield found.group(0).rstrip("/"), child
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)


def test_outside_refusals_login_and_downloads(served: tuple[str, subprocess.Popen[str]]) -> None:
    base, child = served
    anonymous = urllib.request.build_opener(NoRedirect)
    for path in ("/", "/units", "/workbook.xlsx", "/materials.zip", "/files/1", "/quarantine"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            anonymous.open(base + path, timeout=10)
        assert refused.value.code == 302, path
        assert refused.value.headers["Location"].startswith("/login?next="), path
    with pytest.raises(urllib.error.HTTPError) as refused:
        anonymous.open(urllib.request.Request(base + "/units/1/paper", data=b"action=mark"),
                       timeout=10)
    assert refused.value.code == 403

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_page = browser.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
    assert token is not None
    form = urllib.parse.urlencode({"csrf_token": token.group(1),
                                   "password": "外部检查口令"}).encode()
    overview = browser.open(base + "/login", data=form, timeout=10).read().decode()
    assert "材料已齐全" in overview
    [cookie] = [c for c in jar if c.name == "mailbot_session"]
    assert cookie.has_nonstandard_attr("HttpOnly")

    with browser.open(base + "/workbook.xlsx", timeout=30) as answer:
        book = openpyxl.load_workbook(io.BytesIO(answer.read()))
    assert book.sheetnames == ["汇总", "单位进度", "收件记录"]
    with browser.open(base + "/materials.zip", timeout=30) as answer:
        assert answer.headers.get("Transfer-Encoding") == "chunked"  # streamed, no length
        names = zipfile.ZipFile(io.BytesIO(answer.read())).namelist()
    assert "中德智能制造学院/附件1-推荐汇总表.docx" in names

    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=10) == 0


def test_serve_without_a_password_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([*MAILBOT, "serve", "--port", "0"], cwd=tmp_path, text=True,
                          env=environment(tmp_path / "state", ""), capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "MAILBOT_OFFICE_PASSWORD" in done.stderr


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*MAILBOT, "serve", "--port", str(port)], cwd=tmp_path,
                              text=True, env=environment(tmp_path / "state", "x"),
                              capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in done.stderr


def test_hash_password_prints_a_hash_the_dashboard_accepts(tmp_path: Path) -> None:
    done = subprocess.run([*MAILBOT, "serve", "--hash-password"], cwd=tmp_path, text=True,
                          input="办公室口令\n", capture_output=True, timeout=60, check=True)
    hashed = done.stdout.strip()
    assert hashed.startswith("scrypt:") and "办公室口令" not in done.stdout
    from werkzeug.security import check_password_hash

    assert check_password_hash(hashed, "办公室口令")


def test_demo_serve_keeps_the_dashboard_up_with_a_printed_password(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [*MAILBOT, "demo", "--serve", "--port", "0", "--state-dir", str(tmp_path / "demo")],
        cwd=tmp_path, text=True, env=environment(tmp_path / "unused", ""),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    try:
        for line in child.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+)/\s+登录密码：(\S+?)（", line)
            if found:
                break
        else:
            pytest.fail("no dashboard line: " + (child.stderr.read() if child.stderr else ""))
        base, password = found.groups()
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = browser.open(base + "/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = urllib.parse.urlencode({"csrf_token": token.group(1), "password": password})
        overview = browser.open(base + "/login", data=form.encode(), timeout=10).read().decode()
        assert "材料已齐全" in overview
        units = browser.open(base + "/units", timeout=10).read().decode()
        assert "中德智能制造学院" in units and "继续教育学院" in units  # the demo's units
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)
