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
from mailbot.cli.check import check_files
from mailbot.demo.samples import recommendation_docx
from mailbot.errors import RulesError
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


@pytest.mark.parametrize(("change", "error"), [
    (('key = "recommendation"', 'key = "unknown"'), "field `documents.0.key`: .*unknown"),
    (('key = "recommendation"', 'key = "Recommendation Form"'), "field `documents.0.key`"),
    (('key = "recommendation"', 'key = "a_key_longer_than_16"'), "field `documents.0.key`"),
    (('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shenzhen"'),
     "field `campaign.timezone`: .*unknown time zone 'Asia/Shenzhen'"),
    (("deadline = 2023-04-28T17:00:00", "deadline = 2023-04-28"),
     "field `campaign.deadline`: .*no time of day"),
    (("opens = 2023-04-10T09:00:00", "opens = 2023-04-29T09:00:00"),
     "field `campaign`: .*opens \\(2023-04-29 09:00:00\\) must be before the deadline"),
    (('per = "unit"', 'per = "unit"\nstudio_column = "工作室名称"'), None),
    (('per = "unit"', 'per = "studio"\nstudio_column = "工作室名称"'),
     "field `documents.0`: .*studio_column .* needs per"),
])
def test_the_second_rules_file_is_validated_field_by_field(
        tmp_path: Path, change: tuple[str, str], error: str | None) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    if error is None:  # a list of studios per unit is allowed: it makes the campaign one of studios
        assert load_rules(path).has_studios
        return
    with pytest.raises(RulesError, match=error):
        load_rules(path)


def test_check_command_judges_the_second_campaigns_form(tmp_path: Path) -> None:
    """`mailbot check` with these rules: the kind is the rules' key, the verdict its limits."""
    good, long = tmp_path / "推荐表.docx", tmp_path / "推荐表-长.docx"
    good.write_bytes(recommendation_docx("王芳", "计算机学院", 1500))
    long.write_bytes(recommendation_docx("张伟", "机电工程学院", 1501))
    campaign = load_rules(RULES)
    [result] = check_files([good], campaign)
    assert (result["kind"], result["word_count"], result["problems"]) == \
        ("recommendation", 1500, [])
    [result] = check_files([long], campaign)
    assert [p["code"] for p in result["problems"]] == ["word-limit"]
