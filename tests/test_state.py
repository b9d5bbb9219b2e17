"""State you can trust (CONTRACT "State"): private whatever the umask, never silently without its
history, no kept file without its row, shortened names that keep their extension, and a reader
(`status`, the dashboard) that writes nothing to the database by starting.
"""

from __future__ import annotations

import html
import http.cookiejar
import io
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from mailbot.campaign.rules import load_rules
from mailbot.config import Settings
from mailbot.demo.mailfactory import build_mail
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.intake import screening
from mailbot.intake.cycle import Runtime, record, save_raw
from mailbot.intake.pipeline import _safe_name
from mailbot.office import materials
from mailbot.office.materials import _safe
from mailbot.store.models import Document, Message
from mailbot.web.auth import hash_password

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "v0.1-state"
RULES = ROOT / "rules" / "laomo-gongjiang-2022.toml"
MAILBOT = [sys.executable, "-m", "mailbot"]
LONG_NAME = "附件3-" + "精密制造劳模创新工作室申报材料（修改稿）" * 8 + ".docx"


def environment(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(MAILBOT_STATE_DIR=str(state), MAILBOT_RULES=str(RULES),
               MAILBOT_OFFICE_PASSWORD=hash_password("口令"))
    return env


def mailbot(state: Path, *args: str, umask: int = -1) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILBOT, *args], cwd=state.parent, env=environment(state),
                          capture_output=True, text=True, timeout=120, umask=umask)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def runtime_at(state: Path) -> Runtime:
    return Runtime(Settings(from_address="office@test.example", state_dir=state),
                   load_rules(RULES))


def a_set(n: int, material_name: str = "附件3-申报材料.docx") -> bytes:
    studio = SAMPLE_STUDIOS[n % len(SAMPLE_STUDIOS)]
    return build_mail(sender=f"unit-{n}@test.example", to="office@test.example",
                      subject="申报材料", body="请查收。", style="outlook",
                      message_id=f"<state-{n}@client.test.example>",
                      attachments=[("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),
                                   ("附件2-推荐审批表.docx", approval_docx(studio)),
                                   (material_name, material_docx(studio, 300))])


def deliver(runtime: Runtime, raw: bytes) -> Message:
    message, _new = record(runtime, raw, save_raw(runtime.settings.state_dir, raw),
                           datetime(2022, 10, 9, 2, 0, tzinfo=UTC))
    return message


def modes(state: Path) -> dict[str, str]:
    return {str(path.relative_to(state.parent)): oct(stat.S_IMODE(path.lstat().st_mode))
            for path in [state, *state.rglob("*")]}


def assert_private(state: Path) -> None:
    wrong = {name: mode for name, mode in modes(state).items()
             if mode != (oct(0o700) if (state.parent / name).is_dir() else oct(0o600))}
    assert wrong == {}


def test_everything_in_the_state_directory_is_private_whatever_the_umask(
        tmp_path: Path, umask_022: None) -> None:
    state = tmp_path / "state"
    done = mailbot(state, "status", umask=0o022)  # a new state directory, from the command line
    assert done.returncode == 0, done.stderr
    assert_private(state)
    runtime = runtime_at(state)
    deliver(runtime, a_set(0))
    runtime.write_workbook()
    with runtime.sessions() as session:  # while a reader is open, the -wal and -shm exist
        session.scalars(select(Message)).all()
        names = {p.name for p in state.iterdir()}
        assert {"mailbot.sqlite3-wal", "mailbot.sqlite3-shm", "raw", "files", "汇总表.xlsx"
                } <= names
        assert_private(state)
    assert any((state / "files").rglob("*.docx")) and any((state / "raw").rglob("*.eml"))


def test_a_release_0_1_state_is_made_private_in_place(tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    for path in [state, *state.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # as 0.1 left it under umask 022
    done = mailbot(state, "status")
    assert done.returncode == 0, done.stderr
    assert_private(state)


def _zero_bytes(db: Path) -> None:
    db.write_bytes(b"")


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _garbage(db: Path) -> None:
    db.write_bytes(b"\x00garbage, not a database" * 100)


def _missing(db: Path) -> None:
    db.unlink()


def _no_messages(db: Path) -> None:
    with closing(sqlite3.connect(db)) as connection:
        for table in ("findings", "documents", "mailbox_uids", "reminders", "replies",
                      "messages"):
            connection.execute(f"DELETE FROM {table}")
        connection.commit()


LOSSES: dict[str, Callable[[Path], None]] = {
    "0-byte": _zero_bytes, "truncated": _truncated, "garbage": _garbage, "missing": _missing,
    "no-messages": _no_messages}
EVERY_COMMAND = (("status",), ("db", "upgrade"), ("export", "--out", "x.xlsx"),
                 ("remind", "--dry-run"), ("poll",), ("run",), ("serve", "--port", "0"),
                 ("paper", "某单位"))
# Every command for one loss; the others with three (each command is a child process).
COMMANDS = {loss: EVERY_COMMAND if loss == "0-byte" else (*EVERY_COMMAND[:2], ("poll",))
            for loss in LOSSES}


@pytest.mark.parametrize("loss", LOSSES)
def test_a_database_that_lost_its_history_stops_every_command(tmp_path: Path,
                                                              loss: str) -> None:
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    mailbot(state, "db", "upgrade")
    database = state / "mailbot.sqlite3"
    LOSSES[loss](database)
    before = database.read_bytes() if database.exists() else None
    for command in COMMANDS[loss]:
        done = mailbot(state, *command)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (command, done.stderr)
        assert len(lines) == 1 and "数据库" in lines[0] and "raw" in lines[0], (command, lines)
        assert (database.read_bytes() if database.exists() else None) == before, command
    assert not list(state.glob("汇总表*.tmp")) and not (tmp_path / "x.xlsx").exists()


def test_one_kept_mail_without_its_row_is_a_crash_not_a_loss(tmp_path: Path) -> None:
    """A kill between keeping the very first mail and recording it is a normal restart."""
    state = tmp_path / "state"
    runtime_at(state)
    save_raw(state, a_set(0))
    done = mailbot(state, "status")
    assert done.returncode == 0, done.stderr


def test_a_mail_that_fails_after_its_files_were_written_leaves_no_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = runtime_at(tmp_path / "state")
    files = runtime.settings.state_dir / "files"
    deliver(runtime, a_set(0))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the outbox check failed")

    with monkeypatch.context() as patch:
        patch.setattr(screening, "reply_hold", broken)  # runs after the files are written
        quarantined = deliver(runtime, a_set(1))
    assert quarantined.result == "隔离"
    with runtime.sessions() as session:
        kept = {str(runtime.settings.state_dir / d.stored_path)
                for d in session.scalars(select(Document))}
    assert {str(p) for p in files.rglob("*") if p.is_file()} == kept
    assert {p.name for p in files.iterdir()} == {str(m) for m in _message_ids(runtime)
                                                 if (files / str(m)).exists()}


def _message_ids(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Message.id)))


def test_files_left_by_a_killed_transaction_do_not_join_the_next_mail(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path / "state")
    deliver(runtime, a_set(0))
    leftover = runtime.settings.state_dir / "files" / str(max(_message_ids(runtime)) + 1)
    leftover.mkdir()
    (leftover / "00-孤儿文件.docx").write_bytes(b"from a transaction that never committed")
    message = deliver(runtime, a_set(1))
    assert leftover.name == str(message.id)
    with runtime.sessions() as session:
        rows = {d.stored_path for d in session.scalars(select(Document).where(
            Document.message_pk == message.id))}
    assert {str(p.relative_to(runtime.settings.state_dir)) for p in leftover.iterdir()} == rows


def test_shortened_names_keep_their_extension(tmp_path: Path) -> None:
    assert len(_safe(LONG_NAME)) == 120 and _safe(LONG_NAME).endswith("工作室.docx")
    assert _safe("附件3" + "长" * 200) == "附件3" + "长" * 117  # no extension: a plain cut
    on_disk = _safe_name(2, LONG_NAME)
    assert on_disk.endswith(".docx") and len(on_disk.encode()) <= 190
    assert _safe_name(0, "短名.docx") == "00-短名.docx"
    runtime = runtime_at(tmp_path / "state")
    message = deliver(runtime, a_set(0, material_name=LONG_NAME))
    with runtime.sessions() as session:
        material = session.scalars(select(Document).where(
            Document.message_pk == message.id, Document.position == 2)).one()
    assert material.kind == "material" and material.filename == LONG_NAME
    assert material.stored_path.endswith(".docx")
    assert (runtime.settings.state_dir / material.stored_path).is_file()
    with runtime.sessions() as session:  # the name inside materials.zip
        names = [e.name for e in materials.entries(session, runtime.campaign,
                                                   runtime.settings.state_dir)]
    assert len(names) == 3 and all(name.endswith(".docx") for name in names), names


def _fingerprint(state: Path) -> tuple[bytes, int, int]:
    database = state / "mailbot.sqlite3"
    wal = state / "mailbot.sqlite3-wal"
    return (database.read_bytes(), database.stat().st_mtime_ns,
            wal.stat().st_size if wal.exists() else 0)


def test_status_and_the_dashboard_write_nothing_by_starting(tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    assert mailbot(state, "db", "upgrade").returncode == 0
    before = _fingerprint(state)
    assert before[2] == 0
    done = mailbot(state, "status")
    assert done.returncode == 0, done.stderr
    assert _fingerprint(state) == before
    child = subprocess.Popen([*MAILBOT, "serve", "--port", "0"], cwd=tmp_path, text=True,
                             env=environment(state), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # printed once the dashboard listens
        assert re.search(r"http://127\.0\.0\.1:\d+/", line), line
        assert _fingerprint(state) == before
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)
    assert _fingerprint(state) == before


def _counts(state: Path, rules: Path) -> dict[str, int]:
    """`mailbot status` with `rules`, as {项目: 数量}."""
    env = {**environment(state), "MAILBOT_RULES": str(rules)}
    done = subprocess.run([*MAILBOT, "status"], cwd=state.parent, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in done.stdout.splitlines()]
    return {row[1]: int(row[2]) for row in rows if len(row) == 3 and row[2].isdigit()}


GAINED = (("体育部", "Tiyu@Test.example"), ("校医院", "xiaoyi@test.example"))


def _roster_gained(tmp_path: Path) -> Path:
    """The shipped rules with two more roster units (`GAINED`), as the office adds them."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.read_text(encoding="utf-8") + "".join(
        f'\n[[units]]\nname = "{name}"\nemails = ["{address}"]\n' for name, address in GAINED),
        encoding="utf-8")
    return rules


def test_status_counts_roster_units_it_does_not_hold_yet_and_writes_nothing(
        tmp_path: Path) -> None:
    """The office added two units to the roster since the last poll: `status` counts them as
    未提交 without saving them; a command that works (`remind`) saves them, and the counts stay."""
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    assert mailbot(state, "db", "upgrade").returncode == 0
    shipped = _counts(state, RULES)
    rules = _roster_gained(tmp_path)
    before = _fingerprint(state)
    counted = _counts(state, rules)
    assert _fingerprint(state) == before
    assert counted == {**shipped, "未提交": shipped["未提交"] + 2}, (shipped, counted)
    env = {**environment(state), "MAILBOT_RULES": str(rules)}
    done = subprocess.run([*MAILBOT, "remind", "--dry-run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _fingerprint(state)[:2] != before[:2]  # the roster units are saved now
    saved = _fingerprint(state)
    assert _counts(state, rules) == counted
    assert _fingerprint(state) == saved


@pytest.mark.parametrize("with_mail", [False, True])
def test_a_database_server_that_is_down_is_one_line(tmp_path: Path, with_mail: bool) -> None:
    """Not a traceback, and not "lost history" either: the server is only unreachable."""
    state = tmp_path / "state"
    if with_mail:
        save_raw(state, a_set(0))
        save_raw(state, a_set(1))
    env = environment(state)
    env["MAILBOT_DATABASE_URL"] = "postgresql+psycopg://mailbot:secret@127.0.0.1:1/mailbot"
    for command in (("status",), ("db", "upgrade")):
        done = subprocess.run([*MAILBOT, *command], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert "无法" in lines[0] and "127.0.0.1" in lines[0] and "secret" not in lines[0]


def _served(state: Path, rules: Path) -> tuple[subprocess.Popen[str], str]:
    """`mailbot serve` on `rules`, and its address once it listens."""
    child = subprocess.Popen([*MAILBOT, "serve", "--port", "0"], cwd=state.parent, text=True,
                             env={**environment(state), "MAILBOT_RULES": str(rules)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    line = child.stdout.readline()  # printed once the dashboard listens
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if found is None:
        child.kill()
        raise AssertionError(line + child.communicate(timeout=30)[1])
    return child, found.group(0)


def _signed_in(base: str) -> Callable[..., bytes]:
    """A browser logged in to the dashboard at `base`: fetch(path, form=None) -> the body."""
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def fetch(path: str, form: dict[str, str] | None = None) -> bytes:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with browser.open(base + path, data=data, timeout=60) as answer:
            body: bytes = answer.read()
            return body

    fetch("/login", {"csrf_token": _csrf(fetch("/login").decode()), "password": "口令"})
    return fetch


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def _unit_row(page: str, name: str) -> str:
    """The units table's row of the unit `name` (the first cell holds its name)."""
    [row] = [r for r in page.split("<tr>") if re.search(rf">{name}</a>", r)]
    return row


def test_the_dashboard_shows_roster_units_it_does_not_hold_yet_and_writes_nothing(
        tmp_path: Path) -> None:
    """The office added two units to the roster; `mailbot serve` starts and its pages show them
    as 未提交 — counted like `status` counts them, listed with their addresses, found by the
    search, each with a page — without writing to the database. Marking one's paper copy (an
    action, a write anyway) saves the roster."""
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    assert mailbot(state, "db", "upgrade").returncode == 0
    rules = _roster_gained(tmp_path)
    counted = _counts(state, rules)
    before = _fingerprint(state)
    child, base = _served(state, rules)
    try:
        assert _fingerprint(state) == before
        fetch = _signed_in(base)

        def open_page(path: str, form: dict[str, str] | None = None) -> str:
            return fetch(path, form).decode()

        overview = open_page("/")
        for state_id, word in (("complete", "已齐全"), ("incomplete", "未齐全"),
                               ("silent", "未提交")):  # the dashboard counts as `status` does
            assert f'id="count-{state_id}">{counted[word]}<' in overview, (word, counted)
        units = open_page("/units?state=silent")
        for name, address in GAINED:
            row = _unit_row(units, name)
            assert "未提交" in row and address.lower() in row and "未收" in row, row
        found = open_page("/units?q=TIYU@test")
        assert "体育部" in found and "校医院" not in found
        link = re.search(r'href="(/units/roster\?name=[^"]+)">体育部<', units)
        assert link is not None, units
        page = open_page(html.unescape(link.group(1)))
        assert "体育部" in page and "tiyu@test.example" in page and "未提交" in page
        book = openpyxl.load_workbook(io.BytesIO(fetch("/workbook.xlsx")))
        progress = {row[0]: row for row in book["单位进度"].iter_rows(values_only=True)}
        for name, address in GAINED:  # the download says what the pages say
            assert progress[name][1] == address.lower() and "未提交" in progress[name], progress
        assert _fingerprint(state) == before  # the pages wrote nothing either

        today = re.search(r'name="date" value="([0-9-]+)"', page)
        action = re.search(r'action="(/units/roster/paper\?name=[^"]+)"', page)
        assert today is not None and action is not None, page
        marked = open_page(html.unescape(action.group(1)), {
            "csrf_token": _csrf(page), "action": "mark", "date": today.group(1)})
        assert "体育部 的纸质版已收到" in marked
        assert _fingerprint(state) != before  # the action saved the roster (in the WAL)
        units = open_page("/units")
        assert "/units/roster?" not in units  # both gained units are held now
        assert "未提交" in _unit_row(units, "校医院")
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)
    assert _counts(state, rules) == counted
