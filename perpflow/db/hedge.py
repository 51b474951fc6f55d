"""Hedge cycles in the ledger: one row per cycle, updated at each state change."""

from __future__ import annotations

from datetime import UTC, datetime

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.hedge.errors import CycleIdReused
from perpflow.hedge.models import CycleRecord, CycleState


class HedgeCycles:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def save(self, rec: CycleRecord) -> None:
        """Create or advance the cycle's row. A row that reached a final state is history: a late
        or repeated write never changes it, and another cycle under the same id is an error."""
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
            row.state = rec.state.value
            row.realized_pnl, row.fees = rec.realized_pnl, rec.fees
            if rec.result is not None:
                row.result = rec.result.model_dump(mode="json")
            if rec.state.final and row.ended_at is None:
                row.ended_at = datetime.now(UTC)
