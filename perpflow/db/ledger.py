"""The ledger: one async engine and the repositories over it.

Repositories return perpflow models (``perpflow.models``), never ORM rows, so nothing that
crosses into a workflow can lazily touch the database.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from perpflow.db import tables as t
from perpflow.db.engine import async_engine
from perpflow.db.fast import Done, FastStatements, Statement
from perpflow.models import AccountRef, AuditEntry


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = async_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        postgres = self.engine.dialect.name == "postgresql"
        self._fast = FastStatements(url, self.engine.dialect) if postgres else None

    async def close(self) -> None:
        if self._fast is not None:
            await self._fast.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed on success, rolled back on any error."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """Statements each committed on its own, two round trips fewer than a session's on Postgres
        (no BEGIN, no COMMIT): for work one statement does whole, like a guarded UPDATE."""
        async with self._autocommit.connect() as conn:
            yield conn

    async def one(self, statement: Statement, params: Mapping[str, object]) -> Done:
        """One statement committed on its own, as ``statements`` runs it: on Postgres straight on
        psycopg (``perpflow.db.fast``), for the order path's hot statements. ``statement`` is built
        once by the caller (it is compiled once) and binds every column it writes: an insert takes
        its table's Python-side defaults from ``perpflow.db.fast.column_defaults``."""
        if self._fast is not None:
            return await self._fast.run(statement, params)
        async with self.statements() as c:
            result = await c.execute(statement, dict(params))
            return Done(result.all() if result.returns_rows else [], result.rowcount)

    async def many(self, statement: Statement, params: Sequence[Mapping[str, object]]) -> int:
        """``statement`` once with each of ``params``, in one transaction (on Postgres in one round
        trip too, straight on psycopg); ``statement`` is built once, as for ``one``. The rows they
        changed in all."""
        if self._fast is not None:
            return await self._fast.run_many(statement, params)
        async with self.engine.begin() as c:
            result = await c.execute(statement, [dict(p) for p in params])
            return result.rowcount

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def ping(self) -> float:
        """Round trip to the database in milliseconds; raises if it is unreachable."""
        started = time.perf_counter()
        async with self.session() as s:
            await s.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000

    async def schema_revision(self) -> str | None:
        async with self.session() as s:
            row = await s.execute(text("SELECT version_num FROM alembic_version"))
            return row.scalar_one_or_none()

    # -- accounts ------------------------------------------------------------------------------

    async def upsert_account(self, ref: AccountRef) -> None:
        async with self.session() as s:
            row = await s.scalar(select(t.Account).where(t.Account.name == ref.name))
            if row is None:
                s.add(t.Account(**ref.model_dump()))
                return
            for field, value in ref.model_dump().items():
                setattr(row, field, value)

    async def accounts(self, venue: str | None = None) -> list[AccountRef]:
        query = select(t.Account).order_by(t.Account.name)
        if venue is not None:
            query = query.where(t.Account.venue == venue)
        async with self.session() as s:
            rows = (await s.scalars(query)).all()
        return [
            AccountRef(
                name=r.name,
                venue=r.venue,
                account_index=r.account_index,
                api_key_index=r.api_key_index,
                proxy_url=r.proxy_url,
            )
            for r in rows
        ]

    # -- audit ---------------------------------------------------------------------------------

    async def record_audit(self, entry: AuditEntry) -> None:
        async with self.session() as s:
            s.add(t.Audit(**entry.model_dump()))

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        async with self.session() as s:
            rows = (await s.scalars(select(t.Audit).order_by(t.Audit.id.desc()).limit(limit))).all()
        return [
            AuditEntry(
                at=r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
                actor=r.actor,
                action=r.action,
                target=r.target,
                detail=r.detail,
            )
            for r in rows
        ]
