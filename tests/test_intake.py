"""The intake loop end to end: a real Dovecot mailbox in, the workbook and replies out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from intake_support import OFFICE, ON_TIME, Bot, body, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.machinemail import build_auto_reply, build_bounce
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    material_text,
    summary_docx,
)
from mailbot.documents import count_words
from mailbot.timefmt import OFFICE_ZONE

STUDIO = SAMPLE_STUDIOS[0]
UNIT = "unit-a@test.example"


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def full_set(words: int = 1500) -> list[tuple[str, bytes]]:
    return [("附件1-推荐汇总表.docx", summary_docx(STUDIO.unit, [STUDIO])),
            ("附件2-推荐审批表.docx", approval_docx(STUDIO)),
            ("附件3-申报材料.docx", material_docx(STUDIO, words))]


def test_complete_set_in_one_mail_is_accepted_logged_and_acknowledged(bot: Bot) -> None:
    sent = bot.submit(UNIT, full_set(1500), subject="机电学院申报材料")
    report = bot.poll()
    assert report.results == {"受理": 1}

    [reply] = bot.replies(UNIT)
    assert reply["Subject"].startswith("【已受理】机电学院申报材料")
    assert reply["Auto-Submitted"] == "auto-replied"
    original_id = next(line.split(b":", 1)[1].strip() for line in sent.split(b"\r\n")
                       if line.lower().startswith(b"message-id:")).decode()
    assert reply["In-Reply-To"] == original_id
    assert original_id in reply["References"]
    text = body(reply)
    for name in ("附件1-推荐汇总表.docx", "附件2-推荐审批表.docx", "附件3-申报材料.docx"):
        assert name in text
    assert "1500 字" in text and "每个汉字计 1 字" in text  # the count and the rule
    assert "C3行政楼1307" in text and "一式三份" in text  # where the paper copies go
    receipt = report_receipt = bot.sheet("收件记录")[0]["回执编号"]
    assert receipt and receipt in text and receipt == report_receipt

    [studio] = bot.sheet("汇总")
    assert studio["工作室名称"] == STUDIO.name
    assert studio["推荐单位"] == STUDIO.unit
    assert studio["领衔人"] == STUDIO.leader
    assert studio["联系电话"] == STUDIO.phone
    assert studio["材料字数"] == 1500
    assert studio["状态"] == "已齐全" and studio["是否逾期"] == "否"
    assert studio["最后收件时间"] == ON_TIME.replace(tzinfo=None)
    assert studio["回执编号"] == receipt

    [unit] = bot.sheet("单位进度")
    assert (unit["单位"], unit["联系邮箱"], unit["状态"]) == (STUDIO.unit, UNIT, "已齐全")
    assert (unit["附件1"], unit["附件2"], unit["附件3"]) == ("已收", "1/1", "1/1")

    [record] = bot.sheet("收件记录")
    assert record["发件人"] == UNIT and record["主题"] == "机电学院申报材料"
    assert record["附件"].split("\n") == [n for n, _ in full_set()]
    assert record["识别"].split("\n") == ["附件1", "附件2", "附件3"]
    assert (record["处理结果"], record["是否逾期"], record["问题"]) == ("受理", "否", None)

    # Marked handled on the server only after it was recorded; nothing deleted.
    [flags] = bot.dovecot.flags(OFFICE).values()
    assert "$MailbotHandled" in flags and "\\Deleted" not in flags


def test_set_split_over_two_mails(bot: Bot) -> None:
    first, second, third = full_set()
    bot.submit(UNIT, [first, second], received=ON_TIME)
    assert bot.poll().results == {"补正": 1}
    [reply] = bot.replies(UNIT)
    assert reply["Subject"].startswith("【需补正】")
    assert "附件3《申报材料》" in body(reply)
    assert bot.sheet("单位进度")[0]["附件3"] == "未收"

    bot.submit(UNIT, [third], received=ON_TIME.replace(hour=15))
    assert bot.poll().results == {"受理": 1}
    acknowledgement = bot.replies(UNIT)[-1]
    assert acknowledgement["Subject"].startswith("【已受理】")
    # The acknowledgement lists the whole set, including what came in the first mail.
    assert "附件2-推荐审批表.docx" in body(acknowledgement)
    assert [r["处理结果"] for r in bot.sheet("收件记录")] == ["补正", "受理"]
    assert bot.sheet("单位进度")[0]["状态"] == "已齐全"


def test_missing_approval_form_gets_a_correction_request(bot: Bot) -> None:
    summary, _approval, material = full_set()
    bot.submit(UNIT, [summary, material])
    bot.poll()
    [reply] = bot.replies(UNIT)
    text = body(reply)
    assert f"工作室“{STUDIO.name}”尚未收到附件2《推荐审批表》" in text
    assert "处理办法" in text
    [record] = bot.sheet("收件记录")
    assert record["处理结果"] == "补正"
    assert "附件2《推荐审批表》" in record["问题"]
    assert bot.sheet("汇总")[0]["状态"] == "未收附件2"


def test_material_of_2001_words_is_refused_with_the_count(bot: Bot) -> None:
    bot.submit(UNIT, full_set(2001))
    bot.poll()
    text = body(bot.replies(UNIT)[0])
    assert "共 2001 字，超过 2000 字的上限（多 1 字）" in text
    assert bot.sheet("收件记录")[0]["处理结果"] == "补正"
    assert bot.sheet("汇总")[0]["材料字数"] == 2001


def test_exactly_2000_words_with_english_and_full_width_punctuation_is_accepted(bot: Bot) -> None:
    paragraphs = material_text(STUDIO, 2000)
    text = "\n".join(paragraphs)
    assert any(ch.isascii() and ch.isalpha() for ch in text)  # English words are in it
    assert any(ch in "，。；：（）“”" for ch in text)  # and full-width punctuation
    assert sum(count_words(p) for p in paragraphs) == 2000
    bot.submit(UNIT, full_set(2000))
    assert bot.poll().results == {"受理": 1}
    assert bot.sheet("汇总")[0]["材料字数"] == 2000
    assert "2000 字" in body(bot.replies(UNIT)[0])


@pytest.mark.parametrize(("style", "names"), [
    ("outlook", ["附件1-推荐汇总表（镕）.docx", "附件2-推荐审批表（喆）.docx", "附件3-申报材料（堃）.docx"]),
    ("foxmail", ["附件1-汇总表（镕喆）.docx", "附件2 审批表.docx", "附件3 申报材料.docx"]),
    ("qq", ["附件１ 推荐汇总表.docx", "附件二-审批表（𠀀）.docx", "附件三 申报材料.docx"]),
    ("raw-gbk", ["附件1-汇总表（镕）.docx", "附件2-审批表.docx", "附件3-申报材料.docx"]),
])
def test_chinese_file_names_as_each_client_sends_them(bot: Bot, style: str,
                                                       names: list[str]) -> None:
    if style != "qq":  # GB18030 four-byte characters only survive a gb18030 label
        assert all("𠀀" not in n for n in names)
    files = [(name, data) for name, (_n, data) in zip(names, full_set(), strict=True)]
    bot.submit(UNIT, files, style=style)  # type: ignore[arg-type]
    assert bot.poll().results == {"受理": 1}
    [record] = bot.sheet("收件记录")
    assert record["附件"].split("\n") == names
    assert record["识别"].split("\n") == ["附件1", "附件2", "附件3"]
    for name in names:
        assert name in body(bot.replies(UNIT)[0])


def test_late_by_internaldate_although_date_header_says_on_time(bot: Bot) -> None:
    late = datetime(2022, 10, 10, 17, 31, 5, tzinfo=OFFICE_ZONE)
    bot.submit(UNIT, full_set(), received=late, date=late.replace(hour=16))
    assert bot.poll().results == {"受理": 1}  # the default policy accepts and flags
    [record] = bot.sheet("收件记录")
    assert record["是否逾期"] == "是"
    assert record["收件时间"] == late.replace(tzinfo=None)
    assert "晚于申报截止时间 2022-10-10 17:30:00" in record["问题"]
    assert bot.sheet("汇总")[0]["是否逾期"] == "是"
    assert "2022-10-10 17:31:05" in body(bot.replies(UNIT)[0])


def test_on_time_by_internaldate_although_date_header_says_late(bot: Bot) -> None:
    on_time = datetime(2022, 10, 10, 17, 29, 59, tzinfo=OFFICE_ZONE)
    bot.submit(UNIT, full_set(), received=on_time, date=on_time.replace(day=12))
    bot.poll()
    assert bot.sheet("收件记录")[0]["是否逾期"] == "否"
    assert bot.sheet("汇总")[0]["是否逾期"] == "否"


def test_out_of_office_and_bounce_are_ignored_and_never_answered(bot: Bot) -> None:
    auto = build_auto_reply(sender="away@test.example", to=OFFICE, subject="申报通知")
    bot.dovecot.append(OFFICE, auto, internaldate=ON_TIME)
    original = bot.submit(UNIT, full_set())
    bounce = build_bounce(to=OFFICE, original=original)
    bot.dovecot.append(OFFICE, bounce, internaldate=ON_TIME.replace(hour=11))
    report = bot.poll()
    assert report.results == {"忽略": 2, "受理": 1}
    assert bot.replies("away@test.example") == []
    assert bot.replies("mailer-daemon@mx.test.example") == []
    assert [m.rcpt_tos for m in bot.relay.messages] == [[UNIT]]
    ignored = [r for r in bot.sheet("收件记录") if r["处理结果"] == "忽略"]
    assert len(ignored) == 2 and all(r["问题"] for r in ignored)  # the reason is recorded
    assert all(r["回执编号"] is None for r in ignored)


def test_the_same_message_delivered_twice_is_handled_once(bot: Bot) -> None:
    raw = bot.submit(UNIT, full_set(), message_id="<same-mail@client.test.example>")
    bot.dovecot.append(OFFICE, raw, internaldate=ON_TIME.replace(minute=5))
    report = bot.poll()
    assert report.results == {"受理": 1} and report.duplicates == 1
    assert len(bot.sheet("收件记录")) == 1
    assert len(bot.replies(UNIT)) == 1
    flags = bot.dovecot.flags(OFFICE)
    assert len(flags) == 2 and all("$MailbotHandled" in f for f in flags.values())


def test_a_second_poll_changes_nothing(bot: Bot) -> None:
    bot.submit(UNIT, full_set())
    bot.submit("unit-b@test.example", [full_set()[0]])
    bot.poll()
    sheets = {name: bot.sheet(name) for name in ("汇总", "单位进度", "收件记录")}
    replies = len(bot.relay.messages)
    report = bot.poll()
    assert report.fetched == 0 and not report.results
    assert {name: bot.sheet(name) for name in sheets} == sheets
    # Two verdicts, and the notice to UNIT that unit-b sent a form for its unit.
    assert len(bot.relay.messages) == replies == 3


def test_a_question_is_answered_with_the_facts_of_the_call(bot: Bot) -> None:
    bot.submit(UNIT, [], subject="请问申报截止时间？")
    bot.poll()
    text = body(bot.replies(UNIT)[0])
    assert "工作人员会尽快答复" in text and "没有申报材料" in text
    assert "2022-10-10 17:30:00 前" in text
    for label in ("附件1《推荐汇总表》", "附件2《推荐审批表》", "附件3《申报材料》"):
        assert label in text
    assert "C3行政楼1307" in text and "0755-23256570" in text
    assert bot.sheet("收件记录")[0]["处理结果"] == "咨询"
    assert bot.sheet("单位进度") == []  # a question makes nobody a unit


def test_a_mail_that_breaks_the_pipeline_is_quarantined_and_the_poll_goes_on(
        bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # No real mail breaks the pipeline once it is correct, so a reader failure is simulated.
    from mailbot.intake import pipeline as intake

    real = intake.read_document

    def explode(filename: str, *args: object) -> object:
        if "boom" in filename:
            raise RuntimeError("simulated reader crash")
        return real(filename, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "read_document", explode)
    bot.submit("broken@test.example", [("boom.docx", b"x")], subject="申报材料（坏邮件）")
    bot.submit(UNIT, full_set(), received=ON_TIME.replace(hour=11))
    report = bot.poll()
    assert report.results == {"隔离": 1, "受理": 1}
    [notice] = bot.replies("broken@test.example")
    assert "人工" in body(notice)
    [office] = bot.replies("clerk@test.example")
    assert "simulated reader crash" in body(office)
    assert any(part.get_filename() == "原始邮件.eml" for part in office.iter_attachments())
    quarantined = [r for r in bot.sheet("收件记录") if r["处理结果"] == "隔离"]
    assert len(quarantined) == 1 and "simulated reader crash" in quarantined[0]["问题"]
    raw_files = list((bot.state_dir / "raw").rglob("*.eml"))
    assert len(raw_files) == 2  # every mail kept exactly as received


def test_handled_mail_can_be_moved_to_a_folder_and_is_never_deleted(bot: Bot) -> None:
    bot.handled_folder = "已处理"
    bot.submit(UNIT, full_set())
    bot.poll()
    assert bot.dovecot.messages(OFFICE) == []
    [moved] = bot.dovecot.flags(OFFICE, "已处理").values()
    assert "$MailbotHandled" in moved
    assert len(bot.replies(UNIT)) == 1
    bot.submit(UNIT, full_set(), received=ON_TIME.replace(hour=12))
    bot.poll()  # the folder exists now: CREATE fails quietly, MOVE still works
    assert len(bot.dovecot.messages(OFFICE, "已处理")) == 2


def test_no_cell_from_mail_is_ever_a_formula(bot: Bot) -> None:
    files = [("=HYPERLINK(\"evil.example\",\"点我\").docx", b"not a document"),
             *full_set()]
    bot.submit(UNIT, files, subject="=1+1")
    bot.poll()
    import openpyxl

    sheet = openpyxl.load_workbook(bot.state_dir / "汇总表.xlsx")["收件记录"]
    subject, attachments = sheet["C2"], sheet["D2"]
    assert subject.value == "=1+1" and subject.data_type == "s"
    assert attachments.value.startswith("=HYPERLINK") and attachments.data_type == "s"
