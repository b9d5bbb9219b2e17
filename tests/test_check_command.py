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

from mailbot.demo import samples
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
            assert set(problem) == {"code", "message", "severity"} and problem["message"]
            assert problem["severity"] in ("error", "warning")
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
    material, empty, photo = report(*names, cwd=tmp_path)
    assert material["word_count"] == 1800
    assert [(p["code"], p["severity"]) for p in material["problems"]] == [("outline", "warning")]
    assert [(p["code"], p["severity"]) for p in empty["problems"]] == [("empty", "error")]
    assert empty["format"] == "empty"
    assert (photo["format"], photo["kind"]) == ("jpeg", "unknown")


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
    # Offline: no state directory is made here, not even for the conversions kept elsewhere.
    assert not (tmp_path / "state").exists()


def test_json_keeps_chinese_readable(tmp_path: Path) -> None:
    names = write(tmp_path, {"附件2.docx": samples.approval_docx(A, blank=["联系电话"])})
    done = check(*names, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "联系电话" in done.stdout and "\\u" not in done.stdout  # not escaped


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    names = write(tmp_path, {"附件2.docx": samples.approval_docx(A)})
    for args in ((*names, "不存在.docx"), (*names, "不存在.docx", "--json")):
        done = check(*args, cwd=tmp_path)
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr.strip().splitlines() == ["mailbot: 文件或文件夹不存在：不存在.docx"]


def test_a_folder_is_searched_recursively(tmp_path: Path) -> None:
    folder = tmp_path / "申报材料"
    (folder / "精密").mkdir(parents=True)
    (folder / "附件1.docx").write_bytes(samples.summary_docx(A.unit, [A]))
    (folder / "精密" / "附件2.docx").write_bytes(samples.approval_docx(A))
    (folder / "精密" / "附件3.docx").write_bytes(samples.material_docx(A, 1500))
    (folder / "精密" / "~$附件3.docx").write_bytes(b"\0" * 162)  # Word's lock file: skipped
    entries = report("申报材料", cwd=tmp_path)
    found = [(Path(e["file"]).relative_to("申报材料").as_posix(), e["kind"]) for e in entries]
    assert sorted(found) == found  # in name order
    assert set(found) == {("附件1.docx", "summary"), ("精密/附件2.docx", "approval"),
                          ("精密/附件3.docx", "material")}
    assert all(e["problems"] == [] for e in entries)
    done = check("申报材料", cwd=tmp_path)
    assert done.stdout.rstrip().splitlines()[-1].startswith("结论：受理。")


def test_the_blank_outline_is_refused_as_such(tmp_path: Path) -> None:
    """The notice's own 附件3 (参考提纲) sent back unfilled: an error, not a pass."""
    blank = samples.outline_template_docx()
    names = write(tmp_path, {"附件1.docx": samples.summary_docx(A.unit, [A]),
                             "附件2.docx": samples.approval_docx(A),
                             "附件3-申报材料参考提纲.docx": blank})
    entries = report(*names, cwd=tmp_path)
    material = entries[2]
    assert material["kind"] == "material"
    assert [(p["code"], p["severity"]) for p in material["problems"]] == [
        ("blank-outline", "error")]
    assert "参考提纲（空白模板）" in material["problems"][0]["message"]
    done = check(*names, cwd=tmp_path)
    tail = done.stdout[done.stdout.index("结论："):]
    assert tail.startswith("结论：补正。") and "参考提纲（空白模板）" in tail
    # Written material with the same headings is not blank.
    names = write(tmp_path, {"附件3-申报材料参考提纲.docx": samples.material_docx(A, 900)})
    assert report(*names, cwd=tmp_path)[0]["problems"] == []


def test_errors_and_warnings_apart_and_the_verdict_last(tmp_path: Path) -> None:
    names = write(tmp_path, {
        "附件1.docx": samples.summary_docx(A.unit, [A]), "附件2.docx": samples.approval_docx(A),
        "附件3.docx": samples.material_docx(A, 1800, outline=False)})
    done = check(*names, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.rstrip().splitlines()
    assert "需要更正" in done.stdout and "提醒（不影响受理）" in done.stdout
    assert "!附件3《申报材料》“附件3.docx”中没有找到参考提纲" in done.stdout
    assert "✗" not in done.stdout  # a warning is never shown as an error
    assert lines[-1] == "结论：受理。以上文件作为本单位的全部材料一次发送，将被受理（提醒事项请自行斟酌）。"
    # A lone 附件3: the verdict names the forms the set lacks, though the file itself is fine.
    done = check("附件3.docx", cwd=tmp_path)
    tail = done.stdout[done.stdout.index("结论："):].splitlines()
    assert tail[0].startswith("结论：补正。") and "共 2 项" in tail[0]
    assert "尚未收到附件1《推荐汇总表》" in tail[1] and "尚未收到附件2《推荐审批表》" in tail[2]
    assert not any(p["severity"] == "error" for p in report("附件3.docx", cwd=tmp_path)[0]["problems"])


def test_the_table_names_odd_formats_in_chinese(tmp_path: Path) -> None:
    names = write(tmp_path, {"空文件.docx": b"", "说明.txt": "请查收".encode()})
    done = check(*names, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "空文件.docx" in line or "说明.txt" in line]
    assert "空文件" in rows[0].split("空文件.docx", 1)[1] and "纯文本" in rows[1]
    assert " empty " not in done.stdout and " text " not in done.stdout


def test_brackets_in_a_name_are_shown_as_they_are(tmp_path: Path) -> None:
    names = write(tmp_path, {"[定稿][bold]附件2.docx": samples.approval_docx(A, blank=["联系电话"])})
    done = check(*names, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[定稿][bold]附件2.docx" in done.stdout  # not taken for rich markup
    verdict = done.stdout[done.stdout.index("结论："):]
    assert "  1. 附件2《推荐审批表》“[定稿][bold]附件2.docx”中以下栏目未填写" in verdict
