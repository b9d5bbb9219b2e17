"""A refused login is one line, then stop (mailbot.mail.logins): `poll` and `run` against a real
Dovecot with a wrong password, an SMTP server refusing AUTH, a server out of reach at startup,
a password changed under a running service; and a quarantined mail as one log line."""

from __future__ import annotations

import logging
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from intake_support import OFFICE, RULES, Bot, make_bot
from servers import Dovecot, SmtpRelay, free_port

from mailbot.campaign.rules import load_rules
from mailbot.cli.service import Service
from mailbot.config import ServerSettings
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.errors import LoginRefused, MailboxLoginRefused
from mailbot.intake import pipeline as intake
from mailbot.mail.idle import IdleWatcher
from mailbot.mail.logins import provider_hint

BOUND = 120.0  # seconds: a generous bound on a child process under load, never a measurement


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def mailbot(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbot", command], cwd=cwd, env=env,
                          text=True, capture_output=True, timeout=BOUND, check=False)


def a_mail_waits(bot: Bot) -> None:
    bot.dovecot.append(OFFICE, build_mail(
        sender="unit-a@test.example", to=OFFICE, subject="工作室申报材料", body="请查收。",
        attachments=[("附件2-推荐审批表.docx", approval_docx(SAMPLE_STUDIOS[0]))]))


def nothing_written(bot: Bot) -> None:
    """No workbook, no database, no kept mail; the mail on the server untouched."""
    made = sorted(p.name for p in bot.state_dir.rglob("*")) if bot.state_dir.exists() else []
    assert made == [], made
    assert all("$MailbotHandled" not in flags for flags in bot.dovecot.flags(OFFICE).values())
    assert bot.dovecot.messages("unit-a@test.example") == []  # nobody was answered


def test_provider_hints_name_the_authorisation_code() -> None:
    assert "授权码" in provider_hint("imap.qq.com", "bot@qq.com")
    assert "QQ 邮箱" in provider_hint("mail.example.org", "office@foxmail.com")
    assert "网易" in provider_hint("smtp.163.com", "x") and "授权码" in provider_hint(
        "imap.126.com", "")
    exmail = provider_hint("imap.exmail.qq.com", "office@sztu.edu.cn")
    assert "企业邮箱" in exmail and "客户端专用密码" in exmail
    assert provider_hint("mail.sztu.edu.cn", "office@sztu.edu.cn") == ""
    assert provider_hint("notqq.com", "a@evilqq.com") == ""  # a suffix, not a substring


def test_poll_with_a_wrong_imap_password_is_one_line_and_writes_nothing(
        bot: Bot, tmp_path: Path) -> None:
    a_mail_waits(bot)
    done = mailbot("poll", bot.environment(MAILBOT_IMAP_PASSWORD="wrong"), tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # no "本次收取 0 封", no workbook line
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    line = done.stderr
    assert line.startswith("mailbot: IMAP 登录被拒绝")
    assert f"127.0.0.1:{bot.dovecot.imap_port}" in line and OFFICE in line
    assert "AUTHENTICATIONFAILED" in line and "MAILBOT_IMAP_PASSWORD" in line
    assert "授权码" not in line  # not a QQ/NetEase server: no hint to mislead
    nothing_written(bot)

    # The same refusal for a QQ address carries the 授权码 hint, in Chinese, on the same line.
    done = mailbot("poll", bot.environment(MAILBOT_IMAP_PASSWORD="wrong",
                                           MAILBOT_IMAP_USER="office@qq.com"), tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "office@qq.com" in done.stderr and "授权码" in done.stderr
    nothing_written(bot)


def test_run_with_a_wrong_imap_password_exits_2_at_once(bot: Bot, tmp_path: Path) -> None:
    a_mail_waits(bot)
    done = mailbot("run", bot.environment(MAILBOT_IMAP_PASSWORD="wrong"), tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("mailbot: IMAP 登录被拒绝")
    nothing_written(bot)


def _refusing(code: str) -> Any:
    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False, message=code or None)
    return authenticator


class _Sink:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 Accepted"


@pytest.fixture
def refusing_smtp() -> Iterator[Controller]:
    """An SMTP server (aiosmtpd) whose AUTH refuses every password with 535."""
    controller = Controller(_Sink(), hostname="127.0.0.1", port=free_port(),
                            authenticator=_refusing(""), auth_require_tls=False)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def test_poll_with_a_wrong_smtp_password_is_one_line_and_writes_nothing(
        bot: Bot, refusing_smtp: Controller, tmp_path: Path) -> None:
    a_mail_waits(bot)
    env = bot.environment(MAILBOT_SMTP_PORT=str(refusing_smtp.port),
                          MAILBOT_SMTP_USER="office@163.com", MAILBOT_SMTP_PASSWORD="wrong")
    done = mailbot("poll", env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1
    line = done.stderr
    assert line.startswith("mailbot: SMTP 登录被拒绝")
    assert f"127.0.0.1:{refusing_smtp.port}" in line and "office@163.com" in line
    assert "535" in line and "网易" in line and "授权码" in line
    nothing_written(bot)


def test_a_temporary_smtp_auth_failure_is_retried_not_fatal(bot: Bot, tmp_path: Path) -> None:
    controller = Controller(_Sink(), hostname="127.0.0.1", port=free_port(),
                            authenticator=_refusing("454 4.7.0 Temporary authentication failure"),
                            auth_require_tls=False)
    controller.start()
    try:
        a_mail_waits(bot)
        env = bot.environment(MAILBOT_SMTP_PORT=str(controller.port),
                              MAILBOT_SMTP_USER="office", MAILBOT_SMTP_PASSWORD="right")
        done = mailbot("poll", env, tmp_path)
    finally:
        controller.stop()
    assert done.returncode == 0, done.stderr
    assert "本次收取 1 封" in done.stdout and "待发送 1" in done.stdout  # the reply waits


def test_run_waits_for_a_server_out_of_reach_then_serves(
        dovecot_binary: str, smtp_relay: SmtpRelay, tmp_path: Path) -> None:
    server = Dovecot(dovecot_binary)  # made, with its ports, but not started yet
    bot = Bot(server, smtp_relay, tmp_path / "state", load_rules(RULES))
    child = subprocess.Popen([sys.executable, "-m", "mailbot", "run"], cwd=tmp_path,
                             env=bot.environment(MAILBOT_RULES=str(RULES)), text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: queue.Queue[str] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)

    assert child.stderr is not None
    reader = threading.Thread(target=read, args=(child.stderr,), daemon=True)
    reader.start()

    def next_line_with(text: str) -> str:
        while True:
            line = lines.get(timeout=BOUND)
            if text in line:
                return line

    try:
        next_line_with("retrying in 1 s")
        next_line_with("retrying in 2 s")  # backing off, still running
        assert child.poll() is None and not bot.state_dir.exists()
        server.start()
        next_line_with("mailbot running")
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=BOUND) == 0
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=BOUND)
        reader.join(timeout=BOUND)  # at the end of the child's stderr
        child.stderr.close()
        server.close()


def test_a_password_changed_under_a_running_service_stops_it(bot: Bot) -> None:
    wrong = replace(bot.settings, imap=replace(bot.settings.imap, password="changed"))
    service = Service(wrong, bot.campaign)
    service.start()
    try:
        assert service.halt.wait(BOUND), "the refusal did not stop the service"
    finally:
        service.stop()
    assert isinstance(service.refused, MailboxLoginRefused)
    assert "\n" not in str(service.refused) and "登录被拒绝" in str(service.refused)


def test_the_idle_watcher_reports_a_refusal_and_ends(bot: Bot) -> None:
    told: list[LoginRefused] = []
    settings = replace(bot.settings, imap=ServerSettings(
        host=bot.dovecot.host, port=bot.dovecot.imap_port, user=OFFICE, password="changed",
        security="none"))
    idle = IdleWatcher(settings, lambda: None, on_refused=told.append)
    thread = threading.Thread(target=idle.run, daemon=True)
    thread.start()
    thread.join(timeout=BOUND)
    assert not thread.is_alive() and len(told) == 1 and idle.failures == 0


def test_a_quarantine_is_one_log_line_and_the_traceback_goes_to_the_state_log(
        bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # No real peer makes our own code fail on demand: the failure is planted here.
    def explode(*_args: object) -> object:
        raise RuntimeError("planted failure\nwith a second line")

    monkeypatch.setattr(intake, "read_document", explode)
    a_mail_waits(bot)
    with caplog.at_level(logging.INFO):
        assert bot.poll().results == {"隔离": 1}
    said = [r for r in caplog.records  # (an upgrade logs its revision names: not ours)
            if r.name.startswith("mailbot") and "quarantined" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None
    text = said[0].getMessage()
    assert "\n" not in text and "planted failure with a second line" in text
    assert "Traceback" not in caplog.text
    kept = bot.state_dir / "mailbot.log"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600 and str(kept) in text
    details = kept.read_text(encoding="utf-8")
    assert "Traceback" in details and "planted failure" in details and "explode" in details
