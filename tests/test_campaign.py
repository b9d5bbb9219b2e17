"""The campaign's life against Dovecot: roster units, versions, deadline policy, reminders,
the final report and paper copies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from intake_support import ON_TIME, RULES, Bot, body
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.campaign.units import mark_paper
from mailbot.cli.schedule import remind, report_if_due
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.intake.cycle import Runtime
from mailbot.store.models import Reminder
from mailbot.timefmt import OFFICE_ZONE

DEADLINE = datetime(2022, 10, 10, 17, 30, tzinfo=OFFICE_ZONE)
A, B, C = SAMPLE_STUDIOS[:3]
ROSTER = f"""
[[units]]
name = "{A.unit}"
aliases = ["机电学院"]
emails = ["a-office@test.example"]

[[units]]
name = "{B.unit}"
emails = ["b-office@test.example"]

[[units]]
name = "{C.unit}"
emails = ["c-office@test.example", "c-dean@test.example"]
"""


def campaign_with(tmp_path: Path, extra: str = "", **replace: str) -> Campaign:
    text = RULES.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "rules.toml"
    path.write_text(text + extra, encoding="utf-8")
    return load_rules(path)


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return Bot(dovecot, smtp_relay, tmp_path / "state", campaign_with(tmp_path, ROSTER))


def files(studio: object, *which: str, words: int = 1200) -> list[tuple[str, bytes]]:
    s = studio  # a StudioSample
    made = {"1": ("附件1-推荐汇总表.docx", summary_docx(s.unit, [s])),  # type: ignore[attr-defined]
            "2": ("附件2-推荐审批表.docx", approval_docx(s)),  # type: ignore[arg-type]
            "3": ("附件3-申报材料.docx", material_docx(s, words))}  # type: ignore[arg-type]
    return [made[w] for w in which]


def runtime(bot: Bot) -> Runtime:
    return Runtime(bot.settings, bot.campaign)


def test_roster_units_are_matched_by_address_then_by_name(bot: Bot) -> None:
    # A's set comes in pieces from two addresses: the roster one, then a colleague's.
    bot.submit("a-office@test.example", files(A, "1", "2"))
    bot.submit("colleague@test.example", files(A, "3"), received=ON_TIME.replace(hour=11))
    # Someone not on the roster writes in.
    bot.submit("stranger@test.example", files(SAMPLE_STUDIOS[3], "1", "2", "3"),
               received=ON_TIME.replace(hour=12))
    report = bot.poll()
    # The roster lists A's address: the colleague's 附件3 waits for the office (待核实).
    assert report.results == {"补正": 2, "受理": 1}
    units = {row["单位"]: row for row in bot.sheet("单位进度")}
    assert units[A.unit]["状态"] == "未齐全" and units[A.unit]["附件3"] == "待核实"
    assert units[A.unit]["联系邮箱"] == "a-office@test.example"
    assert units[B.unit]["状态"] == "未提交" and units[C.unit]["状态"] == "未提交"
    assert units[f"{SAMPLE_STUDIOS[3].unit}（名单外）"]["状态"] == "已齐全"
    assert "待核实" in body(bot.replies("colleague@test.example")[0])

    from mailbot.campaign import claims
    from mailbot.store.models import Message
    rt = runtime(bot)
    with rt.sessions.begin() as session:
        [held] = claims.awaiting_review(session)
        claims.review(session, rt.campaign, rt.intake.composer, held, accept=True)
    rt.write_workbook()
    units = {row["单位"]: row for row in bot.sheet("单位进度")}
    assert units[A.unit]["状态"] == "已齐全"
    assert units[A.unit]["联系邮箱"] == "a-office@test.example, colleague@test.example"
    assert units[B.unit]["状态"] == "未提交" and units[C.unit]["状态"] == "未提交"
    assert units[f"{SAMPLE_STUDIOS[3].unit}（名单外）"]["状态"] == "已齐全"
    with rt.sessions() as session:
        assert session.get(Message, held.id).review == "已确认"  # type: ignore[union-attr]


def test_resubmission_after_acceptance_replaces_the_file_and_is_acknowledged_again(
        bot: Bot) -> None:
    bot.submit("a-office@test.example", files(A, "1", "2", "3", words=1200))
    bot.poll()
    bot.submit("a-office@test.example", files(A, "3", words=1800),
               received=ON_TIME.replace(hour=16), subject="更正申报材料")
    bot.poll()
    [studio] = bot.sheet("汇总")
    assert studio["材料字数"] == 1800
    first, second = bot.replies("a-office@test.example")
    assert first["Subject"].startswith("【已受理】") and second["Subject"].startswith("【已受理】")
    assert "1800 字" in body(second)
    # Both versions stay on record.
    assert [r["识别"] for r in bot.sheet("收件记录")] == ["附件1\n附件2\n附件3", "附件3"]


def test_a_late_version_never_replaces_one_that_came_in_time(bot: Bot) -> None:
    bot.submit("a-office@test.example", files(A, "1", "2", "3", words=1200))
    bot.submit("a-office@test.example", files(A, "3", words=1900),
               received=DEADLINE + timedelta(hours=2))
    bot.poll()
    [studio] = bot.sheet("汇总")
    assert studio["材料字数"] == 1200 and studio["是否逾期"] == "否"
    assert [r["是否逾期"] for r in bot.sheet("收件记录")] == ["否", "是"]


def test_refuse_policy_answers_late_mail_politely_and_does_not_count_it(
        dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> None:
    campaign = campaign_with(tmp_path, ROSTER, **{'late_policy = "accept"':
                                                  'late_policy = "refuse"'})
    bot = Bot(dovecot, smtp_relay, tmp_path / "state", campaign)
    bot.submit("a-office@test.example", files(A, "1", "2", "3"),
               received=DEADLINE + timedelta(minutes=5))
    bot.poll()
    [reply] = bot.replies("a-office@test.example")
    assert "逾期材料不再受理" in body(reply)
    assert bot.sheet("收件记录")[0]["处理结果"] == "补正"
    assert bot.sheet("汇总") == []  # nothing counts


def test_grace_period_moves_the_cutoff(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                       tmp_path: Path) -> None:
    campaign = campaign_with(tmp_path, ROSTER, **{'late_policy = "accept"':
                                                  'late_policy = "accept"\ngrace_minutes = 30'})
    bot = Bot(dovecot, smtp_relay, tmp_path / "state", campaign)
    bot.submit("a-office@test.example", files(A, "1", "2", "3"),
               received=DEADLINE + timedelta(minutes=20))
    bot.poll()
    assert bot.sheet("收件记录")[0]["是否逾期"] == "否"


def test_reminders_reach_exactly_the_unfinished_units_once_per_offset(bot: Bot) -> None:
    bot.submit("a-office@test.example", files(A, "1", "2", "3"))  # complete
    bot.submit("b-office@test.example", files(B, "1", "2"))  # 附件3 missing; C is silent
    bot.poll()
    with runtime(bot).sessions.begin() as session:
        mark_paper(session, bot.campaign, A.unit, ON_TIME)
    three_days = DEADLINE - timedelta(days=3)

    assert remind(runtime(bot), three_days - timedelta(minutes=1)) == []  # nothing due yet
    listed = remind(runtime(bot), three_days, dry_run=True)
    assert sorted(r.unit_name for r in listed) == sorted([B.unit, C.unit])
    assert bot.replies("b-office@test.example")[1:] == []  # a dry run sends nothing

    sent = remind(runtime(bot), three_days)
    assert sorted(r.unit_name for r in sent) == sorted([B.unit, C.unit])
    b_reminder = bot.replies("b-office@test.example")[-1]
    assert b_reminder["Auto-Submitted"] == "auto-generated"
    text = body(b_reminder)
    assert f"工作室“{B.name}”尚未收到附件3《申报材料》" in text
    assert "纸质版材料尚未送达" in text
    for address in ("c-office@test.example", "c-dean@test.example"):
        [c_reminder] = bot.replies(address)
        assert "还没有收到贵单位的任何申报材料" in body(c_reminder)
    assert bot.replies("a-office@test.example")[1:] == []  # A has everything

    # Again at the same offset, and after a restart: nothing repeats.
    assert remind(runtime(bot), three_days + timedelta(hours=1)) == []
    assert remind(Runtime(bot.settings, bot.campaign), three_days + timedelta(hours=2)) == []
    assert len(bot.relay.messages) == 2 + 2  # two replies, two reminders (C: one mail, two To)

    # B completes its set; at the next offset only C (silent) and B's paper copy remain.
    bot.submit("b-office@test.example", files(B, "3"), received=ON_TIME.replace(hour=15))
    bot.poll()
    one_day = remind(runtime(bot), DEADLINE - timedelta(days=1))
    assert sorted(r.unit_name for r in one_day) == sorted([B.unit, C.unit])
    text = body(bot.replies("b-office@test.example")[-1])
    assert "纸质版材料尚未送达" in text and "附件3" not in text.split("还需要")[1].split("已经")[0]
    assert remind(runtime(bot), DEADLINE + timedelta(minutes=1)) == []  # none after the deadline


def test_a_bot_that_was_down_sends_only_the_latest_offset(bot: Bot) -> None:
    bot.submit("b-office@test.example", files(B, "1"))
    bot.poll()
    sent = remind(runtime(bot), DEADLINE - timedelta(hours=2))  # 3d, 1d and 3h all passed
    assert {r.offset for r in sent} == {"3h"}
    assert len(bot.replies("b-office@test.example")) == 2  # the correction and ONE reminder
    with runtime(bot).sessions() as session:
        rows = {(r.offset, r.sent) for r in session.query(Reminder).filter_by(unit_id=2)}
    assert rows == {("3d", False), ("1d", False), ("3h", True)}


def test_the_final_report_reaches_the_office_once_after_the_deadline(bot: Bot) -> None:
    bot.submit("a-office@test.example", files(A, "1", "2", "3"))
    bot.submit("b-office@test.example", files(B, "1", "2"),
               received=DEADLINE + timedelta(minutes=1))
    rt = runtime(bot)
    assert report_if_due(rt, DEADLINE - timedelta(minutes=1)) is False
    assert report_if_due(rt, DEADLINE + timedelta(minutes=10)) is True  # polls first, then reports
    assert report_if_due(Runtime(bot.settings, bot.campaign), DEADLINE + timedelta(hours=1)) is False
    [report] = bot.replies("clerk@test.example")
    text = body(report)
    assert "已齐全：1 个单位" in text
    assert "未齐全（材料不全或待更正）：1 个单位" in text
    assert "名单内未提交：1 个单位" in text and C.unit in text
    assert "有逾期邮件：1 个单位" in text
    [attachment] = list(report.iter_attachments())
    assert attachment.get_filename() == "汇总表.xlsx"
    import io

    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert book.sheetnames == ["汇总", "单位进度", "收件记录"]


def test_paper_copies_are_recorded_and_shown(bot: Bot, tmp_path: Path) -> None:
    bot.submit("a-office@test.example", files(A, "1", "2", "3"))
    bot.poll()
    assert "一式三份" in body(bot.replies("a-office@test.example")[0])
    env = bot.environment(MAILBOT_RULES=str(tmp_path / "rules.toml"))
    done = subprocess.run([sys.executable, "-m", "mailbot", "paper", "机电学院"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    units = {row["单位"]: row["纸质版"] for row in bot.sheet("单位进度")}
    assert units[A.unit].startswith("已收到（") and units[B.unit] == "未收到"
    unknown = subprocess.run([sys.executable, "-m", "mailbot", "paper", "不存在的学院"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "没有找到单位" in unknown.stderr


def test_mailbot_run_answers_mail_and_stops_cleanly_on_sigterm(bot: Bot, tmp_path: Path) -> None:
    env = bot.environment(MAILBOT_RULES=str(tmp_path / "rules.toml"))
    bot.submit("a-office@test.example", files(A, "1", "2", "3"))
    process = subprocess.Popen([sys.executable, "-m", "mailbot", "run"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not bot.replies("a-office@test.example"):
            time.sleep(0.2)
        assert bot.replies("a-office@test.example"), "no reply within 120 s"
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "mailbot stopped" in err and "Traceback" not in err
