"""hedge cycle taker leg: the venue and market a cross-venue cycle's hedge trades on

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older rows keep NULLs: every cycle before cross-venue legs hedged where its maker quoted.
    with op.batch_alter_table("hedge_cycles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taker_venue", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("taker_market", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hedge_cycles", schema=None) as batch_op:
        batch_op.drop_column("taker_market")
        batch_op.drop_column("taker_venue")
