"""Hostile files, end to end: each mailed to a real Dovecot, one `mailbot poll` in a child
process. Each gets the right answer, in bounded time and memory, and nothing is written outside
the state directory (the child runs with its own working directory, HOME and TMPDIR, which must
stay empty)."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import msoffcrypto.format.ooxml
import pytest
from intake_support import OFFICE, Bot, body, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx

STUDIO = SAMPLE_STUDIOS[0]
MEASURED_POLL = """
import sys
from mailbot.cli.main import app
try:
    app(["poll"])
except SystemExit as exit:
    if exit.code:
        raise
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would show the test's own
# memory at fork time; the high-water mark of the new address space is the poll's alone.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print("peak-rss-kib", hwm.split()[1], file=sys.stderr)
"""


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_bomb() -> bytes:
    """300 MB of zeros in a zip of about 300 KB, written in chunks (never 300 MB in memory)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("附件3-申报材料.docx", "w", force_zip64=True) as member:
        chunk = b"\0" * (1 << 20)
        for _ in range(300):
            member.write(chunk)
    return out.getvalue()


def docx_bomb() -> bytes:
    """A real .docx whose document.xml is padded to 400 MB of whitespace."""
    source = zipfile.ZipFile(io.BytesIO(approval_docx(STUDIO)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                archive.writestr(item, source.read(item))
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(source.read("word/document.xml"))
            for _ in range(400):
                member.write(b" " * (1 << 20))
    return out.getvalue()


def xml_bomb() -> bytes:
    """Billion laughs inside word/document.xml of an otherwise real .docx."""
    laughs = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)]
    document = ('<?xml version="1.0"?><!DOCTYPE w:document [' + "".join(laughs) + ']>'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
                'main"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>')
    source = zipfile.ZipFile(io.BytesIO(approval_docx(STUDIO)))
    members = {i.filename: source.read(i) for i in source.infolist()}
    members["word/document.xml"] = document.encode()
    return _zip(members)


def encrypted_docx() -> bytes:
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(approval_docx(STUDIO))).encrypt("口令", out)
    return out.getvalue()


def macro_docm() -> bytes:
    source = zipfile.ZipFile(io.BytesIO(approval_docx(STUDIO)))
    members = {i.filename: source.read(i) for i in source.infolist()}
    members["word/vbaProject.bin"] = b"\xd0\xcf\x11\xe0" + b"\0" * 508
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"wordprocessingml.document.main+xml", b"ms-word.document.macroEnabled.main+xml")
    return _zip(members)


def escaping_zip() -> bytes:
    return _zip({"../../evil-附件1.docx": summary_docx(STUDIO.unit, [STUDIO]),
                 "/etc/cron.d/附件3-申报材料.docx": material_docx(STUDIO, 800)})


# (sender, file name, bytes builder, finding codes the mail must carry)
HOSTILE = [
    ("zipbomb", "材料.zip", zip_bomb, {"archive-limit"}),
    ("docxbomb", "附件2-审批表.docx", docx_bomb, {"too-large"}),
    ("xmlbomb", "附件2-审批表.docx", xml_bomb, {"unsafe"}),
    ("encrypted", "附件2-审批表.docx", encrypted_docx, {"encrypted"}),
    ("macro", "附件2-审批表.docm", macro_docm, {"macro"}),
    ("exe", "附件2-审批表.docx", lambda: b"MZ\x90\x00" + b"\0" * 4000, {"wrong-format"}),
    ("zero", "附件2-审批表.docx", lambda: b"", {"empty"}),
]


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path / "work")


def test_hostile_files_get_the_right_answer_in_bounded_time_and_memory(
        bot: Bot, tmp_path: Path) -> None:
    for sender, name, build, _codes in HOSTILE:
        bot.submit(f"{sender}@test.example", [(name, build())], subject=f"hostile {sender}")
    bot.submit("escape@test.example", [("材料.zip", escaping_zip())], subject="hostile escape")
    huge = build_mail(sender="huge@test.example", to=OFFICE, subject="hostile huge 申报材料",
                      attachments=[("附件3-申报材料.docx", os.urandom(100 * 1024 * 1024))])
    bot.dovecot.append(OFFICE, huge)
    del huge

    work, home, temp = (tmp_path / "work", tmp_path / "home", tmp_path / "tmp")
    for folder in (work, home, temp):
        folder.mkdir(exist_ok=True)
    s = bot.settings
    env = bot.environment(HOME=str(home), TMPDIR=str(temp))
    started = time.monotonic()
    poll = subprocess.run([sys.executable, "-c", MEASURED_POLL], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert poll.returncode == 0, poll.stderr
    print(poll.stdout)
    peak_mb = int(poll.stderr.split("peak-rss-kib")[-1]) / 1024
    print(f"\nhostile corpus: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    assert seconds < 120 and peak_mb < 400  # bounded: far below the bombs' unpacked sizes

    with sqlite3.connect(s.state_dir / "mailbot.sqlite3") as db:
        codes: dict[str, set[str]] = defaultdict(set)
        for sender, code in db.execute(
                "SELECT m.from_addr, f.code FROM messages m JOIN findings f "
                "ON f.message_pk = m.id"):
            codes[sender.split("@")[0]].add(code)
        results = dict(db.execute("SELECT from_addr, result FROM messages"))
    for sender, _name, _build, expected in HOSTILE:
        assert expected <= codes[sender], (sender, codes[sender])
        assert results[f"{sender}@test.example"] == "补正"
        [reply] = bot.replies(f"{sender}@test.example")
        assert "处理办法" in body(reply)
    assert "required-field" not in codes["exe"]  # no field can be missing from an unread file
    assert "too-large" in codes["huge"] and "50 MB" in body(bot.replies("huge@test.example")[0])
    # The escaping names were reduced to their base names and read like any attachment.
    assert results["escape@test.example"] == "补正"
    record = next(r for r in bot.sheet("收件记录") if r["发件人"] == "escape@test.example")
    assert record["附件"].split("\n") == ["evil-附件1.docx", "附件3-申报材料.docx"]
    assert record["识别"].split("\n") == ["附件1", "附件3"]

    # Nothing outside the state directory: not in the working directory, HOME or TMPDIR, and
    # no escaped file next to or above them.
    outside = [p for p in work.rglob("*") if s.state_dir not in (p, *p.parents)]
    assert outside == [] and list(home.rglob("*")) == [] and list(temp.rglob("*")) == []
    assert not list(tmp_path.rglob("evil-*")) or all(
        s.state_dir in p.parents for p in tmp_path.rglob("evil-*"))
    assert not Path("/etc/cron.d/附件3-申报材料.docx").exists()
