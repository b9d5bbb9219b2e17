"""Two campaigns on one mailbox, run by two offices: each reply speaks for its own campaign's
office — the sender name in From, the signature, the contact person and phone — as its rules
file says, whichever campaign the poll was started with.

The set-up is that of tests/test_campaigns_shared.py (the 劳模和工匠 call and an 优秀工会工作者
call, both open, one Dovecot INBOX, one poll), with the second call given an office of its own.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest
from intake_support import RULES, Bot, body
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import Campaign, load_campaigns
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    recommendation_docx,
    summary_docx,
)
from mailbot.intake.cycle import Runtime, run_cycle
from mailbot.timefmt import OFFICE_ZONE

SECOND = RULES.parent / "examples" / "youxiu-gonghui-2023.toml"
RECEIVED = datetime(2022, 10, 9, 10, 0, tzinfo=OFFICE_ZONE)  # both calls open
STUDIO = SAMPLE_STUDIOS[0]
# The second call's office, as its rules file gives it (the first keeps 校工会办公室, 李田甜).
SECOND_OFFICE = {"name": "校工会组织宣传部", "contact": "王晓明", "phone": "0755-23250000",
                 "email": "wangxm@sztu.edu.cn", "room": "C3行政楼1310"}


@pytest.fixture
def campaigns(tmp_path: Path) -> list[Campaign]:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(RULES, folder / RULES.name)
    text = SECOND.read_text(encoding="utf-8")
    text = text.replace("opens = 2023-04-10T09:00:00", "opens = 2022-09-01T09:00:00")
    text = text.replace("deadline = 2023-04-28T17:00:00", "deadline = 2022-10-20T17:00:00")
    text = text.replace('name = "校工会办公室"', f'name = "{SECOND_OFFICE["name"]}"')
    for field in ("contact", "phone", "email", "room"):
        first = {"contact": "李田甜", "phone": "0755-23256570",
                 "email": "litiantian@sztu.edu.cn", "room": "C3行政楼1307"}[field]
        text = text.replace(f'{field} = "{first}"', f'{field} = "{SECOND_OFFICE[field]}"', 1)
    text = re.sub(r'(?m)^paper_copies = ".*"$',
                  f'paper_copies = "请将推荐表纸质版送至{SECOND_OFFICE["name"]}。"', text, count=1)
    (folder / SECOND.name).write_text(text, encoding="utf-8")
    loaded = load_campaigns(folder)
    assert loaded[1].office.name == SECOND_OFFICE["name"]  # the edit above took
    assert loaded[1].office.contact == SECOND_OFFICE["contact"]
    return loaded


def sender_name(mail: EmailMessage) -> str:
    address = mail["From"].addresses[0]
    assert isinstance(address, Address)
    return address.display_name


@pytest.mark.parametrize("first", [0, 1], ids=["laomo-first", "youxiu-first"])
def test_each_reply_names_its_own_office(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                         tmp_path: Path, campaigns: list[Campaign],
                                         first: int) -> None:
    # The poll is started with either campaign first: neither may lend the other its office.
    ordered = campaigns[first:] + campaigns[:first]
    bot = Bot(dovecot, smtp_relay, tmp_path / "state", ordered[0])
    studio_unit, union_unit = "jidian@test.example", "cs@test.example"
    asker_a, asker_b = "ask-a@test.example", "ask-b@test.example"
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
    report = run_cycle(Runtime(bot.settings, ordered[0], campaigns=ordered))
    assert report.results == {"受理": 2, "咨询": 2}

    laomo, youxiu = campaigns[0].office, campaigns[1].office
    for address, office, other in ((studio_unit, laomo, youxiu), (asker_b, laomo, youxiu),
                                   (union_unit, youxiu, laomo), (asker_a, youxiu, laomo)):
        [reply] = bot.replies(address)
        text = body(reply)
        assert sender_name(reply) == office.name, address
        assert f"联系人：{office.contact}" in text or f"联系人 {office.contact}" in text, text
        assert office.phone in text, address
        assert other.contact not in text and other.phone not in text, address
        assert other.name not in text.replace(office.name, ""), address
