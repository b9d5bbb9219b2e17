"""The command line as an operator meets it: real processes, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from intake_support import UNIT_ADDRESS, Bot, make_bot
from servers import Dovecot, SmtpRelay, free_port

from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx


def mailbot(*args: str, cwd: Path, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    return subprocess.run([sys.executable, "-m", "mailbot", *args], cwd=cwd, text=True,
                          capture_output=True, env={**clean, **(env or {})}, timeout=120)


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ("demo", "poll", "run", "check", "export", "status", "bundle"):
        result = mailbot(command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_missing_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = mailbot("poll", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "MAILBOT_IMAP_HOST" in result.stderr


def test_unreachable_imap_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"MAILBOT_IMAP_HOST": "127.0.0.1", "MAILBOT_IMAP_PORT": str(free_port()),
           "MAILBOT_IMAP_USER": "office@test.example", "MAILBOT_IMAP_PASSWORD": "x",
           "MAILBOT_IMAP_SECURITY": "none", "MAILBOT_STATE_DIR": str(tmp_path / "state")}
    result = mailbot("poll", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot log in" in result.stderr and "127.0.0.1" in result.stderr


def test_bad_config_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "mailbot.toml").write_text("[imap]\nport = 'x'\n", encoding="utf-8")
    result = mailbot("status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("mailbot: MAILBOT_IMAP_PORT")


def test_check_json_matches_the_contract(tmp_path: Path) -> None:
    studio = SAMPLE_STUDIOS[1]
    files = {"附件1-汇总表.docx": summary_docx(studio.unit, [studio]),
             "附件2-审批表.docx": approval_docx(studio, blank=["联系电话"]),
             "附件3-申报材料.docx": material_docx(studio, 2100),
             "notes.txt": "随便写点什么".encode()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = mailbot("check", *files, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["file"] for r in report] == list(files)
    assert [r["kind"] for r in report] == ["summary", "approval", "material", "unknown"]
    assert [r["format"] for r in report][:3] == ["docx", "docx", "docx"]
    assert report[2]["word_count"] == 2100
    assert [p["code"] for p in report[0]["problems"]] == []
    assert [p["code"] for p in report[1]["problems"]] == ["required-field"]
    assert "联系电话" in report[1]["problems"][0]["message"]
    assert [p["code"] for p in report[2]["problems"]] == ["word-limit"]
    for entry in report:
        assert set(entry) >= {"file", "kind", "format", "word_count", "problems"}
        for problem in entry["problems"]:
            assert isinstance(problem["code"], str) and isinstance(problem["message"], str)


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def test_poll_export_and_status_from_the_command_line(bot: Bot, tmp_path: Path) -> None:
    studio = SAMPLE_STUDIOS[0]
    bot.submit(UNIT_ADDRESS, [("附件1.docx", summary_docx(studio.unit, [studio])),
                              ("附件2.docx", approval_docx(studio)),
                              ("附件3.docx", material_docx(studio, 1000))])
    env = bot.environment()
    polled = mailbot("poll", cwd=tmp_path, env=env)
    assert polled.returncode == 0, polled.stderr
    assert "受理 1" in polled.stdout
    assert len(bot.replies(UNIT_ADDRESS)) == 1

    again = mailbot("poll", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "本次收取 0 封" in again.stdout

    out = tmp_path / "导出" / "汇总.xlsx"
    exported = mailbot("export", "--out", str(out), cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["汇总", "单位进度", "收件记录"]
    assert book["汇总"]["C2"].value == studio.name

    status = mailbot("status", cwd=tmp_path, env=env)
    assert status.returncode == 0
    rows = {tuple(cell.strip() for cell in line.split("│")[1:-1])
            for line in status.stdout.splitlines() if line.count("│") == 4}
    assert {("处理结果", "受理", "1"), ("单位进度", "已齐全", "1"), ("单位进度", "未齐全", "0"),
            ("单位进度", "未提交", "0")} <= rows  # the contract's words for units
