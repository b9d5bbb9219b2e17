"""Two campaigns at once on one shared mailbox (CONTRACT "Campaigns and the mailbox").

The 劳模和工匠 call (附件1–3, studios) and an 优秀工会工作者 call (one 推荐表 per unit), both open,
read from one Dovecot INBOX by one poll: each mail goes to its own campaign, gets that
campaign's receipt prefix and lands in that campaign's workbook (state/<key>/汇总表.xlsx); a
question is answered with its own campaign's deadline; personal mail is left alone (未归类).
"""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from intake_support import OFFICE, RULES, Bot, body
from servers import Dovecot, SmtpRelay
from typer.testing import CliRunner
from web_support import PASSWORD, app_for, login, page_csrf

from mailbot.campaign.rules import Campaign, load_campaigns
from mailbot.cli.main import app
from mailbot.config import Settings
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    recommendation_docx,
    summary_docx,
)
from mailbot.errors import RulesError
from mailbot.intake.cycle import CycleTally, Runtime, run_cycle
from mailbot.store.models import Message, Unit
from mailbot.store.scoping import ACROSS_CAMPAIGNS
from mailbot.timefmt import OFFICE_ZONE
from mailbot.web import dashboard

SECOND = RULES.parent / "examples" / "youxiu-gonghui-2023.toml"
LAOMO, YOUXIU = "laomo-gongjiang-2022", "youxiu-gonghui-2023"
RECEIVED = datetime(2022, 10, 9, 10, 0, tzinfo=OFFICE_ZONE)  # both calls open
STUDIO = SAMPLE_STUDIOS[0]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """Both calls in one directory; the second one moved to run beside the first."""
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(RULES, folder / RULES.name)
    text = SECOND.read_text(encoding="utf-8")
    text = text.replace("opens = 2023-04-10T09:00:00", "opens = 2022-09-01T09:00:00")
    text = text.replace("deadline = 2023-04-28T17:00:00", "deadline = 2022-10-20T17:00:00")
    (folder / SECOND.name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def campaigns(rules_dir: Path) -> list[Campaign]:
    return load_campaigns(rules_dir)


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path,
        campaigns: list[Campaign]) -> Bot:
    return Bot(dovecot, smtp_relay, tmp_path / "state", campaigns[0])


def poll(bot: Bot, campaigns: list[Campaign]) -> CycleTally:
    return run_cycle(Runtime(bot.settings, campaigns[0], campaigns=campaigns))


def sheet(bot: Bot, key: str, name: str) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(bot.state_dir / key / "汇总表.xlsx")
    rows = list(book[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_a_directory_of_rules_is_every_campaign(rules_dir: Path) -> None:
    assert [c.campaign.key for c in load_campaigns(rules_dir)] == [LAOMO, YOUXIU]
    (rules_dir / "copy.toml").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(RulesError, match=r"field `campaign\.key` 'laomo-gongjiang-2022'"):
        load_campaigns(rules_dir)


def test_two_campaigns_share_one_mailbox(bot: Bot, campaigns: list[Campaign]) -> None:
    studio_unit, union_unit = "jidian@test.example", "cs@test.example"
    asker_a, asker_b, friend = "ask-a@test.example", "ask-b@test.example", "friend@test.example"
    bot.submit(studio_unit, [("附件1-推荐汇总表.docx", summary_docx(STUDIO.unit, [STUDIO])),
                             ("附件2-推荐审批表.docx", approval_docx(STUDIO)),
                             ("附件3-申报材料.docx", material_docx(STUDIO, 1500))],
               received=RECEIVED, subject="机电学院申报材料")
    bot.submit(union_unit, [("优秀工会工作者推荐表.docx",
                             recommendation_docx("王芳", "计算机学院", 1200))],
               received=RECEIVED.replace(minute=5), subject="计算机学院推荐材料")
    bot.submit(asker_a, [], received=RECEIVED.replace(minute=10),
               subject="请问优秀工会工作者推荐可以推荐几人？")
    bot.submit(asker_b, [], received=RECEIVED.replace(minute=15),
               subject="劳模和工匠人才创新工作室推荐申报的问题")
    personal = build_mail(sender=friend, to=OFFICE, subject="周末一起吃饭吗",
                          body="老地方见，顺便带上上次借的书。", date=RECEIVED)
    bot.dovecot.append(OFFICE, personal, internaldate=RECEIVED.replace(minute=20))
    report = poll(bot, campaigns)
    assert report.results == {"受理": 2, "咨询": 2, "未归类": 1}

    # Each campaign its own receipt numbers, its own counter.
    assert "GZS2022-0001" in body(bot.replies(studio_unit)[0])
    assert "YXGH2023-0001" in body(bot.replies(union_unit)[0])
    # A question gets its own call's deadline.
    assert "2022-10-20 17:00" in body(bot.replies(asker_a)[0])
    assert "2022-10-10 17:30" in body(bot.replies(asker_b)[0])
    assert "2022-10-10 17:30" not in body(bot.replies(asker_a)[0])
    assert bot.replies(friend) == []  # personal mail: not answered

    # One workbook per campaign, each with its own mail, none with the personal one.
    assert not (bot.state_dir / "汇总表.xlsx").exists()
    laomo = sheet(bot, LAOMO, "收件记录")
    youxiu = sheet(bot, YOUXIU, "收件记录")
    assert [r["发件人"] for r in laomo] == [studio_unit, asker_b]
    assert [r["发件人"] for r in youxiu] == [union_unit, asker_a]
    assert [r["回执编号"] for r in youxiu if r["回执编号"]] == ["YXGH2023-0001"]
    assert list(sheet(bot, LAOMO, "单位进度")[0])[2:5] == ["附件1", "附件2", "附件3"]
    assert list(sheet(bot, YOUXIU, "单位进度")[0])[2] == "附件"
    assert [r["推荐单位"] for r in sheet(bot, YOUXIU, "汇总")] == ["计算机学院"]
    assert [r["工作室名称"] for r in sheet(bot, LAOMO, "汇总")] == [STUDIO.name]

    # Units of one campaign are that campaign's alone.
    runtime = Runtime(bot.settings, campaigns[0], campaigns=campaigns)
    for key, names in ((LAOMO, [STUDIO.unit]), (YOUXIU, ["计算机学院"])):
        with runtime.lane(key).sessions() as session:
            assert [u.name for u in session.query(Unit).filter(Unit.name != "")] == names
    with runtime.sessions() as session:
        mailbox = session.query(Message).execution_options(**ACROSS_CAMPAIGNS).all()
        assert {m.campaign for m in mailbox} == {LAOMO, YOUXIU}
        assert len(mailbox) == 5


def test_a_second_poll_numbers_on_per_campaign(bot: Bot, campaigns: list[Campaign]) -> None:
    for minute, sender in enumerate(("a@test.example", "b@test.example")):
        bot.submit(sender, [("推荐表.docx", recommendation_docx(f"人{minute}", f"单位{minute}",
                                                             900))],
                   received=RECEIVED.replace(minute=minute), subject="优秀工会工作者推荐")
        poll(bot, campaigns)
    receipts = [r["回执编号"] for r in sheet(bot, YOUXIU, "收件记录")]
    assert receipts == ["YXGH2023-0001", "YXGH2023-0002"]
    assert sheet(bot, LAOMO, "收件记录") == []


def test_commands_ask_which_campaign(bot: Bot, rules_dir: Path, campaigns: list[Campaign],
                                     tmp_path: Path) -> None:
    runner = CliRunner()
    env = bot.environment(MAILBOT_RULES=str(rules_dir))
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "x.xlsx")], env=env)
    assert result.exit_code == 2
    assert LAOMO in result.output and YOUXIU in result.output and "--campaign" in result.output
    result = runner.invoke(app, ["export", "--campaign", YOUXIU, "--out",
                                 str(tmp_path / "x.xlsx")], env=env)
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "x.xlsx")
    assert [c.value for c in book["单位进度"][1]][2] == "附件"
    result = runner.invoke(app, ["status", "--campaign", "nope"], env=env)
    assert result.exit_code == 2 and LAOMO in result.output


def test_the_dashboard_switches_campaigns_and_hands_mail_to_one(
        bot: Bot, campaigns: list[Campaign]) -> None:
    friend = "friend@test.example"
    raw = build_mail(sender=friend, to=OFFICE, subject="你好", body="附上一份文件，请看看。",
                     date=RECEIVED)
    bot.dovecot.append(OFFICE, raw, internaldate=RECEIVED)
    bot.submit("cs@test.example", [("推荐表.docx", recommendation_docx("王芳", "计算机学院", 900))],
               received=RECEIVED.replace(minute=5), subject="优秀工会工作者推荐")
    assert poll(bot, campaigns).results == {"未归类": 1, "受理": 1}

    runtime = Runtime(replace(bot.settings, office_password=PASSWORD), campaigns[0],
                      campaigns=campaigns)
    client = login(app_for(runtime).test_client())
    first = client.get("/units").get_data(as_text=True)
    assert "计算机学院" not in first  # the first campaign's units only
    assert "优秀工会工作者推荐" in first  # a link to switch to the other one
    switched = client.get(f"/units?campaign={YOUXIU}").get_data(as_text=True)
    assert "计算机学院" in switched
    assert "计算机学院" in client.get("/units").get_data(as_text=True)  # remembered
    assert client.get("/units?campaign=nope").status_code == 404
    with client.get("/workbook.xlsx") as download:  # the campaign shown's workbook
        book = openpyxl.load_workbook(io.BytesIO(download.data))
    assert [c.value for c in book["单位进度"][1]][2] == "附件"

    # 未归类 is the mailbox's: listed whichever campaign is shown, handed to the one shown.
    inbox = client.get("/inbox").get_data(as_text=True)
    assert "你好" in inbox
    with runtime.sessions() as session:
        [mail] = dashboard.unclassified(session)
    done = client.post(f"/messages/{mail.id}/assign",
                       data={"csrf_token": page_csrf(client, "/inbox")})
    assert done.status_code == 302
    [answer] = bot.replies(friend)
    assert "2022-10-20 17:00" in body(answer)  # the 优秀工会工作者 call's facts (a 咨询)
    assert [r["发件人"] for r in sheet(bot, YOUXIU, "收件记录")] == [friend, "cs@test.example"]
    assert [r["发件人"] for r in sheet(bot, LAOMO, "收件记录")] == []


def test_a_release_0_1_state_opened_with_two_campaigns_stays_its_campaigns(
        tmp_path: Path, campaigns: list[Campaign]) -> None:
    """Upgrading files the old rows under release 0.1's campaign, even when a command is
    asked about the other one; the other starts empty, with its own first receipt."""
    state = tmp_path / "old-state"
    shutil.copytree(RULES.parent.parent / "tests" / "fixtures" / "v0.1-state", state)
    youxiu = next(c for c in campaigns if c.campaign.key == YOUXIU)
    runtime = Runtime(Settings(from_address=OFFICE, state_dir=state), youxiu,
                      campaigns=[youxiu, *[c for c in campaigns if c is not youxiu]])
    with runtime.sessions() as session:
        assert session.query(Message).count() == 0  # the new call has nothing yet
        everything = session.query(Message).execution_options(**ACROSS_CAMPAIGNS).all()
    assert everything and {m.campaign for m in everything} == {LAOMO}
    with runtime.lane(LAOMO).sessions() as session:
        assert session.query(Message).count() == len(everything)
