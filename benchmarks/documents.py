"""Document reading benchmark: time and peak memory per document, and 字数 against LibreOffice.

Part 1 reads each document in its own child process and prints that process's peak resident
memory (VmHWM, which a new program starts afresh — unlike ru_maxrss, which Linux carries over
from the parent through fork and exec); "baseline" is the same figure just before the read, the
interpreter with mailbot imported and the file loaded. The documents: our samples,
a long material, hostile files (XML entity bomb, zip bombs, an enormous part, thousands of
parts) and, when LibreOffice is installed, files that must be converted first.

Part 2 writes a seeded random corpus of .docx files — Han, full- and half-width punctuation,
Latin words, decimals, e-mail addresses, URLs, tabs, ideographic and no-break spaces, line
breaks, in paragraphs and (nested, merged) tables — and compares our count of each with
LibreOffice's (convert to .odt, read meta:word-count).

    .venv/bin/python benchmarks/documents.py [--corpus 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from mailbot.demo import docx_build as build
from mailbot.demo import samples
from mailbot.documents import convert

ROOT = Path(__file__).resolve().parent.parent

STUDIO = samples.SAMPLE_STUDIOS[0]
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _replaced(data: bytes, member: str, payload: bytes | None = None,
              repeat: tuple[bytes, int] | None = None) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != member:
                archive.writestr(info.filename, source.read(info))
            elif repeat is not None:
                with archive.open(member, "w", force_zip64=True) as handle:
                    for _ in range(repeat[1]):
                        handle.write(repeat[0])
            else:
                archive.writestr(member, payload or b"")
    return out.getvalue()


def _laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10 if n else "lol"}">'
                       for n in range(10))
    document = (f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]><w:document {W}>'
                "<w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p></w:body></w:document>")
    return _replaced(samples.approval_docx(STUDIO), "word/document.xml", document.encode())


def _many_parts() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(samples.approval_docx(STUDIO))) as source, \
            zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info))
        for number in range(5001):
            archive.writestr(f"padding/part{number}.xml", b"<a/>")
    return out.getvalue()


def _long_material() -> bytes:
    """A 2000-字 material padded with a 300-row table: a large but honest document."""
    rows = [[f"第{n}项", f"成果名称{n}：基于Python 3.{n % 12}的检测系统", f"{n * 1.5:.1f}万元"]
            for n in range(300)]
    text = samples.material_text(STUDIO, 2000)
    return build.docx([*(build.paragraph(t) for t in text), build.table(rows)])


def _largest_accepted() -> bytes:
    """Just under the 8 MB limit on one XML part: random Han prose, so it compresses only as
    real text does (far below the zip-bomb ratio)."""
    rng = random.Random(3)
    paragraphs = []
    size = 0
    while size < 7.9 * 2**20:
        text = "".join(rng.choice(_HAN) for _ in range(200))
        paragraphs.append(build.paragraph(text))
        size += len(paragraphs[-1].encode())
    return build.docx(paragraphs)


CASES: dict[str, tuple[str, str, Callable[[], bytes]]] = {
    # name: (file name, detected format, how to make it)
    "附件1 汇总表 (.docx)": ("附件1.docx", "docx",
                           lambda: samples.summary_docx(STUDIO.unit, samples.SAMPLE_STUDIOS)),
    "附件1 汇总表 (.xlsx)": ("附件1.xlsx", "xlsx",
                           lambda: samples.summary_xlsx(STUDIO.unit, samples.SAMPLE_STUDIOS)),
    "附件2 审批表": ("附件2.docx", "docx", lambda: samples.approval_docx(STUDIO)),
    "附件3 材料 2000 字": ("附件3.docx", "docx", lambda: samples.material_docx(STUDIO, 2000)),
    "附件3 + 300-row table": ("附件3.docx", "docx", _long_material),
    "7.9 MB document.xml (accepted)": ("附件3.docx", "docx", _largest_accepted),
    "XML entity bomb": ("附件2.docx", "docx", _laughs),
    "zip bomb, 1 GB document.xml": ("附件2.docx", "docx", lambda: _replaced(
        samples.approval_docx(STUDIO), "word/document.xml", repeat=(b" " * 2**20, 1024))),
    "enormous part, 21 MB noise": ("附件2.docx", "docx", lambda: _replaced(
        samples.approval_docx(STUDIO), "word/document.xml",
        random.Random(7).randbytes(21 * 2**20))),
    "5001 parts": ("附件2.docx", "docx", _many_parts),
}
CONVERTED: dict[str, tuple[str, str, Callable[[], bytes]]] = {
    "附件2 as .doc (LibreOffice)": ("附件2.doc", "doc", lambda: convert.export(
        samples.approval_docx(STUDIO), "docx", "doc:MS Word 97")),
    "附件1 as .xls (LibreOffice)": ("附件1.xls", "xls", lambda: convert.export(
        samples.summary_xlsx(STUDIO.unit, samples.SAMPLE_STUDIOS), "xlsx", "xls:MS Excel 97")),
}


def peak_mib() -> float:
    """This process's peak resident memory, MiB."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):  # not Linux: the best the platform offers
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, name: str, fmt: str) -> dict[str, object]:
    from mailbot.campaign.rules import load_rules
    from mailbot.documents import read_document

    campaign = load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")
    data = Path(path).read_bytes()
    baseline = peak_mib()
    started = time.perf_counter()
    doc = read_document(name, data, fmt, campaign)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak": peak_mib(),
            "baseline": baseline, "size": len(data), "words": doc.word_count,
            "result": ",".join(p.code for p in doc.problems) or doc.kind}


def part_one() -> None:
    cases = dict(CASES)
    if convert.available():
        cases.update(CONVERTED)
    print(f"{'document':<30} {'file KiB':>9} {'read s':>8} {'peak MiB':>9} {'baseline':>9}"
          f"  {'字数':>5}  result")
    with tempfile.TemporaryDirectory() as folder:
        for label, (name, fmt, make) in cases.items():
            path = Path(folder) / "input"
            path.write_bytes(make())
            done = subprocess.run([sys.executable, __file__, "--child", str(path), name, fmt],
                                  check=True, capture_output=True, text=True)
            row = json.loads(done.stdout)
            words = "" if row["words"] is None else row["words"]
            print(f"{label:<30} {row['size'] / 1024:>9.0f} {row['seconds']:>8.3f}"
                  f" {row['peak']:>9.0f} {row['baseline']:>9.0f}  {words:>5}  {row['result']}")
    if not convert.available():
        print("(LibreOffice not installed: conversions not measured)")


_HAN = "工作室劳模工匠创新深圳市机关事业单位技术成果人才培养示范带动经费保障㐀䶵"
_FULL = "，。、：；！？（）《》【】「」『』〔〕…—～·“”‘’％＋－＝＠＃＆￥ＡＢ１２"
_SPACES = (" ", "  ", "\t", "\u3000", "\u00a0", "\n")


def _chunk(rng: random.Random) -> str:
    pick = rng.randrange(10)
    if pick < 3:
        return "".join(rng.choice(_HAN) for _ in range(rng.randint(1, 6)))
    if pick == 3:
        return rng.choice(_FULL)
    if pick == 4:
        return rng.choice(string.punctuation)
    if pick == 5:
        return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 9)))
    if pick == 6:
        return f"{rng.uniform(-999, 99999):.{rng.randint(0, 3)}f}" + rng.choice(("", "%", "万元"))
    if pick == 7:
        user = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 8)))
        return rng.choice((f"{user}@sztu.edu.cn", f"https://www.{user}.cn/a/{user}?id=3"))
    return rng.choice(_SPACES)


def _paragraph(rng: random.Random) -> str:
    return build.paragraph("".join(_chunk(rng) for _ in range(rng.randint(0, 16))))


def _table(rng: random.Random, depth: int) -> str:
    columns = rng.randint(1, 4)
    rows = []
    for _ in range(rng.randint(1, 4)):
        row, used = [], 0
        while used < columns:
            span = rng.randint(1, columns - used)
            content = [_table(rng, depth - 1) if depth and rng.random() < 0.2 else _paragraph(rng)
                       for _ in range(rng.randint(1, 2))]
            row.append(build.cell(*content, span=span))
            used += span
        rows.append(row)
    return build.table(rows, columns)


def part_two(size: int, seed: int) -> None:
    from mailbot.campaign.rules import load_rules
    from mailbot.documents import read_document

    if not convert.available():
        print("\n字数 against LibreOffice: skipped, LibreOffice is not installed")
        return
    campaign = load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")
    rng = random.Random(seed)
    corpus = [build.docx([_table(rng, 2) if rng.random() < 0.3 else _paragraph(rng)
                          for _ in range(rng.randint(1, 12))]) for _ in range(size)]
    started = time.perf_counter()
    ours = []
    for data in corpus:
        doc = read_document("x.docx", data, "docx", campaign)
        ours.append(0 if [p.code for p in doc.problems] == ["empty"] else doc.word_count)
    counted = time.perf_counter() - started
    started = time.perf_counter()
    theirs: list[int | None] = []
    for start in range(0, size, 25):  # soffice sometimes dies in a long batch
        theirs += convert.libreoffice_word_counts(corpus[start:start + 25])
    oracle = time.perf_counter() - started
    compared = [(o, t) for o, t in zip(ours, theirs, strict=True) if t is not None]
    agree = sum(1 for o, t in compared if o == t)
    words = sum(o or 0 for o in ours)
    print(f"\n字数 against LibreOffice (seed {seed}): {size} documents, {words} words in all")
    print(f"{'documents compared':<28} {len(compared):>8}")
    print(f"{'agree':<28} {agree:>8}")
    print(f"{'disagree':<28} {len(compared) - agree:>8}")
    print(f"{'ours, ms per document':<28} {counted / size * 1000:>8.2f}")
    print(f"{'LibreOffice, ms per document':<28} {oracle / size * 1000:>8.0f}")
    for index, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        if t is not None and o != t:
            print(f"  document {index}: ours {o}, LibreOffice {t}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=int, default=200, help="documents in part 2 (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    part_one()
    if args.corpus:
        part_two(args.corpus, args.seed)


if __name__ == "__main__":
    main()
