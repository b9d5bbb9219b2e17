"""The office's actions on quarantined mail and failed replies.

- office_actions: one row per action taken from the dashboard (assign a mail to a unit, dismiss
  it with a reason, forward it to the office, resend a failed reply to a corrected address,
  give a reply up), with who (the client) and when;
- messages.dismissed_at: a quarantined mail the office set aside (NULL: still to handle), so
  the quarantine lists only what is left to do.
Replies given up get the status "dropped" (String(8) already holds it). Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("reply_pk", sa.Integer(), sa.ForeignKey("replies.id"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_office_actions_message_pk", "office_actions", ["message_pk"])
    op.create_index("ix_office_actions_reply_pk", "office_actions", ["reply_pk"])
    op.add_column("messages", sa.Column("dismissed_at", sa.DateTime(timezone=True),
                                        nullable=True))


def downgrade() -> None:
    raise NotImplementedError("mailbot never downgrades a database: restore a backup instead")
