"""The ledger's pool after Postgres dropped its connections (a restart, an administrator): the
statement that meets a dropped connection fails, and the next one runs on a fresh connection."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from perpflow.db.ledger import Ledger
from tests.conftest import PG_ADMIN_URL


async def _backend_pids(ledger: Ledger) -> set[int]:
    async with ledger.statements() as c:
        return {int(await c.scalar(text("SELECT pg_backend_pid()")))}


async def test_a_dropped_connection_fails_one_statement_and_the_next_reconnects(pg_ledger: Ledger) -> None:
    before = await _backend_pids(pg_ledger)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for pid in before:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(DBAPIError) as failed:
        await _backend_pids(pg_ledger)
    assert failed.value.connection_invalidated
    after = await _backend_pids(pg_ledger)
    assert after.isdisjoint(before)
    assert await pg_ledger.ping() >= 0


async def test_the_order_paths_pool_fails_one_statement_and_renews_its_connections(pg_ledger: Ledger) -> None:
    """``Ledger.one`` runs on a pool of its own (``perpflow.db.fast``): after Postgres dropped all
    its connections, one statement fails and the next ones run on fresh connections."""
    pid_soon = select(func.pg_backend_pid().label("pid"), func.pg_sleep(0.05))
    pid_now = select(func.pg_backend_pid().label("pid"))
    done = await asyncio.gather(*(pg_ledger.one(pid_soon, {}) for _ in range(4)))  # the pool grows
    before = {d.rows[0].pid for d in done}
    assert len(before) > 1
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for pid in before:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        await pg_ledger.one(pid_now, {})
    after = {(await pg_ledger.one(pid_now, {})).rows[0].pid for _ in range(len(before))}
    assert after.isdisjoint(before)


async def test_the_order_paths_pool_opens_again_after_the_ledger_closed(pg_ledger: Ledger) -> None:
    """As the engine after ``dispose``: a closed ledger used again connects again."""
    pid_now = select(func.pg_backend_pid().label("pid"))
    before = (await pg_ledger.one(pid_now, {})).rows[0].pid
    await pg_ledger.close()
    assert (await pg_ledger.one(pid_now, {})).rows[0].pid != before
