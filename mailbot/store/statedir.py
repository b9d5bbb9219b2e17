"""The state directory: private to its owner, and never silently without its history.

- Everything mailbot writes there is its owner's alone (0700 folders, 0600 files) whatever the
  umask it was started with: the folder, raw/, files/, the database and its -wal/-shm, the
  workbook, logs. `prepare` sets that up before anything is written.
- A database that lost its history while raw/ still holds kept mail (the file is 0 bytes,
  truncated, unreadable, or holds no messages) stops every command (`guard`): starting again
  on an empty one would issue receipt numbers a second time and answer old mail again.
- No kept file without its row: files written for a transaction's rows are removed if it rolls
  back (`written_with`; the session factory calls `keep_files`/`drop_files`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailbot.errors import StateError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# A kill between keeping a mail and committing its row leaves exactly one kept mail and no
# message: the very first mail of a new state. More than that without rows is lost history.
_UNRECORDED_ALLOWED = 1


def prepare(state_dir: Path) -> None:
    """Create the state directory (or tighten an existing one) so only its owner can read it."""
    os.umask(0o077)  # every file and folder this process creates from now on is private
    try:
        state_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if stat.S_IMODE(state_dir.stat().st_mode) != PRIVATE_DIR:
            _tighten(state_dir)  # once: afterwards the umask keeps everything private
    except OSError as exc:
        raise StateError(f"状态目录 {state_dir} 无法使用：{exc.strerror or exc}") from exc


def _tighten(state_dir: Path) -> None:
    """A state directory written by release 0.1 (0755/0644) is made private in place."""
    for root, folders, files in os.walk(state_dir):
        os.chmod(root, PRIVATE_DIR)
        for name in files:
            path = Path(root) / name
            if stat.S_IMODE(path.lstat().st_mode) & 0o077 and not path.is_symlink():
                os.chmod(path, PRIVATE_FILE)
        del folders  # os.walk descends into them itself


def kept_mails(state_dir: Path, at_most: int) -> int:
    """How many mails raw/ keeps, counting no further than `at_most`."""
    found = 0
    raw = state_dir / "raw"
    if raw.is_dir():
        for _path in raw.rglob("*.eml"):
            found += 1
            if found >= at_most:
                break
    return found


def guard(state_dir: Path, database_url: str) -> None:
    """Stop (StateError, exit 2) when raw/ keeps mail but the database has lost its history."""
    kept = kept_mails(state_dir, _UNRECORDED_ALLOWED + 1)
    if kept == 0:
        return
    problem = _history_problem(database_url, kept)
    if problem:
        raise StateError(f"{problem}，但 {state_dir / 'raw'} 中保存着已收的邮件：数据库丢失了"
                         "收件记录。为免回执编号重新开始、旧邮件再次答复，已停止；"
                         "请从备份恢复数据库后再运行")


def _history_problem(database_url: str, kept: int) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "")
        if not path.exists():
            return f"数据库文件 {path} 不存在"
        if path.stat().st_size == 0:
            return f"数据库文件 {path} 是空文件（0 字节）"
        with open(path, "rb") as handle:
            header = handle.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            return f"数据库文件 {path} 不是 SQLite 数据库（已损坏或被覆盖）"
        # A checkpoint killed midway leaves the header ahead of the file while the pages are
        # still in the write-ahead log, which SQLite replays on open: only without one does a
        # short file mean a truncated database.
        wal = path.with_name(path.name + "-wal")
        replayable = wal.exists() and wal.stat().st_size > 0
        if not replayable and path.stat().st_size < _expected_size(header):
            return f"数据库文件 {path} 被截断（{path.stat().st_size} 字节）"
    return _rows_problem(database_url, kept)


def _expected_size(header: bytes) -> int:
    """The size the SQLite header says the file has (0 when the header's count is stale)."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if header[24:28] != header[92:96]:  # written by a version that did not keep the count
        return 0
    return page_size * int.from_bytes(header[28:32], "big")


def _rows_problem(database_url: str, kept: int) -> str:
    engine = create_engine(database_url)
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as exc:
            if engine.dialect.name == "sqlite":
                return f"数据库无法打开（{type(getattr(exc, 'orig', None) or exc).__name__}）"
            # A database server that is down has not lost anything: say that, not "lost".
            raise StateError(f"无法连接数据库 {engine.url.render_as_string()}："
                             f"{(str(exc).splitlines() or [''])[0]}") from exc
        with connection:
            if not inspect(connection).has_table("messages"):
                return "数据库中没有收件记录表"
            recorded = connection.execute(text("SELECT COUNT(*) FROM messages")).scalar_one()
    except SQLAlchemyError as exc:
        return f"数据库无法读取（{type(getattr(exc, 'orig', None) or exc).__name__}）"
    finally:
        engine.dispose()
    if recorded == 0 and kept > _UNRECORDED_ALLOWED:
        return "数据库中没有任何收件记录"
    return ""


# No kept file without its row: files written inside a transaction go if it rolls back.
_NEW_FILES = "mailbot.new_files"
# Files may be written by a few threads while the transaction goes on (`write_in_background`):
# a write waits for the disk, not for us. Each one is settled before the commit, and before
# its file is removed on a rollback.
_WRITER = "mailbot.file_writer"
_WRITING = "mailbot.files_writing"


def write_in_background(session: Session, executor: Executor) -> None:
    """This session's files are written by `executor`'s threads (`write_for`); whoever
    commits it calls `settle` first."""
    session.info[_WRITER] = executor


def write_for(session: Session, path: Path, write: Callable[[], None]) -> None:
    """Write `path` (by calling `write`) for rows of this transaction: at once, or in the
    background when the session has a writer. Either way it goes if the transaction rolls
    back (`written_with`)."""
    written_with(session, path)
    executor: Executor | None = session.info.get(_WRITER)
    if executor is None:
        write()
    else:
        session.info.setdefault(_WRITING, {})[path] = executor.submit(write)


def settle(session: Session) -> None:
    """Wait for the files this session is writing in the background; raises StateError for
    the first that could not be written (its transaction must not commit)."""
    failures = _wait(session.info.pop(_WRITING, {}))
    if failures:
        raise StateError(f"cannot keep a received file: {failures[0]}") from failures[0]


def written_with(session: Session, path: Path) -> None:
    """`path` was written for rows of this transaction: it stays if the transaction commits and
    is removed if it rolls back, so no kept file is ever without its row."""
    session.info.setdefault(_NEW_FILES, []).append(path)


def keep_files(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its files wait for the transaction around it
    session.info.pop(_NEW_FILES, None)
    session.info.pop(_WRITING, None)  # settled before the commit


def files_written(session: Session) -> int:
    """How many files this transaction has written so far: a mark for `drop_files_since`."""
    return len(session.info.get(_NEW_FILES, []))


def drop_files_since(session: Session, mark: int) -> None:
    """Remove the files written after `mark` (`files_written`): the savepoint they were written
    for was rolled back, the transaction goes on."""
    written: list[Path] = session.info.get(_NEW_FILES, [])
    dropped, written[mark:] = written[mark:], []
    writing: dict[Path, Future[None]] = session.info.get(_WRITING, {})
    _wait({path: writing.pop(path) for path in dropped if path in writing})
    _remove(dropped)


def drop_files(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint rolled back: its owner drops its files (`drop_files_since`)
    _wait(session.info.pop(_WRITING, {}))  # finished first, or it would outlive its removal
    _remove(session.info.pop(_NEW_FILES, []))


def _wait(writing: dict[Path, Future[None]]) -> list[BaseException]:
    """Wait for each write; the failures, in order."""
    failures = [future.exception() for future in writing.values()]
    return [failure for failure in failures if failure is not None]


def _remove(paths: list[Path]) -> None:
    # A rollback's cleanup: a file that could not be written is not there to remove, and a
    # failure here must not hide the one that caused the rollback.
    for path in paths:
        for remove in (path.unlink, path.parent.rmdir):  # the message's folder, once empty
            try:
                remove()
            except OSError:
                pass
