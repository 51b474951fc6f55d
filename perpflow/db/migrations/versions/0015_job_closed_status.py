"""job closed_status: how a grid session's or hedge cycle's run ended without its final row

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("hedge_cycles", "grid_sessions")


def upgrade() -> None:
    # NULL for every row of before: its state column stays the truth, as it was.
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("closed_status", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("closed_status")
