"""No amplifier: the bot cannot be borrowed to mail a victim — one mailbox however it is
spelled, a global hourly cap with one notice to the office, no display name or long subject
echoed, and no answer to mail its own server found forged until the office releases it.
Against Dovecot and the SMTP relay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from intake_support import Bot, body, make_bot
from outbox_support import dashboard, deliver, raw_mail
from servers import Dovecot, SmtpRelay
from sqlalchemy import select
from web_support import csrf_of

from mailbot.intake.cycle import Runtime, run_cycle
from mailbot.store.database import open_database
from mailbot.store.models import Milestone, Reply

VICTIM = "victim@test.example"
SPELLINGS = ['"victim"@test.example', "VICTIM@test.example", "victim@TEST.EXAMPLE",
             '"v\\ictim"@test.example', "Victim@Test.Example.", "victim@test.example",
             '"VIC"tim@test.example']
LURE = "点击 http://evil.example/prize 领取奖品"
CLERK = "clerk@test.example"
OURS = "mx.test.example"


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def test_every_spelling_of_one_address_shares_one_hourly_limit(bot: Bot) -> None:
    for spelling in SPELLINGS:
        deliver(bot, raw_mail(f'"{LURE}" <{spelling}>', "工作室申报 " + "很长的主题" * 20))
    report = bot.poll()
    assert sum(report.results.values()) == 7  # every mail is recorded…
    arrived = bot.replies(VICTIM)
    assert len(arrived) == 5  # …but the one mailbox gets its five answers, not five a spelling
    held = [row["问题"] for row in bot.sheet("收件记录") if "未自动回复" in (row["问题"] or "")]
    assert len(held) == 2 and all("每小时 5 封的上限" in text for text in held)
    for reply in arrived:
        assert reply["To"] == VICTIM  # addressed to the normalised mailbox
        text = body(reply)
        assert text.splitlines()[0] == "老师："  # neutral: no unit is known for the address
        assert "evil.example" not in text and "领取奖品" not in text
        topic = reply["Subject"].removeprefix("【已收到】").split("（回执编号")[0]  # a question: 咨询
        assert topic == ("工作室申报 " + "很长的主题" * 7)[:39] + "…" and len(topic) == 40
    assert {tuple(m.rcpt_tos) for m in bot.relay.messages} == {(VICTIM,)}


def test_a_roster_unit_is_greeted_by_its_name_not_by_the_display_name(
        dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> None:
    rules = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
    text = rules.read_text(encoding="utf-8")
    text += '\n[[units]]\nname = "马克思主义学院"\nemails = ["makesi@test.example"]\n'
    (tmp_path / "rules.toml").write_text(text, encoding="utf-8")
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    from mailbot.campaign.rules import load_rules
    bot.campaign = load_rules(tmp_path / "rules.toml")
    deliver(bot, raw_mail(f'"{LURE}" <MaKeSi@test.example>'))
    bot.poll()
    [reply] = bot.replies("makesi@test.example")
    assert body(reply).splitlines()[0] == "马克思主义学院："
    assert "evil.example" not in body(reply)


def cap(bot: Bot, limit: int) -> Runtime:
    return Runtime(replace(bot.settings, reply_limit_total_per_hour=limit), bot.campaign)


def notices(bot: Bot) -> list[str]:
    return [str(m["Subject"]) for m in bot.replies(CLERK)]


def an_hour_passes(bot: Bot) -> None:
    """The cap counts by the wall clock: move every sending an hour and a minute back."""
    with open_database(bot.settings.database).begin() as session:
        for reply in session.scalars(select(Reply).where(Reply.sent_at.is_not(None))):
            assert reply.sent_at is not None
            reply.sent_at -= timedelta(hours=1, minutes=1)


def test_above_the_global_cap_replies_wait_and_the_office_is_told_once(bot: Bot) -> None:
    runtime = cap(bot, 3)
    senders = [f"unit-{n}@test.example" for n in range(9)]
    for sender in senders[:5]:
        deliver(bot, raw_mail(sender))
    report = run_cycle(runtime)
    assert (report.replies.sent, report.replies.waiting) == (4, 2)  # three and the notice
    assert sum(len(bot.replies(s)) for s in senders) == 3
    [notice] = notices(bot)
    assert "自动回复已达上限" in notice and "2 封回复排队等待" in notice
    # Still within the hour: one more mail waits too, and nobody is told twice.
    deliver(bot, raw_mail(senders[5]))
    report = run_cycle(runtime)
    assert (report.replies.sent, report.replies.waiting) == (0, 3)
    assert len(notices(bot)) == 1
    # An hour later the waiting replies go out, oldest first, and the exceedance is over.
    an_hour_passes(bot)
    report = run_cycle(runtime)
    assert (report.replies.sent, report.replies.waiting) == (3, 0)
    assert all(len(bot.replies(s)) == 1 for s in senders[:6])
    with open_database(bot.settings.database)() as session:
        assert session.scalars(select(Milestone.key)).all() == []
    # The next exceedance is a new one: the office is told again.
    an_hour_passes(bot)
    for sender in senders[6:]:
        deliver(bot, raw_mail(sender))
    deliver(bot, raw_mail("unit-0@test.example", "工作室申报材料补充"))
    report = run_cycle(runtime)
    assert (report.replies.sent, report.replies.waiting) == (4, 1)
    assert len(notices(bot)) == 2


def test_the_cap_counts_every_reply_sent_in_the_last_hour(bot: Bot) -> None:
    for n in range(3):
        deliver(bot, raw_mail(f"unit-{n}@test.example"))
    assert bot.poll().replies.sent == 3  # the default cap, 200, is far away
    deliver(bot, raw_mail("unit-3@test.example"))
    report = run_cycle(cap(bot, 3))  # the three sent a moment ago count
    assert (report.replies.sent, report.replies.waiting) == (1, 1)  # only the notice
    assert bot.replies("unit-3@test.example") == [] and len(notices(bot)) == 1


def forged(sender: str, *results: str) -> bytes:
    return raw_mail(sender, headers=tuple(("Authentication-Results", r) for r in results))


def test_mail_failing_dmarc_is_recorded_but_answered_only_once_released(bot: Bot) -> None:
    deliver(bot, forged("boss@test.example", f"{OURS};\r\n\tspf=fail (sender IP 192.0.2.9) "
                        "smtp.mailfrom=test.example;\r\n\tdkim=none;\r\n\tdmarc=fail (p=reject) "
                        "header.from=test.example",
                        f"{OURS}; dmarc=pass"))  # below ours: written by the sender
    deliver(bot, forged("good@test.example", f"{OURS}; spf=fail smtp.mailfrom=x; dkim=pass "
                        "header.d=test.example"))
    report = bot.poll()
    assert sum(report.results.values()) == 2 and report.replies.sent == 1
    assert bot.replies("boss@test.example") == [] and len(bot.replies("good@test.example")) == 1
    [row] = [r for r in bot.sheet("收件记录") if r["发件人"] == "boss@test.example"]
    assert row["处理结果"] == "咨询"  # recorded and answered as any question
    assert "发件人身份验证未通过（mx.test.example：spf=fail, dkim=none, dmarc=fail）" in row["问题"]
    with open_database(bot.settings.database)() as session:
        held = session.scalars(select(Reply).where(Reply.status == "held")).one()
    assert bot.poll().replies.sent == 0  # held means held, cycle after cycle

    client = dashboard(bot)
    overview = client.get("/").get_data(as_text=True)
    assert 'id="count-replies-held">1<' in overview and "发件人身份验证未通过" in overview
    page = client.get(f"/replies/{held.id}").get_data(as_text=True)
    assert "放行回复" in page and "dmarc=fail" in page
    # Like every action: without the page's CSRF token, refused and nothing changes.
    assert client.post(f"/replies/{held.id}/release").status_code == 400
    assert client.post(f"/replies/{held.id}/release",
                       data={"csrf_token": "forged"}).status_code == 400
    assert bot.replies("boss@test.example") == []
    answer = client.post(f"/replies/{held.id}/release", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 302
    followed = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已放行。回复已发出。" in followed
    [reply] = bot.replies("boss@test.example")
    assert reply["Subject"].startswith("【已收到】")  # the answer to a question (咨询)
    again = client.post(f"/replies/{held.id}/release", data={"csrf_token": csrf_of(page)})
    assert "不在待放行状态" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(bot.replies("boss@test.example")) == 1
    assert client.post("/replies/999999/release",
                       data={"csrf_token": csrf_of(page)}).status_code == 404


def test_only_our_own_servers_verdict_counts_when_it_is_named(bot: Bot) -> None:
    relay_on_top = ("relay.other.example; dmarc=pass", f"{OURS}; dmarc=fail header.from=x")
    deliver(bot, forged("first@test.example", *relay_on_top))
    run_cycle(Runtime(replace(bot.settings, authserv_id=OURS), bot.campaign))
    assert bot.replies("first@test.example") == []  # ours said fail, wherever it stood
    deliver(bot, forged("second@test.example", *relay_on_top))
    bot.poll()  # not named: the topmost counts, and it says pass
    assert len(bot.replies("second@test.example")) == 1
    deliver(bot, forged("third@test.example", "relay.other.example; dmarc=fail"))
    run_cycle(Runtime(replace(bot.settings, authserv_id=OURS), bot.campaign))
    assert len(bot.replies("third@test.example")) == 1  # nothing from ours: no verdict


def test_the_cap_and_the_authserv_id_are_settings(tmp_path: Path) -> None:
    from mailbot.config import ConfigError, load_settings

    assert (load_settings(environ={}).reply_limit_total_per_hour, load_settings(environ={})
            .authserv_id) == (200, "")
    env = {"MAILBOT_REPLY_LIMIT_TOTAL_PER_HOUR": "50", "MAILBOT_AUTHSERV_ID": OURS}
    settings = load_settings(environ=env)
    assert (settings.reply_limit_total_per_hour, settings.authserv_id) == (50, OURS)
    config = tmp_path / "mailbot.toml"
    config.write_text('reply_limit_total_per_hour = 30\nauthserv_id = "mx.sztu.edu.cn"\n',
                      encoding="utf-8")
    settings = load_settings(config, environ={})
    assert (settings.reply_limit_total_per_hour, settings.authserv_id) == (30, "mx.sztu.edu.cn")
    with pytest.raises(ConfigError, match="MAILBOT_REPLY_LIMIT_TOTAL_PER_HOUR"):
        load_settings(environ={"MAILBOT_REPLY_LIMIT_TOTAL_PER_HOUR": "0"})


def test_a_new_unit_is_greeted_by_the_name_its_forms_give(bot: Bot) -> None:
    from intake_support import OFFICE, ON_TIME

    from mailbot.demo.mailfactory import build_mail
    from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx

    studio = SAMPLE_STUDIOS[0]
    raw = build_mail(sender="newcomer@test.example", sender_name=LURE, to=OFFICE,
                     subject="工作室申报材料", attachments=[("附件2.docx", approval_docx(studio))])
    bot.dovecot.append(OFFICE, raw, internaldate=ON_TIME)
    bot.poll()
    [reply] = bot.replies("newcomer@test.example")
    assert body(reply).splitlines()[0] == f"{studio.unit}："
    assert "evil.example" not in body(reply)
