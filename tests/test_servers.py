"""The loopback mail servers themselves: what tests build on must hold first.

Mail delivered over LMTP (directly, or through the SMTP relay) gains three header
fields in front — ``Return-Path:``, ``Delivered-To:`` and a multi-line ``Received:`` —
and is otherwise stored byte for byte. IMAP serves every message with CRLF line endings.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from imap_tools import MailBoxUnencrypted
from servers import Dovecot, ServerError, SmtpRelay, free_port

SHANGHAI = ZoneInfo("Asia/Shanghai")
APPLICANT = "unit-a@test.example"
OFFICE = "office@test.example"
LMTP_HEADERS = (b"Return-Path:", b"Delivered-To:", b"Received:")


def make_mail(subject: str = "申报材料") -> bytes:
    return (
        b"From: " + APPLICANT.encode() + b"\r\n"
        b"To: " + OFFICE.encode() + b"\r\n"
        b"Subject: =?UTF-8?B?" + base64.b64encode(subject.encode()) + b"?=\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@test.example>\r\n"
        b"\r\n"
        b"hello\r\n"
    )


# 8-bit text as Chinese clients send it, plus a line SMTP must dot-stuff and unstuff.
EIGHT_BIT = (
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n"
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "附件是我单位的申报材料，请查收。\r\n".encode() + b".leading dot\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=gbk\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "劳模和工匠人才创新工作室\r\n".encode("gbk") + b"--b--\r\n"
)


def strip_lmtp_headers(stored: bytes) -> bytes:
    """The message as sent, after checking that LMTP put exactly its three fields in front."""
    lines = stored.split(b"\r\n")
    for name in LMTP_HEADERS:
        assert lines.pop(0).startswith(name), f"expected {name!r} first in {stored[:300]!r}"
        while lines[0].startswith((b" ", b"\t")):  # the field's continuation lines
            lines.pop(0)
    return b"\r\n".join(lines)


def test_deliver_then_read_back(dovecot: Dovecot) -> None:
    raw = make_mail()
    dovecot.deliver(APPLICANT, raw)

    [stored] = dovecot.messages(APPLICANT)
    assert stored.startswith(
        b"Return-Path: <sender@test.example>\r\nDelivered-To: " + APPLICANT.encode()
    )
    assert strip_lmtp_headers(stored) == raw
    assert dovecot.messages(OFFICE) == [], "each address has its own mailbox"


def test_reading_changes_nothing(dovecot: Dovecot) -> None:
    dovecot.deliver(OFFICE, make_mail())
    dovecot.messages(OFFICE)
    assert "\\Seen" not in dovecot.flags(OFFICE)[1]


def test_append_keeps_internaldate_flags_and_keywords(dovecot: Dovecot) -> None:
    late = datetime(2022, 10, 10, 17, 31, 5, tzinfo=SHANGHAI)
    dovecot.append(OFFICE, make_mail("迟到"), internaldate=late, flags=("\\Seen", "$Late"))

    # Maildir keeps the instant, not the offset: Dovecot answers in its own zone.
    assert dovecot.internaldates(OFFICE) == {1: late}
    assert {"\\Seen", "$Late"} <= dovecot.flags(OFFICE)[1]


def test_append_rejects_naive_internaldate(dovecot: Dovecot) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        dovecot.append(OFFICE, make_mail(), internaldate=datetime(2022, 10, 10, 17, 31))


def test_append_creates_folder(dovecot: Dovecot) -> None:
    dovecot.append(OFFICE, make_mail(), folder="已处理")
    assert dovecot.folders(OFFICE) == ["INBOX", "已处理"]
    assert len(dovecot.messages(OFFICE, folder="已处理")) == 1
    assert dovecot.messages(OFFICE) == []


def test_messages_come_in_uid_order(dovecot: Dovecot) -> None:
    raws = [make_mail(f"第{i}封") for i in range(3)]
    for raw in raws:
        dovecot.deliver(OFFICE, raw)
    assert [strip_lmtp_headers(m) for m in dovecot.messages(OFFICE)] == raws


@pytest.mark.parametrize("route", ["lmtp", "smtp", "append"])
def test_eight_bit_mail_survives_byte_exact(
    dovecot: Dovecot, smtp_relay: SmtpRelay, route: str
) -> None:
    if route == "lmtp":
        dovecot.deliver(OFFICE, EIGHT_BIT)
    elif route == "smtp":
        with smtplib.SMTP(smtp_relay.host, smtp_relay.port, timeout=10) as smtp:
            smtp.sendmail(APPLICANT, [OFFICE], EIGHT_BIT, mail_options=["BODY=8BITMIME"])
    else:
        dovecot.append(OFFICE, EIGHT_BIT)

    [stored] = dovecot.messages(OFFICE)
    assert (stored if route == "append" else strip_lmtp_headers(stored)) == EIGHT_BIT


def test_smtp_relay_delivers_before_250(dovecot: Dovecot, smtp_relay: SmtpRelay) -> None:
    raw = make_mail("回执")
    with smtplib.SMTP(smtp_relay.host, smtp_relay.port, timeout=10) as smtp:
        refused = smtp.sendmail(OFFICE, [APPLICANT, "unit-b@test.example"], raw)
        # Checked while the session is still open: the 250 came after delivery.
        assert refused == {}
        assert [strip_lmtp_headers(m) for m in dovecot.messages(APPLICANT)] == [raw]
        assert [strip_lmtp_headers(m) for m in dovecot.messages("unit-b@test.example")] == [raw]

    [relayed] = smtp_relay.messages
    assert relayed.mail_from == OFFICE
    assert relayed.rcpt_tos == [APPLICANT, "unit-b@test.example"]
    assert relayed.raw == raw
    assert relayed.login is None


def test_a_queueing_relay_answers_once_the_mail_is_queued_and_delivers_when_drained(
        dovecot: Dovecot) -> None:
    relay = SmtpRelay(dovecot, queueing=True)  # the benchmarks' relay, as Postfix answers
    relay.start()
    try:
        raw = make_mail("回执")
        with smtplib.SMTP(relay.host, relay.port, timeout=10) as smtp:
            assert smtp.sendmail(OFFICE, [APPLICANT], raw) == {}
        assert relay.queue_dir is not None and len(list(relay.queue_dir.iterdir())) == 1
        assert dovecot.messages(APPLICANT) == []  # queued on disk, not yet delivered
        assert [m.raw for m in relay.messages] == [raw]
        relay.drain()
        assert [strip_lmtp_headers(m) for m in dovecot.messages(APPLICANT)] == [raw]
        assert list(relay.queue_dir.iterdir()) == []
    finally:
        relay.stop()


def test_smtp_relay_accepts_any_login(smtp_relay: SmtpRelay) -> None:
    with smtplib.SMTP(smtp_relay.host, smtp_relay.port, timeout=10) as smtp:
        smtp.login("bot@test.example", "anything")
        smtp.sendmail(OFFICE, [APPLICANT], make_mail())
    assert smtp_relay.messages[0].login == "bot@test.example"


def test_smtp_relay_down_and_up_again(dovecot: Dovecot, smtp_relay: SmtpRelay) -> None:
    smtp_relay.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_relay.host, smtp_relay.port, timeout=10)

    smtp_relay.start()
    with smtplib.SMTP(smtp_relay.host, smtp_relay.port, timeout=10) as smtp:
        smtp.sendmail(OFFICE, [APPLICANT], make_mail())
    assert len(dovecot.messages(APPLICANT)) == 1


def test_smtp_relay_answers_451_when_dovecot_is_down(
    dovecot: Dovecot, smtp_relay: SmtpRelay
) -> None:
    dovecot.stop()
    with (
        smtplib.SMTP(smtp_relay.host, smtp_relay.port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPDataError) as failure,
    ):
        smtp.sendmail(OFFICE, [APPLICANT], make_mail())
    assert failure.value.smtp_code == 451
    assert smtp_relay.messages == []


def test_idle_sees_new_mail(dovecot: Dovecot) -> None:
    with MailBoxUnencrypted(dovecot.host, dovecot.imap_port).login(
        OFFICE, dovecot.password, "INBOX"
    ) as mailbox:
        mailbox.idle.start()  # type: ignore[no-untyped-call]
        try:
            dovecot.deliver(OFFICE, make_mail())
            responses: list[bytes] = []
            deadline = time.monotonic() + 60  # a bound: Dovecot notices within ~1 s
            while not any(r.endswith(b" EXISTS") for r in responses):
                assert time.monotonic() < deadline, f"no EXISTS within 60 s, got {responses}"
                responses += mailbox.idle.poll(timeout=1)
        finally:
            mailbox.idle.stop()  # type: ignore[no-untyped-call]
    assert b"* 1 EXISTS" in responses


def test_restart_keeps_mail_and_ports(dovecot: Dovecot) -> None:
    raw = make_mail()
    dovecot.deliver(OFFICE, raw)

    dovecot.stop()
    assert not dovecot.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dovecot.host, dovecot.imap_port), timeout=1)

    dovecot.start()  # same ports: deliver() and messages() below reach the new instance
    dovecot.deliver(OFFICE, raw)
    assert [strip_lmtp_headers(m) for m in dovecot.messages(OFFICE)] == [raw, raw]


def test_restart_is_stop_then_start(dovecot: Dovecot) -> None:
    dovecot.deliver(OFFICE, make_mail())
    dovecot.restart()
    assert dovecot.running
    assert len(dovecot.messages(OFFICE)) == 1


def test_a_taken_port_moves_a_first_start_and_fails_a_restart_with_the_log(
        dovecot_binary: str) -> None:
    server = Dovecot(dovecot_binary)
    try:
        with socket.socket() as squatter:
            squatter.bind((server.host, server.imap_port))
            squatter.listen()
            taken = server.imap_port
            server.start()  # another process took the port first: new ports, no failure
            assert server.imap_port != taken
        server.stop()
        with socket.socket() as squatter:  # a restart must keep its port: it fails instead
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((server.host, server.imap_port))
            squatter.listen()
            with pytest.raises(ServerError, match="Address already in use"):
                server.start()
    finally:
        server.close()


def test_free_port_never_hands_out_a_port_twice() -> None:
    # The kernel may give a just-closed probe port again; a server configured with two
    # listeners on one port does not start (this failed a CI run: "duplicate listener").
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
