"""Hedge cycles in the ledger: one row per cycle, updated at each state change."""

from __future__ import annotations

from datetime import UTC, datetime

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.hedge.errors import CycleIdReused
from perpflow.hedge.models import CycleRecord, CycleResult, CycleState


class HedgeCycles:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def save(self, rec: CycleRecord) -> None:
        """Create or advance the cycle's row. A row that reached a final state is history: a late
        or repeated write never changes it, and another cycle under the same id is an error. A row
        the reconciler closed (its run ended with no final write) is taken back by a write: one of
        that run still in flight, which the next reconcile closes again."""
        async with self.ledger.session() as s:
            row = await s.get(t.HedgeCycle, rec.workflow_id)
            if row is None:
                row = t.HedgeCycle(
                    workflow_id=rec.workflow_id, fleet=rec.fleet, pair=rec.pair, seq=rec.seq, venue=rec.venue,
                    market=rec.market, maker_account=rec.maker_account, taker_account=rec.taker_account,
                    state=rec.state.value,
                )  # fmt: skip
                s.add(row)
            elif (row.fleet, row.pair, row.seq) != (rec.fleet, rec.pair, rec.seq):
                raise CycleIdReused(
                    f"cycle id {rec.workflow_id} already names {row.fleet}/{row.pair}/{row.seq}"
                )
            elif CycleState(row.state).final:
                return
            row.closed_status = None
            if row.taker_venue is None:  # also a cycle whose row was created before the columns were
                row.taker_venue, row.taker_market = rec.taker_venue, rec.taker_market
            row.state = rec.state.value
            row.realized_pnl, row.fees = rec.realized_pnl, rec.fees
            if rec.result is not None:
                row.result = rec.result.model_dump(mode="json")
            row.ended_at = (row.ended_at or datetime.now(UTC)) if rec.state.final else None

    async def get(self, workflow_id: str) -> CycleRecord | None:
        async with self.ledger.session() as s:
            row = await s.get(t.HedgeCycle, workflow_id)
            return None if row is None else _record(row)


def _record(row: t.HedgeCycle) -> CycleRecord:
    return CycleRecord(
        workflow_id=row.workflow_id, fleet=row.fleet, pair=row.pair, seq=row.seq, venue=row.venue,
        market=row.market, maker_account=row.maker_account, taker_account=row.taker_account,
        taker_venue=row.taker_venue, taker_market=row.taker_market, state=CycleState(row.state),
        realized_pnl=row.realized_pnl, fees=row.fees,
        result=None if row.result is None else CycleResult.model_validate(row.result),
    )  # fmt: skip
