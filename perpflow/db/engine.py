"""Database URLs and engines for the ledger: Postgres through psycopg 3, or a SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Several processes (orchestrator, signers, wallet, market data) share one SQLite file in the
# embedded stack: WAL lets readers run beside the writer, busy_timeout makes writers queue.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON")


def _url(raw: str, *, asynchronous: bool) -> URL:
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return url.set(drivername="sqlite+aiosqlite" if asynchronous else "sqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported ledger database {backend!r}: use postgresql:// or sqlite://")


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def sync_engine(raw_url: str) -> Engine:
    url = _url(raw_url, asynchronous=False)
    engine = create_engine(url)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    return engine


# Connections a process keeps open to Postgres, and how many more it may open for a burst (each
# closed again after use: a new server process per burst). A signer serving a hundred accounts runs
# that many placements at once; with SQLAlchemy's default 5 most of its statements opened a fresh
# connection (bench_grid_scale). Postgres's default max_connections is 100.
POOL_SIZE, MAX_OVERFLOW = 20, 10
# No ping before each use: it was a round trip more on every statement (an order's path makes
# four), measured at 9 ms at the median under bench_grid_scale. A connection Postgres dropped (a
# restart) fails its statement once and SQLAlchemy then renews every pooled connection; the
# activity or loop that made it retries. Connections older than this are renewed on checkout, so
# one a proxy or firewall closed while idle is not used.
RECYCLE_S = 600


def async_engine(raw_url: str) -> AsyncEngine:
    url = _url(raw_url, asynchronous=True)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    return create_async_engine(url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_recycle=RECYCLE_S)
