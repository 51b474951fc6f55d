"""Grid sessions in the ledger: one row per session, advanced at its state changes, and one row
per fill it counted. Both writes are idempotent: a retried activity never writes a row twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.grid.config import GridConfig
from perpflow.grid.models import GridFillRecord, GridRecord, GridState, StopReason
from perpflow.venues.types import Side


class GridSessions:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def save(self, rec: GridRecord) -> None:
        """Create or advance the session's row. A row that reached a final state is history: a
        late or repeated write of its session never changes it, and a session started again under
        the name (the same workflow id, another session key) begins the row afresh. A row the
        reconciler closed (its run ended with no final write) is taken back by a write."""
        async with self.ledger.session() as s:
            row = await s.get(t.GridSession, rec.workflow_id)
            if row is None:
                row = t.GridSession(workflow_id=rec.workflow_id, state=rec.state.value)
                s.add(row)
            elif _another_session(row, rec):
                row.started_at, row.ended_at = datetime.now(UTC), None
            elif GridState(row.state).final:
                return
            row.session = rec.session or row.session
            row.closed_status = None
            row.name, row.venue, row.market, row.account_index = (
                rec.name,
                rec.venue,
                rec.market,
                rec.account_index,
            )
            row.state, row.version, row.config = (
                rec.state.value,
                rec.version,
                rec.config.model_dump(mode="json"),
            )
            row.position, row.realized_profit, row.fees, row.funding = (
                rec.position, rec.realized_profit, rec.fees, rec.funding
            )  # fmt: skip
            row.fill_count = rec.fill_count
            row.stop_reason = rec.stop_reason.value if rec.stop_reason else None
            row.ended_at = (row.ended_at or datetime.now(UTC)) if rec.state.final else None

    async def record_fills(self, fills: Sequence[GridFillRecord]) -> int:
        """Insert the fills not recorded yet; returns how many were new."""
        if not fills:
            return 0
        insert = pg_insert if self.ledger.backend == "postgresql" else sqlite_insert
        rows = [
            {"workflow_id": f.workflow_id, "fill_id": f.fill_id, "level": f.level,
             "client_order_index": f.client_order_index, "side": f.side.value, "price": f.price,
             "size": f.size, "fee": f.fee, "realized": f.realized, "filled_at": f.at}
            for f in fills
        ]  # fmt: skip
        statement = insert(t.GridFill).on_conflict_do_nothing(index_elements=["workflow_id", "fill_id"])
        async with self.ledger.session() as s:
            result = await s.execute(statement.returning(t.GridFill.id), rows)
            return len(result.all())

    async def get(self, workflow_id: str) -> GridRecord | None:
        async with self.ledger.session() as s:
            row = await s.get(t.GridSession, workflow_id)
        if row is None or row.config is None:
            return None
        return GridRecord(
            workflow_id=row.workflow_id, name=row.name, venue=row.venue, market=row.market,
            account_index=row.account_index, state=GridState(row.state),
            config=GridConfig.model_validate(row.config), version=row.version, position=row.position,
            realized_profit=row.realized_profit, fees=row.fees, funding=row.funding,
            fill_count=row.fill_count, stop_reason=StopReason(row.stop_reason) if row.stop_reason else None,
            session=row.session or "",
        )  # fmt: skip

    async def fills(self, workflow_id: str) -> list[GridFillRecord]:
        query = select(t.GridFill).where(t.GridFill.workflow_id == workflow_id).order_by(t.GridFill.id)
        async with self.ledger.session() as s:
            rows = (await s.scalars(query)).all()
        return [_fill(r) for r in rows]


def _fill(r: t.GridFill) -> GridFillRecord:
    at = r.filled_at if r.filled_at.tzinfo else r.filled_at.replace(tzinfo=UTC)  # SQLite keeps no zone
    return GridFillRecord(
        workflow_id=r.workflow_id, fill_id=r.fill_id, level=r.level, client_order_index=r.client_order_index,
        side=Side(r.side), price=r.price, size=r.size, fee=r.fee, realized=r.realized, at=at,
    )  # fmt: skip


def _another_session(row: t.GridSession, rec: GridRecord) -> bool:
    """A row of before named no session: a final one is an ended session's, a live one this
    session's own (it is named from now on)."""
    if not rec.session or rec.session == row.session:
        return False
    return row.session is not None or GridState(row.state).final
