"""`mailbot demo`: the whole job on an embedded loopback mail server, in well under a minute.

Builds sample applications with the project's own form builders (mailbot.demo.samples), sends them
as real clients would (mailbot.demo.mailfactory), delivers them into a pymap mailbox with chosen
receive times, runs one intake cycle against it, and shows what happened.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mailbot.campaign.rules import load_rules
from mailbot.config import DEFAULT_RULES_DIR, ServerSettings, Settings
from mailbot.demo.machinemail import build_auto_reply
from mailbot.demo.mailfactory import ClientStyle, build_mail
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    summary_docx,
    summary_xlsx,
)
from mailbot.demo.server import DemoMailServer
from mailbot.demo.wrappers import windows_zip
from mailbot.errors import ConfigError
from mailbot.intake.cycle import Runtime, run_cycle
from mailbot.store.queries.mailbox import message_with_id
from mailbot.timefmt import OFFICE_ZONE, show

OFFICE = "shenbao@demo.sztu.example"
PASSWORD = "demo-password"
DEFAULT_DEMO_STATE = Path("state") / "demo"
_MARKER = ".mailbot-demo"


@dataclass(frozen=True)
class DemoMail:
    story: str  # what this sample shows, for the printed table
    sender: str
    raw: bytes
    received: datetime  # the INTERNALDATE it is delivered with


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2022, 10, day, hour, minute, tzinfo=OFFICE_ZONE)


def sample_mails() -> list[DemoMail]:
    """The demo's applicants: each mail shows one thing the bot must get right."""
    s1, s2, s3, s4, s5 = SAMPLE_STUDIOS[:5]
    mails: list[DemoMail] = []

    def send(story: str, sender: str, name: str, subject: str, files: list[tuple[str, bytes]],
             style: ClientStyle, received: datetime, date: datetime | None = None) -> bytes:
        raw = build_mail(sender=sender, sender_name=name, to=OFFICE, subject=subject,
                         body="您好，附件是我单位的申报材料，请查收。", attachments=files,
                         style=style, date=date or received)
        mails.append(DemoMail(story, sender, raw, received))
        return raw

    first = send("一封邮件发齐（Outlook：文件名含生僻字“镕”）", "jidian@demo.sztu.example",
                 s1.unit, "劳模工作室申报材料", [
                     ("附件1-推荐汇总表.docx", summary_docx(s1.unit, [s1])),
                     ("附件2-推荐审批表（镕）.docx", approval_docx(s1)),
                     ("附件3-申报材料.docx", material_docx(s1, 1860)),
                 ], "outlook", _at(8, 9, 12))
    send("分两封发：第一封（QQ 邮箱）", "xinxi@demo.sztu.example", s2.unit,
         "申报材料（一）", [("附件１ 汇总表.xlsx", summary_xlsx(s2.unit, [s2])),
                        ("附件二 审批表.docx", approval_docx(s2))], "qq", _at(8, 15, 30))
    send("分两封发：第二封补齐附件3", "xinxi@demo.sztu.example", s2.unit, "申报材料（二）",
         [("附件3 申报材料.docx", material_docx(s2, 1500))], "qq", _at(9, 10, 5))
    send("缺少附件2（Foxmail）", "cailiao@demo.sztu.example", s3.unit, "工作室申报",
         [("附件1.docx", summary_docx(s3.unit, [s3])),
          ("附件3-申报材料.docx", material_docx(s3, 1200))], "foxmail", _at(9, 16, 40))
    send("申报材料 2317 字，超过上限（163 邮箱）", "tushuguan@demo.sztu.example", s4.unit,
         "图书馆工作室申报", [("附件1-汇总表.docx", summary_docx(s4.unit, [s4])),
                       ("附件2-审批表.docx", approval_docx(s4)),
                       ("附件3-申报材料.docx", material_docx(s4, 2317))], "netease",
         _at(10, 11, 0))
    send("逾期：信头日期写着截止前，邮箱收到在截止后（苹果邮件）",
         "houqin@demo.sztu.example", s5.unit, "后勤工作室申报",
         [("附件1-推荐汇总表.docx", summary_docx(s5.unit, [s5])),
          ("附件2-推荐审批表.docx", approval_docx(s5)),
          ("附件3-申报材料.docx", material_docx(s5, 1999))], "apple", received=_at(10, 17, 52),
         date=_at(10, 17, 10))
    _more_mails(mails, send, first)
    return mails


def _more_mails(mails: list[DemoMail], send: Callable[..., bytes], first: bytes) -> None:
    """Two studios in a zip, a question, personal mail, an auto-reply, a double delivery."""
    s1, s2 = SAMPLE_STUDIOS[:2]
    twin_a = replace(s1, unit="继续教育学院", name="终身学习数字课程工作室", leader="黄晓燕",
                     phone="0755-23256601")
    twin_b = replace(s2, unit="继续教育学院", name="职业技能培训工匠工作室", leader="钟国强",
                     phone="0755-23256602")
    send("一个单位推荐两个工作室，打包成压缩包（中文 Windows 系统压缩）",
         "jixu@demo.sztu.example", "继续教育学院", "继续教育学院申报材料", [
             ("继续教育学院申报材料.zip", windows_zip([
                 ("申报材料/附件1-推荐汇总表.docx", summary_docx(twin_a.unit, [twin_a, twin_b])),
                 ("申报材料/附件2-审批表（终身学习）.docx", approval_docx(twin_a)),
                 ("申报材料/附件2-审批表（职业技能）.docx", approval_docx(twin_b)),
                 ("申报材料/附件3-申报材料（终身学习）.docx", material_docx(twin_a, 1650)),
                 ("申报材料/附件3-申报材料（职业技能）.docx", material_docx(twin_b, 1720)),
             ]))], "outlook", _at(9, 11, 20))
    send("只有问题、没有附件", "renshi@demo.sztu.example", "人事处", "请问申报截止时间？", [],
         "gmail", _at(9, 8, 30))
    september = datetime(2022, 9, 16, 14, 5, tzinfo=OFFICE_ZONE)
    mails.append(DemoMail("个人邮件（通知发出前）：未归类，不回复、不标记、不进汇总表",
                          "gonghui@demo.sztu.example", build_mail(
                              sender="gonghui@demo.sztu.example", sender_name="工会小组",
                              to=OFFICE, subject="周五下午工会活动安排",
                              body="各位老师：周五下午三点在体育馆集合，请准时参加。",
                              attachments=[], style="qq", date=september), september))
    auto = build_auto_reply(sender="waichu@demo.sztu.example", to=OFFICE,
                            subject="劳模工作室申报通知")
    mails.append(DemoMail("不在办公室的自动回复：忽略，不回复", "waichu@demo.sztu.example",
                          auto, _at(9, 9, 0)))
    mails.append(DemoMail("同一封邮件被投递两次", "jidian@demo.sztu.example", first,
                          _at(8, 9, 13)))


def run_demo(state_dir: Path | None, console: Console,
             then: Callable[[Runtime], None] | None = None) -> Path:
    """Run the demo; `then` (the dashboard of `--serve`) runs while the mail server is still up."""
    started = time.monotonic()
    state = _fresh_state(state_dir or DEFAULT_DEMO_STATE)
    mails = sample_mails()
    users = {OFFICE: PASSWORD, **{m.sender: PASSWORD for m in mails}}
    with DemoMailServer(users) as server:
        for mail in mails:
            server.append(OFFICE, mail.raw, mail.received)
        settings = Settings(
            imap=ServerSettings(host=server.host, port=server.imap_port, user=OFFICE,
                                password=PASSWORD, security="none"),
            smtp=ServerSettings(host=server.host, port=server.smtp_port, security="none"),
            from_address=OFFICE, state_dir=state, office_email=OFFICE,
        )
        rules = DEFAULT_RULES_DIR / "laomo-gongjiang-2022.toml"
        runtime = Runtime(settings, load_rules(rules))
        console.print(f"已向演示邮箱 {OFFICE} 投递 {len(mails)} 封邮件，开始收取……")
        report = run_cycle(runtime)
        _print_records(console, runtime, mails)
        replies = {m.sender: server.messages(m.sender) for m in mails}
        example = replies.get("xinxi@demo.sztu.example") or []
        if example:
            reply = message_from_bytes(example[-1], policy=default_policy)
            console.rule(f"申请人收到的回复示例：{reply['Subject']}")
            body = reply.get_body(preferencelist=("plain",))
            console.print(body.get_content() if body else "", highlight=False, markup=False)
        console.rule("结果")
        console.print(f"回复已发送 {report.replies.sent} 封，待发送 {report.replies.pending} 封。"
                      f"重复投递 {report.duplicates} 封只处理了一次。", highlight=False)
        console.print(f"汇总表：{report.workbook.resolve() if report.workbook else '-'}",
                      highlight=False)
        console.print(f"数据目录：{state.resolve()}（原始邮件在 raw/，附件在 files/）",
                      highlight=False)
        console.print(f"用时 {time.monotonic() - started:.1f} 秒。", highlight=False)
        if then is not None:
            then(runtime)
    return state


def _print_records(console: Console, runtime: Runtime, mails: list[DemoMail]) -> None:
    table = Table(title="收件记录", show_lines=True)
    for header, ratio in (("收到", 0), ("示例", 3), ("附件识别", 2), ("结果", 1),
                          ("问题（节选）", 3)):
        table.add_column(header, overflow="fold", ratio=ratio or None,
                         no_wrap=not ratio)
    seen: set[str] = set()
    with runtime.sessions() as session:
        for mail in sorted(mails, key=lambda m: m.received):
            message_id = str(BytesHeaderParser().parsebytes(mail.raw).get("Message-ID", "")).strip()
            message = message_with_id(session, message_id)
            if message is None:
                continue
            repeat = message_id in seen
            seen.add(message_id)
            kinds = " ".join(_label(runtime, d.kind) for d in message.documents) or "无附件"
            errors = [f.message for f in message.findings if f.severity == "error"]
            problem = message.reason or (errors[0] if errors else "")
            if len(errors) > 1:
                problem += f"（等 {len(errors)} 项）"
            result = message.result + ("，逾期" if message.late else "")
            table.add_row(show(mail.received)[5:16], mail.story, kinds,
                          "已处理过，不再重复" if repeat else result, problem or "-")
    console.print(table)


def _label(runtime: Runtime, kind: str) -> str:
    campaign = runtime.campaign
    return campaign.spec(kind).label if campaign.has(kind) else "未识别"


def _fresh_state(path: Path) -> Path:
    """Start the demo clean, but only ever wipe a folder the demo itself made."""
    if path.exists() and any(path.iterdir()):
        if not (path / _MARKER).exists():
            raise ConfigError(f"{path} exists and is not a demo folder; "
                              "choose another with --state-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / _MARKER).write_text("made by `mailbot demo`; safe to delete\n", encoding="utf-8")
    return path
