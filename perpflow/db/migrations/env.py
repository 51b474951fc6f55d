"""Alembic environment: the URL comes from the caller (perpflow.db.migrate), never a file."""

from __future__ import annotations

from alembic import context

from perpflow.db.engine import sync_engine
from perpflow.db.tables import Base

config = context.config
engine = sync_engine(config.attributes["ledger_url"])
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
