"""The orchestrator's gauges, read from the ledger at scrape time: it already holds the truth of
cycles, grid sessions, payouts and orphans, so nothing is counted twice.

Plain SQL over the ledger's tables (grouped counts and sums, a handful of rows whatever the
ledger's size), so this package needs none of the repositories that import its instruments. Sums
of money are floats here: Prometheus holds nothing else.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from prometheus_client.metrics_core import Metric as Family
from sqlalchemy import ColumnElement, DateTime, Float, and_, cast, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from perpflow.metrics import names
from perpflow.metrics.scrape import filled

_at = DateTime(timezone=True)
_cycles = table(
    "hedge_cycles", column("fleet"), column("pair"), column("venue"), column("market"),
    column("maker_account"), column("taker_account"), column("taker_venue"), column("taker_market"),
    column("state"), column("realized_pnl"), column("ended_at", _at), column("closed_status"),
)  # fmt: skip
_grids = table(
    "grid_sessions", column("state"), column("venue"), column("account_index"), column("market"),
    column("realized_profit"), column("fees"), column("funding"), column("position"),
    column("closed_status"),
)  # fmt: skip
_payouts = table("payouts", column("state"), column("updated_at", _at))
_orphans = table(
    "reconcile_orphans", column("venue"), column("account_index"), column("kind"), column("resolved_at")
)
_accounts = table("accounts", column("venue"), column("account_index"))


@dataclass(frozen=True)
class LedgerWords:
    """The states and kinds the gauges are broken down by, from the models that define them (given
    by the caller: the payout, grid and reconcile packages import this package's instruments).
    Every state gets a series, zero when no row is in it, so a rule sees 0 rather than nothing.

    A job's row whose run ended without its final state (``closed_status``, set by the reconciler)
    counts under that close status (TERMINATED, TIMED_OUT, ...), which ``cycle_states`` and
    ``grid_states`` list too, never under the live state it was left in."""

    cycle_states: Collection[str]
    open_cycle_states: Collection[str]
    payout_states: Collection[str]
    open_payout_states: Collection[str]
    grid_states: Collection[str]
    open_grid_states: Collection[str]
    orphan_kinds: Collection[str]


class LedgerGauges:
    """``read`` returns every ledger gauge of the catalogue."""

    def __init__(self, engine: AsyncEngine, words: LedgerWords) -> None:
        self.engine = engine
        self.words = words

    async def read(self) -> list[Family]:
        async with self.engine.connect() as conn:
            return [
                *await self._cycles(conn),
                *await self._grids(conn),
                *await self._payouts(conn),
                await self._orphans(conn),
            ]

    async def _cycles(self, conn: AsyncConnection) -> list[Family]:
        c = _cycles.c
        pnl = func.coalesce(func.sum(cast(c.realized_pnl, Float)), 0.0)
        state = func.coalesce(c.closed_status, c.state)
        query = select(c.fleet, state, func.count(), pnl).group_by(c.fleet, state)
        by_state = (await conn.execute(query)).all()
        midnight = datetime.combine(datetime.now(UTC).date(), time(), UTC)
        query = select(c.fleet, pnl).where(c.ended_at >= midnight).group_by(c.fleet)
        today: dict[str, float] = dict((await conn.execute(query)).all())  # rows of (fleet, pnl)
        fleets = {r[0] for r in by_state}
        counts = {(f, s): 0 for f in fleets for s in self.words.cycle_states}
        counts |= {(f, s): n for f, s, n, _ in by_state}
        return [
            filled(names.HEDGE_CYCLES, counts.items()),
            filled(
                names.FLEET_REALISED_PNL, (((f,), sum(r[3] for r in by_state if r[0] == f)) for f in fleets)
            ),
            filled(names.FLEET_REALISED_PNL_TODAY, (((f,), today.get(f, 0.0)) for f in fleets)),
            await self._pairs(conn),
        ]

    async def _pairs(self, conn: AsyncConnection) -> Family:
        """The accounts of each pair with a live cycle, each on its leg's venue and market, for a
        rule to add up their positions. A row without the taker's (one venue, or written before
        the columns were) hedges on the maker's."""
        c = _cycles.c
        taker = (func.coalesce(c.taker_venue, c.venue), func.coalesce(c.taker_market, c.market))
        legs = (c.fleet, c.pair, c.venue, c.market, c.maker_account, c.taker_account, *taker)
        query = select(*legs).distinct().where(c.state.in_(self.words.open_cycle_states), _live(c))
        rows = (await conn.execute(query)).all()
        makers = [((f, p, v, a, m, "maker"), 1) for f, p, v, m, a, *_ in rows]
        takers = [((f, p, v, a, m, "taker"), 1) for f, p, _, _, _, a, v, m in rows]
        return filled(names.HEDGE_PAIR_ACCOUNT, makers + takers)

    async def _grids(self, conn: AsyncConnection) -> list[Family]:
        g = _grids.c
        where = (g.venue, g.account_index, g.market)
        net = func.sum(cast(g.realized_profit, Float) - cast(g.fees, Float) - cast(g.funding, Float))
        state = func.coalesce(g.closed_status, g.state)
        by_state = _zero_filled(
            self.words.grid_states, await conn.execute(select(state, func.count()).group_by(state))
        )
        pnl = (await conn.execute(select(*where, net).group_by(*where))).all()
        live = and_(g.state.in_(self.words.open_grid_states), _live(g))
        open_position = func.sum(cast(g.position, Float)).filter(live)
        held = (await conn.execute(select(*where, func.coalesce(open_position, 0.0)).group_by(*where))).all()
        return [
            filled(names.GRID_SESSIONS, (((state,), n) for state, n in by_state.items())),
            filled(names.GRID_REALISED_PNL, ((r[:3], r[3]) for r in pnl)),
            filled(names.GRID_POSITION, ((r[:3], r[3]) for r in held)),
        ]

    async def _payouts(self, conn: AsyncConnection) -> list[Family]:
        p = _payouts.c
        rows = (
            await conn.execute(select(p.state, func.count(), func.min(p.updated_at)).group_by(p.state))
        ).all()
        now = datetime.now(UTC)
        oldest = {state: (now - _aware(at)).total_seconds() for state, _, at in rows if at is not None}
        counts = _zero_filled(self.words.payout_states, ((r[0], r[1]) for r in rows))
        return [
            filled(names.PAYOUTS, (((state,), n) for state, n in counts.items())),
            filled(
                names.PAYOUT_OLDEST_AGE, (((s,), oldest.get(s, 0.0)) for s in self.words.open_payout_states)
            ),
        ]

    async def _orphans(self, conn: AsyncConnection) -> Family:
        """Open orphans per managed account and kind, zero for an account without any."""
        o, a = _orphans.c, _accounts.c
        where = (o.venue, o.account_index, o.kind)
        query = select(*where, func.count()).where(o.resolved_at.is_(None)).group_by(*where)
        found = {(v, str(i), k): n for v, i, k, n in (await conn.execute(query)).all()}
        accounts = (await conn.execute(select(a.venue, a.account_index))).all()
        zeros = {(v, str(i), k): 0 for v, i in accounts for k in self.words.orphan_kinds}
        return filled(names.RECONCILE_ORPHANS, (zeros | found).items())


def _live(c: Any) -> ColumnElement[bool]:
    """Not closed by the reconciler: its run has not ended without its final state."""
    closed: ColumnElement[Any] = c.closed_status
    return closed.is_(None)


def _zero_filled(states: Collection[str], rows: Iterable[Any]) -> dict[str, int]:
    return dict.fromkeys(states, 0) | {state: n for state, n in rows}  # noqa: C416  # rows, not pairs


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
