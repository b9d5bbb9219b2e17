"""The embedded loopback mail server behind ``mailbot demo``, driven as real clients drive it."""

from __future__ import annotations

import asyncio
import imaplib
import re
import smtplib
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import aiosmtplib
import pytest
from imap_tools import MailBoxUnencrypted, MailMessageFlags

from mailbot.demo.server import DemoMailServer

OFFICE = "office@demo.test"
APPLICANT = "applicant@demo.test"
USERS = {OFFICE: "office-pw", APPLICANT: "applicant-pw"}
SHANGHAI = timezone(timedelta(hours=8))

# A Foxmail-style mail whose Subject is raw GBK bytes (测试申报), not an encoded word.
GBK_MAIL = (
    b"From: =?GBK?B?1cXI/Q==?= <unit@demo.test>\r\n"
    b"To: office@demo.test\r\n"
    b"Subject: " + "测试申报".encode("gbk") + b"\r\n"
    b"Content-Type: text/plain; charset=GBK\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "附件见后，请查收。".encode("gbk") + b"\r\n"
)


def plain_mail(subject: str, sender: str = "unit@demo.test", to: str = OFFICE) -> bytes:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode("ascii")


@pytest.fixture
def server() -> Iterator[DemoMailServer]:
    with DemoMailServer(USERS) as running:
        yield running


def imap_login(server: DemoMailServer, user: str = OFFICE) -> imaplib.IMAP4:
    client = imaplib.IMAP4(server.host, server.imap_port)
    client.login(user, USERS[user])
    return client


def uid_fetch(client: imaplib.IMAP4, uids: str, items: str) -> dict[int, tuple[bytes, bytes]]:
    """UID -> (response header, literal or b"").  Skips unsolicited FETCH items pymap adds."""
    typ, data = client.uid("FETCH", uids, items)
    assert typ == "OK", data
    found: dict[int, tuple[bytes, bytes]] = {}
    for item in data:
        head, literal = (item[0], item[1]) if isinstance(item, tuple) else (item, b"")
        match = re.search(rb"UID (\d+)", head or b"")
        if match and (literal or b"INTERNALDATE" in head or b"FLAGS" in head):
            found.setdefault(int(match.group(1)), (head, literal))
    return found


def internaldate(head: bytes) -> datetime:
    match = re.search(rb'INTERNALDATE "([^"]+)"', head)
    assert match, head
    return datetime.strptime(match.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_start_and_stop() -> None:
    server = DemoMailServer(USERS)
    began = time.monotonic()
    server.start()
    elapsed = time.monotonic() - began
    print(f"demo mail server ready in {elapsed * 1000:.1f} ms "
          f"(IMAP {server.imap_port}, SMTP {server.smtp_port})")
    try:
        assert server.host == "127.0.0.1"
        assert server.imap_port > 0 and server.smtp_port > 0
        assert server.imap_port != server.smtp_port
        with imap_login(server) as client:
            assert client.select("INBOX")[0] == "OK"
        with smtplib.SMTP(server.host, server.smtp_port) as smtp:
            assert smtp.noop()[0] == 250
    finally:
        server.stop()
    assert refused(server.imap_port) and refused(server.smtp_port)
    server.stop()  # a second stop is harmless


def test_stop_with_clients_still_connected() -> None:
    server = DemoMailServer(USERS)
    server.start()
    client = imap_login(server)
    client.select("INBOX")
    smtp = smtplib.SMTP(server.host, server.smtp_port)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 30  # does not wait for the clients (a bound)
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        client.noop()
    client.shutdown()
    smtp.close()


def test_idle_is_not_advertised_so_the_bot_polls(server: DemoMailServer) -> None:
    with imap_login(server) as client:
        typ, data = client.capability()
    assert typ == "OK" and b"MOVE" in data[0] and b"IDLE" not in data[0]


def test_wrong_password_is_refused(server: DemoMailServer) -> None:
    with (imaplib.IMAP4(server.host, server.imap_port) as client,
          pytest.raises(imaplib.IMAP4.error)):
        client.login(OFFICE, "wrong")


def test_append_keeps_an_old_internaldate(server: DemoMailServer) -> None:
    late = datetime(2022, 10, 10, 17, 31, 5, tzinfo=SHANGHAI)
    early = datetime(2022, 10, 9, 8, 0, tzinfo=UTC)
    server.append(OFFICE, plain_mail("late"), late)
    server.append(OFFICE, plain_mail("early"), early)
    with imap_login(server) as client:
        client.select("INBOX")
        uidvalidity = client.response("UIDVALIDITY")[1][0]
        found = uid_fetch(client, "1:*", "(UID INTERNALDATE)")
    (first_uid, first), (second_uid, second) = sorted(found.items())
    assert second_uid > first_uid
    # Lateness is judged on INTERNALDATE, so the instant (not the Date: header) must survive.
    assert internaldate(first[0]) == late
    assert internaldate(second[0]) == early
    # UIDVALIDITY is the same for every session while the server runs.
    with imap_login(server) as client:
        client.select("INBOX")
        assert client.response("UIDVALIDITY")[1][0] == uidvalidity


def test_imap_append_with_explicit_internaldate(server: DemoMailServer) -> None:
    when = datetime(2022, 10, 10, 17, 29, 59, tzinfo=SHANGHAI)
    with imap_login(server) as client:
        typ, _ = client.append("INBOX", "", imaplib.Time2Internaldate(when), plain_mail("x"))
        assert typ == "OK"
        client.select("INBOX")
        [(head, _)] = uid_fetch(client, "1:*", "(UID INTERNALDATE)").values()
    assert internaldate(head) == when


def test_uids_keep_increasing_after_expunge(server: DemoMailServer) -> None:
    server.append(OFFICE, plain_mail("one"))
    with imap_login(server) as client:
        client.select("INBOX")
        [uid1] = uid_fetch(client, "1:*", "(UID FLAGS)")
        client.uid("STORE", str(uid1), "+FLAGS", r"(\Deleted)")
        client.expunge()
        server.append(OFFICE, plain_mail("two"))
        client.noop()  # new mail is reported after a command, as with any IMAP server
        [uid2] = uid_fetch(client, "1:*", "(UID FLAGS)")
    assert uid2 > uid1


def test_smtp_delivers_into_the_recipients_inbox(server: DemoMailServer) -> None:
    reply = plain_mail("receipt", sender=OFFICE, to=APPLICANT)
    with smtplib.SMTP(server.host, server.smtp_port) as smtp:  # no AUTH: not required
        smtp.sendmail(OFFICE, [APPLICANT.upper()], reply)
    assert server.messages(APPLICANT) == [reply]
    assert server.messages(OFFICE) == []
    assert server.delivered == [(OFFICE, [APPLICANT.upper()], reply)]
    with imap_login(server, APPLICANT) as client:
        client.select("INBOX")
        [(_, literal)] = uid_fetch(client, "1:*", "(UID BODY.PEEK[])").values()
    assert literal == reply


def test_smtp_auth_is_optional_but_works(server: DemoMailServer) -> None:
    with smtplib.SMTP(server.host, server.smtp_port) as smtp:
        smtp.login(OFFICE, USERS[OFFICE])
        smtp.sendmail(OFFICE, [APPLICANT], plain_mail("hi", OFFICE, APPLICANT))
    with (smtplib.SMTP(server.host, server.smtp_port) as smtp,
          pytest.raises(smtplib.SMTPAuthenticationError)):
        smtp.login(OFFICE, "wrong")
    assert len(server.messages(APPLICANT)) == 1


def test_aiosmtplib_reply_arrives(server: DemoMailServer) -> None:
    # The bot sends with aiosmtplib; with and without credentials, no TLS on offer.
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = OFFICE, APPLICANT, "回执：已受理"
    reply.set_content("您好，材料已收到。")
    asyncio.run(aiosmtplib.send(reply, hostname=server.host, port=server.smtp_port))
    asyncio.run(aiosmtplib.send(reply, hostname=server.host, port=server.smtp_port,
                                username=OFFICE, password=USERS[OFFICE]))
    arrived = server.messages(APPLICANT)
    assert len(arrived) == 2 and "您好".encode() in arrived[0]


def test_smtp_refuses_unknown_recipients(server: DemoMailServer) -> None:
    with (smtplib.SMTP(server.host, server.smtp_port) as smtp,
          pytest.raises(smtplib.SMTPRecipientsRefused)):
        smtp.sendmail(OFFICE, ["nobody@demo.test"], plain_mail("lost"))
    assert server.delivered == []


def test_users_added_while_running_get_mail(server: DemoMailServer) -> None:
    server.add_user("late-unit@demo.test", "pw")
    with smtplib.SMTP(server.host, server.smtp_port) as smtp:
        smtp.sendmail(OFFICE, ["late-unit@demo.test"], plain_mail("x"))
    assert len(server.messages("late-unit@demo.test")) == 1


def test_8bit_gbk_header_survives_byte_exact(server: DemoMailServer) -> None:
    server.append(OFFICE, GBK_MAIL)
    lf_only = GBK_MAIL.replace(b"\r\n", b"\n")
    server.append(OFFICE, lf_only)
    with imap_login(server) as client:
        assert client.append("INBOX", "", None, GBK_MAIL)[0] == "OK"
    with smtplib.SMTP(server.host, server.smtp_port) as smtp:
        smtp.sendmail("unit@demo.test", [OFFICE], GBK_MAIL, mail_options=["BODY=8BITMIME"])
    with imap_login(server) as client:
        client.select("INBOX")
        found = uid_fetch(client, "1:*", "(UID BODY.PEEK[])")
    assert [literal for _, literal in sorted(found.values())] == [
        GBK_MAIL, lf_only, GBK_MAIL, GBK_MAIL]
    assert server.messages(OFFICE) == [GBK_MAIL, lf_only, GBK_MAIL, GBK_MAIL]


def test_flags_and_keywords_persist(server: DemoMailServer) -> None:
    server.append(OFFICE, plain_mail("a"))
    server.append(OFFICE, plain_mail("b"))
    with imap_login(server) as client:
        client.select("INBOX")
        assert b"\\*" in client.response("PERMANENTFLAGS")[1][0]
        first, second = sorted(uid_fetch(client, "1:*", "(UID FLAGS)"))
        typ, _ = client.uid("STORE", str(first), "+FLAGS", r"(\Seen $MailbotHandled)")
        assert typ == "OK"
    with imap_login(server) as client:  # a new session: the flags were stored, not session-only
        client.select("INBOX")
        flags = {uid: head for uid, (head, _) in uid_fetch(client, "1:*", "(UID FLAGS)").items()}
        assert b"$MailbotHandled" in flags[first] and b"\\Seen" in flags[first]
        assert b"$MailbotHandled" not in flags[second] and b"\\Seen" not in flags[second]
        assert client.uid("SEARCH", "UNKEYWORD", "$MailbotHandled")[1] == [str(second).encode()]
        client.uid("STORE", str(first), "-FLAGS", "($MailbotHandled)")
        assert client.uid("SEARCH", "KEYWORD", "$MailbotHandled")[1] == [b""]


def test_move_and_copy_to_a_folder(server: DemoMailServer) -> None:
    for subject in ("a", "b"):
        server.append(OFFICE, plain_mail(subject))
    with imap_login(server) as client:
        assert client.create("Handled")[0] == "OK"
        client.select("INBOX")
        first, second = sorted(uid_fetch(client, "1:*", "(UID FLAGS)"))
        assert client.uid("MOVE", str(first), "Handled")[0] == "OK"
        assert client.uid("COPY", str(second), "Handled")[0] == "OK"
        client.uid("STORE", str(second), "+FLAGS", r"(\Deleted)")
        client.expunge()
    assert server.messages(OFFICE) == []
    assert server.messages(OFFICE, "Handled") == [plain_mail("a"), plain_mail("b")]
    server.append(OFFICE, plain_mail("c"), folder="新建文件夹")  # append creates the folder
    assert server.messages(OFFICE, "新建文件夹") == [plain_mail("c")]


def test_imap_tools_can_do_what_the_bot_does(server: DemoMailServer) -> None:
    when = datetime(2022, 10, 10, 9, 0, tzinfo=UTC)
    server.append(OFFICE, GBK_MAIL, when)
    with MailBoxUnencrypted(server.host, server.imap_port).login(
            OFFICE, USERS[OFFICE], initial_folder="INBOX") as mailbox:
        uids = mailbox.uids()
        assert len(uids) == 1
        typ, data = mailbox.client.uid("FETCH", ",".join(uids), "(UID INTERNALDATE BODY.PEEK[])")
        assert typ == "OK"
        [(head, literal)] = [item for item in data if isinstance(item, tuple)]
        assert literal == GBK_MAIL and internaldate(head) == when
        assert MailMessageFlags.SEEN not in next(mailbox.fetch(mark_seen=False)).flags
        mailbox.flag(uids, ["$MailbotHandled", MailMessageFlags.SEEN], True)
        assert {"$MailbotHandled", MailMessageFlags.SEEN} <= set(
            next(mailbox.fetch(mark_seen=False)).flags)
        mailbox.folder.create("已处理")  # modified UTF-7 on the wire
        mailbox.move(uids, "已处理")
        assert mailbox.uids() == []
    assert server.messages(OFFICE, "已处理") == [GBK_MAIL]
