"""One Settings object, built here and nowhere else.

Sources, later ones winning: named defaults below, the TOML file (`--config PATH`, else
`MAILBOT_CONFIG`, else `./mailbot.toml` when present), then the `MAILBOT_*` environment
variables of CONTRACT.md. Nothing else in mailbot reads the environment.

The file mirrors the variables: `[imap]` host/port/user/password/security/folder, `[smtp]` the
same without folder, and top-level `from`, `rules`, `state_dir`, `database_url`, `office_email`,
`office_password`, `shared_mailbox`, plus the tuning keys that have no variable (`poll_seconds`,
`handled_folder`…). One exception: the keys of an S3 file store (`files_url = "s3://…"`) are
read by its client, boto3, the usual AWS way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
~/.aws/credentials, an instance role), so they are never written into mailbot's own settings.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mailbot.errors import ConfigError

Security = Literal["ssl", "starttls", "none"]

DEFAULT_POLL_SECONDS = 120
# `mailbot run`: the longest the workbook lags behind the database while mail keeps coming
# (it is written off the reply path, when the mailbox is quiet or at the latest after this).
DEFAULT_WORKBOOK_SECONDS = 60
DEFAULT_HANDLED_KEYWORD = "$MailbotHandled"
DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
DEFAULT_REPLY_LIMIT_PER_HOUR = 5  # answers to one address per hour; more would be a mail loop
DEFAULT_REPLY_LIMIT_TOTAL_PER_HOUR = 200  # mail the bot sends per hour in all; more waits
DEFAULT_STATE_DIR = Path("state")


def _shipped(name: str) -> Path:
    """The sample rules/ or the reply templates/: inside the package when installed from a
    wheel (setup.py copies the checkout's top-level folders in), else the checkout's own."""
    package = Path(__file__).resolve().parent
    inside = package / "_bundled" / name
    return inside if inside.is_dir() else package.parent / name


DEFAULT_RULES_DIR = _shipped("rules")
DEFAULT_TEMPLATES_DIR = _shipped("templates")
_DEFAULT_PORTS = {("imap", "ssl"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143,
                  ("smtp", "ssl"): 465, ("smtp", "starttls"): 587, ("smtp", "none"): 25}


@dataclass(frozen=True)
class ServerSettings:
    host: str = ""
    port: int = 0  # 0: the usual port for the security mode
    user: str = ""
    password: str = field(default="", repr=False)
    security: Security = "ssl"
    # IMAP only (mailbot.mail.imap): a CA file to trust besides the system's, and XOAUTH2 login
    # (Microsoft 365) with a token, or a command printing a fresh one at every login.
    ca_file: str = ""
    auth: str = "password"  # password | xoauth2
    oauth2_token: str = field(default="", repr=False)
    oauth2_token_command: str = ""

    def port_for(self, protocol: Literal["imap", "smtp"]) -> int:
        return self.port or _DEFAULT_PORTS[(protocol, self.security)]


@dataclass(frozen=True)
class Settings:
    imap: ServerSettings = ServerSettings()
    imap_folder: str = "INBOX"
    smtp: ServerSettings = ServerSettings()
    from_address: str = ""
    rules_path: Path | None = None  # None: the one file in rules/
    state_dir: Path = DEFAULT_STATE_DIR
    database_url: str = ""  # "": SQLite in the state directory
    # Where raw mail and received files are kept ("": the state directory with SQLite, the
    # database with a database server; "s3://bucket/prefix": an S3-compatible store).
    files_url: str = ""
    s3_endpoint: str = ""  # the S3-compatible server, e.g. http://minio.lan:9000 ("": AWS)
    s3_region: str = ""  # "": the AWS configuration's, else us-east-1
    office_email: str = ""
    office_password: str = field(default="", repr=False)
    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    poll_seconds: int = DEFAULT_POLL_SECONDS
    workbook_seconds: int = DEFAULT_WORKBOOK_SECONDS
    handled_keyword: str = DEFAULT_HANDLED_KEYWORD
    handled_folder: str = ""  # "": handled mail stays where it is, only flagged
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    reply_limit_per_hour: int = DEFAULT_REPLY_LIMIT_PER_HOUR
    reply_limit_total_per_hour: int = DEFAULT_REPLY_LIMIT_TOTAL_PER_HOUR
    authserv_id: str = ""  # our receiving server's Authentication-Results id ("": the topmost)
    ignored_folder: str = ""  # where 忽略 mail is moved ("": where handled mail goes)
    quarantine_folder: str = ""  # where 隔离 mail is moved ("": where handled mail goes)
    idle: bool = True  # `mailbot run` waits with IMAP IDLE where the server offers it
    public_url: str = ""  # where applicants reach the status pages ("": replies carry no link)
    # Reverse proxies in front of `mailbot serve` whose X-Forwarded-For is believed (addresses
    # or networks); the login throttle then counts each client, not the proxy (web/clients.py).
    trusted_proxies: tuple[str, ...] = ()
    # The mailbox also receives mail for no campaign (the clerk's own): that is left alone.
    shared_mailbox: bool = True

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'mailbot.sqlite3').resolve()}"

    @property
    def workbook_path(self) -> Path:
        return self.state_dir / "汇总表.xlsx"

    @property
    def own_addresses(self) -> tuple[str, ...]:
        """Addresses whose mail is ours: never answered, so the bot can never talk to itself."""
        found = {a.lower() for a in (self.from_address, self.imap.user, self.smtp.user) if "@" in a}
        return tuple(sorted(found))

    def require_imap(self) -> None:
        if self.imap.auth == "xoauth2":
            _require(self, ("imap.host", "imap.user"))
            if not (self.imap.oauth2_token or self.imap.oauth2_token_command):
                raise ConfigError(f"missing setting: {_name('imap', 'oauth2_token')} or "
                                  f"{_name('imap', 'oauth2_token_command')} (imap.auth = xoauth2)")
            return
        _require(self, ("imap.host", "imap.user", "imap.password"))

    def require_smtp(self) -> None:
        _require(self, ("smtp.host", "from_address"))


# Environment variable -> (section, key) in the file. The section "" is the top level.
ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    "MAILBOT_IMAP_HOST": ("imap", "host"),
    "MAILBOT_IMAP_PORT": ("imap", "port"),
    "MAILBOT_IMAP_USER": ("imap", "user"),
    "MAILBOT_IMAP_PASSWORD": ("imap", "password"),
    "MAILBOT_IMAP_SECURITY": ("imap", "security"),
    "MAILBOT_IMAP_FOLDER": ("imap", "folder"),
    "MAILBOT_IMAP_CA_FILE": ("imap", "ca_file"),
    "MAILBOT_IMAP_AUTH": ("imap", "auth"),
    "MAILBOT_IMAP_OAUTH2_TOKEN": ("imap", "oauth2_token"),
    "MAILBOT_IMAP_OAUTH2_TOKEN_COMMAND": ("imap", "oauth2_token_command"),
    "MAILBOT_SMTP_HOST": ("smtp", "host"),
    "MAILBOT_SMTP_PORT": ("smtp", "port"),
    "MAILBOT_SMTP_USER": ("smtp", "user"),
    "MAILBOT_SMTP_PASSWORD": ("smtp", "password"),
    "MAILBOT_SMTP_SECURITY": ("smtp", "security"),
    "MAILBOT_FROM": ("", "from"),
    "MAILBOT_RULES": ("", "rules"),
    "MAILBOT_STATE_DIR": ("", "state_dir"),
    "MAILBOT_DATABASE_URL": ("", "database_url"),
    "MAILBOT_FILES_URL": ("", "files_url"),
    "MAILBOT_S3_ENDPOINT": ("", "s3_endpoint"),
    "MAILBOT_S3_REGION": ("", "s3_region"),
    "MAILBOT_OFFICE_EMAIL": ("", "office_email"),
    "MAILBOT_OFFICE_PASSWORD": ("", "office_password"),
    "MAILBOT_PUBLIC_URL": ("", "public_url"),
    "MAILBOT_REPLY_LIMIT_TOTAL_PER_HOUR": ("", "reply_limit_total_per_hour"),
    "MAILBOT_AUTHSERV_ID": ("", "authserv_id"),
    "MAILBOT_TRUSTED_PROXIES": ("", "trusted_proxies"),
    "MAILBOT_SHARED_MAILBOX": ("", "shared_mailbox"),
}
_ENV_FOR = {place: name for name, place in ENVIRONMENT.items()}
_TOP_LEVEL = {"from": "from_address", "rules": "rules_path", "state_dir": "state_dir",
              "database_url": "database_url", "files_url": "files_url",
              "s3_endpoint": "s3_endpoint", "s3_region": "s3_region",
              "office_email": "office_email",
              "office_password": "office_password", "templates_dir": "templates_dir",
              "poll_seconds": "poll_seconds", "workbook_seconds": "workbook_seconds",
              "handled_keyword": "handled_keyword",
              "handled_folder": "handled_folder", "max_message_bytes": "max_message_bytes",
              "reply_limit_per_hour": "reply_limit_per_hour", "ignored_folder": "ignored_folder",
              "quarantine_folder": "quarantine_folder", "idle": "idle",
              "public_url": "public_url",
              "reply_limit_total_per_hour": "reply_limit_total_per_hour",
              "authserv_id": "authserv_id", "trusted_proxies": "trusted_proxies",
              "shared_mailbox": "shared_mailbox"}
_SERVER_KEYS = {"host", "port", "user", "password", "security"}
_IMAP_KEYS = {"ca_file", "auth", "oauth2_token", "oauth2_token_command"}


def load_settings(config_path: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build the Settings from file and environment; a problem is one ConfigError naming it."""
    env = os.environ if environ is None else environ
    path = config_path or (Path(env["MAILBOT_CONFIG"]) if env.get("MAILBOT_CONFIG") else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"配置文件不存在 / config file not found: {path}")
    if path is None and Path("mailbot.toml").is_file():
        path = Path("mailbot.toml")
    layered: dict[str, dict[str, Any]] = {"": {}, "imap": {}, "smtp": {}}
    if path is not None:
        _merge_file(layered, path)
    for name, (section, key) in ENVIRONMENT.items():
        if env.get(name, "") != "":
            layered[section][key] = env[name]
    return _build(layered)


def _merge_file(layered: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for key, value in data.items():
        if key in ("imap", "smtp") and isinstance(value, dict):
            allowed = _SERVER_KEYS | ({"folder", *_IMAP_KEYS} if key == "imap" else set())
            for sub, sub_value in value.items():
                if sub not in allowed:
                    raise ConfigError(f"config file {path}: unknown key `{key}.{sub}`")
                layered[key][sub] = sub_value
        elif key in _TOP_LEVEL:
            layered[""][key] = value
        else:
            raise ConfigError(f"config file {path}: unknown key `{key}`")


def _build(layered: dict[str, dict[str, Any]]) -> Settings:
    servers = {}
    for section in ("imap", "smtp"):
        keys = _SERVER_KEYS | (_IMAP_KEYS if section == "imap" else set())
        values = {k: v for k, v in layered[section].items() if k in keys}
        for key in _IMAP_KEYS & values.keys():
            values[key] = str(values[key]).strip() if key != "oauth2_token" else str(values[key])
        if values.get("auth", "password") not in ("password", "xoauth2"):
            raise ConfigError(f"{_name(section, 'auth')} must be password or xoauth2, "
                              f"not {values['auth']!r}")
        if "port" in values:
            values["port"] = _as_int(values["port"], section, "port", low=1, high=65535)
        if "security" in values:
            values["security"] = str(values["security"]).strip().lower()
            if values["security"] not in ("ssl", "starttls", "none"):
                raise ConfigError(f"{_name(section, 'security')} must be ssl, starttls or none, "
                                  f"not {values['security']!r}")
        for key in ("host", "user", "password"):
            if key in values:
                values[key] = str(values[key])
        servers[section] = ServerSettings(**values)
    settings = Settings(imap=servers["imap"], smtp=servers["smtp"])
    if "folder" in layered["imap"]:
        settings = replace(settings, imap_folder=str(layered["imap"]["folder"]))
    for key, value in layered[""].items():
        attr = _TOP_LEVEL[key]
        if attr in ("rules_path", "state_dir", "templates_dir"):
            value = Path(str(value)).expanduser()
        elif attr in ("poll_seconds", "workbook_seconds", "max_message_bytes",
                      "reply_limit_per_hour", "reply_limit_total_per_hour"):
            value = _as_int(value, "", key, low=1)
        elif attr in ("idle", "shared_mailbox"):
            value = _as_bool(value, key)
        elif attr == "public_url":
            value = _as_public_url(value, key)
        elif attr == "s3_endpoint":
            value = _as_endpoint(value, key)
        elif attr == "trusted_proxies":
            value = _as_networks(value, key)
        else:
            value = str(value)
        settings = replace(settings, **{attr: value})
    return settings


def _as_public_url(value: Any, key: str) -> str:
    text = str(value).strip().rstrip("/")
    if text and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise ConfigError(f"{_name('', key)} must be an http(s) address such as "
                          f"https://shenbao.example.edu.cn, not {value!r}")
    return text


def _as_endpoint(value: Any, key: str) -> str:
    text = str(value).strip().rstrip("/")
    if text and not re.fullmatch(r"https?://[^\s/?#]+", text):
        raise ConfigError(f"{_name('', key)} must be an http(s) address with no path, such as "
                          f"http://minio.example:9000, not {value!r}")
    return text


def _as_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{_name('', key)} must be true or false, not {value!r}")


def _as_networks(value: Any, key: str) -> tuple[str, ...]:
    """A list in the file, or one string separated by commas or spaces (the variable)."""
    import ipaddress

    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    found = []
    for item in items:
        try:
            found.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"{_name('', key)}: {item!r} is not an IP address or network "
                              "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(found)


def _as_int(value: Any, section: str, key: str, low: int, high: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{_name(section, key)} must be a whole number, not {value!r}") from None
    if number < low or (high is not None and number > high):
        raise ConfigError(f"{_name(section, key)} is out of range: {number}")
    return number


def _name(section: str, key: str) -> str:
    """How to name a setting to a person: both the variable and the file key."""
    env = _ENV_FOR.get((section, key))
    dotted = f"{section}.{key}" if section else key
    return f"{env} (`{dotted}` in the config file)" if env else f"`{dotted}` in the config file"


def _require(settings: Settings, dotted_names: tuple[str, ...]) -> None:
    missing = []
    for dotted in dotted_names:
        section, _, key = dotted.rpartition(".")
        holder: Any = getattr(settings, section) if section else settings
        if not getattr(holder, key):
            missing.append(_name(section, "from" if key == "from_address" else key))
    if missing:
        raise ConfigError("missing setting: " + "; ".join(missing))
