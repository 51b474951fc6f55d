"""payout rows keyed by the event's inclusion (block hash), so a re-included event gets its own

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# 0001 left the old key unnamed: PostgreSQL named it itself; on SQLite the batch copy names it
# through this convention.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
NEW_KEY = "uq_payouts_event_inclusion"


def _old_key() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "payouts_chain_id_event_tx_hash_event_log_index_key"
    return "uq_payouts_chain_id"


def upgrade() -> None:
    with op.batch_alter_table("payouts", naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("event_block_hash", sa.String(length=66), nullable=True))
        batch_op.drop_constraint(_old_key(), type_="unique")
        batch_op.create_unique_constraint(
            NEW_KEY, ["chain_id", "event_tx_hash", "event_log_index", "event_block_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payouts", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(NEW_KEY, type_="unique")
        batch_op.create_unique_constraint(_old_key(), ["chain_id", "event_tx_hash", "event_log_index"])
        batch_op.drop_column("event_block_hash")
