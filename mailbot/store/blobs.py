"""Where kept mail and received files live: the state directory, or the database.

Every reader and writer of `raw/…` and `files/…` goes through a `Blobs` store, named by the
same relative keys the rows hold (`Message.raw_path`, `Document.stored_path`):
- with SQLite (one machine) the keys are files in the state directory, as they always were;
- with a database server (PostgreSQL) they are rows of the `blobs` table, so every worker and a
  dashboard on another machine, each with its own empty state directory, reach every file;
- `MAILBOT_FILES_URL` naming an S3-compatible store is recognised and refused for now with a
  clear ConfigError (`check_files_url`): nothing is ever kept where the others cannot see it.

A missing blob raises `BlobMissing`, a FileNotFoundError, so the readers' existing `except
OSError` ("文件已不在服务器上") covers both backends.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from mailbot.errors import ConfigError
from mailbot.store.models import Blob
from mailbot.store.statedir import written_with

S3_SCHEMES = ("s3://", "s3+http://", "s3+https://")


class BlobMissing(FileNotFoundError):
    """No kept file under that key."""


class Blobs(Protocol):
    """The one interface to kept files; keys are relative paths such as `raw/ab/….eml`."""

    def put(self, key: str, data: bytes, session: Session | None = None) -> None:
        """Keep `data` under `key`; with `session`, only if that transaction commits."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises BlobMissing."""

    def open(self, key: str) -> BinaryIO:
        """A readable binary file of `key`; raises BlobMissing."""

    def size(self, key: str) -> int:
        """The size in bytes of `key`; raises BlobMissing."""

    def exists(self, key: str) -> bool:
        """Whether `key` is kept."""


class Kept:
    """One kept file, used where a Path was (`read_bytes`, `open`, `size`)."""

    def __init__(self, store: Blobs, key: str) -> None:
        self.store, self.key = store, key

    def read_bytes(self) -> bytes:
        return self.store.get(self.key)

    def open(self) -> BinaryIO:
        return self.store.open(self.key)

    def size(self) -> int:
        return self.store.size(self.key)

    def __repr__(self) -> str:
        return f"Kept({self.key!r})"


class LocalBlobs:
    """Files in a directory (the state directory): private, written whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file of `key`, refused if the key would leave the directory."""
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root:
            raise BlobMissing(f"not a kept file: {key}")
        return path

    def put(self, key: str, data: bytes, session: Session | None = None) -> None:
        target = self.path(key)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if session is not None:
            written_with(session, target)  # removed again if the transaction rolls back
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                      "wb") as out:
                out.write(data)
                if session is None:  # raw mail: on disk before its row; files go with rows
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)  # a full disk mid-write leaves no half file

    def get(self, key: str) -> bytes:
        with self.open(key) as source:
            return source.read()

    def open(self, key: str) -> BinaryIO:
        path = self.path(key)
        if not path.is_file():
            raise BlobMissing(f"kept file missing: {key}")
        return open(path, "rb")

    def size(self, key: str) -> int:
        path = self.path(key)
        if not path.is_file():
            raise BlobMissing(f"kept file missing: {key}")
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except BlobMissing:
            return False


class DatabaseBlobs:
    """Rows of the `blobs` table: reached by every worker and dashboard of the database."""

    def __init__(self, bind: Engine | Connection) -> None:
        self.bind = bind

    def put(self, key: str, data: bytes, session: Session | None = None) -> None:
        # Keys are content hashes (raw/) or a message's own id (files/): a key already kept
        # holds the same bytes, or those of a rolled-back attempt that this one replaces.
        upsert = postgresql_insert(Blob).values(key=key, data=data)
        upsert = upsert.on_conflict_do_update(index_elements=["key"], set_={"data": data})
        if session is not None:
            session.execute(upsert)  # kept exactly when the caller's rows are
            return
        with Session(self.bind) as own, own.begin():
            own.execute(upsert)

    def get(self, key: str) -> bytes:
        with Session(self.bind) as session:
            data = session.scalar(select(Blob.data).where(Blob.key == key))
        if data is None:
            raise BlobMissing(f"kept file missing: {key}")
        return bytes(data)

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def size(self, key: str) -> int:
        return len(self.get(key))

    def exists(self, key: str) -> bool:
        with Session(self.bind) as session:
            return session.scalar(select(Blob.key).where(Blob.key == key)) is not None


def check_files_url(files_url: str) -> None:
    """Refuse a `MAILBOT_FILES_URL` this version cannot use, before anything is kept."""
    if not files_url:
        return
    if files_url.startswith(S3_SCHEMES):
        raise ConfigError(f"MAILBOT_FILES_URL={files_url}: S3 兼容存储尚未实现；请留空"
                          "（使用 PostgreSQL 时文件保存在数据库中）")
    raise ConfigError(f"MAILBOT_FILES_URL={files_url}: 不认识的文件存储地址"
                      "（支持：留空；S3 兼容存储尚未实现）")


def store_for(bind: Engine | Connection, state_dir: Path) -> Blobs:
    """The store of a database: its `blobs` table on a database server, else the state dir."""
    if bind.dialect.name == "sqlite":
        return LocalBlobs(state_dir)
    return DatabaseBlobs(bind)


def for_session(session: Session, state_dir: Path) -> Blobs:
    """The store of the database `session` is bound to (see `store_for`)."""
    bind = session.get_bind()
    return store_for(bind.engine if isinstance(bind, Connection) else bind, state_dir)
