"""order signed payload: the signed order's bytes kept before the send, and how long they may be resent

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older rows keep NULLs: without stored bytes, a resend signs the order again as it used to.
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tx_type", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tx_info", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("resend_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("resend_until")
        batch_op.drop_column("tx_info")
        batch_op.drop_column("tx_type")
