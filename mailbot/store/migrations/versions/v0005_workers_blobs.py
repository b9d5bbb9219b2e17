"""Several workers on one database: leases, reply claims, kept files in the database.

- leases (name, holder, expires_at): one worker at a time per campaign mailbox folder
  (store.coordination);
- replies.claimed_by / claimed_at: the worker sending a reply, so no other sends it meanwhile;
- blobs (key, data): raw mail and received files when the database is a server (store.blobs),
  reached by every worker and the dashboard; unused with SQLite (files stay in the state dir).
Every new column has a default, so the rows of 0003 stay as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "blobs",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.add_column("replies", sa.Column("claimed_by", sa.String(128), nullable=False,
                                       server_default=""))
    op.add_column("replies", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("mailbot never downgrades a database: restore a backup instead")
