"""Grid sessions in the ledger, on both backends: the session row advances until it is final, and
a fill is one row however often its record is retried."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from temporalio.testing import ActivityEnvironment

from activities.grid import GridActivities
from perpflow.db.grid import GridSessions
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import head_revision
from perpflow.grid.config import GridConfig
from perpflow.grid.models import GridFillRecord, GridFills, GridRecord, GridState, StopReason
from perpflow.venues.types import Side

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)
CONFIG = GridConfig.model_validate({
    "name": "eth-range", "account": {"account_index": 7, "api_key_index": 3}, "market": "ETH",
    "lower": "2800", "upper": "3200", "levels": 21, "size": "0.05",
})  # fmt: skip


def record(state: GridState, **changes: object) -> GridRecord:
    base = GridRecord(workflow_id="grid-eth-range", name="eth-range", venue="lighter", market="ETH",
                      account_index=7, state=state, config=CONFIG)  # fmt: skip
    return base.model_copy(update=changes)


def fill(fill_id: str, realized: str = "0") -> GridFillRecord:
    return GridFillRecord(workflow_id="grid-eth-range", fill_id=fill_id, level=4, client_order_index=1001,
                          side=Side.SELL, price=Decimal("3000.123456789"), size=Decimal("0.05"),
                          fee=Decimal("0.0015"), realized=Decimal(realized), at=AT)  # fmt: skip


async def test_the_grid_tables_are_in_the_latest_schema(ledger: Ledger) -> None:
    assert await ledger.schema_revision() == head_revision()


async def test_a_session_row_advances_until_it_is_final(ledger: Ledger) -> None:
    sessions = GridSessions(ledger)
    await sessions.save(record(GridState.RUNNING))
    money = {"position": Decimal("0.1"), "realized_profit": Decimal("2.5"), "fees": Decimal("0.01"),
             "funding": Decimal("-0.2")}  # fmt: skip
    await sessions.save(record(GridState.RUNNING, fill_count=3, version=1, **money))
    row = await sessions.get("grid-eth-range")
    assert row is not None
    assert {k: getattr(row, k) for k in money} == money
    assert row.version == 1
    assert row.config == CONFIG
    await sessions.save(record(GridState.STOPPED, stop_reason=StopReason.TAKE_PROFIT, fill_count=4))
    await sessions.save(record(GridState.RUNNING, fill_count=5))  # late: the row is history
    row = await sessions.get("grid-eth-range")
    assert row is not None
    assert (row.state, row.stop_reason, row.fill_count) == (GridState.STOPPED, StopReason.TAKE_PROFIT, 4)


async def test_a_name_started_again_begins_its_row_afresh_and_a_late_write_of_the_old_one_changes_nothing(
    ledger: Ledger,
) -> None:
    sessions = GridSessions(ledger)
    first, second = "grid-eth-range-20261130t120000000", "grid-eth-range-20261130t130000000"
    await sessions.save(record(GridState.RUNNING, session=first, fill_count=3))
    await sessions.save(
        record(GridState.STOPPED, session=first, fill_count=4, stop_reason=StopReason.OPERATOR)
    )
    await sessions.save(record(GridState.RUNNING, session=second, fill_count=0))
    row = await sessions.get("grid-eth-range")
    assert row is not None and (row.state, row.fill_count, row.stop_reason) == (GridState.RUNNING, 0, None)
    await sessions.save(record(GridState.STOPPED, session=first, fill_count=9))  # late, of the first
    await sessions.save(record(GridState.RUNNING, session=second, fill_count=2))
    row = await sessions.get("grid-eth-range")
    assert row is not None and (row.state, row.fill_count) == (GridState.RUNNING, 2)


async def test_a_row_of_before_is_named_by_its_session_and_an_ended_one_begun_afresh(ledger: Ledger) -> None:
    """Rows written before sessions were named: a live one is its session's own (named from then
    on), an ended one an earlier session's."""
    sessions = GridSessions(ledger)
    await sessions.save(record(GridState.RUNNING, fill_count=3))
    await sessions.save(record(GridState.RUNNING, session="grid-eth-range-a", fill_count=4))
    await sessions.save(record(GridState.STOPPED, session="grid-eth-range-a", fill_count=5))
    await sessions.save(record(GridState.RUNNING, fill_count=6))  # a late write of before: history
    row = await sessions.get("grid-eth-range")
    assert row is not None and (row.state, row.fill_count) == (GridState.STOPPED, 5)

    other = record(GridState.STOPPED, workflow_id="grid-old", fill_count=7)
    await sessions.save(other)
    await sessions.save(
        other.model_copy(update={"state": GridState.RUNNING, "session": "grid-old-b", "fill_count": 0})
    )
    row = await sessions.get("grid-old")
    assert row is not None and (row.state, row.fill_count) == (GridState.RUNNING, 0)


async def test_a_retried_fill_record_writes_each_fill_once(ledger: Ledger) -> None:
    sessions = GridSessions(ledger)
    activities = GridActivities(sessions)
    env = ActivityEnvironment()
    await env.run(activities.record_grid_fills, GridFills(fills=[fill("f1"), fill("f2", "2.5")]))
    await env.run(activities.record_grid_fills, GridFills(fills=[fill("f2", "2.5"), fill("f3")]))
    assert await sessions.record_fills([fill("f1")]) == 0
    assert await sessions.record_fills([]) == 0
    rows = await sessions.fills("grid-eth-range")
    assert [r.fill_id for r in rows] == ["f1", "f2", "f3"]
    assert rows[1] == fill("f2", "2.5")


async def test_the_session_activity_records_the_row(ledger: Ledger) -> None:
    sessions = GridSessions(ledger)
    await ActivityEnvironment().run(GridActivities(sessions).record_grid_session, record(GridState.PAUSED))
    row = await sessions.get("grid-eth-range")
    assert row is not None and row.state is GridState.PAUSED
