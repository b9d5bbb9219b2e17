"""`mailbot check FILE... [--json]` run as a process, as an applicant or the office runs it.

It must say what the intake would say: the same format detection, reading, conversion and
checks, including — for a whole set — which studio lacks which form.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prerequisites import unavailable

from mailbot import samples
from mailbot.documents import convert

ROOT = Path(__file__).resolve().parents[1]
A, B = samples.SAMPLE_STUDIOS[0], samples.SAMPLE_STUDIOS[4]
KEYS = {"file", "kind", "format", "word_count", "problems"}


def check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env["MAILBOT_RULES"] = str(ROOT / "rules" / "laomo-gongjiang-2022.toml")
    env["COLUMNS"] = "400"  # one line per problem in the table for people
    return subprocess.run([sys.executable, "-m", "mailbot", "check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def report(*names: str, cwd: Path) -> list[dict[str, Any]]:
    done = check(*names, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    entries: list[dict[str, Any]] = json.loads(done.stdout)
    for entry in entries:  # exactly the contract's shape
        assert set(entry) == KEYS
        assert isinstance(entry["file"], str) and isinstance(entry["format"], str)
        assert entry["kind"] in ("summary", "approval", "material", "unknown")
        assert entry["word_count"] is None or isinstance(entry["word_count"], int)
        for problem in entry["problems"]:
            assert set(problem) == {"code", "message"} and problem["message"]
    return entries


def write(folder: Path, files: dict[str, bytes]) -> list[str]:
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return list(files)


def test_a_complete_two_studio_set_has_no_problems(tmp_path: Path) -> None:
    names = write(tmp_path, {
        "附件1.docx": samples.summary_docx(A.unit, [A, B]),
        "附件2-精密.docx": samples.approval_docx(A), "附件2-大数据.docx": samples.approval_docx(B),
        "附件3-精密.docx": samples.material_docx(A, 2000),
        "附件3-大数据.docx": samples.material_docx(B, 1234),
    })
    entries = report(*names, cwd=tmp_path)
    assert [(e["file"], e["kind"], e["format"]) for e in entries] == [
        (names[0], "summary", "docx"), (names[1], "approval", "docx"),
        (names[2], "approval", "docx"), (names[3], "material", "docx"),
        (names[4], "material", "docx")]
    assert [e["word_count"] for e in entries][3:] == [2000, 1234]
    assert all(e["problems"] == [] for e in entries)


def test_a_set_missing_a_form_says_which_studio(tmp_path: Path) -> None:
    names = write(tmp_path, {
        "附件1.docx": samples.summary_docx(A.unit, [A, B]),
        "附件2-精密.docx": samples.approval_docx(A), "附件2-大数据.docx": samples.approval_docx(B),
        "附件3-精密.docx": samples.material_docx(A, 2001),
    })
    summary, _, _, material = report(*names, cwd=tmp_path)
    assert [p["code"] for p in summary["problems"]] == ["missing-material"]
    assert f"工作室“{B.name}”尚未收到附件3《申报材料》" in summary["problems"][0]["message"]
    assert [p["code"] for p in material["problems"]] == ["word-limit"]
    assert "共 2001 字" in material["problems"][0]["message"]


def test_single_files_are_checked_on_their_own(tmp_path: Path) -> None:
    """Without 附件1 there is no set to complete: each file is judged by itself."""
    names = write(tmp_path, {"附件3.docx": samples.material_docx(A, 1800, outline=False),
                             "空文件.docx": b"", "照片.jpg": b"\xff\xd8\xff\xe0" + b"\0" * 64})
    material, empty, photo = report(*names, "不存在.docx", cwd=tmp_path)[:3]
    assert material["word_count"] == 1800
    assert [p["code"] for p in material["problems"]] == ["outline"]  # a warning, still listed
    assert (empty["format"], [p["code"] for p in empty["problems"]]) == ("empty", ["empty"])
    assert (photo["format"], photo["kind"]) == ("jpeg", "unknown")
    missing = report("不存在.docx", cwd=tmp_path)[0]
    assert (missing["kind"], [p["code"] for p in missing["problems"]]) == ("unknown",
                                                                         ["unreadable"])


def test_a_stamped_scan_alone_still_asks_for_the_editable_form(tmp_path: Path) -> None:
    names = write(tmp_path, {"附件2-盖章.pdf": b"%PDF-1.4\n%%EOF\n"})
    [scan] = report(*names, cwd=tmp_path)
    assert (scan["kind"], scan["format"]) == ("approval", "pdf")
    assert [p["code"] for p in scan["problems"]] == ["scan-only"]
    assert ".docx" in scan["problems"][0]["message"]
    names = write(tmp_path, {"附件2.docx": samples.approval_docx(A)})
    assert all(e["problems"] == [] for e in report("附件2-盖章.pdf", *names, cwd=tmp_path))


def test_the_table_for_people(tmp_path: Path) -> None:
    names = write(tmp_path, {"附件2.docx": samples.approval_docx(A, blank=["联系电话"])})
    done = check(*names, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "附件2《推荐审批表》" in done.stdout and "联系电话" in done.stdout


def test_a_word_97_file_is_converted_as_the_intake_converts_it(tmp_path: Path) -> None:
    if convert.find_soffice() is None:
        unavailable("LibreOffice is not installed: run `make test` as root")
    word_97 = convert.export(samples.approval_docx(A), "docx", "doc:MS Word 97")
    names = write(tmp_path, {"附件2-审批表.doc": word_97,
                             "附件2-改名的.docx": word_97})  # renamed: detected by content
    first, renamed = report(*names, cwd=tmp_path)
    assert (first["kind"], first["format"], first["problems"]) == ("approval", "doc", [])
    assert (renamed["kind"], renamed["format"], renamed["problems"]) == ("approval", "doc", [])
