"""reconcile orphans: one row per orphan episode, so each orphan is alerted once

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import perpflow.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OPEN = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "reconcile_orphans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("account_name", sa.String(length=100), nullable=False),
        sa.Column("account_index", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("size", perpflow.db.types.ExactDecimal(precision=38, scale=18), nullable=False),
        sa.Column("client_order_index", sa.BigInteger(), nullable=True),
        sa.Column("order_index", sa.BigInteger(), nullable=True),
        sa.Column("owner_workflow_id", sa.String(length=200), nullable=True),
        sa.Column("owner_status", sa.String(length=32), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # One open episode per orphan key; resolved rows are history and may repeat the key.
    op.create_index(
        "ux_reconcile_orphans_open_key",
        "reconcile_orphans",
        ["key"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_reconcile_orphans_venue_resolved", "reconcile_orphans", ["venue", "resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_reconcile_orphans_venue_resolved", table_name="reconcile_orphans")
    op.drop_index("ux_reconcile_orphans_open_key", table_name="reconcile_orphans")
    op.drop_table("reconcile_orphans")
