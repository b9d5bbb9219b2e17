"""Kept files in an S3-compatible store: `MAILBOT_FILES_URL=s3://bucket/prefix`.

The same `Blobs` interface as the state directory and the `blobs` table (store.blobs), for
installs whose database should not carry the files: AWS S3, MinIO, Ceph, a cloud's S3 service.
`MAILBOT_S3_ENDPOINT` names a server other than AWS, `MAILBOT_S3_REGION` its region; the keys
are read by boto3 the usual AWS way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, a role)
and need the rights to list the bucket and to get, put and delete objects under the prefix.

- Transactions: a file written for a transaction's rows (`put(key, data, session)`) is deleted
  again if that transaction rolls back, as `statedir.written_with` does in the state directory.
  A worker killed before its commit leaves an object that no row names: its key holds the
  message's id, which PostgreSQL never hands out again.
- Failures are one Chinese line in a StateError (the cycle stops, nothing is marked handled;
  a command exits 2): an endpoint out of reach, a bucket that does not exist, refused keys.
  `open_store` checks the bucket once, so every command stops before it does anything.
- A key that is not there is `BlobMissing`, like the other stores.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from sqlalchemy import event
from sqlalchemy.orm import Session

from mailbot.errors import ConfigError, StateError
from mailbot.store.blobs import BlobMissing

if TYPE_CHECKING:
    from mailbot.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEME = "s3://"
# S3's own rule for bucket names (3-63 lower-case letters, digits, dots, hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NO_KEY = {"NoSuchKey", "404", "NotFound"}
_REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden",
            "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError,
                ReadTimeoutError)


@dataclass(frozen=True)
class Location:
    """Where the files go: a bucket, a prefix inside it ("" or ending in "/"), the server."""

    bucket: str
    prefix: str
    endpoint: str = ""  # "": AWS
    region: str = ""

    def shown(self) -> str:
        """How the office's admin names it: the URL, and the server when it is not AWS."""
        url = f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")
        return f"{url}（{self.endpoint}）" if self.endpoint else url


def parse(files_url: str, endpoint: str = "", region: str = "") -> Location:
    """The Location of `s3://bucket/prefix`; a malformed one is a ConfigError naming it."""
    if not files_url.startswith(SCHEME):
        raise ConfigError(f"MAILBOT_FILES_URL={files_url}: 不认识的文件存储地址"
                          "（支持：留空，或 s3://存储桶/前缀，服务器由 MAILBOT_S3_ENDPOINT 指定）")
    bucket, _, prefix = files_url.removeprefix(SCHEME).partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"MAILBOT_FILES_URL={files_url}: 存储桶名 {bucket!r} 不合法"
                          "（3–63 个小写字母、数字、点或连字符）")
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ConfigError(f"MAILBOT_FILES_URL={files_url}: 前缀中不能有 . 或 ..")
    return Location(bucket, "".join(f"{part}/" for part in parts), endpoint, region)


def open_store(settings: Settings) -> S3Blobs:
    """The store `settings` name, its bucket checked: raises ConfigError or StateError."""
    location = parse(settings.files_url, settings.s3_endpoint, settings.s3_region)
    store = S3Blobs(location)
    store.check()
    return store


class S3Blobs:
    """Objects of one bucket under one prefix: reached by every worker and dashboard."""

    def __init__(self, location: Location, client: Any = None) -> None:
        self.location = location
        self.client = client if client is not None else _client(location)

    def check(self) -> None:
        """The bucket exists and takes our keys; nothing is written. A listing, not a HEAD: its
        refusal names the reason, and without the right to list, S3 answers a missing key's
        HEAD with 403 instead of 404 — `exists` needs it."""
        try:
            self.client.list_objects_v2(Bucket=self.location.bucket, MaxKeys=1,
                                        Prefix=self.location.prefix)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise StateError(self._missing_bucket()) from None
            raise StateError(explain(exc, self.location)) from None
        except BotoCoreError as exc:
            raise StateError(explain(exc, self.location)) from None

    def put(self, key: str, data: bytes, session: Session | None = None) -> None:
        name = self._name(key)
        if session is not None:
            _written_with(session, self, key)  # deleted again if the transaction rolls back
        self._call(key, lambda: self.client.put_object(Bucket=self.location.bucket, Key=name,
                                                       Body=data))

    def get(self, key: str) -> bytes:
        name = self._name(key)

        def fetch() -> bytes:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=name)
            return bytes(answer["Body"].read())  # a connection lost mid-body is a BotoCoreError
        return self._call(key, fetch)

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def size(self, key: str) -> int:
        name = self._name(key)
        answer = self._call(key, lambda: self.client.head_object(Bucket=self.location.bucket,
                                                                 Key=name))
        return int(answer["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        self._call(key, lambda: self.client.delete_object(Bucket=self.location.bucket, Key=name))

    def _name(self, key: str) -> str:
        """The object's name: the prefix and the key, refused if the key is not a kept file's."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise BlobMissing(f"not a kept file: {key}")
        return self.location.prefix + key

    def _call(self, key: str, action: Callable[[], T]) -> T:
        """One request; a missing key is BlobMissing, any other failure one StateError line."""
        try:
            return action()
        except ClientError as exc:
            code = _code(exc)
            if code in _NO_KEY:
                raise BlobMissing(f"kept file missing: {key}") from None
            if code == "NoSuchBucket":
                raise StateError(self._missing_bucket()) from None
            raise StateError(explain(exc, self.location)) from None
        except BotoCoreError as exc:
            raise StateError(explain(exc, self.location)) from None

    def _missing_bucket(self) -> str:
        return (f"文件存储 {self.location.shown()}：存储桶 {self.location.bucket} 不存在，"
                "请先创建它（或改正 MAILBOT_FILES_URL）")


def explain(exc: Exception, location: Location) -> str:
    """What went wrong with the store, on one line for the admin."""
    where = f"文件存储 {location.shown()}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (f"{where}：没有可用的访问密钥，请设置 AWS_ACCESS_KEY_ID 和 "
                "AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, _UNREACHABLE):
        server = location.endpoint or "AWS S3"
        return (f"{where}：无法连接 {server}，请检查 MAILBOT_S3_ENDPOINT、网络和防火墙"
                f"（{type(exc).__name__}）")
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in _REFUSED:
            return (f"{where}：访问密钥被拒绝（{code}），请检查 AWS_ACCESS_KEY_ID、"
                    "AWS_SECRET_ACCESS_KEY 及其对该存储桶的权限")
        said = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
        return f"{where}：服务器报错 {code}{f'：{said}' if said else ''}"
    return f"{where}：{' '.join(str(exc).split()) or type(exc).__name__}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _client(location: Location) -> Any:
    """A client for the location. Each store has its own boto3 session (sessions are not
    thread-safe; the client is, so the dashboard's threads share it)."""
    config = Config(
        connect_timeout=10, read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        # Servers other than AWS are addressed by path (http://server/bucket/key): MinIO and
        # most others do not serve a bucket per host name.
        s3={"addressing_style": "path"} if location.endpoint else None,
        # Checksums only where S3 requires them: not every S3-compatible server knows the
        # newer ones boto3 sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=location.endpoint or None,
                                          region_name=location.region or None, config=config)


# No kept file without its row: objects written inside a transaction go if it rolls back.
_NEW_OBJECTS = "mailbot.new_objects"


def _written_with(session: Session, store: S3Blobs, key: str) -> None:
    session.info.setdefault(_NEW_OBJECTS, []).append((store, key))
    if not event.contains(session, "after_rollback", _drop_objects):
        event.listen(session, "after_rollback", _drop_objects)
        event.listen(session, "after_commit", _keep_objects)


def _keep_objects(session: Session) -> None:
    session.info.pop(_NEW_OBJECTS, None)


def _drop_objects(session: Session) -> None:
    for store, key in session.info.pop(_NEW_OBJECTS, []):
        try:
            store.delete(key)
        except (StateError, BlobMissing) as exc:  # no row names it: left, never served
            log.warning("could not delete %s after a rollback: %s", key, exc)
