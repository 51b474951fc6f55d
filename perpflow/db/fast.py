"""The order path's one-statement writes and reads, run on psycopg directly on Postgres.

Each order a signer places makes three such statements (the claim, which reads the trading state
too, and the moves before and after the send); a batch transaction's orders move before their send
in one pipeline. Through SQLAlchemy's async engine each statement costs about three times its CPU
on psycopg alone (its greenlet, the connection checkout and reset, the result machinery), and a
signer serving a hundred accounts meets its fills in bursts: the orders of a burst wait for each
other's statements (bench_grid_scale). Here the same SQLAlchemy statements, built once where they
are defined, are compiled once for psycopg and run on a pool of autocommit connections of their
own.

Values are bound as psycopg adapts them (``Decimal``, ``int``, ``str``, ``bool``, aware
``datetime``), which is what the engine binds on Postgres for these columns. Numbers come back
normalised, as ``ExactDecimal`` gives them (``perpflow.db.types``): every NUMERIC column of the
ledger is one.
"""

from __future__ import annotations

import asyncio
import functools
from collections import namedtuple
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Column, ColumnDefault, Dialect, FromClause
from sqlalchemy.engine import make_url
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import ExpandedState, SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

# Connections of this pool per process (opened as bursts need them, closed after ten idle minutes).
# A signer serving a hundred accounts meets its fills in bursts of up to ~90 placements at once,
# two statements each before their sends, and under that load a statement holds its connection
# for ~10 ms (the event loop's turns and the host's CPU more than Postgres's work). With 8 a
# statement waited for one 150-200 ms at p90 and 340 ms at p99 in bench_grid_scale (three busy on
# average); with 24, 25 and 110 ms. Postgres allows 100 in all by default.
MAX_CONNECTIONS = 24

Statement = Select[Any] | UpdateBase  # what runs here: one SELECT, INSERT or UPDATE


@dataclass(frozen=True)
class Done:
    """What one statement returned: its rows (named tuples), and the rows it changed."""

    rows: Sequence[Any]
    rowcount: int


def _exact(value: object) -> object:
    return value.normalize() if isinstance(value, Decimal) else value


@functools.cache
def _row_type(names: tuple[str, ...]) -> Any:
    """One named tuple class per shape of result: psycopg asks for a row maker with every result
    (a row-less UPDATE's too), and building the class costs ~0.1 ms of CPU each time."""
    return namedtuple("Row", names, rename=True)  # type: ignore[misc]


def _named_rows(cursor: AsyncCursor[Any]) -> RowMaker[Any]:
    row = _row_type(tuple(c.name for c in cursor.description or ()))
    return lambda values: row(*map(_exact, values))


def column_defaults(table: FromClause, given: Mapping[str, object]) -> dict[str, object]:
    """The table's Python-side column defaults (values and callables) for the columns ``given``
    leaves out: an insert run here gets them from the table as the engine would."""
    out: dict[str, object] = {}
    for column in table.columns:
        default = column.default if isinstance(column, Column) else None
        if column.name in given or not isinstance(default, ColumnDefault):
            continue
        out[column.name] = default.arg(None) if default.is_callable else default.arg
    return out


class FastStatements:
    """A lazily opened pool of autocommit psycopg connections to the ledger's Postgres."""

    def __init__(self, url: str, dialect: Dialect, max_size: int = MAX_CONNECTIONS) -> None:
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._max_size = max_size
        self._dialect = dialect
        self._compiled: dict[Statement, SQLCompiler] = {}
        self._opening = asyncio.Lock()
        self._pool: AsyncConnectionPool | None = None  # opened at the first statement

    async def run(self, statement: Statement, params: Mapping[str, object]) -> Done:
        """``statement`` (built once by its caller: it is compiled once) with ``params``."""
        expanded = self._expanded(statement, params)
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=_named_rows)
            await cursor.execute(expanded.statement, expanded.parameters)
            rows = await cursor.fetchall() if cursor.description is not None else []
            return Done(rows, cursor.rowcount)

    async def run_many(self, statement: Statement, params: Sequence[Mapping[str, object]]) -> int:
        """``statement`` once with each of ``params`` (none expanding), in one round trip and one
        transaction: psycopg pipelines them, and Postgres runs what comes before the pipeline's
        sync as one implicit transaction. The rows they changed in all."""
        expanded = [self._expanded(statement, p) for p in params]
        async with self._connection() as conn:
            cursor = conn.cursor()
            await cursor.executemany(expanded[0].statement, [e.parameters for e in expanded])
            return cursor.rowcount

    def _expanded(self, statement: Statement, params: Mapping[str, object]) -> ExpandedState:
        compiled = self._compiled.get(statement)
        if compiled is None:
            built = statement.compile(dialect=self._dialect)
            assert isinstance(built, SQLCompiler)
            compiled = self._compiled[statement] = built
        return compiled.construct_expanded_state(dict(params))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = await self._opened()
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg.OperationalError:
            # The pool drops this connection; Postgres may have dropped the others too (a restart):
            # the idle ones are checked now, so this is the one statement that fails.
            await pool.check()
            raise

    async def _opened(self) -> AsyncConnectionPool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                self._pool = AsyncConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=self._max_size,
                    kwargs={"autocommit": True},
                    open=False,
                )
                await self._pool.open()
            return self._pool

    async def close(self) -> None:
        """Close the pool; a later statement opens a new one (as the engine does after dispose)."""
        async with self._opening:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
