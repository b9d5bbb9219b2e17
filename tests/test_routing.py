"""Which campaign a mail is for (mailbot.campaign.routing), decided on real parsed mail; and the rules
keys it reads (`opens`, `keywords`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mailbot.campaign.routing import FORMS, MAILBOX, SENDER, THREAD, WORDS, Known, call_words, route
from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx
from mailbot.errors import RulesError
from mailbot.mail.parse import parse_message
from mailbot.timefmt import OFFICE_ZONE

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
OPENS = datetime(2022, 9, 30, 15, 40, tzinfo=OFFICE_ZONE)
AFTER = datetime(2022, 10, 9, 10, 0, tzinfo=OFFICE_ZONE)
BEFORE = datetime(2022, 9, 23, 9, 0, tzinfo=OFFICE_ZONE)
NOTHING = Known(thread=lambda _mid: None, senders=lambda _address: set())


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(RULES)


def mail(subject: str, body: str = "", files: list[tuple[str, bytes]] | None = None,
         sender: str = "friend@test.example", **headers: str) -> bytes:
    return build_mail(sender=sender, to="office@test.example", subject=subject, body=body,
                      attachments=files or [], style="qq", extra_headers=headers)


def decide(campaign: Campaign, raw: bytes, at: datetime = AFTER, known: Known = NOTHING,
           shared: bool = True) -> tuple[str | None, str]:
    decision = route(parse_message(raw), at, [campaign], known, shared=shared)
    return (decision.campaign.campaign.key if decision.campaign else None), decision.why


def test_the_rules_say_when_the_call_opened(campaign: Campaign) -> None:
    assert campaign.campaign.opens_at == OPENS
    assert {"劳模", "工匠", "工作室", "申报", "推荐"} <= set(campaign.campaign.keywords)
    assert {"附件1", "附件2", "附件3", "推荐审批表"} <= set(call_words(campaign))


def test_personal_mail_is_no_campaigns(campaign: Campaign) -> None:
    personal = mail("周五下午工会活动安排", "各位老师：周五下午三点在体育馆集合，请准时参加。")
    assert decide(campaign, personal, BEFORE) == (None, "")
    assert decide(campaign, personal, AFTER) == (None, "")
    assert decide(campaign, mail("周末聚餐", "老地方见", [("菜单.pdf", b"%PDF-1.4 x")])) == \
        (None, "")


def test_mail_naming_the_call_is_its(campaign: Campaign) -> None:
    key = campaign.campaign.key
    assert decide(campaign, mail("请问申报截止时间？")) == (key, WORDS)
    assert decide(campaign, mail("你好", "附件２什么时候交？")) == (key, WORDS)  # NFKC
    assert decide(campaign, mail("劳 模 工作室")) == (key, WORDS)  # spaces do not matter


def test_forms_thread_and_sender_make_a_mail_the_campaigns(campaign: Campaign) -> None:
    key = campaign.campaign.key
    form = [("附件2-推荐审批表.docx", approval_docx(SAMPLE_STUDIOS[0]))]
    assert decide(campaign, mail("发一下", "", form)) == (key, FORMS)
    answer = mail("回复：你好", "好的", **{"In-Reply-To": "<ours@office>"})
    thread = Known(thread=lambda mid: key if mid == "<ours@office>" else None,
                   senders=lambda _a: set())
    assert decide(campaign, answer, known=thread) == (key, THREAD)
    unit = Known(thread=lambda _m: None,
                 senders=lambda a: {key} if a == "jidian@test.example" else set())
    assert decide(campaign, mail("你好", sender="jidian@test.example"), known=unit) == \
        (key, SENDER)
    assert decide(campaign, mail("你好", sender="other@test.example"), known=unit) == (None, "")


def test_mail_received_before_the_call_opened_is_never_its(campaign: Campaign) -> None:
    form = [("附件2-推荐审批表.docx", approval_docx(SAMPLE_STUDIOS[0]))]
    assert decide(campaign, mail("劳模工作室申报", "", form), BEFORE) == (None, "")


def test_a_dedicated_mailbox_gives_every_mail_to_the_campaign(campaign: Campaign) -> None:
    personal = mail("周五下午工会活动安排")
    assert decide(campaign, personal, shared=False) == (campaign.campaign.key, MAILBOX)


def test_roster_addresses_count_as_known_senders(tmp_path: Path) -> None:
    text = RULES.read_text(encoding="utf-8") + (
        '\n[[units]]\nname = "机电工程学院"\nemails = ["JiDian@test.example"]\n')
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    campaign = load_rules(path)
    assert decide(campaign, mail("你好", sender="jidian@test.example")) == \
        (campaign.campaign.key, SENDER)


@pytest.mark.parametrize(("line", "error"), [
    ("opens = 2022-09-30", "time of day"),
    ("opens = 2022-10-11T09:00:00", "before the deadline"),
    ('keywords = ["劳模", " "]', "keyword is empty"),
])
def test_bad_opens_or_keywords_are_one_clear_line(tmp_path: Path, line: str, error: str) -> None:
    text = RULES.read_text(encoding="utf-8")
    key = line.split(" =")[0]
    text = "\n".join(row for row in text.splitlines() if not row.startswith(f"{key} ="))
    text = text.replace('receipt_prefix = "GZS2022"', f'receipt_prefix = "GZS2022"\n{line}')
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=error):
        load_rules(path)


def test_a_bounce_is_the_campaigns_only_when_it_returns_one_of_our_replies(
        campaign: Campaign) -> None:
    from mailbot.campaign.routing import quoted_ids
    from mailbot.demo.machinemail import build_bounce

    ours = build_mail(sender="office@test.example", to="wrong@test.example",
                      subject="【需补正】你好", body="", attachments=[], style="qq",
                      message_id="<reply-1@office.test>")
    personal = build_mail(sender="office@test.example", to="wrong@test.example",
                          subject="周末聚餐", body="", attachments=[], style="qq",
                          message_id="<mine-1@office.test>")
    key = campaign.campaign.key
    known = Known(thread=lambda mid: key if mid == "<reply-1@office.test>" else None,
                  senders=lambda _a: set())
    for original, expected in ((ours, (key, THREAD)), (personal, (None, ""))):
        bounce = build_bounce(to="office@test.example", original=original)
        parsed = parse_message(bounce)
        assert parsed.automatic
        decision = route(parsed, AFTER, [campaign], known, quoted=quoted_ids(bounce))
        assert ((decision.campaign.campaign.key if decision.campaign else None),
                decision.why) == expected
    # A person's mail quoting our Message-ID in its text does not become ours that way.
    quoting = mail("周末聚餐", "Message-ID: <reply-1@office.test>")
    assert route(parse_message(quoting), AFTER, [campaign], known,
                 quoted=quoted_ids(quoting)).campaign is None


def test_shared_mailbox_is_a_setting() -> None:
    from mailbot.config import load_settings
    from mailbot.errors import ConfigError

    assert load_settings(environ={}).shared_mailbox is True
    assert load_settings(environ={"MAILBOT_SHARED_MAILBOX": "false"}).shared_mailbox is False
    with pytest.raises(ConfigError, match="MAILBOT_SHARED_MAILBOX"):
        load_settings(environ={"MAILBOT_SHARED_MAILBOX": "maybe"})
