"""grid_sessions.session: the session key, so a name started again begins its row afresh

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every row of before: the next write of a session names it.
    with op.batch_alter_table("grid_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grid_sessions", schema=None) as batch_op:
        batch_op.drop_column("session")
