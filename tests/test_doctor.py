"""`mailbot doctor` and `mailbot init`, run as processes against the test Dovecot and SMTP relay.

doctor: one line per item (✓/✗, Chinese), exit 0 only when every item holds; a wrong IMAP
password, an unreadable database or a state directory others can read each fail their own item.
init: a commented config and a rules file that load as they are, never overwriting anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from intake_support import RULES, make_bot
from prerequisites import MISSING_SOFFICE, unavailable
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import load_rules
from mailbot.config import load_settings
from mailbot.documents import convert

ITEMS = ("申报规则", "回复模板", "数据目录", "数据库", "文件存储", "IMAP 收件", "SMTP 发件",
         "LibreOffice")


def mailbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbot", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def lines(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """{item name: its line} from doctor's output; every item exactly once, in order."""
    found = [line for line in done.stdout.splitlines() if line[:2] in ("✓ ", "✗ ")]
    names = [line[2:].split("：", 1)[0] for line in found]
    assert names == list(ITEMS), done.stdout + done.stderr
    return dict(zip(names, found, strict=True))


def test_a_good_configuration_passes_every_item(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                tmp_path: Path) -> None:
    if convert.find_soffice() is None:
        unavailable(MISSING_SOFFICE)
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    env = bot.environment(MAILBOT_RULES=str(RULES))
    done = mailbot("doctor", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    found = lines(done)
    assert all(line.startswith("✓") for line in found.values())
    assert "文件夹“INBOX”可打开" in found["IMAP 收件"]
    assert done.stdout.rstrip().endswith("全部检查通过，可以上线。")
    assert not bot.state_dir.exists()  # doctor changes nothing


def test_a_wrong_imap_password_fails_naming_imap(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                 tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    env = bot.environment(MAILBOT_RULES=str(RULES), MAILBOT_IMAP_PASSWORD="wrong")
    done = mailbot("doctor", env=env, cwd=tmp_path)
    assert done.returncode == 1
    found = lines(done)
    assert found["IMAP 收件"].startswith("✗ IMAP 收件：")
    assert f"以 {bot.settings.imap.user} 登录失败" in found["IMAP 收件"]
    assert found["SMTP 发件"].startswith("✓") and found["申报规则"].startswith("✓")
    assert "Traceback" not in done.stderr


def test_a_missing_folder_and_an_unreachable_relay(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                   tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    smtp_relay.stop()
    env = bot.environment(MAILBOT_RULES=str(RULES), MAILBOT_IMAP_FOLDER="申报")
    done = mailbot("doctor", env=env, cwd=tmp_path)
    assert done.returncode == 1
    found = lines(done)
    assert "已登录，但文件夹“申报”无法打开" in found["IMAP 收件"]
    assert "无法连接（连接被拒绝" in found["SMTP 发件"]


def test_state_directory_and_database_problems(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / "mailbot.sqlite3").write_bytes(b"not a database, " * 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(MAILBOT_RULES=str(RULES), MAILBOT_STATE_DIR=str(state))
    found = lines(mailbot("doctor", env=env, cwd=tmp_path))
    assert found["数据目录"].startswith("✗") and "chmod 700" in found["数据目录"]
    assert found["数据库"].startswith("✗") and "无法打开" in found["数据库"]
    assert found["IMAP 收件"].startswith("✗ IMAP 收件：配置不完整")
    assert found["申报规则"].startswith("✓")


def test_a_bad_rules_file_is_its_own_item(tmp_path: Path) -> None:
    broken = tmp_path / "rules.toml"
    broken.write_text("[campaign]\nkey = 'x'\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(MAILBOT_RULES=str(broken), MAILBOT_STATE_DIR=str(tmp_path / "state"))
    done = mailbot("doctor", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert lines(done)["申报规则"].startswith("✗ 申报规则：")


def test_init_writes_a_config_and_rules_that_load_and_never_overwrites(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    done = mailbot("init", "部署", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config, rules = tmp_path / "部署" / "mailbot.toml", tmp_path / "部署" / "rules"
    text = config.read_text(encoding="utf-8")
    assert "# 申报规则" in text and "授权码" in text  # commented, in Chinese
    assert config.stat().st_mode & 0o777 == 0o600  # it will hold passwords
    settings = load_settings(config, environ={})
    assert settings.rules_path == rules / RULES.name
    assert settings.state_dir == tmp_path / "部署" / "state"
    assert load_rules(settings.rules_path).campaign.title == load_rules(RULES).campaign.title
    before = config.read_bytes()
    config.write_text(text + "\n# 已修改\n", encoding="utf-8")
    again = mailbot("init", "部署", env=env, cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.startswith("mailbot: 已存在，不覆盖：")
    assert config.read_bytes() == before + "\n# 已修改\n".encode()
    # The generated config is what doctor reads: the rules item holds from it as written.
    offline = {**env, "MAILBOT_IMAP_HOST": "127.0.0.1", "MAILBOT_SMTP_HOST": "127.0.0.1",
               "MAILBOT_IMAP_PORT": "9", "MAILBOT_SMTP_PORT": "9"}  # no lookups of example.edu.cn
    checked = mailbot("doctor", "--config", str(config), env=offline, cwd=tmp_path)
    assert lines(checked)["申报规则"].startswith("✓")


def test_a_database_lost_beside_kept_mail_is_named(dovecot: Dovecot, smtp_relay: SmtpRelay,
                                                   tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    bot.submit("jidian@test.example", [])
    bot.poll()
    env = bot.environment(MAILBOT_RULES=str(RULES))
    found = lines(mailbot("doctor", env=env, cwd=tmp_path))
    assert found["数据库"].startswith("✓") and "1 封收件记录" in found["数据库"]
    for path in bot.state_dir.glob("mailbot.sqlite3*"):
        path.unlink()
    done = mailbot("doctor", env=env, cwd=tmp_path)
    assert done.returncode == 1
    database = lines(done)["数据库"]
    assert database.startswith("✗") and "已有 1 封原始邮件" in database and "备份" in database


def test_a_rules_directory_is_every_campaign_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(MAILBOT_RULES=str(folder), MAILBOT_STATE_DIR=str(tmp_path / "state"))
    assert "中没有活动规则文件" in lines(mailbot("doctor", env=env, cwd=tmp_path))["申报规则"]
    (folder / RULES.name).write_bytes(RULES.read_bytes())
    (folder / "second.toml").write_text(RULES.read_text(encoding="utf-8").replace(
        'key = "laomo-gongjiang-2022"', 'key = "second"'), encoding="utf-8")
    found = lines(mailbot("doctor", env=env, cwd=tmp_path))["申报规则"]
    assert found.startswith("✓") and f"{RULES.name}：" in found and "second.toml：" in found
