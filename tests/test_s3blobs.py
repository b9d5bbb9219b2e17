"""Kept files in an S3-compatible store (store.s3blobs), against a real S3 server on loopback
(moto's server mode, tests/s3server.py):
- the store keeps, reads and sizes files; a file kept for a transaction's rows is deleted if
  that transaction rolls back, on SQLite and on PostgreSQL; nothing is kept worker-locally;
- two `poll` workers on PostgreSQL with empty state directories keep every mail and file on
  S3, and a dashboard with a third, empty state directory serves every file and materials.zip;
- an endpoint out of reach, a missing bucket and refused keys each stop a command with one
  line and exit status 2, and `mailbot doctor` names the file store.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from intake_support import OFFICE, ON_TIME, RULES, make_bot
from s3server import AWS_ENVIRONMENT, S3Server
from servers import Dovecot, SmtpRelay
from sqlalchemy import create_engine, select, text
from web_support import PASSWORD, login

from mailbot.campaign.dossier import latest_documents
from mailbot.campaign.rules import load_rules
from mailbot.config import Settings, load_settings
from mailbot.demo.samples import SAMPLE_STUDIOS, approval_docx, material_docx, summary_docx
from mailbot.errors import ConfigError, StateError
from mailbot.intake.cycle import Runtime
from mailbot.store import blobs
from mailbot.store.database import open_database
from mailbot.store.models import Document, Message, Unit
from mailbot.store.s3blobs import S3Blobs
from mailbot.web import create_app

PREFIX = "mailbot/2022"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's (and its children's) AWS keys are the test's; boto3 never looks
    further (no ~/.aws, no instance-metadata address off the loopback)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3(s3_server: S3Server) -> S3Server:
    return s3_server


def on_s3(endpoint: str, bucket: str, state_dir: Path, database_url: str = "") -> Settings:
    return Settings(state_dir=state_dir, database_url=database_url,
                    files_url=f"s3://{bucket}/{PREFIX}", s3_endpoint=endpoint,
                    from_address=OFFICE, office_email="clerk@test.example",
                    office_password=PASSWORD)


def test_the_s3_store_keeps_files_only_for_committed_rows(database_url: str, s3: S3Server,
                                                          tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    settings = on_s3(s3.endpoint, bucket, tmp_path / "state", database_url)
    sessions = open_database(database_url)
    engine = sessions.kw["bind"]
    store = blobs.store_for(engine, settings.state_dir, settings)
    assert isinstance(store, S3Blobs)

    store.put("raw/ab/mail.eml", b"From: a@b\r\n\r\nbody")
    assert store.exists("raw/ab/mail.eml") and store.size("raw/ab/mail.eml") == 17
    with store.open("raw/ab/mail.eml") as kept:
        assert kept.read() == b"From: a@b\r\n\r\nbody"
    with pytest.raises(blobs.BlobMissing):
        store.get("raw/ab/other.eml")
    with pytest.raises(FileNotFoundError):  # the readers' `except OSError` covers it
        store.open("files/1/none.docx")
    for key in ("../secret.txt", "/etc/passwd", "raw/../../secret.txt"):
        assert not store.exists(key)

    with pytest.raises(RuntimeError), sessions.begin() as session:
        store.put("files/7/附件1.docx", b"rolled back", session)
        session.add(Message(message_id="<rolled-back@test>", received_at=ON_TIME,
                            processed_at=ON_TIME, raw_path="raw/ab/mail.eml", result="受理"))
        session.flush()
        raise RuntimeError("the transaction fails after the file was kept")
    assert not store.exists("files/7/附件1.docx")  # no kept file without its row
    with sessions.begin() as session:
        store.put("files/8/附件1.docx", b"committed", session)
    with sessions() as session:  # every reader of this database gets the same store
        assert blobs.for_session(session, tmp_path / "elsewhere") is store
        assert session.scalar(select(Message.id)) is None  # the rolled-back row is gone too
    assert blobs.Kept(store, "files/8/附件1.docx").read_bytes() == b"committed"

    assert s3.objects(bucket) == {f"{PREFIX}/raw/ab/mail.eml": b"From: a@b\r\n\r\nbody",
                                  f"{PREFIX}/files/8/附件1.docx": b"committed"}
    assert not (tmp_path / "state").exists()  # nothing worker-local
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM blobs")).scalar() == 0
    engine.dispose()


def test_a_session_closed_without_commit_keeps_no_file(s3: S3Server, tmp_path: Path) -> None:
    settings = on_s3(s3.endpoint, s3.new_bucket(), tmp_path / "state",
                     f"sqlite:///{tmp_path / 'mailbot.sqlite3'}")
    sessions = open_database(settings.database)
    store = blobs.store_for(sessions.kw["bind"], settings.state_dir, settings)
    with sessions() as session:
        session.add(Message(message_id="<never-committed@test>", received_at=ON_TIME,
                            processed_at=ON_TIME, raw_path="raw/x.eml", result="受理"))
        session.flush()
        store.put("files/3/附件2.docx", b"never committed", session)
        session.rollback()
        store.put("files/4/附件2.docx", b"committed later", session)
        session.commit()
    assert not store.exists("files/3/附件2.docx")
    assert store.get("files/4/附件2.docx") == b"committed later"


def test_a_mail_whose_transaction_rolls_back_leaves_no_file_on_s3(database_url: str,
                                                                  s3: S3Server,
                                                                  tmp_path: Path) -> None:
    """The real intake keeps a mail's forms, then its transaction fails before the commit: the
    forms are deleted from S3 with the rows; recorded again, they are kept."""
    from mailbot.demo.mailfactory import build_mail
    from mailbot.intake import pipeline
    from mailbot.intake.cycle import record, save_raw

    bucket = s3.new_bucket()
    runtime = Runtime(on_s3(s3.endpoint, bucket, tmp_path / "state", database_url),
                      load_rules(RULES))
    studio = _studio(1)
    raw = build_mail(sender="unit-1@test.example", to=OFFICE, subject="申报材料", body="请查收。",
                     attachments=[("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),  # type: ignore[attr-defined]
                                  ("附件2-推荐审批表.docx", approval_docx(studio))],  # type: ignore[arg-type]
                     date=ON_TIME, message_id="<rollback@client.test.example>")
    key = save_raw(runtime.settings.state_dir, raw, runtime.blobs)
    raw_object = f"{PREFIX}/{key}"  # named by its content, kept before any row (as on disk)
    with pytest.raises(RuntimeError), runtime.sessions.begin() as session:
        message, new = pipeline.handle(session, runtime.intake, raw, key, ON_TIME)
        kept = {f"{PREFIX}/{doc.stored_path}" for doc in message.documents}
        assert new and len(kept) == 2 and kept < set(s3.objects(bucket))
        raise RuntimeError("the cycle fails before its commit")
    assert set(s3.objects(bucket)) == {raw_object}

    message, new = record(runtime, raw, key, ON_TIME)
    assert new
    with runtime.sessions() as session:
        stored = session.scalars(select(Document.stored_path)).all()
    assert len(stored) == 2
    assert set(s3.objects(bucket)) == {raw_object} | {f"{PREFIX}/{path}" for path in stored}


def _studio(n: int) -> object:
    from dataclasses import replace

    return replace(SAMPLE_STUDIOS[n % 5], unit=f"第{n}学院", name=f"第{n}创新工作室")


def _kept_locally(state: Path) -> list[Path]:
    return [p for folder in ("raw", "files") for p in (state / folder).rglob("*") if p.is_file()]


def test_workers_keep_files_on_s3_and_a_third_dashboard_serves_them(
        dovecot: Dovecot, smtp_relay: SmtpRelay, postgres_url: str, s3: S3Server,
        tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    bucket = s3.new_bucket()
    sent: dict[str, dict[str, bytes]] = {}
    for n in range(4):
        studio = _studio(n)
        files = [("附件1-推荐汇总表.docx", summary_docx(studio.unit, [studio])),  # type: ignore[attr-defined]
                 ("附件2-推荐审批表.docx", approval_docx(studio)),  # type: ignore[arg-type]
                 ("附件3-申报材料.docx", material_docx(studio, 1200))]  # type: ignore[arg-type]
        bot.submit(f"unit-{n}@test.example", files, received=ON_TIME.replace(minute=n))
        sent[f"unit-{n}@test.example"] = dict(files)
    second = material_docx(_studio(0), 1800)  # type: ignore[arg-type]
    bot.submit("unit-0@test.example", [("附件3-申报材料（修改稿）.docx", second)],
               received=ON_TIME.replace(hour=14))
    states = [tmp_path / "worker-1", tmp_path / "worker-2", tmp_path / "dashboard"]
    env = {"MAILBOT_DATABASE_URL": postgres_url, "MAILBOT_FILES_URL": f"s3://{bucket}/{PREFIX}",
           "MAILBOT_S3_ENDPOINT": s3.endpoint}
    started = [subprocess.Popen([sys.executable, "-m", "mailbot", "poll"],
                                env=bot.environment(MAILBOT_STATE_DIR=str(state), **env),
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for state in states[:2]]
    for process in started:
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err

    engine = create_engine(postgres_url)
    with engine.connect() as db:
        ids = Counter(db.execute(text("SELECT message_id FROM messages")).scalars())
        raw_paths = set(db.execute(text("SELECT raw_path FROM messages")).scalars())
        stored = set(db.execute(text("SELECT stored_path FROM documents")).scalars())
        in_database = db.execute(text("SELECT count(*) FROM blobs")).scalar()
    engine.dispose()
    assert len(ids) == 5 and set(ids.values()) == {1}  # each mail recorded once
    objects = s3.objects(bucket)
    assert {f"{PREFIX}/{key}" for key in raw_paths | stored} == set(objects)  # all, and no more
    assert in_database == 0
    for state in states[:2]:
        assert _kept_locally(state) == []  # nothing worker-local

    settings = on_s3(s3.endpoint, bucket, states[2], postgres_url)
    runtime = Runtime(settings, bot.campaign)
    app = create_app(settings, bot.campaign, runtime=runtime)
    app.config["TESTING"] = True
    client = login(app.test_client())
    latest: list[str] = []
    with runtime.sessions() as session:
        for unit in session.scalars(select(Unit)):
            for doc in latest_documents(session, unit, bot.campaign):
                answer = client.get(f"/files/{doc.id}")
                assert answer.status_code == 200, doc.stored_path
                assert hashlib.sha256(answer.data).hexdigest() == doc.sha256
                latest.append(doc.sha256)
        for message in session.scalars(select(Message)):
            answer = client.get(f"/messages/{message.id}/raw.eml")
            assert answer.status_code == 200
            assert objects[f"{PREFIX}/{message.raw_path}"] == answer.data
    assert hashlib.sha256(second).hexdigest() in latest  # the resubmitted 附件3 counts
    first = hashlib.sha256(sent["unit-0@test.example"]["附件3-申报材料.docx"]).hexdigest()
    assert first not in latest and len(latest) == len(set(latest)) == 4 * 3

    answer = client.get("/materials.zip")
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    assert {hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist()} == set(latest)
    assert _kept_locally(states[2]) == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once it is closed


@pytest.mark.parametrize("fault", ["unreachable", "no bucket", "refused keys"])
def test_a_store_out_of_reach_stops_a_command_with_one_line(fault: str, s3: S3Server,
                                                            tmp_path: Path) -> None:
    bucket = s3.new_bucket() if fault != "no bucket" else "no-such-bucket"
    endpoint = f"http://127.0.0.1:{_closed_port()}" if fault == "unreachable" else s3.endpoint
    expected = {"unreachable": f"无法连接 {endpoint}", "no bucket": "存储桶 no-such-bucket 不存在",
                "refused keys": "访问密钥被拒绝（InvalidAccessKeyId）"}[fault]
    env = {"MAILBOT_FILES_URL": f"s3://{bucket}/{PREFIX}", "MAILBOT_S3_ENDPOINT": endpoint}
    with s3.refusing_keys() if fault == "refused keys" else nullcontext():
        done = _mailbot("status", tmp_path, env)
        doctor = _mailbot("doctor", tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, no traceback
    assert expected in done.stderr and f"s3://{bucket}/{PREFIX}" in done.stderr
    line = next(x for x in doctor.stdout.splitlines() if "文件存储" in x)
    assert line.startswith("✗ 文件存储：") and expected in line, doctor.stdout


def _mailbot(command: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    environ.update({"MAILBOT_RULES": str(RULES), "MAILBOT_STATE_DIR": str(tmp_path / "state"),
                    **env})
    return subprocess.run([sys.executable, "-m", "mailbot", command], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, timeout=120)


def test_doctor_names_the_file_store(s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    settings = on_s3(s3.endpoint, bucket, tmp_path / "state")
    assert blobs.describe(settings) == (f"s3://{bucket}/{PREFIX}（{s3.endpoint}）"
                                        "（存储桶可访问，所有机器共用）")
    assert s3.objects(bucket) == {}  # doctor writes nothing
    local = Settings(state_dir=tmp_path / "state")
    assert blobs.describe(local).startswith(f"数据目录 {(tmp_path / 'state').absolute()}")
    remote = Settings(database_url="postgresql+psycopg://mailbot@db.example/mailbot")
    assert blobs.describe(remote) == "数据库中的 blobs 表（所有机器共用）"


def test_the_store_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = load_settings(environ={"MAILBOT_FILES_URL": "s3://shenbao/mailbot",
                                      "MAILBOT_S3_ENDPOINT": "http://minio.lan:9000/",
                                      "MAILBOT_S3_REGION": "cn-south-1"})
    assert (settings.files_url, settings.s3_endpoint, settings.s3_region) == (
        "s3://shenbao/mailbot", "http://minio.lan:9000", "cn-south-1")
    blobs.check_files_url(settings.files_url)
    with pytest.raises(ConfigError, match="MAILBOT_S3_ENDPOINT"):
        load_settings(environ={"MAILBOT_S3_ENDPOINT": "minio.lan:9000"})
    with pytest.raises(ConfigError, match="存储桶名 'Bad_Bucket' 不合法"):
        blobs.check_files_url("s3://Bad_Bucket/x")
    with pytest.raises(ConfigError, match=re.escape("不能有 . 或 ..")):
        blobs.check_files_url("s3://shenbao/../x")
    with pytest.raises(ConfigError, match="不认识的文件存储地址"):
        blobs.check_files_url("ftp://example/files")
    closed = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(StateError, match="无法连接"):  # checked before anything is kept
        Runtime(on_s3(closed, "shenbao", tmp_path / "state"), load_rules(RULES))


def test_no_keys_at_all_is_named(s3: S3Server, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StateError, match="没有可用的访问密钥"):
        blobs.describe(on_s3(s3.endpoint, s3.new_bucket(), tmp_path / "state"))
