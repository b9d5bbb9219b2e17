"""The command line: `mailbot demo | poll | run | check | export | status` (CONTRACT.md).

Every command turns a MailbotError into one clear line on stderr and a non-zero exit; a
traceback is a bug. Output for people is Chinese where the office reads it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mailbot.campaign.rules import Campaign, load_campaigns
from mailbot.config import DEFAULT_RULES_DIR, Settings, load_settings
from mailbot.errors import ConfigError, MailbotError
from mailbot.timefmt import OFFICE_ZONE, before_deadline, show, utcnow

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="mailbot: 邮件申报收件机器人 — e-mail intake for calls for applications.")
console = Console()

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML config file (else $MAILBOT_CONFIG, else ./mailbot.toml).")]
CampaignOption = Annotated[str | None, typer.Option(
    "--campaign", help="The campaign's key, when several are configured.")]
F = TypeVar("F", bound=Callable[..., Any])
# Commands import their modules lazily, so `mailbot --help` stays fast.


def friendly(command: F) -> F:
    """Run a command; a MailbotError becomes one line on stderr and exit status 2."""
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MailbotError as exc:
            # Plain write: rich would wrap it, and the contract says one line.
            typer.echo(f"mailbot: {exc}", err=True)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]


def load(config: Path | None, key: str | None = None) -> tuple[Settings, Campaign]:
    """The settings and the one campaign the command works on: `key` (--campaign), or the
    only one configured; with several and no key, the error lists the keys."""
    settings, campaigns = load_all(config)
    return settings, pick(campaigns, key)


def load_all(config: Path | None) -> tuple[Settings, list[Campaign]]:
    """The settings and every configured campaign (MAILBOT_RULES: a file or a directory)."""
    from mailbot.store.statedir import guard

    settings = load_settings(config)
    campaigns = load_campaigns(settings.rules_path or _rules_file())
    guard(settings.state_dir, settings.database)  # a database that lost its history: stop
    return settings, campaigns


def pick(campaigns: list[Campaign], key: str | None) -> Campaign:
    for campaign in campaigns:
        if (key is None and len(campaigns) == 1) or campaign.campaign.key == key:
            return campaign
    keys = "、".join(c.campaign.key for c in campaigns)
    if key is None:
        raise ConfigError(f"配置了多个活动，请用 --campaign 指定其一：{keys}")
    raise ConfigError(f"没有活动 {key!r}；已配置的活动：{keys}")


def runtime_for(config: Path | None, key: str | None,
                reading: bool = False) -> tuple[Settings, Campaign, Any]:
    """The Runtime of the campaign a command works on (all campaigns open, so that the
    database is scoped per campaign when there are several); `reading`: one that writes
    nothing to a current database."""
    from mailbot.intake.cycle import Runtime

    settings, campaigns = load_all(config)
    campaign = pick(campaigns, key)
    ordered = [campaign, *[c for c in campaigns if c is not campaign]]
    keep_conversions(settings)
    return settings, campaign, Runtime(settings, campaign, campaigns=ordered, reading=reading)


def keep_conversions(settings: Settings) -> None:
    from mailbot.documents.conversions import keep_in
    keep_in(settings.state_dir)  # not for `check`, which has no state of its own


def _rules_file() -> Path:
    """The rules/ directory here, else the one shipped: every campaign in it."""
    local = Path("rules")
    return local if local.is_dir() else DEFAULT_RULES_DIR


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
@friendly
def poll(config: ConfigOption = None,
         verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
         dry_run: Annotated[bool, typer.Option(
             "--dry-run", help="Only show what each new mail would get; change nothing.")]
         = False) -> None:
    """One cycle: fetch new mail, process it, write the workbook, send due replies."""
    from mailbot.intake.cycle import Runtime, run_cycle
    from mailbot.mail.logins import check as check_logins

    _logging(verbose)
    settings, campaigns = load_all(config)
    settings.require_imap()
    check_logins(settings)  # a refused login: one line, exit 2, before anything is written
    runtime = Runtime(settings, campaigns[0], campaigns=campaigns)  # each mail to one of them
    if dry_run:
        _print_preview(runtime)
        return
    keep_conversions(settings)
    report = run_cycle(runtime)
    counts = "，".join(f"{k} {v}" for k, v in sorted(report.results.items())) or "无新邮件"
    console.print(f"本次收取 {report.fetched} 封（{counts}；重复投递 {report.duplicates}）；"
                  f"回复已发送 {report.replies.sent}，待发送 {report.replies.pending}，"
                  f"失败 {report.replies.failed}。", highlight=False)
    shown: list[Path | None] = [*report.workbooks] or [report.workbook]
    for path in shown:
        console.print(f"汇总表：{path}", highlight=False)
    if report.leased_elsewhere:
        console.print("另一个 mailbot 进程正在收取该邮箱，本次只发送回复。", highlight=False)
    for problem in (report.mailbox_error, report.storage_error):
        if problem:
            typer.echo(f"mailbot: {problem}", err=True)
    if report.mailbox_error or report.storage_error:
        raise typer.Exit(2)


def _print_preview(runtime: Any) -> None:
    from mailbot.intake.dryrun import preview

    rows = preview(runtime)
    table = Table("收件时间", "发件人", "主题", "归属", "处理结果", "问题",
                  title=f"预览：{len(rows)} 封新邮件（未做任何改动）", show_lines=True)
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(row.received_at, row.sender, row.subject, row.campaign, row.result,
                      "\n".join(row.problems) or "无")
    console.print(table)


@app.command()
@friendly
def run(config: ConfigOption = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = True) -> None:
    """The service: poll on a schedule until SIGTERM or SIGINT."""
    from mailbot.cli.service import serve_forever

    _logging(verbose)
    settings, campaigns = load_all(config)
    settings.require_imap()
    keep_conversions(settings)
    serve_forever(settings, campaigns[0], campaigns)


@app.command()
@friendly
def check(files: Annotated[list[Path], typer.Argument(
              help="Files or folders (searched recursively) to check, offline.")],
          as_json: Annotated[bool, typer.Option("--json", help="JSON array on stdout.")] = False,
          campaign_key: CampaignOption = None, config: ConfigOption = None) -> None:
    """Check local files exactly as the bot would, before sending them; the verdict is last."""
    from mailbot.cli.check import check_set, expand, render

    _settings, campaign = load(config, campaign_key)
    results, verdict = check_set(expand(files), campaign)
    if as_json:
        sys.stdout.write(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
        return
    render(console, campaign, results, verdict)


@app.command()
@friendly
def doctor(config: ConfigOption = None) -> None:
    """Check the configuration before going live; exit 0 only when every item holds."""
    from mailbot.cli.doctor import run as examine

    settings = load_settings(config)
    items = examine(settings, lambda: settings.rules_path or _rules_file())
    for item in items:
        typer.echo(item.line())
    failed = sum(not item.ok for item in items)
    typer.echo(f"{failed} 项未通过，请按提示修正后重试。" if failed else "全部检查通过，可以上线。")
    if failed:
        raise typer.Exit(1)


@app.command()
@friendly
def init(folder: Annotated[Path, typer.Argument(help="Where to write mailbot.toml and rules/.")]
         = Path(".")) -> None:
    """Write a commented mailbot.toml and a rules file to start from (never overwrites)."""
    from mailbot.cli.scaffold import write_starter

    for path in write_starter(folder):
        typer.echo(f"已创建：{path}")
    typer.echo("请按注释填写后运行 mailbot doctor 检查。")


@app.command()
@friendly
def export(out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the file.")],
           official: Annotated[bool, typer.Option("--official", help=(
               "The form sent upward (推荐汇总表), .docx or .xlsx by PATH's suffix."))] = False,
           include_incomplete: Annotated[bool, typer.Option(
               "--include-incomplete", help="With --official: list incomplete studios too, "
               "marked.")] = False,
           campaign_key: CampaignOption = None, config: ConfigOption = None) -> None:
    """Write the consolidated workbook (汇总表), or with --official the form sent upward."""
    from mailbot.office import official as form

    settings, campaign, runtime = runtime_for(config, campaign_key)
    if not official:
        if include_incomplete:
            raise ConfigError("--include-incomplete 只能与 --official 一起使用")
        path = runtime.write_workbook(out)
        console.print(f"汇总表已导出：{path}", highlight=False, soft_wrap=True)
        return
    with runtime.sessions() as session:
        path = form.write(session, campaign, settings.state_dir, out,
                          include_incomplete=include_incomplete)
    console.print(f"上报用推荐汇总表已导出：{path}", highlight=False, soft_wrap=True)


@app.command()
@friendly
def bundle(out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the PDF.")],
           unit: Annotated[str | None, typer.Option(
               "--unit", help="One unit (name or address); default: every unit.")] = None,
           campaign_key: CampaignOption = None, config: ConfigOption = None) -> None:
    """A print-ready PDF of the materials, in the order of the forms, with a cover page."""
    from mailbot.office import bundle as pdf

    settings, campaign, runtime = runtime_for(config, campaign_key)
    with runtime.sessions() as session:
        made = pdf.write(session, campaign, settings.state_dir, out, unit=unit)
    console.print(f"打印用材料 PDF 已生成：{made.path}（{made.documents} 份文件，共 {made.pages} "
                  f"页）", highlight=False, soft_wrap=True)  # a path is never wrapped
    for problem in made.problems:
        typer.echo(f"mailbot: {problem}", err=True)


@app.command()
@friendly
def status(campaign_key: CampaignOption = None, config: ConfigOption = None) -> None:
    """Counts by result and by unit progress."""
    from mailbot.cli.status import counts

    _settings, _campaign, runtime = runtime_for(config, campaign_key, reading=True)
    by_result, by_progress = counts(runtime)
    table = Table("类别", "项目", "数量")
    for name, number in by_result.items():
        table.add_row("处理结果", name, str(number))
    for name, number in by_progress.items():
        table.add_row("单位进度", name, str(number))
    console.print(table)


@app.command()
@friendly
def demo(state_dir: Annotated[Path | None, typer.Option(
        help="Where to keep the demo's state (default: a new temporary folder).")] = None,
         serve: Annotated[bool, typer.Option(
             "--serve", help="Keep the office dashboard up afterwards.")] = False,
         port: Annotated[int, typer.Option(help="Dashboard port, with --serve.")] = 8025) -> None:
    """The whole job on an embedded loopback mail server: no root, no accounts."""
    from mailbot.demo.run import run_demo
    from mailbot.web import serve_demo

    run_demo(state_dir=state_dir, console=console,
             then=(lambda runtime: serve_demo(runtime, port=port, announce=_announce))
             if serve else None)


@app.command("serve")
@friendly
def serve_command(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8025,
        hash_password: Annotated[bool, typer.Option(
            "--hash-password", help="Read a password, print its hash for "
            "MAILBOT_OFFICE_PASSWORD, and exit.")] = False,
        campaign_key: Annotated[str | None, typer.Option(
            "--campaign", help="The campaign shown first (the dashboard switches).")] = None,
        config: ConfigOption = None) -> None:
    """The office dashboard (default http://127.0.0.1:8025/), behind the office password."""
    from mailbot.web import serve
    from mailbot.web.auth import hash_password as make_hash

    if hash_password:
        # The prompt goes to stderr, so stdout is the hash alone (`... > hash.txt`).
        typer.echo(make_hash(typer.prompt("办公室密码", hide_input=True, err=True,
                                          confirmation_prompt=sys.stdin.isatty())))
        return
    settings, campaigns = load_all(config)
    campaign = pick(campaigns, campaign_key or campaigns[0].campaign.key)
    serve(settings, campaign, host=host, port=port, announce=_announce,
          campaigns=[campaign, *[c for c in campaigns if c is not campaign]])


def _announce(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()  # a supervisor or a test reads the URL from a pipe


@app.command()
@friendly
def remind(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list, send nothing.")]
           = False,
           at: Annotated[str | None, typer.Option(
               "--at", help="The moment, ISO-8601 (default: now; no zone: Asia/Shanghai).")]
           = None,
           campaign_key: CampaignOption = None, config: ConfigOption = None) -> None:
    """Send (or only list) the deadline reminders due at that moment."""
    from mailbot.cli.schedule import remind as due_reminders

    settings, _campaign, runtime = runtime_for(config, campaign_key)
    moment = parse_moment(at)
    if not dry_run:
        settings.require_smtp()
    planned = due_reminders(runtime, moment, dry_run=dry_run)
    if not planned:
        console.print(f"{show(moment)}：没有需要发送的提醒。", highlight=False)
        return
    verb = "将发送" if dry_run else "已发送"
    table = Table("单位", "收件人", "提醒", "缺少的内容", title=f"{show(moment)} {verb}的提醒",
                  show_lines=True)
    for reminder in planned:
        what = "尚未提交任何材料" if reminder.silent else "\n".join(
            f.message for f in reminder.missing)
        table.add_row(reminder.unit_name, "\n".join(reminder.to),
                      before_deadline(reminder.offset), what)
    console.print(table)


@app.command()
@friendly
def paper(unit: Annotated[str, typer.Argument(help="The unit's name or one of its addresses.")],
          undo: Annotated[bool, typer.Option("--undo", help="Mark as not received.")] = False,
          campaign_key: CampaignOption = None, config: ConfigOption = None) -> None:
    """Record that a unit's paper copies (纸质版) arrived at the office."""
    from mailbot.campaign.units import mark_paper

    _settings, campaign, runtime = runtime_for(config, campaign_key)
    with runtime.sessions.begin() as session:
        name = mark_paper(session, campaign, unit, None if undo else utcnow())
    runtime.write_workbook()
    console.print(f"{name}：纸质版{'记为未收到' if undo else '已登记为收到'}。", highlight=False)


def parse_moment(text: str | None) -> datetime:
    if not text:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r} is not an ISO-8601 time (e.g. 2022-10-09T17:30)"
                          ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=OFFICE_ZONE)


db_app = typer.Typer(no_args_is_help=True, help="The database: `mailbot db upgrade`.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@friendly
def db_upgrade(config: ConfigOption = None) -> None:
    """Bring the database to the current schema (every command also does it when it starts)."""
    from mailbot.intake.cycle import legacy_owner
    from mailbot.store.database import upgrade_database
    from mailbot.store.statedir import prepare

    settings, campaigns = load_all(config)
    prepare(settings.state_dir)
    before, now = upgrade_database(settings.database, legacy_owner(campaigns))
    if before == now:
        console.print(f"数据库已是最新结构（版本 {now}），无需升级。", highlight=False)
    else:
        console.print(f"数据库已从版本 {before or '空'} 升级到 {now}，原有记录全部保留。",
                      highlight=False)
