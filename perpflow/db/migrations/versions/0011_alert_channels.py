"""alert channels: each channel's delivery of each outbox row; repeat windows, summaries, reports

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _alert_id(name: str = "alert_id", *, nullable: bool = False) -> sa.Column[int]:
    target = sa.ForeignKey("alert_outbox.id", ondelete="CASCADE")
    return sa.Column(name, sa.Integer(), target, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        _alert_id(),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", "channel"),
    )
    op.create_table(
        "alert_repeats",
        _alert_id(),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("repeat_group", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _alert_id("lead_id", nullable=True),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_alert_repeats_group", "alert_repeats", ["repeat_group", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_repeats_group", table_name="alert_repeats")
    op.drop_table("alert_repeats")
    op.drop_table("alert_deliveries")
