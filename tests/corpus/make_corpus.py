"""Write the mail corpus: tests/corpus/<client>/<name>.eml with <name>.json, its expected parse.

    .venv/bin/python tests/corpus/make_corpus.py            # writes the files that are missing
    .venv/bin/python tests/corpus/make_corpus.py --force    # rewrites every generated file

The mails are built by the project's own client-faithful writers (mailbot.demo.mailfactory,
mailbot.demo.wrappers, mailbot.demo.machinemail) or written here by hand (broken/), and the expectations
come from what went *in* — the names chosen, the sha256 of the bytes attached — never from what
the parser makes of the result. Every quirk met in real mail gets a case here: add it to CASES,
run this script, commit both files. Files written by hand (no entry in CASES) are left alone.

Expected-parse keys: subject, from, attachments [{name, format, sha256, source}], automatic
(a prefix of the reason, or null), no_reply (prefix or null), findings (codes), unprocessable
(prefix or null), defects (substrings that must each appear in some defect; [] = none at all),
and for the end-to-end poll: envelope_from, result (忽略/隔离, or null for 受理/补正), answered.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

from mailbot.demo import machinemail, wrappers
from mailbot.demo.machinemail import build_auto_reply, build_bounce
from mailbot.demo.mailfactory import ClientStyle, build_mail
from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    summary_docx,
    summary_xlsx,
)

HERE = Path(__file__).resolve().parent
OFFICE = "litiantian@sztu.edu.cn"  # the submission mailbox and the bot's From in the corpus
CST = timezone(timedelta(hours=8))
WHEN = datetime(2022, 10, 9, 16, 20, 5, tzinfo=CST)
S0, S1, S2, S3, S4 = SAMPLE_STUDIOS
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def summary(studio: Any = S0) -> bytes:
    return summary_docx(studio.unit, [studio])


@dataclass
class Case:
    client: str
    name: str
    raw: bytes
    subject: str
    sender: str
    attachments: list[dict[str, str]] = field(default_factory=list)
    automatic: str | None = None
    no_reply: str | None = None
    findings: list[str] = field(default_factory=list)
    unprocessable: str | None = None
    defects: list[str] = field(default_factory=list)
    envelope_from: str | None = None  # None: the From address; "" a null reverse-path
    description: str = ""

    def expected(self) -> dict[str, Any]:
        result = "忽略" if self.automatic else "隔离" if self.unprocessable else None
        return {
            "description": self.description, "subject": self.subject, "from": self.sender,
            "attachments": self.attachments, "automatic": self.automatic,
            "no_reply": self.no_reply, "findings": self.findings,
            "unprocessable": self.unprocessable, "defects": self.defects,
            "envelope_from": self.sender if self.envelope_from is None else self.envelope_from,
            "result": result,
            "answered": result is None and self.no_reply is None,
        }


def files_of(named: list[tuple[str, bytes]], source: str = "") -> list[dict[str, str]]:
    from mailbot.mail.sniff import detect_format
    return [{"name": name.rsplit("/", 1)[-1], "format": detect_format(data, name),
             "sha256": sha(data), "source": f"{source}/{name}" if source else ""}
            for name, data in named]


def person(client: str, name: str, style: ClientStyle, sender: str, subject: str,
           files: list[tuple[str, bytes]], description: str, **extra: Any) -> Case:
    """A person's mail with plain attachments, as `style` sends it."""
    raw = build_mail(sender=sender, to=OFFICE, subject=subject, body="李老师：\n申报材料见附件，请查收。",
                     attachments=files, style=style, sender_name=extra.pop("sender_name", ""),
                     date=WHEN, **{k: extra.pop(k) for k in list(extra)
                                   if k in ("extra_headers", "signature_logo", "extra_parts")})
    return Case(client, name, raw, subject, sender, files_of(files), description=description,
                **extra)


def full_set(studio: Any, *, prefix: str = "") -> list[tuple[str, bytes]]:
    return [(f"{prefix}附件1-推荐汇总表.docx", summary(studio)),
            (f"{prefix}附件2-推荐审批表（{studio.leader}）.docx", approval_docx(studio)),
            (f"{prefix}附件3-申报材料.docx", material_docx(studio, 1500))]


def clients() -> list[Case]:
    cases = [
        person("outlook", "gbk-names-full-set", "outlook", "chenjh@sztu.edu.cn",
               "中德智能制造学院-劳模工作室申报（镕喆堃）",
               [("附件1-推荐汇总表（镕喆堃）.docx", summary(S0)),
                ("附件2-推荐审批表-陈建华.docx", approval_docx(S0)),
                ("附件3 申报材料【定稿】.docx", material_docx(S0, 1800))],
               "Outlook on Chinese Windows: gb2312-labelled RFC 2047 words holding GBK-only "
               "characters, inside quoted name= and filename=", sender_name="陈建华"),
        person("outlook", "signature-logo", "outlook", "liuzq@sztu.edu.cn", "审批表（补交）",
               [("附件2-推荐审批表.docx", approval_docx(S1))],
               "An Outlook signature logo (image001.png, inline, shown by cid) is no document",
               signature_logo=True),
        person("outlook", "auto-response-suppress", "outlook", "meeting@sztu.edu.cn",
               "申报材料（请勿自动答复）", [("附件3-申报材料.docx", material_docx(S2, 900))],
               "A person's mail asking not to be auto-answered: processed, verdict recorded, "
               "no reply", extra_headers={"X-Auto-Response-Suppress": "All"},
               no_reply="发件人要求不自动回复（X-Auto-Response-Suppress: All）"),
        person("foxmail", "gbk-label", "foxmail", "wang@cdi.sztu.edu.cn", "创意设计学院申报材料",
               [("附件1 推荐汇总表（创意设计学院）.docx", summary(S2)),
                ("附件２-推荐审批表.docx", approval_docx(S2))],
               "Foxmail: GB2312/GBK labels, every attachment application/octet-stream"),
        person("qq", "gb18030", "qq", "12345678@qq.com", "实验与设备管理中心-申报",
               [("附件3-申报材料（实验与设备管理中心）.docx", material_docx(S3, 1999)),
                ("附件1.xlsx", summary_xlsx(S3.unit, [S3]))],
               "QQ Mail web: gb18030 words, X-QQ-mid, tencent_ Message-ID"),
        person("netease", "163-utf8", "netease", "bigdata_union@163.com", "大数据与互联网学院推荐材料",
               full_set(S4), "163 webmail (Coremail): UTF-8 words, Coremail X-Mailer"),
        person("apple", "rfc2231-continuations", "apple", "zhou@sztu.edu.cn",
               "新能源汽车工匠人才创新工作室申报",
               [("附件3-新能源汽车工匠人才创新工作室申报材料（城市交通与物流学院）定稿.docx",
                 material_docx(S1, 1200)), ("推荐审批表扫描件.pdf", PDF)],
               "Apple Mail: filename*0*= continuations cut inside characters, inline disposition"),
        person("gmail", "utf8", "gmail", "sztu.teacher@gmail.com", "Re: 劳模工作室申报",
               [("附件2-推荐审批表.docx", approval_docx(S3))],
               "Gmail: UTF-8 words in quoted name=/filename=, X-Attachment-Id"),
        person("thunderbird", "rfc2231", "thunderbird", "li@sztu.edu.cn", "申报材料（Thunderbird）",
               [("附件1-推荐汇总表.docx", summary(S1)), ("附件3.docx", material_docx(S1, 600))],
               "Thunderbird: RFC 2047 name=, RFC 2231 filename*=, 8bit flowed body"),
        person("mutt", "utf8-long-names", "mutt", "zhao@cs.sztu.edu.cn",
               "计算机学院——劳模和工匠人才创新工作室推荐材料（mutt）",
               [("附件1-深圳技术大学劳模和工匠人才创新工作室推荐汇总表（计算机学院）.docx", summary(S4)),
                ("附件2-推荐审批表（赵老师）.docx", approval_docx(S4))],
               "mutt: filename*0*=utf-8'' continuations folded with tabs, 8bit body"),
    ]
    return cases


def containers() -> list[Case]:
    cases: list[Case] = []
    inner = [("计算机学院申报/附件1-推荐汇总表.docx", summary(S4)),
             ("计算机学院申报/附件2-推荐审批表（镕喆）.docx", approval_docx(S4)),
             ("计算机学院申报/佐证材料/获奖证书.pdf", PDF)]
    zipped = wrappers.windows_zip(inner)
    cases.append(person("outlook", "chinese-windows-zip", "outlook", "cs_union@sztu.edu.cn",
                        "计算机学院申报材料（压缩包）", [("计算机学院申报.zip", zipped)],
                        "A zip from Chinese Windows Explorer: GBK names without the UTF-8 flag, "
                        "folders inside"))
    cases[-1].attachments = files_of(inner, "计算机学院申报.zip")

    mac = [("申报材料/附件1-推荐汇总表.docx", summary(S2)),
           ("申报材料/附件3-申报材料（é版）.docx", material_docx(S2, 700))]
    cases.append(person("apple", "macos-zip", "apple", "design@sztu.edu.cn", "创意设计学院（Mac 压缩）",
                        [("申报材料.zip", wrappers.macos_zip(mac))],
                        "A zip from macOS Archive Utility: NFD UTF-8 names, __MACOSX/, .DS_Store"))
    cases[-1].attachments = files_of(mac, "申报材料.zip")

    level2 = wrappers.windows_zip([("附件3-申报材料.docx", material_docx(S3, 1100))],
                                  unicode_extra=True)
    outer = wrappers.windows_zip([("附件1-推荐汇总表.docx", summary(S3)), ("材料.zip", level2)],
                                 unicode_extra=True)
    cases.append(person("foxmail", "nested-zip", "foxmail", "lab@sztu.edu.cn", "实验中心材料（两层压缩）",
                        [("全部材料.zip", outer)],
                        "WinRAR zip (GBK names + Info-ZIP Unicode Path field) inside a zip"))
    cases[-1].attachments = [*files_of([("附件1-推荐汇总表.docx", summary(S3))], "全部材料.zip"),
                             *files_of([("附件3-申报材料.docx", material_docx(S3, 1100))],
                                       "全部材料.zip/材料.zip")]

    slip = [("../../../../tmp/mailbot-escape/附件2-推荐审批表.docx", approval_docx(S0)),
            ("/etc/附件1-推荐汇总表.docx", summary(S0))]
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in slip:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2022, 10, 9, 12, 0, 0)), data)
    cases.append(person("hostile", "zip-slip", "rfc2231", "slip@test.example", "路径穿越压缩包",
                        [("材料.zip", buffer.getvalue())],
                        "Members named ../../… and /etc/…: only their base names are used"))
    cases[-1].attachments = [
        {"name": "附件2-推荐审批表.docx", "format": "docx", "sha256": sha(approval_docx(S0)),
         "source": "材料.zip/tmp/mailbot-escape/附件2-推荐审批表.docx"},
        {"name": "附件1-推荐汇总表.docx", "format": "docx", "sha256": sha(summary(S0)),
         "source": "材料.zip/etc/附件1-推荐汇总表.docx"}]

    rar = b"Rar!\x1a\x07\x01\x00" + bytes(range(64))
    cases.append(person("qq", "rar", "qq", "87654321@qq.com", "申报材料（RAR）",
                        [("申报材料.rar", rar)], "A RAR archive: kept, and a correction asks for "
                        "plain attachments or .zip", findings=["archive-unsupported"]))
    seven = b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(range(64))
    cases.append(person("mutt", "7z", "mutt", "admin@ee.sztu.edu.cn", "申报材料（7z）",
                        [("申报材料.7z", seven)], "A 7z archive from a Linux user",
                        findings=["archive-unsupported"]))
    bomb = BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("附件3.docx", b"\x00" * (24 * 1024 * 1024))
    cases.append(person("hostile", "zip-bomb", "rfc2231", "bomb@test.example", "压缩炸弹",
                        [("附件.zip", bomb.getvalue())], "24 MB of zeros in 24 KB: refused",
                        findings=["archive-limit"]))

    tnef_files = [("附件2-推荐审批表（镕喆）.docx", approval_docx(S1)), ("附件3-申报材料.docx",
                                                                   material_docx(S1, 1300))]
    tnef = wrappers.winmail_dat(tnef_files, body="李老师：材料见附件。")
    cases.append(_tnef_mail("winmail-dat", tnef, "Outlook 富文本邮件（winmail.dat）",
                            "Outlook in Rich Text: the files travel inside winmail.dat (TNEF), "
                            "long names as Unicode MAPI properties"))
    cases[-1].attachments = files_of(tnef_files, "winmail.dat")
    ansi = [("附件1-推荐汇总表（城市交通与物流学院）.docx", summary(S1))]
    cases.append(_tnef_mail("winmail-dat-ansi", wrappers.winmail_dat(ansi, unicode_names=False),
                            "Outlook 富文本（ANSI 名称）",
                            "winmail.dat from an Outlook in ANSI mode: GBK names everywhere"))
    cases[-1].attachments = files_of(ansi, "winmail.dat")
    exchange = [("附件3-申报材料（新能源汽车）.docx", material_docx(S1, 1600))]
    cases.append(_tnef_mail("winmail-dat-exchange", wrappers.winmail_dat(exchange,
                                                                          data_in_mapi=True),
                            "Exchange 转换的富文本邮件",
                            "winmail.dat as Exchange writes it: the file in PR_ATTACH_DATA_BIN"))
    cases[-1].attachments = files_of(exchange, "winmail.dat")
    return cases


def _tnef_mail(name: str, tnef: bytes, subject: str, description: str) -> Case:
    part = (b"Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"winmail.dat\"\r\n\r\n"
            + base64.encodebytes(tnef).replace(b"\n", b"\r\n"))
    raw = build_mail(sender="traffic@sztu.edu.cn", to=OFFICE, subject=subject, style="outlook",
                     body="李老师：材料见附件。", date=WHEN, extra_parts=[part])
    return Case("outlook", name, raw, subject, "traffic@sztu.edu.cn", description=description)


def forwards() -> list[Case]:
    cases: list[Case] = []
    for client, style, sender in (("outlook", "outlook", "office@mech.sztu.edu.cn"),
                                  ("gmail", "gmail", "forwarder@gmail.com"),
                                  ("thunderbird", "thunderbird", "secretary@sztu.edu.cn")):
        files = [(f"附件1-推荐汇总表（{client}转发）.docx", summary(S0)),
                 ("附件2-推荐审批表.docx", approval_docx(S0))]
        original = build_mail(sender="chenjh@sztu.edu.cn", to=sender, subject="工作室申报材料",
                              body="请转交工会。", attachments=files, style="qq", date=WHEN)
        raw = wrappers.forward_as_attachment(
            original, sender=sender, to=OFFICE, subject=f"转发：工作室申报材料（{client}）",
            body="李老师：转发陈老师的材料。", style=style, name="工作室申报材料")  # type: ignore[arg-type]
        cases.append(Case(client, "forward-as-attachment", raw,
                          f"转发：工作室申报材料（{client}）", sender, files_of(files),
                          description="Forwarded as a message/rfc822 attachment: the files "
                                      "inside the forwarded mail count"))
    return cases


def machines() -> list[Case]:
    original = build_mail(sender=OFFICE, to="wrong@sztu.edu.cn", subject="【需补正】申报材料",
                          body="请补正。", date=WHEN)
    return [
        Case("outlook", "exchange-oof", build_auto_reply(
            sender="chenjh@sztu.edu.cn", to=OFFICE, subject="【已受理】申报材料",
            in_reply_to="<1.2.3.mailbot@sztu.edu.cn>"), "自动回复: 【已受理】申报材料",
            "chenjh@sztu.edu.cn", automatic="自动回复（Auto-Submitted: auto-replied）",
            description="Exchange out-of-office for an Outlook user"),
        Case("outlook", "exchange-ndr", machinemail.exchange_ndr(
            to=OFFICE, original_subject="【需补正】申报材料", recipient="wrong@sztu.edu.cn",
            domain="sztu.edu.cn", date=WHEN), "无法投递: 【需补正】申报材料",
            "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@sztu.edu.cn",
            automatic="退信（投递状态报告", envelope_from="",
            description="Exchange 2016 NDR, no Auto-Submitted header"),
        Case("outlook", "read-receipt", machinemail.outlook_read_receipt(
            sender="chenjh@sztu.edu.cn", to=OFFICE, original_subject="【已受理】申报材料",
            date=WHEN), "已读: 【已受理】申报材料", "chenjh@sztu.edu.cn",
            automatic="已读回执", envelope_from="", description="Outlook read receipt (MDN)"),
        Case("postfix", "bounce", build_bounce(to=OFFICE, original=original,
                                               reporting_mta="mx.sztu.edu.cn"),
             "Undelivered Mail Returned to Sender", "mailer-daemon@mx.sztu.edu.cn",
             automatic="退信（投递状态报告", envelope_from="", description="Postfix DSN"),
        Case("gmail", "bounce", machinemail.gmail_bounce(
            to=OFFICE, recipient="nobody.here@gmail.com", original=original, date=WHEN),
            "Delivery Status Notification (Failure)", "mailer-daemon@googlemail.com",
            automatic="退信（投递状态报告", envelope_from="", description="Gmail DSN"),
        Case("qq", "bounce", machinemail.qq_bounce(
            to=OFFICE, original_subject="【需补正】申报材料", recipient="99999@qq.com", date=WHEN),
            "退信：【需补正】申报材料", "postmaster@qq.com", automatic="退信或系统通知（From: postmaster@qq.com）",
            envelope_from="", description="QQ Mail 系统退信: multipart/mixed, not a report"),
        Case("netease", "coremail-auto-reply", machinemail.coremail_auto_reply(
            sender="bigdata_union@163.com", to=OFFICE, original_subject="【已受理】申报材料",
            date=WHEN), "自动回复：【已受理】申报材料", "bigdata_union@163.com",
            automatic="自动回复（主题", description="163/Coremail vacation reply: only the subject"),
        Case("netease", "coremail-bounce", machinemail.coremail_bounce(
            to=OFFICE, original_subject="【需补正】申报材料", recipient="x@hit.edu.cn",
            domain="hit.edu.cn", date=WHEN), "退信通知：【需补正】申报材料", "sysadmin@hit.edu.cn",
            automatic="退信（主题", description="A Coremail 退信通知 from an administrator "
                                             "address: only the subject tells"),
        Case("lists", "mailman", machinemail.mailman_post(
            sender="union@sztu.edu.cn", to=OFFICE, subject="关于开展劳模工作室申报的通知",
            list_id="all-staff.lists.sztu.edu.cn", date=WHEN), "关于开展劳模工作室申报的通知",
            "union@sztu.edu.cn", automatic="邮件列表或群发邮件（List-Id",
            description="A Mailman 3 post that reached the submission address"),
        Case("own", "our-reply-returned", build_mail(
            sender=OFFICE, to=OFFICE, subject="【已受理】申报材料（回执编号 LM2022-0001）",
            body="您好！", date=WHEN, message_id="<166530000000.4242.1234567890.mailbot@sztu.edu.cn>",
            extra_headers={"Auto-Submitted": "auto-replied", "Precedence": "auto_reply"}),
            "【已受理】申报材料（回执编号 LM2022-0001）", OFFICE,
            automatic=f"本系统自己发出的邮件（发件人 {OFFICE}）",
            description="One of our own replies delivered back into the mailbox"),
        Case("own", "our-message-id-other-from", build_mail(
            sender="alias@sztu.edu.cn", to=OFFICE, subject="【需补正】申报材料（转发回来的）",
            body="您好！", date=WHEN, message_id="<166530000001.4242.9876543210.mailbot@sztu.edu.cn>"),
            "【需补正】申报材料（转发回来的）", "alias@sztu.edu.cn",
            automatic="本系统自己发出的邮件（Message-ID",
            description="Our reply came back under another From: our Message-ID gives it away"),
    ]


def _broken(name: str, raw: bytes, subject: str, sender: str, description: str,
            **extra: Any) -> Case:
    return Case("broken", name, raw.replace(b"\n", b"\r\n"), subject, sender,
                description=description, **extra)


def broken() -> list[Case]:
    doc = approval_docx(S2)
    doc64 = base64.encodebytes(doc)
    return [
        _broken("bad-boundary", b"""From: wrong.boundary@sztu.edu.cn
To: litiantian@sztu.edu.cn
Subject: =?UTF-8?B?5YiG55WM57q/5LiN56ym?=
Message-ID: <bad-boundary-1@sztu.edu.cn>
Date: Sun, 09 Oct 2022 16:20:05 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="declared-but-never-used"

--the-real-one
Content-Type: text/plain; charset=utf-8

see attachment
--the-real-one
Content-Type: application/octet-stream; name="=?UTF-8?B?6ZmE5Lu2Mi5kb2N4?="
Content-Disposition: attachment; filename="=?UTF-8?B?6ZmE5Lu2Mi5kb2N4?="
Content-Transfer-Encoding: base64

""" + doc64 + b"""--the-real-one--
""", "分界线不符", "wrong.boundary@sztu.edu.cn",
            "The declared boundary never occurs; the real one is found and used",
            attachments=[{"name": "附件2.docx", "format": "docx", "sha256": sha(doc), "source": ""}],
            defects=["分界线与声明不符"]),
        _broken("bad-base64", b"""From: bad.base64@sztu.edu.cn
To: litiantian@sztu.edu.cn
Subject: bad base64
Message-ID: <bad-base64-1@sztu.edu.cn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

x
--b
Content-Type: application/pdf; name="scan.pdf"
Content-Disposition: attachment; filename="scan.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK!!!bad***characters$$$
JVBERi0xLjQKJ
--b--
""", "bad base64", "bad.base64@sztu.edu.cn",
            "Illegal characters and a wrong length in an attachment's base64: decoded as far as "
            "it goes, each problem noted",
            attachments=[{"name": "scan.pdf", "format": "pdf", "sha256": "", "source": ""}],
            defects=["base64 编码含非法字符", "base64 编码长度不正确"]),
        _broken("unknown-charset", b"""From: unknown.charset@sztu.edu.cn
To: litiantian@sztu.edu.cn
Subject: =?x-unknown-chinese?B?1+7W1bDm?=
Message-ID: <unknown-charset-1@sztu.edu.cn>
MIME-Version: 1.0
Content-Type: text/plain; charset="x-unknown-chinese"
Content-Transfer-Encoding: 8bit

\xc0\xee\xc0\xcf\xca\xa6\xa3\xba\xb2\xc4\xc1\xcf\xc9\xd4\xba\xf3\xb7\xa2\xcb\xcd\xa1\xa3
""", "最终版", "unknown.charset@sztu.edu.cn",
            "A charset no codec knows: the bytes are guessed (UTF-8, else GB18030)",
            defects=["字符集 x-unknown-chinese 无法识别"]),
        _broken("lying-charset", b"""From: lying.charset@sztu.edu.cn
To: litiantian@sztu.edu.cn
Subject: =?us-ascii?Q?=E7=94=B3=E6=8A=A5=E6=9D=90=E6=96=99?=
Message-ID: <lying-charset-1@sztu.edu.cn>
MIME-Version: 1.0
Content-Type: text/plain; charset="big5"
Content-Transfer-Encoding: 8bit

\xe6\x9d\x8e\xe8\x80\x81\xe5\xb8\x88\xef\xbc\x9a\xe6\x9d\x90\xe6\x96\x99\xe7\xa8\x8d\xe5\x90\x8e\xe5\x8f\x91\xe9\x80\x81\xe3\x80\x82
""", "申报材料", "lying.charset@sztu.edu.cn",
            "A subject labelled us-ascii and a body labelled big5, both really UTF-8",
            defects=["内容不是声明的 big5 编码"]),
        _broken("missing-message-id", b"""From: =?gb2312?B?1cXI/Q==?= <no.message.id@sztu.edu.cn>
To: litiantian@sztu.edu.cn
Subject: =?gb2312?B?w7vT0E1lc3NhZ2UtSUQ=?=
MIME-Version: 1.0
Content-Type: text/plain; charset=gb2312

hello
""", "没有Message-ID", "no.message.id@sztu.edu.cn",
            "No Message-ID: one is made from the mail's bytes, so a second delivery is "
            "still recognised", defects=["缺少 Message-ID"]),
        _broken("raw-8bit-headers", build_mail(
            sender="old.client@sztu.edu.cn", to=OFFICE, subject="原始八位字节头（附件）",
            body="见附件", attachments=[("附件2-推荐审批表.docx", doc)], style="raw-gbk",
            sender_name="张三", date=WHEN).replace(b"\r\n", b"\n"),
            "原始八位字节头（附件）", "old.client@sztu.edu.cn",
            "Raw GBK bytes in Subject, From and filename=, no encoding at all",
            attachments=[{"name": "附件2-推荐审批表.docx", "format": "docx", "sha256": sha(doc),
                          "source": ""}], defects=["8 位字节"]),
        _broken("no-sender", b"""To: litiantian@sztu.edu.cn
Subject: =?UTF-8?B?5rKh5pyJ5Y+R5Lu25Lq6?=
Message-ID: <no-sender-1@sztu.edu.cn>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

who am I?
""", "没有发件人", "", "No From, no Reply-To: nobody to answer, no unit: 隔离",
            unprocessable="找不到发件人地址", envelope_from="cron@sztu.edu.cn"),
        _broken("truncated", b"""From: truncated@sztu.edu.cn
To: litiantian@sztu.edu.cn
Subject: truncated
Message-ID: <truncated-1@sztu.edu.cn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="cut"

--cut
Content-Type: text/plain; charset=utf-8

x
--cut
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name="fujian3.docx"
Content-Disposition: attachment; filename="fujian3.docx"
Content-Transfer-Encoding: base64

""" + doc64[: len(doc64) // 3], "truncated", "truncated@sztu.edu.cn",
            "Cut off in the middle of an attachment: the part is kept (unreadable), the cut "
            "noted",
            attachments=[{"name": "fujian3.docx", "format": "zip", "sha256": "", "source": ""}],
            defects=["缺少结束分界线"]),
    ]


def real_world() -> list[Case]:
    """Quirks from the public mail-library corpora, kept in their own file (real_world.py)."""
    from real_world import cases  # imported late: it builds on this module's helpers
    return cases()


GROUPS: tuple[Callable[[], list[Case]], ...] = (clients, containers, forwards, machines, broken,
                                                real_world)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args()
    written = 0
    for group in GROUPS:
        for case in group():
            eml = HERE / case.client / f"{case.name}.eml"
            if eml.exists() and not args.force:
                continue
            eml.parent.mkdir(parents=True, exist_ok=True)
            eml.write_bytes(case.raw)
            eml.with_suffix(".json").write_text(
                json.dumps(case.expected(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            written += 1
    print(f"corpus: {written} file pairs written under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
