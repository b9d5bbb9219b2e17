"""Status links, sender review, answered questions, the global reply cap.

- units.status_token: the unit's personal status link (campaign.statuslink), unique, unset until
  the first reply to the unit carries one;
- messages.review (待核实 / 已确认 / 已驳回), messages.answer and answered_at (the office's answer
  to a 咨询), documents.unconfirmed (forms from a sender the office has not confirmed);
- an index on replies.sent_at: the global hourly cap counts the replies sent in the last hour
  before every send.
Every new column has a default, so the rows of 0002 stay as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot ALTER TABLE … ADD a UNIQUE column: batch mode rebuilds the table.
    with op.batch_alter_table("units") as batch:
        batch.add_column(sa.Column("status_token", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_units_status_token", ["status_token"])
    op.add_column("messages", sa.Column("review", sa.String(8), nullable=False,
                                        server_default=""))
    op.add_column("messages", sa.Column("answered_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column("messages", sa.Column("answer", sa.Text(), nullable=False, server_default=""))
    op.add_column("documents", sa.Column("unconfirmed", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.create_index("ix_replies_sent_at", "replies", ["sent_at"])


def downgrade() -> None:
    raise NotImplementedError("mailbot never downgrades a database: restore a backup instead")
