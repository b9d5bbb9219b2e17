"""Kept files (store.blobs): the state directory with SQLite, the `blobs` table with a database
server; a file kept for a transaction's rows goes if they roll back; an unknown store refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mailbot.errors import ConfigError
from mailbot.store import blobs
from mailbot.store.database import open_database


def test_each_database_keeps_files_where_every_worker_reaches_them(database_url: str,
                                                                   tmp_path: Path) -> None:
    sessions = open_database(database_url)
    engine = sessions.kw["bind"]
    store = blobs.store_for(engine, tmp_path / "state")
    expected = blobs.LocalBlobs if database_url.startswith("sqlite") else blobs.DatabaseBlobs
    assert isinstance(store, expected)

    store.put("raw/ab/mail.eml", b"From: a@b\r\n\r\nbody")
    assert store.exists("raw/ab/mail.eml") and store.size("raw/ab/mail.eml") == 17
    with store.open("raw/ab/mail.eml") as kept:
        assert kept.read() == b"From: a@b\r\n\r\nbody"
    with pytest.raises(blobs.BlobMissing):
        store.get("raw/ab/other.eml")
    with pytest.raises(FileNotFoundError):  # the readers' `except OSError` covers it
        store.open("files/1/none.docx")

    with pytest.raises(RuntimeError), sessions.begin() as session:
        store.put("files/7/附件1.docx", b"rolled back", session)
        raise RuntimeError("the transaction fails after the file was kept")
    assert not store.exists("files/7/附件1.docx")  # no kept file without its row
    with sessions.begin() as session:
        store.put("files/8/附件1.docx", b"committed", session)
    assert blobs.Kept(store, "files/8/附件1.docx").read_bytes() == b"committed"

    on_disk = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    if isinstance(store, blobs.DatabaseBlobs):
        assert on_disk == []  # nothing worker-local
        with engine.connect() as db:
            assert db.execute(text("SELECT count(*) FROM blobs")).scalar() == 2
    else:
        assert sorted(p.name for p in on_disk) == ["mail.eml", "附件1.docx"]
    engine.dispose()


def test_a_key_that_leaves_the_state_directory_is_refused(tmp_path: Path) -> None:
    store = blobs.LocalBlobs(tmp_path / "state")
    (tmp_path / "secret.txt").write_text("not a kept file")
    for key in ("../secret.txt", "/etc/passwd", "raw/../../secret.txt"):
        with pytest.raises(blobs.BlobMissing):
            store.get(key)
        assert not store.exists(key)


def test_a_files_url_other_than_s3_is_refused_with_one_clear_line() -> None:
    blobs.check_files_url("s3://bucket/mailbot")  # kept on S3: tests/test_s3blobs.py
    with pytest.raises(ConfigError, match="不认识的文件存储地址"):
        blobs.check_files_url("ftp://example/files")
    blobs.check_files_url("")  # the default: by the database
