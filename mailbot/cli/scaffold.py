"""`mailbot init DIR`: a commented mailbot.toml and a rules file to start a deployment from.

The rules file is a copy of the sample campaign that ships with mailbot (the 2022 劳模和工匠人才
创新工作室 call), to be edited rather than written from nothing. The config names it and the
state directory by absolute path, so the service finds them whatever its working directory.
Nothing existing is ever overwritten: if either file is there, nothing is written at all.
The config file is created 0600: it will hold the mailbox passwords.
"""

from __future__ import annotations

import os
from pathlib import Path

from mailbot.config import DEFAULT_RULES_DIR
from mailbot.errors import ConfigError

SAMPLE_RULES = "laomo-gongjiang-2022.toml"

CONFIG_TEMPLATE = """\
# mailbot 配置文件（由 mailbot init 生成）。
# 环境变量优先于本文件，例如 MAILBOT_IMAP_PASSWORD 会覆盖下面的 [imap] password。
# 填好后运行 `mailbot doctor` 逐项检查；全部显示 ✓ 后再运行 `mailbot run` 与 `mailbot serve`。
# 本文件含邮箱密码，权限为 600，请勿提交到代码库或发给他人。

# 申报规则：一个活动一个 TOML 文件（截止时间、表格、名单、提醒都在其中）。
rules = "{rules}"

# 数据目录：原始邮件、附件、汇总表和数据库都在这里（权限 700）；请定期备份。
state_dir = "{state_dir}"

# 数据库：留空即使用数据目录中的 SQLite；多台机器同时运行时请用 PostgreSQL，例如
# database_url = "postgresql+psycopg://mailbot:密码@127.0.0.1/mailbot"
database_url = ""

# 回复邮件的发件地址（通常就是申报邮箱本身）。
from = "shenbao@example.edu.cn"

# 办公室接收隔离通知、汇总报告的邮箱。
office_email = "gonghui@example.edu.cn"

# 看板登录密码：建议用 `mailbot serve --hash-password` 生成的哈希，而不是明文。
office_password = ""

# 多久收一次信（秒）；服务器支持 IMAP IDLE 时新邮件会立即处理。
poll_seconds = 120

# 处理过的邮件移到哪个文件夹（留空：留在原处，只加标记）。与个人邮件共用的邮箱建议留空。
handled_folder = ""

[imap]
# 收件服务器。QQ 邮箱：imap.qq.com；163：imap.163.com；腾讯企业邮：imap.exmail.qq.com；
# Coremail 按学校邮件系统的说明填写；Exchange/Microsoft 365：outlook.office365.com。
host = "imap.example.edu.cn"
# 端口不写即按加密方式取默认值：ssl 为 993，starttls 为 143。
# port = 993
security = "ssl"          # ssl | starttls | none
user = "shenbao@example.edu.cn"
# QQ、163 等请填写“授权码”，不是网页登录密码。
password = ""
folder = "INBOX"
# Microsoft 365 使用 OAuth2 时：auth = "xoauth2"，并设置 oauth2_token_command（输出令牌的命令）。
# auth = "xoauth2"
# oauth2_token_command = "/usr/local/bin/get-m365-token"

[smtp]
# 发件服务器。QQ：smtp.qq.com；163：smtp.163.com；腾讯企业邮：smtp.exmail.qq.com。
host = "smtp.example.edu.cn"
# port = 465              # 不写：ssl 为 465，starttls 为 587
security = "ssl"
user = "shenbao@example.edu.cn"
password = ""
"""


def write_starter(folder: Path) -> list[Path]:
    """Write DIR/mailbot.toml and DIR/rules/<sample>.toml; returns them. Refuses to overwrite."""
    folder = folder.expanduser().absolute()
    config = folder / "mailbot.toml"
    rules = folder / "rules" / SAMPLE_RULES
    sample = DEFAULT_RULES_DIR / SAMPLE_RULES
    existing = [path for path in (config, rules) if path.exists()]
    if existing:
        raise ConfigError("已存在，不覆盖：" + "、".join(map(str, existing)))
    if not sample.is_file():
        raise ConfigError(f"找不到随 mailbot 附带的示例规则：{sample}")
    try:
        rules.parent.mkdir(parents=True, exist_ok=True)
        rules.write_bytes(sample.read_bytes())
        text = CONFIG_TEMPLATE.format(rules=_toml_path(rules),
                                      state_dir=_toml_path(folder / "state"))
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(f"无法在 {folder} 中写入：{exc.strerror or exc}") from exc
    return [config, rules]


def _toml_path(path: Path) -> str:
    """A path inside a TOML basic string (backslashes of Windows paths escaped)."""
    return str(path).replace("\\", "\\\\").replace('"', '\\"')
