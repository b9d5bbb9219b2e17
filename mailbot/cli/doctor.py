"""`mailbot doctor`: check a configuration before going live, one line per item (CONTRACT.md).

Each item is a small function returning (ok, what it found) in Chinese; the command prints
"✓ 名称：…" or "✗ 名称：…" for each and exits 0 only when every item holds. Nothing here
changes anything: the state directory is not created, an absent SQLite database is not
created, no mail is marked or moved, none is sent (SMTP stops after the login). A server's
own answer (often English) is quoted after a Chinese statement of what failed.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import socket
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
from imap_tools.errors import ImapToolsError

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.config import Settings
from mailbot.errors import ConfigError, MailbotError, MailboxError
from mailbot.store.handles import StoreFailure
from mailbot.store.queries.operations import read_database_url, survey_database
from mailbot.timefmt import show


@dataclass(frozen=True)
class Item:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}：{self.detail}"


def run(settings: Settings, rules_path: Callable[[], Path]) -> list[Item]:
    """Every item, in the order an admin fixes them. `rules_path` finds the rules file (it may
    raise: no file, several files)."""
    return [_rules(rules_path), _templates(settings), _state_dir(settings.state_dir),
            _database(settings), _files(settings), _imap(settings), _smtp(settings),
            _libreoffice()]


def _attempt(name: str, probe: Callable[[], str]) -> Item:
    """Run a probe; a MailbotError (or an OS error at the edge) is that item's ✗ line."""
    try:
        return Item(name, True, probe())
    except ConfigError as exc:
        return Item(name, False, f"配置不完整：{exc}")
    except MailbotError as exc:
        return Item(name, False, str(exc))
    except OSError as exc:
        return Item(name, False, exc.strerror or str(exc))


def _rules(rules_path: Callable[[], Path]) -> Item:
    """The rules file, or — a directory (CONTRACT: every *.toml in it is a campaign) — each."""
    def probe() -> str:
        path = rules_path()
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        if not files:
            raise _Failed(f"{path} 中没有活动规则文件（*.toml）")
        described = []
        for file in files:
            campaign: Campaign = load_rules(file)
            forms = "、".join(spec.label for spec in campaign.documents)
            described.append(f"{file.name}：{campaign.campaign.title}，截止 "
                             f"{show(campaign.campaign.deadline_at)}，表格 {forms}，"
                             f"名单 {len(campaign.units)} 个单位")
        return f"{path}（{'；'.join(described)}）"
    return _attempt("申报规则", probe)


def _templates(settings: Settings) -> Item:
    folder = settings.templates_dir
    if not folder.is_dir():
        return Item("回复模板", False, f"找不到模板文件夹 {folder}")
    names = sorted(p.name for p in folder.glob("*.j2"))
    if not names:
        return Item("回复模板", False, f"{folder} 中没有 *.j2 模板")
    return Item("回复模板", True, f"{folder}（{len(names)} 个）")


def _state_dir(folder: Path) -> Item:
    name = "数据目录"
    if not folder.exists():
        parent = next((p for p in folder.absolute().parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK | os.X_OK):
            return Item(name, True, f"{folder.absolute()} 尚不存在，首次运行时创建")
        return Item(name, False, f"{folder.absolute()} 不存在，且无权在 {parent} 下创建")
    if not folder.is_dir():
        return Item(name, False, f"{folder.absolute()} 不是文件夹")
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return Item(name, False, f"{folder.absolute()} 不可写（当前用户无读写权限）")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        return Item(name, False, f"{folder.absolute()} 权限为 {mode:o}，他人可读；"
                    f"请执行 chmod 700 {folder.absolute()}")
    return Item(name, True, f"{folder.absolute()}（可写，权限 {mode:o}）")


def _database(settings: Settings) -> Item:
    name = "数据库"
    try:
        address = read_database_url(settings.database)
    except StoreFailure as exc:
        return Item(name, False, f"数据库地址无法识别：{exc}")
    shown = address.shown
    kept = _kept_mail(settings.state_dir)
    if address.sqlite_file and not Path(address.sqlite_file).exists():
        if kept:
            return Item(name, False, f"{shown} 不存在，但数据目录中已有 {kept} 封原始邮件："
                        "请从备份恢复数据库（否则回执编号会从头开始）")
        return Item(name, True, f"{shown} 尚未创建，首次运行时创建")
    try:
        survey = survey_database(settings.database)
    except StoreFailure as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return Item(name, False, f"{shown} 无法打开：{reason}")
    except ImportError as exc:
        return Item(name, False, f"{shown} 缺少数据库驱动（{exc.name}），请先安装")
    if kept and not survey.messages:
        return Item(name, False, f"{shown} 中没有收件记录，但数据目录中已有 {kept} 封原始邮件："
                    "请从备份恢复数据库（否则回执编号会从头开始）")
    return Item(name, True,
                f"{shown}（可打开，{survey.tables} 张表，{survey.messages} 封收件记录）")


def _files(settings: Settings) -> Item:
    """Where raw mail and received files are kept; an S3 store's bucket is checked."""
    from mailbot.store import blobs

    return _attempt("文件存储", lambda: blobs.describe(settings))


def _kept_mail(state_dir: Path) -> int:
    """How many raw mails the state directory keeps (they outlive a lost database)."""
    raw = state_dir / "raw"
    try:
        return sum(1 for path in raw.rglob("*") if path.is_file())
    except OSError:
        return 0


def _imap(settings: Settings) -> Item:
    from mailbot.mail.imap import Mailbox

    def probe() -> str:
        server = settings.imap
        where = f"{server.host}:{server.port_for('imap')}（{server.security}）"
        settings.require_imap()
        mailbox = Mailbox(settings)
        try:
            mailbox.__enter__()
        except MailboxError as exc:
            if _unreachable(exc):
                raise _Failed(f"{where} 无法连接（{_cause(exc)}）") from exc
            raise _Failed(f"{where} 以 {server.user} 登录失败（{_cause(exc)}）") from exc
        try:
            mailbox.open_folder()
            count = len(mailbox.box.uids("ALL"))
        except (MailboxError, ImapToolsError, imaplib.IMAP4.error, OSError) as exc:
            raise _Failed(f"{where} 已登录，但文件夹“{settings.imap_folder}”无法打开"
                          f"（{_cause(exc)}）") from exc
        finally:
            mailbox.__exit__(None, None, None)
        return (f"{where} 以 {server.user} 登录成功，文件夹“{settings.imap_folder}”"
                f"可打开，共 {count} 封邮件")
    return _attempt("IMAP 收件", probe)


def _smtp(settings: Settings) -> Item:
    from mailbot.office.outbox import smtp_client

    async def login() -> None:
        client = smtp_client(settings)
        await client.connect()
        try:
            if settings.smtp.user:
                await client.login(settings.smtp.user, settings.smtp.password)
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass

    def probe() -> str:
        settings.require_smtp()
        server = settings.smtp
        where = f"{server.host}:{server.port_for('smtp')}（{server.security}）"
        try:
            asyncio.run(login())
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as exc:
            raise _Failed(f"{where} 无法连接（{_cause(exc)}）") from exc
        except aiosmtplib.SMTPException as exc:
            raise _Failed(f"{where} 以 {server.user} 登录失败（{_cause(exc)}）") from exc
        who = f"以 {server.user} 登录成功" if server.user else "可连接（未设置用户，不登录）"
        return f"{where} {who}，发件地址 {settings.from_address}"
    return _attempt("SMTP 发件", probe)


def _cause(exc: BaseException) -> str:
    """What went wrong, on one line: common network failures in Chinese, else the server's or
    the system's own words."""
    inner = exc.__cause__ or exc
    for kind, words in _NETWORK_WORDS:
        if isinstance(inner, kind):
            return words
    text = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return " ".join(str(text).split())


def _unreachable(exc: BaseException) -> bool:
    inner = exc.__cause__ or exc
    return isinstance(inner, OSError) and not isinstance(inner, imaplib.IMAP4.error)


_NETWORK_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (socket.gaierror, "服务器地址无法解析，请检查主机名"),
    (ConnectionRefusedError, "连接被拒绝，请检查端口和加密方式"),
    (TimeoutError, "连接超时，请检查主机名、端口和防火墙"),
    (ssl.SSLError, "TLS 握手失败，请检查加密方式（ssl/starttls）与端口是否匹配"),
)


def _libreoffice() -> Item:
    from mailbot.documents import convert

    found = convert.find_soffice()
    if found is None:
        return Item("LibreOffice", False,
                    "未安装：.doc、.wps、.xls、.et 等旧格式将无法读取（Debian：apt install "
                    "libreoffice-writer-nogui libreoffice-calc-nogui）")
    return Item("LibreOffice", True, f"{found}（用于读取 .doc、.wps 等旧格式）")


class _Failed(MailbotError):
    """A probe's own failure, worded for the item's line."""
