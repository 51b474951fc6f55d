"""Trading states (ACTIVE / REDUCING / HALTED) per scope, with every change audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.risk import TradingState, strictest

# The states set over the scopes bound as ``scopes``: built once (``Ledger.one`` compiles it once).
STATES = select(t.RiskState.state).where(t.RiskState.scope.in_(bindparam("scopes", expanding=True)))


class RiskStates:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def get(self, scope: str) -> TradingState:
        async with self.ledger.session() as s:
            row = await s.get(t.RiskState, scope)
            return TradingState(row.state) if row is not None else TradingState.ACTIVE

    async def set(self, scope: str, state: TradingState, *, reason: str, by: str) -> None:
        async with self.ledger.session() as s:
            row = await s.get(t.RiskState, scope)
            if row is None:
                s.add(t.RiskState(scope=scope, state=state.value, reason=reason, updated_by=by))
            else:
                row.state, row.reason, row.updated_by = state.value, reason, by
            s.add(
                t.Audit(
                    at=datetime.now(UTC),
                    actor=by,
                    action="set_trading_state",
                    target=scope,
                    detail={"state": state.value, "reason": reason},
                )
            )

    async def strictest(self, *scopes: str) -> TradingState:
        """The most restrictive state over ``scopes`` (one query; ACTIVE where none is set)."""
        done = await self.ledger.one(STATES, {"scopes": list(scopes)})
        return strictest_of(row.state for row in done.rows)

    async def all(self) -> dict[str, TradingState]:
        async with self.ledger.session() as s:
            rows = (await s.scalars(select(t.RiskState))).all()
            return {r.scope: TradingState(r.state) for r in rows}


def strictest_of(states: Iterable[str]) -> TradingState:
    """The most restrictive of these states as the ledger stores them; ACTIVE where none is set."""
    return strictest(TradingState.ACTIVE, *(TradingState(state) for state in states))
