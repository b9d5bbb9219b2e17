"""A campaign is data: a second call with other forms runs from its rules file alone.

rules/examples/youxiu-gonghui-2023.toml asks each unit for one 优秀工会工作者推荐表 (per unit,
no studios) with 姓名, 所在单位, 主要事迹 filled in and at most 1500 字. Mail goes through a
real Dovecot and SMTP relay; the workbook is read back from disk.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from intake_support import Bot, body
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import load_rules
from mailbot.demo.samples import recommendation_docx
from mailbot.timefmt import OFFICE_ZONE

RULES = Path(__file__).resolve().parent.parent / "rules" / "examples" / "youxiu-gonghui-2023.toml"
ON_TIME = datetime(2023, 4, 20, 10, 0, tzinfo=OFFICE_ZONE)
UNIT_A, UNIT_B = "cs@test.example", "me@test.example"


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return Bot(dovecot, smtp_relay, tmp_path / "state", load_rules(RULES))


def test_the_second_campaign_accepts_and_corrects_by_its_own_rules(bot: Bot) -> None:
    bot.submit(UNIT_A, [("优秀工会工作者推荐表-王芳.docx",
                         recommendation_docx("王芳", "计算机学院", 1500))],
               received=ON_TIME, subject="优秀工会工作者推荐")
    bot.submit(UNIT_B, [("推荐表.docx", recommendation_docx("张伟", "机电工程学院", 1501))],
               received=ON_TIME.replace(hour=11), subject="优秀工会工作者推荐")
    report = bot.poll()
    assert report.results == {"受理": 1, "补正": 1}

    [accepted] = bot.replies(UNIT_A)
    text = body(accepted)
    assert accepted["Subject"].startswith("【已受理】")
    assert "YXGH2023-0001" in text  # its own receipt prefix and counter
    assert "附件《优秀工会工作者推荐表》" in text and "1500 字" in text
    assert "推荐表纸质版一份" in text  # this campaign's paper copies, not 附件2 一式三份
    assert "工作室" not in text

    [corrected] = bot.replies(UNIT_B)
    text = body(corrected)
    assert corrected["Subject"].startswith("【需补正】")
    assert "共 1501 字，超过 1500 字的上限（多 1 字）" in text
    assert "优秀工会工作者推荐表" in text and "工作室" not in text

    # 单位进度: one column per form of these rules; 汇总: one row per unit, its 字数.
    progress = bot.sheet("单位进度")
    assert list(progress[0]) == ["单位", "联系邮箱", "附件", "状态", "最后收件时间", "纸质版"]
    assert [(r["单位"], r["附件"], r["状态"]) for r in progress] == [
        ("计算机学院", "已收", "已齐全"), ("机电工程学院", "待更正", "未齐全")]
    summary = bot.sheet("汇总")
    assert list(summary[0]) == ["序号", "推荐单位", "联系邮箱", "优秀工会工作者推荐表字数",
                                "状态", "是否逾期", "最后收件时间", "回执编号"]
    assert [(r["推荐单位"], r["优秀工会工作者推荐表字数"], r["状态"], r["回执编号"])
            for r in summary] == [("计算机学院", 1500, "已齐全", "YXGH2023-0001"),
                                  ("机电工程学院", 1501, "待更正", "YXGH2023-0002")]
    records = bot.sheet("收件记录")
    assert [r["识别"] for r in records] == ["附件", "附件"]


def test_a_required_field_left_blank_is_named(bot: Bot) -> None:
    bot.submit(UNIT_A, [("推荐表.docx",
                         recommendation_docx("王芳", "计算机学院", 800, blank=["主要事迹"]))],
               received=ON_TIME, subject="优秀工会工作者推荐")
    assert bot.poll().results == {"补正": 1}
    text = body(bot.replies(UNIT_A)[0])
    assert "以下栏目未填写：“主要事迹”" in text


def test_mail_of_the_other_call_is_not_this_campaigns(bot: Bot) -> None:
    """In a shared mailbox, mail that names neither this call nor its forms is left alone."""
    bot.submit(UNIT_A, [("照片.jpg", b"\xff\xd8\xff\xe0 not really a photo")],
               received=ON_TIME, subject="周末聚餐")
    report = bot.poll()
    assert "受理" not in report.results and "补正" not in report.results
    assert bot.replies(UNIT_A) == []
    assert bot.sheet("收件记录") == []  # in no workbook
