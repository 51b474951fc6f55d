"""Jobs' ledger rows seen together (grid sessions, hedge cycles): those still waiting for a final
state, and the reconciler's close of one whose run ended without writing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.grid.models import GridState
from perpflow.hedge.models import CycleState
from perpflow.reconcile.models import JobKind, RunClose

_TABLES: dict[JobKind, Any] = {JobKind.GRID_SESSION: t.GridSession, JobKind.HEDGE_CYCLE: t.HedgeCycle}
_FINAL = {
    JobKind.GRID_SESSION: [s.value for s in GridState if s.final],
    JobKind.HEDGE_CYCLE: [s.value for s in CycleState if s.final],
}


@dataclass(frozen=True)
class OpenRow:
    kind: JobKind
    workflow_id: str
    state: str


class JobRows:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def unfinished(self, venue: str, started_before: datetime) -> list[OpenRow]:
        """The venue's rows in a state their job has not ended, not closed either, started before."""
        out: list[OpenRow] = []
        async with self.ledger.session() as s:
            for kind, table in _TABLES.items():
                query = select(table.workflow_id, table.state).where(
                    table.venue == venue,
                    table.state.not_in(_FINAL[kind]),
                    table.closed_status.is_(None),
                    table.started_at < started_before.astimezone(UTC),
                )
                rows = (await s.execute(query.order_by(table.started_at))).all()
                out += [OpenRow(kind, wid, state) for wid, state in rows]
        return out

    async def close(self, row: OpenRow, status: RunClose, at: datetime) -> bool:
        """Mark the row ended as Temporal says; False when it changed since it was read (a write
        came in: a run of that id is writing it again)."""
        table = _TABLES[row.kind]
        statement = (
            update(table)
            .where(
                table.workflow_id == row.workflow_id,
                table.state == row.state,
                table.closed_status.is_(None),
            )
            .values(closed_status=status.value, ended_at=at.astimezone(UTC))
        )
        async with self.ledger.session() as s:
            result = await s.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]
