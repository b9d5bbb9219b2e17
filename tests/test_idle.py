"""IMAP IDLE against a real Dovecot: new mail answered within seconds, through restarts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from intake_support import OFFICE, Bot, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.config import ServerSettings, Settings
from mailbot.idle import IdleWatcher
from mailbot.mailfactory import build_mail
from mailbot.poller import Runtime, run_cycle
from mailbot.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.service import Service

ANSWER_WITHIN = 8.0  # seconds: Dovecot checks for news every second (mailbox_idle_check_interval)


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def mail(sender: str, subject: str) -> bytes:
    return build_mail(sender=sender, to=OFFICE, subject=subject, body="见附件",
                      attachments=[("附件2-推荐审批表.docx", approval_docx(SAMPLE_STUDIOS[0]))],
                      style="outlook")


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` held; fails the test after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture
def watcher(bot: Bot) -> Iterator[IdleWatcher]:
    runtime = Runtime(bot.settings, bot.campaign)
    lock = threading.Lock()

    def cycle() -> None:
        with lock:
            run_cycle(runtime)

    idle = IdleWatcher(bot.settings, cycle, min_backoff=0.2, max_backoff=2.0)
    thread = threading.Thread(target=idle.run, daemon=True)
    thread.start()
    wait_for(lambda: idle.connections >= 1, 10)
    yield idle
    idle.stop()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the IDLE loop did not stop"


def test_new_mail_is_answered_within_seconds(bot: Bot, watcher: IdleWatcher) -> None:
    bot.dovecot.deliver(OFFICE, mail("idle-a@test.example", "IDLE 一"))
    wait_for(lambda: len(bot.dovecot.messages("idle-a@test.example")) == 1, ANSWER_WITHIN)
    bot.dovecot.deliver(OFFICE, mail("idle-b@test.example", "IDLE 二"))
    wait_for(lambda: len(bot.dovecot.messages("idle-b@test.example")) == 1, ANSWER_WITHIN)
    assert watcher.supported is True and watcher.connections == 1


def test_idle_goes_on_through_a_restart_of_the_server(bot: Bot, watcher: IdleWatcher) -> None:
    bot.dovecot.restart()  # a clean restart: Dovecot lets open sessions live on
    bot.dovecot.deliver(OFFICE, mail("after-restart@test.example", "重启之后"))
    wait_for(lambda: len(bot.dovecot.messages("after-restart@test.example")) == 1, 15)


def test_idle_reconnects_after_the_connection_is_dropped(bot: Bot,
                                                        watcher: IdleWatcher) -> None:
    bot.dovecot.crash()  # sessions and all, as a network failure would
    bot.dovecot.start()
    bot.dovecot.deliver(OFFICE, mail("after-crash@test.example", "断线之后"))
    wait_for(lambda: len(bot.dovecot.messages("after-crash@test.example")) == 1, 15)
    assert watcher.connections >= 2


def test_idle_survives_a_server_that_is_down_for_a_while(bot: Bot,
                                                        watcher: IdleWatcher) -> None:
    bot.dovecot.crash()
    time.sleep(3)  # several reconnection attempts fail meanwhile, with growing pauses
    bot.dovecot.start()
    bot.dovecot.deliver(OFFICE, mail("after-outage@test.example", "停机之后"))
    wait_for(lambda: len(bot.dovecot.messages("after-outage@test.example")) == 1, 15)
    assert watcher.connections >= 2


def test_stop_interrupts_a_waiting_idle_promptly(bot: Bot) -> None:
    idle = IdleWatcher(bot.settings, lambda: None)
    thread = threading.Thread(target=idle.run, daemon=True)
    thread.start()
    wait_for(lambda: idle.connections == 1, 10)
    time.sleep(0.5)  # now blocked in IDLE, for up to 24 minutes
    started = time.monotonic()
    idle.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 3


def test_without_idle_the_watcher_leaves_it_to_polling(dovecot_binary: str) -> None:
    server = Dovecot(dovecot_binary, extra_config="imap_capability = IMAP4rev1 LITERAL+ ID\n")
    server.start()
    try:
        settings = Settings(imap=ServerSettings(host=server.host, port=server.imap_port,
                                                user=OFFICE, password=server.password,
                                                security="none"))
        called: list[int] = []
        idle = IdleWatcher(settings, lambda: called.append(1))
        thread = threading.Thread(target=idle.run, daemon=True)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive() and idle.supported is False and called == []
    finally:
        server.close()


def test_mailbot_run_answers_new_mail_within_seconds(bot: Bot) -> None:
    """The service as `mailbot run` starts it: polling every 10 minutes, and IDLE."""
    service = Service(replace(bot.settings, poll_seconds=600), bot.campaign)
    service.start()
    try:
        wait_for(lambda: service.idle.connections >= 1, 10)
        bot.dovecot.deliver(OFFICE, mail("service@test.example", "服务"))
        seconds = wait_for(lambda: len(bot.dovecot.messages("service@test.example")) == 1,
                           ANSWER_WITHIN)
        assert seconds < ANSWER_WITHIN
    finally:
        service.stop()
    assert not service.idle_thread.is_alive()
