"""Release 0.1: exactly the tables `create_all` made at commit cc57918.

A database written by 0.1 has no alembic_version table; it is stamped with this revision
and upgraded from here (mailbot.store.migrations.upgrade). Frozen: never edit, add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("on_roster", sa.Boolean(), nullable=False),
        sa.Column("paper_received_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_units_name_key", "units", ["name_key"])
    op.create_table(
        "unit_addresses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("address", sa.String(320), nullable=False, unique=True),
    )
    op.create_index("ix_unit_addresses_unit_id", "unit_addresses", ["unit_id"])
    _messages()
    op.create_table(
        "mailbox_uids",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("marked", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("folder", "uidvalidity", "uid"),
    )
    op.create_index("ix_mailbox_uids_message_pk", "mailbox_uids", ["message_pk"])
    _documents()
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
    )
    op.create_index("ix_findings_message_pk", "findings", ["message_pk"])
    _replies_reminders_milestones()


def _messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(998), nullable=False, unique=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=True),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("date_header", WHEN, nullable=True),
        sa.Column("from_addr", sa.String(320), nullable=False),
        sa.Column("from_name", sa.String(200), nullable=False),
        sa.Column("reply_to", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("raw_path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("receipt_no", sa.String(40), nullable=False),
        sa.Column("processed_at", WHEN, nullable=False),
    )
    op.create_index("ix_messages_unit_id", "messages", ["unit_id"])


def _documents() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("studio_name", sa.Text(), nullable=False),
        sa.Column("studio_key", sa.String(400), nullable=False),
        sa.Column("unit_name", sa.Text(), nullable=False),
        sa.Column("leader", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("studios_json", sa.Text(), nullable=False),
        sa.Column("studio_keys", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_documents_message_pk", "documents", ["message_pk"])
    op.create_index("ix_documents_unit_id", "documents", ["unit_id"])
    op.create_index("ix_documents_studio_key", "documents", ["studio_key"])


def _replies_reminders_milestones() -> None:
    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("to_addr", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("smtp_message_id", sa.String(998), nullable=False, unique=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
    )
    op.create_index("ix_replies_message_pk", "replies", ["message_pk"])
    op.create_index("ix_replies_recipient", "replies", [sa.text("lower(to_addr)")])
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("offset", sa.String(16), nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("reply_id", sa.Integer(), sa.ForeignKey("replies.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("unit_id", "offset"),
    )
    op.create_index("ix_reminders_unit_id", "reminders", ["unit_id"])
    op.create_table(
        "milestones",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("done_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    for table in ("milestones", "reminders", "replies", "findings", "documents", "mailbox_uids",
                  "messages", "unit_addresses", "units"):
        op.drop_table(table)
