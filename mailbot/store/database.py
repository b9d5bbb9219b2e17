"""Opening the database: the engine, the session factory, upgrades, receipt numbers.

`open_database` is the one way in: it upgrades the schema first (store.migrations) and files new
rows under the campaign; reading a database that is already current writes nothing.
"""

from __future__ import annotations

from sqlalchemy import create_engine, event, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.errors import StateError
from mailbot.store.models import DEFAULT_CAMPAIGN, Message, ReceiptCounter
from mailbot.store.statedir import drop_files, keep_files


def open_database(url: str, campaign: str = DEFAULT_CAMPAIGN, *,
                  upgrade: bool = True) -> sessionmaker:  # type: ignore[type-arg]
    """A session factory for `url`, upgraded first; new rows are filed under `campaign` unless
    they name their own. A database already current is only read (`status` and the dashboard
    write nothing by starting); with `upgrade=False` one that is behind is refused."""
    from mailbot.store import migrations

    engine = _engine(url)
    if upgrade:
        migrations.upgrade(engine, campaign)
    elif not migrations.is_current(engine):
        raise StateError("数据库结构需要升级：请先运行 mailbot db upgrade")
    sessions = sessionmaker(engine, expire_on_commit=False, info={"campaign": campaign})
    event.listen(sessions, "before_flush", file_under_campaign)
    event.listen(sessions, "after_commit", keep_files)
    event.listen(sessions, "after_rollback", drop_files)
    return sessions


def upgrade_database(url: str, campaign: str) -> tuple[str | None, str]:
    """`mailbot db upgrade`: (the revision before, the revision now)."""
    from mailbot.store import migrations

    engine = _engine(url)
    try:
        try:
            with engine.connect() as connection:
                before = migrations.current(connection)
        except SQLAlchemyError as exc:
            raise StateError(f"无法打开数据库 {engine.url.render_as_string()}："
                             f"{migrations.one_line(exc)}") from exc
        migrations.upgrade(engine, campaign)
        return before, migrations.head()
    finally:
        engine.dispose()


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def file_under_campaign(session: Session, _context: object, _instances: object) -> None:
    for row in session.new:  # rows that do not name their campaign get the session's
        if hasattr(row, "campaign") and row.campaign is None:
            row.campaign = session.info["campaign"]


def next_receipt(session: Session, campaign: str) -> int:
    """The next receipt number of `campaign`, taken inside the caller's transaction.

    The UPDATE … RETURNING locks the counter row until the transaction ends (PostgreSQL) or
    takes the database's write lock (SQLite): a second process waits, then gets the next one."""
    bump = (update(ReceiptCounter).where(ReceiptCounter.campaign == campaign)
            .values(last_number=ReceiptCounter.last_number + 1)
            .returning(ReceiptCounter.last_number))
    number = session.execute(bump).scalar()
    if number is None:  # the campaign's first receipt: start above any already issued
        from mailbot.store.migrations.versions.v0002_campaigns_receipts import highest_receipt

        issued = list(session.scalars(select(Message.receipt_no).where(
            Message.campaign == campaign, Message.receipt_no != "")))
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(ReceiptCounter).values(campaign=campaign,
                                                      last_number=highest_receipt(issued))
                        .on_conflict_do_nothing(index_elements=["campaign"]))
        number = session.execute(bump).scalar_one()
    return int(number)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the dashboard read while a poll writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
