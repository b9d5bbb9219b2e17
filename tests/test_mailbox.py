"""Real mailboxes: TLS both ways, the ID command, XOAUTH2, a renumbered folder, folders per
result, and mail too large to fetch — each against a real Dovecot configured for it."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from intake_support import OFFICE, ON_TIME, Bot, body, make_bot
from mailbox_support import ID_LOG_CONFIG, TlsDovecot, TokenInfo, oauth2_config
from servers import Dovecot, SmtpRelay

from mailbot.config import ServerSettings, Settings
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.errors import MailboxLoginRefused
from mailbot.intake.cycle import CycleTally, Runtime, run_cycle
from mailbot.mail.imap import Mailbox

STUDIO = SAMPLE_STUDIOS[0]
APPLICANT = "unit-a@test.example"


def poll(bot: Bot, settings: Settings) -> CycleTally:
    return run_cycle(Runtime(settings, bot.campaign))


def submit(bot: Bot, sender: str = APPLICANT) -> None:
    bot.submit(sender, [("附件2-推荐审批表.docx", approval_docx(STUDIO))])


# --- TLS -------------------------------------------------------------------------------------

@pytest.fixture
def tls_bot(dovecot_binary: str, tmp_path: Path) -> object:
    server = TlsDovecot(dovecot_binary, tmp_path / "tls", ID_LOG_CONFIG)
    server.start()
    relay = SmtpRelay(server)
    relay.start()
    try:
        yield make_bot(server, relay, tmp_path)
    finally:
        relay.stop()
        server.close()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_with_a_trusted_ca_file(tls_bot: Bot, security: str) -> None:
    server = tls_bot.dovecot
    assert isinstance(server, TlsDovecot)
    port = server.imaps_port if security == "ssl" else server.imap_port
    imap = replace(tls_bot.settings.imap, security=security, port=port,  # type: ignore[arg-type]
                   ca_file=str(server.ca_file))
    submit(tls_bot)
    report = poll(tls_bot, replace(tls_bot.settings, imap=imap))
    assert not report.mailbox_error and report.results == {"补正": 1}
    assert len(tls_bot.replies(APPLICANT)) == 1
    assert "secured" in server.log_tail(200)  # Dovecot's word for a TLS session


def test_tls_refuses_a_certificate_nobody_vouches_for(tls_bot: Bot) -> None:
    server = tls_bot.dovecot
    assert isinstance(server, TlsDovecot)
    imap = replace(tls_bot.settings.imap, security="ssl", port=server.imaps_port)
    submit(tls_bot)
    report = poll(tls_bot, replace(tls_bot.settings, imap=imap))
    assert "CERTIFICATE_VERIFY_FAILED" in report.mailbox_error
    assert "\n" not in report.mailbox_error  # one line for the operator


def test_the_id_command_is_sent_after_login(tls_bot: Bot) -> None:
    """163/126 refuse SELECT before ID; Dovecot (imap_id_log = *) logs what it was sent."""
    with Mailbox(tls_bot.settings) as box:
        box.open_folder()
        assert box.server_id.get("name") == "Dovecot"
    log = tls_bot.dovecot.log_tail(200)
    assert re.search(r"ID sent: name=mailbot, version=\d", log), log


# --- XOAUTH2 (Microsoft 365) -------------------------------------------------------------

@pytest.fixture
def token_info() -> object:
    info = TokenInfo()
    with info.running():
        yield info


@pytest.fixture
def oauth_bot(dovecot_binary: str, tmp_path: Path, token_info: TokenInfo) -> object:
    server = Dovecot(dovecot_binary, extra_config=oauth2_config(tmp_path / "oauth", token_info))
    server.start()
    relay = SmtpRelay(server)
    relay.start()
    try:
        yield make_bot(server, relay, tmp_path)
    finally:
        relay.stop()
        server.close()


def xoauth2(bot: Bot, **imap: str) -> Settings:
    server = replace(bot.settings.imap, auth="xoauth2", password="", **imap)
    return replace(bot.settings, imap=server)


def test_xoauth2_with_an_access_token(oauth_bot: Bot, token_info: TokenInfo) -> None:
    token_info.tokens["eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.office"] = OFFICE
    submit(oauth_bot)
    report = poll(oauth_bot, xoauth2(
        oauth_bot, oauth2_token="eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.office"))
    assert not report.mailbox_error and sum(report.results.values()) == 1
    assert token_info.asked == ["eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.office"]
    assert "method=XOAUTH2" in oauth_bot.dovecot.log_tail(200)


def test_xoauth2_token_command_gives_a_fresh_token_at_every_login(
        oauth_bot: Bot, token_info: TokenInfo, tmp_path: Path) -> None:
    token_info.tokens["fresh-1"] = OFFICE
    script = tmp_path / "token.py"
    script.write_text("print('fresh-1')\n")
    settings = xoauth2(oauth_bot, oauth2_token_command=f"{sys.executable} {script}")
    submit(oauth_bot)
    report = poll(oauth_bot, settings)
    assert not report.mailbox_error and sum(report.results.values()) == 1


def test_xoauth2_with_an_expired_token_is_one_clear_line(oauth_bot: Bot) -> None:
    # A refused login stops the cycle before anything else (mailbot.mail.logins): no retry helps.
    with pytest.raises(MailboxLoginRefused) as refused:
        poll(oauth_bot, xoauth2(oauth_bot, oauth2_token="expired"))
    line = str(refused.value)
    assert "IMAP 登录被拒绝" in line and "oauth2_token" in line and "\n" not in line


# --- UIDVALIDITY --------------------------------------------------------------------------

def renumber_inbox(dovecot: Dovecot, user: str) -> None:
    """What a migration without keywords does: new UIDVALIDITY, new UIDs, our keyword gone."""
    dovecot.stop()
    maildir = dovecot.root / "mail" / user / "Maildir"
    for name in ("dovecot-uidlist", "dovecot-keywords", "dovecot.index", "dovecot.index.log",
                 "dovecot.index.cache"):
        (maildir / name).unlink(missing_ok=True)
    for path in (maildir / "cur").iterdir():
        base, _, flags = path.name.partition(":2,")
        path.rename(path.with_name(f"{base}:2,{''.join(c for c in flags if c.isupper())}"))
    dovecot.start()


def uidvalidity(bot: Bot) -> int:
    with Mailbox(bot.settings) as box:
        return box.open_folder()


def test_a_renumbered_folder_is_resynced_by_message_id(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                       tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    senders = [f"unit-{n}@test.example" for n in range(3)]
    for sender in senders:
        submit(bot, sender)
    assert sum(bot.poll().results.values()) == 3
    before = uidvalidity(bot)

    renumber_inbox(dovecot, OFFICE)
    assert uidvalidity(bot) != before
    assert all("$MailbotHandled" not in flags for flags in dovecot.flags(OFFICE).values())
    submit(bot, "late-comer@test.example")

    report = bot.poll()
    assert report.fetched == 1 and report.duplicates == 0  # the old three were not downloaded
    assert sum(report.results.values()) == 1
    assert all("$MailbotHandled" in flags for flags in dovecot.flags(OFFICE).values())
    # Nobody answered twice (the same unit's other senders are also told of each new address).
    answers = [[m for m in bot.replies(s) if not str(m["Subject"]).startswith("【告知】")]
               for s in senders]
    assert [len(a) for a in answers] == [1, 1, 1]
    assert len(bot.sheet("收件记录")) == 4
    assert bot.poll().fetched == 0


# --- folders ------------------------------------------------------------------------------

def test_handled_mail_is_moved_by_result_and_never_deleted(dovecot: Dovecot,
                                                           smtp_relay: SmtpRelay,
                                                           tmp_path: Path) -> None:
    from mailbot.demo.machinemail import build_auto_reply
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    settings = replace(bot.settings, handled_folder="已处理", ignored_folder="已处理/自动邮件",
                       quarantine_folder="待人工处理")
    submit(bot)
    # An out-of-office answer to one of our replies (to a personal mail it would be 未归类).
    dovecot.append(OFFICE, build_auto_reply(sender="boss@test.example", to=OFFICE,
                                            subject="回执：【需补正】工作室申报材料"),
                   internaldate=ON_TIME)
    dovecot.append(OFFICE, b"To: office@test.example\r\nSubject: nobody\r\n"
                           b"Message-ID: <nobody@test.example>\r\n\r\nwho?\r\n",
                   internaldate=ON_TIME)
    report = poll(bot, settings)
    assert report.results == {"补正": 1, "忽略": 1, "隔离": 1}
    assert dovecot.messages(OFFICE) == []
    # "/" in a configured name is a subfolder, whatever the server's separator ("." here).
    assert "已处理.自动邮件" in dovecot.folders(OFFICE)
    assert len(dovecot.messages(OFFICE, "已处理")) == 1
    assert len(dovecot.messages(OFFICE, "已处理.自动邮件")) == 1
    assert len(dovecot.messages(OFFICE, "待人工处理")) == 1
    for folder in ("已处理", "已处理.自动邮件", "待人工处理"):
        assert all("\\Deleted" not in f for f in dovecot.flags(OFFICE, folder).values())


# --- size ---------------------------------------------------------------------------------

def test_a_mail_over_the_size_limit_is_not_downloaded_and_gets_a_correction(
        dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    settings = replace(bot.settings, max_message_bytes=300 * 1024)
    scan = os.urandom(400 * 1024)  # a scan that does not compress
    bot.submit(APPLICANT, [("附件1.docx", summary_docx(STUDIO.unit, [STUDIO])),
                           ("扫描件.pdf", b"%PDF-1.4\n" + scan)], subject="申报材料（很大）")
    bot.submit("small@test.example", [("附件3.docx", material_docx(STUDIO, 500))])
    report = poll(bot, settings)
    assert report.results == {"补正": 2}

    [reply] = bot.replies(APPLICANT)
    text = body(reply)
    assert re.search(r"邮件大小为 0\.\d MB，超过了本邮箱的接收上限 0\.3 MB", text), text
    assert "本邮件中没有附件" not in text  # not mistaken for a mail without files
    [row] = [r for r in bot.sheet("收件记录") if r["主题"] == "申报材料（很大）"]
    assert row["附件"] is None and "超过了本邮箱的接收上限" in row["问题"]

    raw_files = sorted((bot.state_dir / "raw").rglob("*.eml"))
    sizes = sorted(path.stat().st_size for path in raw_files)
    assert sizes[0] < 16 * 1024  # the big one: its header only
    [note] = list((bot.state_dir / "raw").rglob("*.omitted.txt"))
    assert "正文和附件没有下载" in note.read_text(encoding="utf-8")
    assert len(dovecot.messages(OFFICE)) == 2  # the original stays on the server


def test_settings_name_the_missing_token_for_xoauth2() -> None:
    from mailbot.errors import ConfigError
    settings = Settings(imap=ServerSettings(host="outlook.office365.com", user="a@b.c",
                                            auth="xoauth2"))
    with pytest.raises(ConfigError, match="MAILBOT_IMAP_OAUTH2_TOKEN"):
        settings.require_imap()



def test_mailbox_settings_from_file_and_environment(tmp_path: Path) -> None:
    from mailbot.config import load_settings
    from mailbot.errors import ConfigError
    config = tmp_path / "mailbot.toml"
    config.write_text('reply_limit_per_hour = 3\nignored_folder = "自动邮件"\nidle = false\n'
                      '[imap]\nhost = "outlook.office365.com"\nuser = "union@sztu.edu.cn"\n'
                      'auth = "xoauth2"\noauth2_token_command = "get-token --for union"\n',
                      encoding="utf-8")
    settings = load_settings(config, {"MAILBOT_IMAP_CA_FILE": "/etc/ssl/campus-ca.pem"})
    assert settings.imap.auth == "xoauth2" and settings.imap.ca_file == "/etc/ssl/campus-ca.pem"
    assert settings.imap.oauth2_token_command == "get-token --for union"
    assert (settings.reply_limit_per_hour, settings.ignored_folder, settings.idle) == (
        3, "自动邮件", False)
    settings.require_imap()  # a token command is enough
    with pytest.raises(ConfigError, match="password or xoauth2"):
        load_settings(config, {"MAILBOT_IMAP_AUTH": "kerberos"})
    with pytest.raises(ConfigError, match="reply_limit_per_hour"):
        load_settings(_write(tmp_path / "bad.toml", "reply_limit_per_hour = 0\n"), {})
    with pytest.raises(ConfigError, match=r"smtp\.ca_file"):
        load_settings(_write(tmp_path / "smtp.toml", '[smtp]\nca_file = "x"\n'), {})


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
