"""Headless LibreOffice: old and foreign formats to .docx/.xlsx, PDF for printing, and
LibreOffice's own 字数.

Applicants send .doc, .wps (WPS Writer), .et (WPS Spreadsheets), .xls, .odt and .rtf files.
When LibreOffice is installed (the ``soffice`` of libreoffice-writer-nogui and
libreoffice-calc-nogui) they are converted and then read and checked like any .docx or .xlsx;
when it is not, `convert` raises DocumentError("convert-unavailable") and the applicant is asked
for a .docx/.xlsx instead.

Every call is isolated, because attachments come from anyone:

* the input is copied into a fresh temporary directory under a fixed ASCII name — the original
  path and the sender's file name never reach the command line;
* a private profile (``-env:UserInstallation``) per call, so concurrent calls never share
  LibreOffice's lock file or user settings, and a broken file cannot spoil the next call's
  profile;
* bounded input size, a timeout, and the whole process group killed when it runs out
  (soffice starts soffice.bin as a child);
* bounded output size: the result is then read with the same package limits as mail;
* no fetching of linked content: the proxy LibreOffice is given leads nowhere.

Many files of one target share a run (`to_pdf`, `convert_all`): LibreOffice's start-up is most
of a conversion's 1–3 s. `soffice_runs` counts the runs this process started.

`libreoffice_word_counts` is the oracle the tests and benchmarks compare our 字数 against:
LibreOffice converts each .docx to .odt and we read ``meta:word-count`` from its meta.xml.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mailbot.errors import DocumentError

DEFAULT_TIMEOUT = 60.0  # seconds for one conversion, LibreOffice's start-up included
MAX_INPUT = 20 * 1024 * 1024  # bytes; a form larger than this is not a form
MAX_OUTPUT = 50 * 1024 * 1024
BATCH_SECONDS = 5.0  # a file's share of a run converting many (LibreOffice takes well under 1 s)
# Where Debian, other Linux packages and the official builds put soffice, besides $PATH.
_KNOWN_PATHS = (
    "/usr/bin/soffice",
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
)

# Detected format -> (extension LibreOffice recognises the input by, target format, filter).
TARGETS: dict[str, tuple[str, str, str]] = {
    "doc": ("doc", "docx", "docx:MS Word 2007 XML"),
    # WPS Office writes .wps/.et in the Word/Excel 97 binary formats (sniff found the streams);
    # named so, LibreOffice would try its Microsoft Works filter on a .wps.
    "wps": ("doc", "docx", "docx:MS Word 2007 XML"),
    "odt": ("odt", "docx", "docx:MS Word 2007 XML"),
    "rtf": ("rtf", "docx", "docx:MS Word 2007 XML"),
    "html-doc": ("doc", "docx", "docx:MS Word 2007 XML"),  # HTML or Word XML saved as .doc
    "xls": ("xls", "xlsx", "xlsx:Calc MS Excel 2007 XML"),
    "et": ("xls", "xlsx", "xlsx:Calc MS Excel 2007 XML"),
    "ods": ("ods", "xlsx", "xlsx:Calc MS Excel 2007 XML"),
}
_WORD_COUNT = re.compile(rb'meta:word-count="(\d+)"')
# soffice processes started by this process: what the conversion cache saves is counted by it
# (tests, benchmarks), without replacing LibreOffice by a stand-in.
_runs = 0
_runs_lock = threading.Lock()


def find_soffice() -> str | None:
    """The soffice executable, or None when LibreOffice is not installed."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in _KNOWN_PATHS if os.access(path, os.X_OK)), None)


def soffice_runs() -> int:
    """How many soffice runs this process has started so far."""
    return _runs


def available() -> bool:
    return find_soffice() is not None


def convert(data: bytes, fmt: str, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """`data` (detected as `fmt`, a key of TARGETS) converted to .docx or .xlsx bytes.

    Raises DocumentError: "convert-unavailable" (no LibreOffice), "too-large", "corrupt"
    (LibreOffice could not open it or gave up within `timeout`)."""
    if fmt not in TARGETS:
        raise ValueError(f"no conversion for {fmt!r}")
    if len(data) > MAX_INPUT:
        raise DocumentError("too-large",
                            f"文件过大（{len(data) // 2**20} MB），无法自动转换。")
    soffice = find_soffice()
    if soffice is None:
        raise DocumentError("convert-unavailable",
                            f"本系统暂时无法读取 .{TARGETS[fmt][0]} 格式的文件。")
    extension, _target, filter_name = TARGETS[fmt]
    return export(data, extension, filter_name, soffice=soffice, timeout=timeout)


def export(data: bytes, extension: str, filter_name: str, *, soffice: str | None = None,
           timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """`data`, read as a .`extension` file, written by LibreOffice with `filter_name`
    ("docx:MS Word 2007 XML", "doc:MS Word 97", "odt", "rtf", "xls:MS Excel 97"…).

    The tests build their .doc/.odt/.rtf/.xls inputs with this from our own .docx/.xlsx."""
    soffice = soffice or find_soffice()
    if soffice is None:
        raise DocumentError("convert-unavailable", "LibreOffice is not installed.")
    with tempfile.TemporaryDirectory(prefix="mailbot-convert-") as work:
        source = Path(work) / f"input.{extension}"
        source.write_bytes(data)
        result = _run(soffice, [source], filter_name, Path(work), timeout)[0]
        if result is None:
            raise DocumentError("corrupt", "文件已损坏或格式无法识别，无法打开。")
        if result.stat().st_size > MAX_OUTPUT:
            raise DocumentError("too-large", "文件内容过大，无法处理。")
        return result.read_bytes()


def to_pdf(items: Sequence[tuple[bytes, str]], *, timeout: float | None = None
           ) -> list[bytes | None]:
    """Each (data, extension) item printed to PDF by one soffice run, in order; None for an
    item LibreOffice could not open or that is too large. Raises DocumentError
    ("convert-unavailable") without LibreOffice, ("corrupt") when the run times out."""
    soffice = find_soffice()
    if soffice is None:
        raise DocumentError("convert-unavailable",
                            "生成 PDF 需要 LibreOffice（soffice），本机尚未安装。")
    budget = timeout if timeout is not None else DEFAULT_TIMEOUT + 15.0 * len(items)
    return _batch(soffice, items, "pdf", budget)


def convert_all(items: Sequence[tuple[bytes, str]], *, per_file: float = BATCH_SECONDS
                ) -> list[bytes | None]:
    """Each (data, fmt) converted as `convert` converts it, by one soffice run per target
    filter (LibreOffice starts once, not once per file); None for an item it could not
    convert or that is too large, and for every item of a run that timed out (the run may
    take DEFAULT_TIMEOUT and `per_file` seconds a file). Raises DocumentError
    ("convert-unavailable") without LibreOffice."""
    soffice = find_soffice()
    if soffice is None:
        raise DocumentError("convert-unavailable", "LibreOffice is not installed.")
    results: list[bytes | None] = [None] * len(items)
    by_filter: dict[str, list[int]] = {}
    for index, (_data, fmt) in enumerate(items):
        by_filter.setdefault(TARGETS[fmt][2], []).append(index)
    for filter_name, indexes in by_filter.items():
        batch = [(items[i][0], TARGETS[items[i][1]][0]) for i in indexes]
        try:
            made = _batch(soffice, batch, filter_name, DEFAULT_TIMEOUT + per_file * len(batch))
        except DocumentError:  # timed out: the caller converts them one by one
            continue
        for index, result in zip(indexes, made, strict=True):
            results[index] = result
    return results


def _batch(soffice: str, items: Sequence[tuple[bytes, str]], filter_name: str,
           timeout: float) -> list[bytes | None]:
    """Each (data, extension) item written by one soffice run with `filter_name`, in order;
    None for an item it could not open or that is too large."""
    if not items:
        return []
    with tempfile.TemporaryDirectory(prefix="mailbot-batch-") as work:
        sources: list[Path] = []
        wanted: list[int] = []
        for index, (data, extension) in enumerate(items):
            if len(data) > MAX_INPUT:
                continue
            source = Path(work) / f"part{index:05d}.{extension}"  # no sender's name
            source.write_bytes(data)
            sources.append(source)
            wanted.append(index)
        results: list[bytes | None] = [None] * len(items)
        produced = _run(soffice, sources, filter_name, Path(work), timeout) if sources else []
        for index, result in zip(wanted, produced, strict=True):
            if result is not None and result.stat().st_size <= MAX_OUTPUT:
                results[index] = result.read_bytes()
        return results


def libreoffice_word_counts(documents: Sequence[bytes], *,
                            timeout: float = 600.0) -> list[int | None]:
    """LibreOffice's word count of each .docx, by one soffice run converting them all to .odt.

    None for a document LibreOffice did not convert. Raises DocumentError
    ("convert-unavailable") without LibreOffice."""
    soffice = find_soffice()
    if soffice is None:
        raise DocumentError("convert-unavailable", "LibreOffice is not installed.")
    with tempfile.TemporaryDirectory(prefix="mailbot-wordcount-") as work:
        sources = []
        for index, data in enumerate(documents):
            source = Path(work) / f"doc{index:05d}.docx"
            source.write_bytes(data)
            sources.append(source)
        counts: list[int | None] = []
        for result in _run(soffice, sources, "odt", Path(work), timeout):
            counts.append(_meta_word_count(result) if result is not None else None)
        return counts


def _meta_word_count(odt: Path) -> int | None:
    if not odt.is_file():
        return None
    with zipfile.ZipFile(odt) as archive:
        found = _WORD_COUNT.search(archive.read("meta.xml"))
    return int(found.group(1)) if found else None


def _run(soffice: str, sources: list[Path], filter_name: str, work: Path,
         timeout: float) -> list[Path | None]:
    """Run one soffice over `sources`; the expected output path of each (None if missing)."""
    out = work / "out"
    profile = work / "profile"
    target_extension = filter_name.split(":", 1)[0]
    command = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible",
               "--nologo", "--nodefault", "--norestore", "--nolockcheck",
               "--convert-to", filter_name, "--outdir", str(out), *map(str, sources)]
    # HOME in the work directory: LibreOffice and its helpers write dot-files there. A dead
    # proxy: a document's linked images (an HTML page's <img src>, a .docx's external
    # relationship) must not make the office's server fetch URLs chosen by a stranger.
    dead_proxy = "http://127.0.0.1:9"
    env = {**os.environ, "HOME": str(work), "TMPDIR": str(work), "no_proxy": "", "NO_PROXY": "",
           **{name: dead_proxy for name in ("http_proxy", "https_proxy", "ftp_proxy",
                                            "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY")}}
    global _runs
    with _runs_lock:
        _runs += 1
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, cwd=work,
                               start_new_session=True)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise DocumentError("corrupt", "文件转换超时，文件可能已损坏或过于复杂。") from None
    finally:
        _kill_group(process)  # soffice.bin may outlive its launcher
    results: list[Path | None] = []
    for source in sources:
        produced = out / f"{source.stem}.{target_extension}"
        results.append(produced if produced.is_file() else None)
    return results


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End the process group this call started (and only it), then reap the launcher."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
