"""Hostile documents: XML entity bombs, zip bombs, enormous parts, absurd nesting.

Each must end in a clear finding, within bounded time and memory, and the next mail must be
processed normally. Reading happens in a child process here so its peak memory can be guarded
(the figures themselves are printed by benchmarks/documents.py).
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from intake_support import Bot, body, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.demo import samples
from mailbot.documents import read_document
from mailbot.documents.ooxml import MAX_MEMBERS

ROOT = Path(__file__).resolve().parents[1]
STUDIO = samples.SAMPLE_STUDIOS[0]
MEMORY_GUARD_MB = 400  # far above what reading needs (about 60 MB), far below a bomb's needs
TIME_GUARD_S = 60  # a hung reader, not a slow one, is what this catches


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")


def replaced(data: bytes, member: str, payload: bytes | None = None, *,
             stream: tuple[bytes, int] | None = None) -> bytes:
    """`data` (a zip) with `member` replaced by `payload`, or by `chunk` repeated `times`
    (written in pieces, so a test never holds the whole bomb in memory)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != member:
                archive.writestr(info.filename, source.read(info))
            elif stream is not None:
                chunk, times = stream
                with archive.open(member, "w", force_zip64=True) as handle:
                    for _ in range(times):
                        handle.write(chunk)
            else:
                assert payload is not None
                archive.writestr(member, payload)
    return out.getvalue()


def billion_laughs(root: str, body_xml: str) -> bytes:
    entities = "".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n else "lol" * 10}">'
        for n in range(10))
    return (f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE {root} [{entities}]>'
            f"{body_xml}").encode()


DOCX = samples.approval_docx(STUDIO)
XLSX = samples.summary_xlsx(STUDIO.unit, [STUDIO])
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _many_parts() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(DOCX)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info))
        for number in range(MAX_MEMBERS + 1):
            archive.writestr(f"padding/part{number}.xml", b"<a/>")
    return out.getvalue()


# name: (format, how to make the file, expected problem). Made on demand: some take a second.
HOSTILE: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "billion laughs in document.xml": ("docx", lambda: replaced(
        DOCX, "word/document.xml", billion_laughs(
            "w:document", f"<w:document {W}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>"
                          "</w:body></w:document>")), "unsafe"),
    "billion laughs in a worksheet": ("xlsx", lambda: replaced(
        XLSX, "xl/worksheets/sheet1.xml", billion_laughs(
            "worksheet", '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                         '2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is>'
                         "<t>&lol9;</t></is></c></row></sheetData></worksheet>")), "unsafe"),
    "external entity": ("docx", lambda: replaced(DOCX, "word/document.xml", (
        '<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<w:document {W}><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"
    ).encode()), "unsafe"),
    "zip bomb: 300 MB of spaces as document.xml": ("docx", lambda: replaced(
        DOCX, "word/document.xml", stream=(b" " * 2**20, 300)), "too-large"),
    "zip bomb: a 100 MB image of zeros": ("docx", lambda: replaced(
        DOCX, "docProps/thumbnail.jpeg", stream=(b"\0" * 2**20, 100)), "too-large"),
    "enormous part that does not compress": ("docx", lambda: replaced(
        DOCX, "word/document.xml", random.Random(7).randbytes(21 * 2**20)), "too-large"),
    "thousands of parts": ("docx", _many_parts, "too-large"),
    "elements nested 10 000 deep": ("docx", lambda: replaced(DOCX, "word/document.xml", (
        f"<w:document {W}><w:body>" + "<w:sdt><w:sdtContent>" * 10_000
        + "</w:sdtContent></w:sdt>" * 10_000 + "</w:body></w:document>").encode()), "corrupt"),
}

# Peak memory as VmHWM: a new program starts it afresh, while ru_maxrss carries the parent's
# (this pytest process's) peak over through fork and exec.
_CHILD = """
import json, sys, time
from pathlib import Path
from mailbot.documents import read_document
from mailbot.campaign.rules import load_rules
campaign = load_rules(Path(sys.argv[1]))
data = Path(sys.argv[2]).read_bytes()
started = time.monotonic()
doc = read_document("附件2.docx", data, sys.argv[3], campaign)
print(json.dumps({"codes": [p.code for p in doc.problems],
                  "messages": [p.message for p in doc.problems],
                  "seconds": time.monotonic() - started,
                  "peak_mb": int(Path("/proc/self/status").read_text()
                                 .split("VmHWM:")[1].split()[0]) / 1024}))
"""


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_document_gives_a_clear_finding_within_bounds(name: str, tmp_path: Path) -> None:
    fmt, make, expected = HOSTILE[name]
    path = tmp_path / f"hostile.{fmt}"
    path.write_bytes(make())
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT / "rules" / "laomo-gongjiang-2022.toml"),
         str(path), fmt], capture_output=True, text=True, timeout=TIME_GUARD_S, check=True)
    result = json.loads(done.stdout)
    assert result["codes"] == [expected], result
    assert all(message.endswith("。") for message in result["messages"])  # a sentence, for people
    assert result["peak_mb"] < MEMORY_GUARD_MB, result


def test_problem_wording(campaign: Campaign) -> None:
    fmt, make, _ = HOSTILE["billion laughs in document.xml"]
    [problem] = read_document("附件2.docx", make(), fmt, campaign).problems
    assert "XML" in problem.message and "不予打开" in problem.message and problem.fix


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def test_the_mail_after_a_hostile_one_is_processed_normally(bot: Bot) -> None:
    unit = "hostile@test.example"
    bot.submit(unit, [("附件2-推荐审批表.docx", HOSTILE["billion laughs in document.xml"][1]()),
                      ("附件3-申报材料.docx",
                       HOSTILE["zip bomb: 300 MB of spaces as document.xml"][1]())])
    good = "good@test.example"
    bot.submit(good, [("附件1.docx", samples.summary_docx(STUDIO.unit, [STUDIO])),
                      ("附件2.docx", samples.approval_docx(STUDIO)),
                      ("附件3.docx", samples.material_docx(STUDIO, 1800))])
    assert bot.poll().results == {"补正": 1, "受理": 1}
    [reply] = bot.replies(unit)
    text = body(reply)
    assert "“附件2-推荐审批表.docx”：文件中含有不安全的 XML 结构" in text
    assert "“附件3-申报材料.docx”：文件内容过大（word/document.xml 解压后 300 MB）" in text
    [accepted] = bot.replies(good)
    assert accepted["Subject"].startswith("【已受理】")
