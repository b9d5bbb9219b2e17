"""Where kept mail and received files live: the state directory, the database, or S3.

Every reader and writer of `raw/…` and `files/…` goes through a `Blobs` store, named by the
same relative keys the rows hold (`Message.raw_path`, `Document.stored_path`):
- with SQLite (one machine) the keys are files in the state directory, as they always were;
- with a database server (PostgreSQL) they are rows of the `blobs` table, so every worker and a
  dashboard on another machine, each with its own empty state directory, reach every file;
- with `MAILBOT_FILES_URL=s3://bucket/prefix` (either database) they are objects of an
  S3-compatible store (store.s3blobs). The Runtime opens it once per engine (`store_for` with
  the settings) and `for_session` hands the same store to every reader of that engine.

A missing blob raises `BlobMissing`, a FileNotFoundError, so the readers' existing `except
OSError` ("文件已不在服务器上") covers both backends.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

from mailbot.store.models import Blob
from mailbot.store.statedir import write_for

if TYPE_CHECKING:
    from mailbot.config import Settings


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
        self._resolved: Path | None = None

    def path(self, key: str) -> Path:
        """The file of `key`, refused if the key would leave the directory. The key is taken
        apart by its text ("..", an absolute path): links are not followed one by one, as the
        directory is its owner's alone (store.statedir) — nobody else can place one there."""
        if self._resolved is None:
            self._resolved = self.root.resolve()
        root = self._resolved
        path = Path(os.path.normpath(os.path.join(root, key)))
        if not path.is_relative_to(root) or path == root:
            raise BlobMissing(f"not a kept file: {key}")
        return path

    def put(self, key: str, data: bytes, session: Session | None = None) -> None:
        target = self.path(key)
        if session is None:  # raw mail: on disk (fsynced) before its row
            self._write(target, data, durable=True)
        else:  # files go with their rows, removed again if the transaction rolls back
            write_for(session, target, lambda: self._write(target, data, durable=False))

    @staticmethod
    def _write(target: Path, data: bytes, *, durable: bool) -> None:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                      "wb") as out:
                out.write(data)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)  # a full disk mid-write leaves no half file
            raise

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
    if files_url:
        from mailbot.store import s3blobs  # boto3 is loaded only by those who use it

        s3blobs.parse(files_url)


# The file store each engine's Runtime opened (an S3 store): what `for_session` hands out.
_OPENED: WeakKeyDictionary[Engine, Blobs] = WeakKeyDictionary()


def store_for(bind: Engine | Connection, state_dir: Path,
              settings: Settings | None = None) -> Blobs:
    """The store of a database: the S3 store `settings.files_url` names (opened and checked
    once per engine; raises ConfigError or StateError), else the database's `blobs` table on a
    database server, else the state directory."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    opened = _OPENED.get(engine)
    if opened is not None:
        return opened
    if settings is not None and settings.files_url:
        from mailbot.store import s3blobs

        _OPENED[engine] = store = s3blobs.open_store(settings)
        return store
    if engine.dialect.name == "sqlite":
        return LocalBlobs(state_dir)
    return DatabaseBlobs(bind)


def for_session(session: Session, state_dir: Path) -> Blobs:
    """The store of the database `session` is bound to (see `store_for`)."""
    bind = session.get_bind()
    return store_for(bind.engine if isinstance(bind, Connection) else bind, state_dir)


def describe(settings: Settings) -> str:
    """`mailbot doctor`: where kept files go, an S3 store's bucket checked (nothing written)."""
    if settings.files_url:
        from mailbot.store import s3blobs

        store = s3blobs.open_store(settings)
        return f"{store.location.shown()}（存储桶可访问，所有机器共用）"
    if make_url(settings.database).get_backend_name() == "sqlite":
        return f"数据目录 {settings.state_dir.absolute()} 中的 raw/ 与 files/（仅限本机）"
    return "数据库中的 blobs 表（所有机器共用）"
