"""grid sessions: the session row's config, position, fees, funding and stop reason; one row per fill

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 16:30:00.000000
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import perpflow.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _money(name: str, server_default: str | None = None) -> sa.Column[Decimal]:
    money = perpflow.db.types.ExactDecimal(precision=38, scale=18)
    return sa.Column(name, money, nullable=False, server_default=server_default)


def upgrade() -> None:
    with op.batch_alter_table("grid_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(_money("position", server_default="0"))
        batch_op.add_column(_money("fees", server_default="0"))
        batch_op.add_column(_money("funding", server_default="0"))
        batch_op.add_column(sa.Column("stop_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "grid_fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("fill_id", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("client_order_index", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        _money("price"),
        _money("size"),
        _money("fee"),
        _money("realized"),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "fill_id", name="uq_grid_fills_session_fill"),
    )


def downgrade() -> None:
    op.drop_table("grid_fills")
    with op.batch_alter_table("grid_sessions", schema=None) as batch_op:
        for column in ("updated_at", "stop_reason", "funding", "fees", "position", "version", "config"):
            batch_op.drop_column(column)
