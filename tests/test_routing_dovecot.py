"""Against Dovecot, in the clerk's shared mailbox: personal mail left alone (未归类), `poll
--dry-run` changing nothing, questions (咨询) answered from the dashboard, and a new address
claiming a roster unit held (待核实) until the office confirms it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from intake_support import ON_TIME, RULES, Bot, body
from servers import Dovecot, SmtpRelay
from web_support import PASSWORD, app_for, login, page_csrf

from mailbot.campaign.reminders import plan
from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.intake.cycle import Runtime
from mailbot.store.models import Message
from mailbot.timefmt import OFFICE_ZONE
from mailbot.web import dashboard

OFFICE = "office@test.example"
SEPTEMBER = datetime(2022, 9, 16, 9, 30, tzinfo=OFFICE_ZONE)
A = SAMPLE_STUDIOS[0]
HANDLED = "$MailbotHandled"


def campaign(tmp_path: Path, roster: bool) -> Campaign:
    text = RULES.read_text(encoding="utf-8")
    if roster:
        text += f'\n[[units]]\nname = "{A.unit}"\nemails = ["a-office@test.example"]\n'
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return Bot(dovecot, smtp_relay, tmp_path / "state", campaign(tmp_path, roster=False))


@pytest.fixture
def roster_bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return Bot(dovecot, smtp_relay, tmp_path / "state", campaign(tmp_path, roster=True))


def personal(bot: Bot, sender: str, subject: str, when: datetime, text: str) -> None:
    raw = build_mail(sender=sender, to=OFFICE, subject=subject, body=text, attachments=[],
                     style="qq", date=when)
    bot.dovecot.append(OFFICE, raw, internaldate=when)


def full_set(studio: object = A) -> list[tuple[str, bytes]]:
    return [("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),  # type: ignore[attr-defined]
            ("附件2-推荐审批表.docx", approval_docx(studio)),  # type: ignore[arg-type]
            ("附件3-申报材料.docx", material_docx(studio, 1200))]  # type: ignore[arg-type]


def question(bot: Bot, sender: str, text: str = "请问申报截止时间？") -> bytes:
    raw = build_mail(sender=sender, to=OFFICE, subject=text, body="谢谢！", attachments=[],
                     style="qq", date=ON_TIME)
    bot.dovecot.append(OFFICE, raw, internaldate=ON_TIME)
    return raw


def office(bot: Bot) -> Runtime:
    """The runtime the dashboard uses (with the office password)."""
    return Runtime(replace(bot.settings, office_password=PASSWORD), bot.campaign)


def only_answer(bot: Bot, address: str) -> EmailMessage:
    [mail] = bot.replies(address)
    return mail


# --- 未归类 -----------------------------------------------------------------------------------

def test_personal_mail_is_left_alone_and_listed_as_unclassified(bot: Bot) -> None:
    personal(bot, "colleague@test.example", "周五下午工会活动安排", SEPTEMBER,
             "各位老师：周五下午三点在体育馆集合。")
    personal(bot, "friend@test.example", "周末一起吃饭吗", ON_TIME, "老地方见。")
    bot.submit("a-office@test.example", full_set())
    report = bot.poll()
    assert report.results == {"未归类": 2, "受理": 1}

    assert bot.replies("colleague@test.example") == [] == bot.replies("friend@test.example")
    flags = bot.dovecot.flags(OFFICE)
    assert sorted(HANDLED in f for f in flags.values()) == [False, False, True]
    assert [r["发件人"] for r in bot.sheet("收件记录")] == ["a-office@test.example"]
    runtime = office(bot)
    with runtime.sessions() as session:
        listed = [(m.from_addr, m.subject) for m in dashboard.unclassified(session)]
    assert listed == [("friend@test.example", "周末一起吃饭吗"),
                      ("colleague@test.example", "周五下午工会活动安排")]
    # Not examined again: nothing fetched, nothing marked, on every later cycle.
    again = bot.poll()
    assert again.fetched == 0 and not again.results
    assert bot.dovecot.flags(OFFICE) == flags

    # The dashboard lists them; handing one to the campaign processes and answers it.
    client = login(app_for(runtime).test_client())
    page = client.get("/inbox").get_data(as_text=True)
    assert "周五下午工会活动安排" in page and "周末一起吃饭吗" in page
    with runtime.sessions() as session:
        friend = next(m for m in dashboard.unclassified(session)
                      if m.from_addr == "friend@test.example")
    done = client.post(f"/messages/{friend.id}/assign", data={"csrf_token": page_csrf(client)})
    assert done.status_code == 302
    assert "【已收到】" in str(only_answer(bot, "friend@test.example")["Subject"])  # 咨询
    bot.poll()  # the next cycle marks it handled on the server
    assert sorted(HANDLED in f for f in bot.dovecot.flags(OFFICE).values()) == \
        [False, True, True]
    assert "周五下午工会活动安排" in client.get("/inbox").get_data(as_text=True)
    # Mail from before the call opened: only its header was fetched and kept, so it cannot
    # be handed over (the office reads it in the mailbox itself).
    [note] = list((bot.state_dir / "raw").rglob("*.omitted.txt"))
    assert "申报开始前" in note.read_text(encoding="utf-8")
    with runtime.sessions() as session:
        [early] = dashboard.unclassified(session)
    assert early.size < 4096
    refused = client.post(f"/messages/{early.id}/assign",
                          data={"csrf_token": page_csrf(client, "/inbox")})
    assert refused.status_code == 302
    assert "只保存了邮件头" in client.get("/inbox").get_data(as_text=True)
    assert bot.replies("colleague@test.example") == []


def test_a_dedicated_mailbox_answers_every_mail(bot: Bot) -> None:
    personal(bot, "friend@test.example", "周末一起吃饭吗", ON_TIME, "老地方见。")
    report = Runtime(replace(bot.settings, shared_mailbox=False), bot.campaign)
    from mailbot.intake.cycle import run_cycle
    assert run_cycle(report).results == {"咨询": 1}


def test_poll_dry_run_changes_nothing(bot: Bot) -> None:
    bot.submit("a-office@test.example", full_set()[:1])
    done = subprocess.run([sys.executable, "-m", "mailbot", "poll"], env=bot.environment(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    personal(bot, "colleague@test.example", "周五下午工会活动安排", SEPTEMBER, "集合。")
    bot.submit("a-office@test.example", full_set()[1:], received=ON_TIME.replace(hour=11))
    question(bot, "asker@test.example")
    database = bot.state_dir / "mailbot.sqlite3"
    before = (hashlib.sha256(database.read_bytes()).hexdigest(), bot.dovecot.flags(OFFICE),
              sorted(p.name for p in bot.state_dir.rglob("*")), len(bot.relay.messages))

    done = subprocess.run([sys.executable, "-m", "mailbot", "poll", "--dry-run"],
                          env=bot.environment(COLUMNS="200"), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "3 封新邮件" in done.stdout
    for expected in ("未归类", "受理", "咨询", "周五下午工会活动安排", "asker@test.example"):
        assert expected in done.stdout, done.stdout
    after = (hashlib.sha256(database.read_bytes()).hexdigest(), bot.dovecot.flags(OFFICE),
             sorted(p.name for p in bot.state_dir.rglob("*")
                    if not p.name.endswith(("-wal", "-shm"))),
             len(bot.relay.messages))
    assert after == before
    # The real poll still finds all three new, and decides as the preview said.
    assert bot.poll().results == {"未归类": 1, "受理": 1, "咨询": 1}


# --- 咨询 -------------------------------------------------------------------------------------

def test_a_question_gets_the_facts_and_the_office_answers_it_from_the_dashboard(
        bot: Bot) -> None:
    raw = question(bot, "asker@test.example")
    assert bot.poll().results == {"咨询": 1}
    text = body(only_answer(bot, "asker@test.example"))
    for fact in ("工作人员会尽快答复", "2022-10-10 17:30:00", "附件2《推荐审批表》",
                 "C3行政楼1307", "李田甜", "0755-23256570"):
        assert fact in text
    [row] = bot.sheet("收件记录")
    assert row["处理结果"] == "咨询"
    assert bot.sheet("单位进度") == []  # the asker is no unit: no reminders either
    runtime = office(bot)
    with runtime.sessions() as session:
        assert plan(session, bot.campaign, datetime(2022, 10, 9, 18, tzinfo=OFFICE_ZONE)) == []
        [asked] = session.query(Message).all()

    client = login(app_for(runtime).test_client())
    page = client.get("/inbox").get_data(as_text=True)
    assert "请问申报截止时间？" in page and "谢谢！" in page
    csrf = page_csrf(client, "/inbox")
    empty = client.post(f"/messages/{asked.id}/answer", data={"csrf_token": csrf, "answer": " "})
    assert empty.status_code == 302 and len(bot.replies("asker@test.example")) == 1
    forged = client.post(f"/messages/{asked.id}/answer", data={"answer": "没有令牌"})
    assert forged.status_code == 400
    sent = client.post(f"/messages/{asked.id}/answer",
                       data={"csrf_token": csrf, "answer": "截止时间是10月10日17:30。"})
    assert sent.status_code == 302
    _first, answer = bot.replies("asker@test.example")
    assert "截止时间是10月10日17:30。" in body(answer)
    asked_id = str(message_from_bytes(raw)["Message-ID"]).strip()
    assert answer["In-Reply-To"] == asked_id == asked.message_id
    assert asked_id in str(answer["References"])
    with runtime.sessions() as session:
        recorded = session.get(Message, asked.id)
        assert recorded is not None and recorded.answered_at is not None
        assert recorded.answer == "截止时间是10月10日17:30。"
    client.get("/inbox")  # shows the flash once
    assert "请问申报截止时间？" not in client.get("/inbox").get_data(as_text=True)
    again = client.post(f"/messages/{asked.id}/answer",
                        data={"csrf_token": csrf, "answer": "再答一次"})
    assert again.status_code == 302 and len(bot.replies("asker@test.example")) == 2


def test_a_question_from_a_roster_address_stays_with_its_unit(roster_bot: Bot) -> None:
    question(roster_bot, "a-office@test.example", "请问附件3的字数怎么算？")
    assert roster_bot.poll().results == {"咨询": 1}
    runtime = Runtime(roster_bot.settings, roster_bot.campaign)
    with runtime.sessions() as session:
        [asked] = session.query(Message).all()
        assert asked.unit is not None and asked.unit.name == A.unit


# --- 待核实 -----------------------------------------------------------------------------------

def impostor_form() -> list[tuple[str, bytes]]:
    return [("附件2-推荐审批表.docx", approval_docx(replace(A, leader="冒名者")))]


@pytest.mark.parametrize("decision", ["confirm", "reject"])
def test_an_outsider_cannot_take_over_a_roster_unit(roster_bot: Bot, decision: str) -> None:
    bot = roster_bot
    bot.submit("a-office@test.example", full_set())
    bot.poll()
    summary = bot.sheet("汇总")
    assert [row["领衔人"] for row in summary] == [A.leader]

    bot.submit("outsider@evil.example", impostor_form(), received=ON_TIME.replace(hour=12))
    assert bot.poll().results == {"补正": 1}
    assert bot.sheet("汇总") == summary  # the unit's data is unchanged
    [progress] = bot.sheet("单位进度")
    assert progress["联系邮箱"] == "a-office@test.example" and progress["状态"] == "已齐全"
    reply = only_answer(bot, "outsider@evil.example")
    assert str(reply["Subject"]).startswith("【待核实】")
    assert "待核实" in body(reply) and "不算受理" in body(reply)
    [_acknowledgement, notice] = bot.replies("a-office@test.example")
    assert str(notice["Subject"]).startswith("【告知】")
    assert "outsider@evil.example" in body(notice) and "附件2-推荐审批表.docx" in body(notice)

    runtime = office(bot)
    client = login(app_for(runtime).test_client())
    page = client.get("/inbox").get_data(as_text=True)
    assert "outsider@evil.example" in page
    with runtime.sessions() as session:
        held = session.query(Message).filter_by(from_addr="outsider@evil.example").one()
    assert held.review == "待核实"
    assert "待核实" in client.get(f"/units/{held.unit_id}").get_data(as_text=True)
    assert client.post(f"/messages/{held.id}/review", data={"action": decision}).status_code \
        == 400  # no CSRF token
    done = client.post(f"/messages/{held.id}/review",
                       data={"action": decision, "csrf_token": page_csrf(client, "/inbox")})
    assert done.status_code == 302
    result = bot.replies("outsider@evil.example")[-1]
    [progress] = bot.sheet("单位进度")
    if decision == "confirm":
        assert str(result["Subject"]).startswith("【已确认】")
        assert [row["领衔人"] for row in bot.sheet("汇总")] == ["冒名者"]  # now it counts
        assert progress["联系邮箱"] == "a-office@test.example, outsider@evil.example"
    else:
        assert str(result["Subject"]).startswith("【未能确认】")
        assert bot.sheet("汇总") == summary
        assert progress["联系邮箱"] == "a-office@test.example"
    assert "outsider@evil.example" in client.get("/inbox").get_data(as_text=True)  # the flash
    assert "outsider@evil.example" not in client.get("/inbox").get_data(as_text=True)


def test_without_a_roster_a_colleague_counts_and_the_unit_is_told(bot: Bot) -> None:
    bot.submit("first@test.example", full_set()[:1])
    bot.submit("second@test.example", full_set()[1:], received=ON_TIME.replace(hour=11))
    assert bot.poll().results == {"补正": 1, "受理": 1}
    [progress] = bot.sheet("单位进度")
    assert progress["状态"] == "已齐全"
    assert progress["联系邮箱"] == "first@test.example, second@test.example"
    [_correction, notice] = bot.replies("first@test.example")
    assert str(notice["Subject"]).startswith("【告知】") and "second@test.example" in body(notice)
    assert "已计入" in body(notice)
    # A further mail from the colleague is simply the unit's: no second notice.
    bot.submit("second@test.example", full_set()[2:], received=ON_TIME.replace(hour=12))
    bot.poll()
    assert len(bot.replies("first@test.example")) == 2


def test_many_new_addresses_within_the_hour_are_one_notice(bot: Bot) -> None:
    bot.submit("first@test.example", full_set()[:1])
    for n, sender in enumerate(("second@test.example", "third@test.example",
                                "fourth@test.example")):
        bot.submit(sender, full_set()[1:2], received=ON_TIME.replace(hour=11 + n))
    bot.poll()
    notices = [m for m in bot.replies("first@test.example")
               if str(m["Subject"]).startswith("【告知】")]
    assert len(notices) == 1 and "second@test.example" in body(notices[0])
    [progress] = bot.sheet("单位进度")  # all of them still count for the unit
    assert progress["联系邮箱"].count("@") == 4
