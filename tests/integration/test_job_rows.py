"""Jobs' rows whose run ended without their final state (migration 0015), on both backends: rows of
before read as they did, the reconciler's close marks a row with Temporal's close status and time,
the gauges and the status report then count it as that and never as live, and a later write (a grid
started again under its name) takes the row back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from perpflow.alerts.status import snapshot
from perpflow.db import tables as t
from perpflow.db.engine import sync_engine
from perpflow.db.grid import GridSessions
from perpflow.db.hedge import HedgeCycles
from perpflow.db.jobs import JobRows, OpenRow
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import alembic_config, current_revision, head_revision, upgrade
from perpflow.db.tables import Base
from perpflow.grid.config import GridConfig
from perpflow.grid.models import GridRecord, GridState
from perpflow.hedge.models import CycleRecord, CycleState
from perpflow.metrics.ledger import LedgerGauges
from perpflow.reconcile.models import JobKind, RunClose
from workers.orchestrator import LEDGER_WORDS

BEFORE = "0014"
CONFIG = GridConfig.model_validate({
    "name": "eth", "account": {"account_index": 7, "api_key_index": 3}, "market": "ETH",
    "lower": "2800", "upper": "3200", "levels": 21, "size": "0.05",
})  # fmt: skip
CLOSED_AT = datetime(2026, 12, 1, 18, 30, 5, tzinfo=UTC)


def grid(name: str, state: GridState, position: str = "0.2", venue: str = "lighter") -> GridRecord:
    return GridRecord(
        workflow_id=f"grid-{name}", name=name, venue=venue, market="ETH", account_index=7, state=state,
        config=CONFIG, position=Decimal(position),
    )  # fmt: skip


def cycle(seq: int, state: CycleState) -> CycleRecord:
    return CycleRecord(
        workflow_id=f"hedge-f-20261201t000000-p-{seq}", fleet="f", pair="p", seq=seq, venue="lighter",
        market="ETH", maker_account=1, taker_account=2, state=state,
    )  # fmt: skip


async def gauges(ledger: Ledger) -> dict[str, dict[tuple[str, ...], float]]:
    families = await LedgerGauges(ledger.engine, LEDGER_WORDS).read()
    return {f.name: {tuple(s.labels.values()): s.value for s in f.samples} for f in families}


async def row_of(ledger: Ledger, table: Any, workflow_id: str) -> Any:
    async with ledger.session() as s:
        return await s.scalar(select(table).where(table.workflow_id == workflow_id))


def aware(at: datetime | None) -> datetime | None:
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


async def test_a_terminated_jobs_closed_row_counts_as_its_close_status_and_never_as_live(
    ledger: Ledger,
) -> None:
    sessions, cycles, rows = GridSessions(ledger), HedgeCycles(ledger), JobRows(ledger)
    await sessions.save(grid("killed", GridState.RUNNING))
    await sessions.save(grid("alive", GridState.PAUSED, position="0.3"))
    await sessions.save(grid("done", GridState.STOPPED, position="0"))
    await sessions.save(grid("elsewhere", GridState.RUNNING, venue="grvt"))
    await cycles.save(cycle(1, CycleState.HOLDING))
    await cycles.save(cycle(2, CycleState.DONE))
    before = await gauges(ledger)
    assert before["perpflow_grid_sessions"][("RUNNING",)] == 2
    assert before["perpflow_hedge_cycles"][("f", "HOLDING")] == 1

    soon = datetime.now(UTC) + timedelta(seconds=5)
    assert await rows.unfinished("lighter", started_before=datetime.now(UTC) - timedelta(minutes=1)) == []
    found = await rows.unfinished("lighter", started_before=soon)
    killed = OpenRow(JobKind.GRID_SESSION, "grid-killed", "RUNNING")
    held = OpenRow(JobKind.HEDGE_CYCLE, cycle(1, CycleState.HOLDING).workflow_id, "HOLDING")
    assert sorted(found, key=lambda r: r.workflow_id) == [
        OpenRow(JobKind.GRID_SESSION, "grid-alive", "PAUSED"), killed, held,
    ]  # fmt: skip
    assert await rows.close(killed, RunClose.TERMINATED, CLOSED_AT)
    assert await rows.close(held, RunClose.TIMED_OUT, CLOSED_AT)
    assert not await rows.close(killed, RunClose.TERMINATED, CLOSED_AT)  # closed once
    assert not await rows.close(
        OpenRow(JobKind.GRID_SESSION, "grid-alive", "RUNNING"), RunClose.FAILED, CLOSED_AT
    )

    row = await row_of(ledger, t.GridSession, "grid-killed")
    assert (row.state, row.closed_status, aware(row.ended_at)) == ("RUNNING", "TERMINATED", CLOSED_AT)
    assert (await sessions.get("grid-killed")).state is GridState.RUNNING  # type: ignore[union-attr]
    assert [r.workflow_id for r in await rows.unfinished("lighter", started_before=soon)] == ["grid-alive"]

    after = await gauges(ledger)
    sessions_by_state = after["perpflow_grid_sessions"]
    assert sessions_by_state[("RUNNING",)] == 1  # grvt's; the terminated one is not live
    assert (sessions_by_state[("TERMINATED",)], sessions_by_state[("PAUSED",)]) == (1, 1)
    assert sessions_by_state[("STOPPED",)] == 1 and sessions_by_state[("TIMED_OUT",)] == 0
    assert after["perpflow_grid_position"] == {("lighter", "7", "ETH"): 0.3, ("grvt", "7", "ETH"): 0.2}
    by_state = after["perpflow_hedge_cycles"]
    assert (by_state[("f", "HOLDING")], by_state[("f", "TIMED_OUT")], by_state[("f", "DONE")]) == (0, 1, 1)
    assert after["perpflow_hedge_pair_account"] == {}  # no live cycle: no pair to add up

    report = await snapshot(ledger)
    assert (report.cycles.running, report.cycles.by_state) == (0, {"TIMED_OUT": 1, "DONE": 1})
    [problem] = report.cycles.problems
    assert (problem.state, problem.note) == ("TIMED_OUT", "run ended TIMED_OUT while HOLDING")
    assert {g.name: g.state for g in report.grids}["killed"] == "TERMINATED"
    assert "grid-killed" not in {p.owner for p in report.positions}


async def test_a_write_after_the_close_takes_the_row_back(ledger: Ledger) -> None:
    """The same grid name started again after a terminate: the new session's rows are its own."""
    sessions, rows = GridSessions(ledger), JobRows(ledger)
    await sessions.save(grid("again", GridState.RUNNING))
    assert await rows.close(
        OpenRow(JobKind.GRID_SESSION, "grid-again", "RUNNING"), RunClose.TERMINATED, CLOSED_AT
    )
    await sessions.save(grid("again", GridState.RUNNING, position="0"))
    row = await row_of(ledger, t.GridSession, "grid-again")
    assert (row.state, row.closed_status, row.ended_at) == ("RUNNING", None, None)
    assert (await gauges(ledger))["perpflow_grid_sessions"][("RUNNING",)] == 1
    await sessions.save(grid("again", GridState.STOPPED, position="0"))
    row = await row_of(ledger, t.GridSession, "grid-again")
    assert (row.state, row.closed_status) == ("STOPPED", None) and row.ended_at is not None


def rows_of_before(url: str) -> None:
    """A live grid session's and a live cycle's rows as the ledger wrote them at 0014."""
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO grid_sessions (workflow_id, name, venue, market, account_index, state,"
                    " realized_profit, fill_count, started_at, version, position, fees, funding)"
                    " VALUES ('grid-old', 'old', 'lighter', 'ETH', 7, 'RUNNING', 0, 0, CURRENT_TIMESTAMP,"
                    " 0, 0.1, 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO hedge_cycles (workflow_id, fleet, pair, seq, venue, market, maker_account,"
                    " taker_account, state, realized_pnl, fees, started_at)"
                    " VALUES ('hedge-old', 'old', 'p0', 0, 'lighter', 'ETH', 1, 2, 'HEDGING', 0, 0,"
                    " CURRENT_TIMESTAMP)"
                )
            )
    finally:
        engine.dispose()


def drift(url: str) -> list[object]:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            changes = compare_metadata(context, Base.metadata)
            return [d for d in changes if "hedge_cycles" in repr(d) or "grid_sessions" in repr(d)]
    finally:
        engine.dispose()


async def test_0015_keeps_the_rows_of_before_live_and_closable(fresh_url: str) -> None:
    upgrade(fresh_url, BEFORE)
    rows_of_before(fresh_url)
    upgrade(fresh_url)
    assert drift(fresh_url) == []
    ledger = Ledger(fresh_url)
    try:
        got = await gauges(ledger)
        assert got["perpflow_grid_sessions"][("RUNNING",)] == 1
        assert got["perpflow_hedge_cycles"][("old", "HEDGING")] == 1
        assert (await HedgeCycles(ledger).get("hedge-old")).state is CycleState.HEDGING  # type: ignore[union-attr]
        found = await JobRows(ledger).unfinished("lighter", started_before=datetime.now(UTC) + timedelta(1))
        assert {r.workflow_id for r in found} == {"grid-old", "hedge-old"}
        for row in found:
            assert await JobRows(ledger).close(row, RunClose.NOT_FOUND, CLOSED_AT)
        got = await gauges(ledger)
        assert got["perpflow_grid_sessions"][("NOT_FOUND",)] == 1
        assert got["perpflow_hedge_cycles"][("old", "NOT_FOUND")] == 1
    finally:
        await ledger.close()
    command.downgrade(alembic_config(fresh_url), BEFORE)
    upgrade(fresh_url)
    assert current_revision(fresh_url) == head_revision()
