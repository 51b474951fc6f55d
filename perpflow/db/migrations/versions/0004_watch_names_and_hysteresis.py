"""watch names and hysteresis

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import perpflow.db.types

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("hysteresis", perpflow.db.types.ExactDecimal(precision=38, scale=18), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "reference_price", perpflow.db.types.ExactDecimal(precision=38, scale=18), nullable=True
            )
        )
        batch_op.create_index("ux_watches_workflow_name", ["workflow_id", "name"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("watches", schema=None) as batch_op:
        batch_op.drop_index("ux_watches_workflow_name")
        batch_op.drop_column("reference_price")
        batch_op.drop_column("hysteresis")
        batch_op.drop_column("name")
