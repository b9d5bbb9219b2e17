"""Campaigns as data and receipts from a counter.

- every table of campaign data gets `campaign` (the campaign's key), back-filled with the key of
  the campaign being upgraded (`mailbot db upgrade`: the configured one);
- uniqueness that was global becomes per campaign: units.key, unit_addresses.address,
  reminders (unit, offset), milestones.key;
- `receipt_counters` holds the last receipt number issued per campaign, started at the highest
  number already issued, so no number is ever issued twice; messages (campaign, receipt_no) is
  unique where a receipt was given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# SQLite keeps 0.1's unique constraints unnamed; batch mode names them by this when it reflects
# them, so they can be dropped. PostgreSQL named them itself (<table>_<column>_key).
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
# table -> (0.1 unique constraint: SQLite name, PostgreSQL name; new columns)
REKEYED = {
    "units": ("uq_units_key", "units_key_key", ["campaign", "key"]),
    "unit_addresses": ("uq_unit_addresses_address", "unit_addresses_address_key",
                       ["campaign", "address"]),
    "reminders": ("uq_reminders_unit_id", "reminders_unit_id_offset_key",
                  ["campaign", "unit_id", "offset"]),
    "milestones": ("uq_milestones_key", "milestones_key_key", ["campaign", "key"]),
}
TABLES = ("units", "unit_addresses", "messages", "documents", "findings", "replies",
          "reminders", "milestones")
INDEXED = ("messages", "replies")


def upgrade() -> None:
    config = op.get_context().config
    assert config is not None, "run by mailbot.store.migrations.upgrade, which names the campaign"
    campaign = config.attributes["campaign"]
    postgres = op.get_bind().dialect.name == "postgresql"
    # Batch mode cannot carry an expression index across a SQLite table rebuild: drop, remake.
    op.drop_index("ix_replies_recipient", table_name="replies")
    for table in TABLES:
        op.add_column(table, sa.Column("campaign", sa.String(64), nullable=True))
        op.execute(sa.table(table, sa.column("campaign"))
                   .update().values(campaign=campaign))
        with op.batch_alter_table(table, naming_convention=NAMING) as batch:
            batch.alter_column("campaign", existing_type=sa.String(64), nullable=False)
            if table in REKEYED:
                sqlite_name, postgres_name, columns = REKEYED[table]
                batch.drop_constraint(postgres_name if postgres else sqlite_name, type_="unique")
                batch.create_unique_constraint(f"uq_{table}_campaign", columns)
        if table in INDEXED:
            op.create_index(f"ix_{table}_campaign", table, ["campaign"])
    op.create_index("ix_replies_recipient", "replies", [sa.text("lower(to_addr)")])
    op.create_index("uq_messages_campaign_receipt", "messages", ["campaign", "receipt_no"],
                    unique=True, sqlite_where=sa.text("receipt_no != ''"),
                    postgresql_where=sa.text("receipt_no != ''"))
    counters = op.create_table(
        "receipt_counters",
        sa.Column("campaign", sa.String(64), primary_key=True),
        sa.Column("last_number", sa.Integer(), nullable=False),
    )
    issued = op.get_bind().execute(sa.text(
        "SELECT receipt_no FROM messages WHERE receipt_no != '' AND campaign = :c"),
        {"c": campaign}).scalars().all()
    op.bulk_insert(counters, [{"campaign": campaign, "last_number": highest_receipt(issued)}])


def highest_receipt(issued: Sequence[str]) -> int:
    """The highest number among receipts like 'LMGJ2022-0007', and never below their count:
    the next one issued is above every number ever given."""
    numbers = [int(found.group()) for no in issued if (found := re.search(r"\d+$", no))]
    return max([len(issued), *numbers])


def downgrade() -> None:
    raise NotImplementedError("mailbot never downgrades a database: restore a backup instead")
