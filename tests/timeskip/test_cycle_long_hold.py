"""A 7-day hold on the time-skipping server: history stays bounded (price watches and a slow safety
poll, continue-as-new past HISTORY_LIMIT) and the stop-loss still closes the cycle, whether the
market-data worker signals the crossing or only the safety poll sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from perpflow.hedge.models import CycleResult, CycleState
from perpflow.marketdata.models import WatchSpec
from perpflow.signals import PRICE_CROSSED, Direction, PriceCrossed
from perpflow.venues.types import Side
from tests.timeskip.conftest import CycleRig, history_lengths, until
from tests.timeskip.fakes import MARKET, is_close
from workflows.hedge.hold import HISTORY_LIMIT

WEEK_S = 7 * 86400
STOP_LOSS = Decimal(5)
SAFETY_POLL_S = 600.0
EVENTS_PER_DAY_LIMIT = 2000
# Well into the hold: the server suggests continue-as-new at 4,096 events (about 2.5 days at the
# measured ~1,600 events a day), so the crossing is handled by a continued run. Half a safety
# period past a multiple of it: the next safety poll is minutes away, whatever the drift.
LATE_IN_THE_HOLD = timedelta(days=6, hours=12, seconds=SAFETY_POLL_S / 2)
# The maker buys at the bid, 1999.5; 0.05 long loses 5 USD at 1899.5.
BELOW_STOP = Decimal(1800)


async def holding_a_week(rig: CycleRig) -> WorkflowHandle[Any, CycleResult]:
    inp = rig.cycle(Side.BUY, hold_s=WEEK_S, stop_loss_usd=STOP_LOSS, safety_poll_s=SAFETY_POLL_S)
    handle = await rig.start(inp)
    await rig.hedged_and_holding(handle)
    return handle


async def skip(rig: CycleRig, duration: timedelta) -> None:
    """Skip server time in half days: one long skip can outlast the test service's RPC timeout."""
    step = timedelta(hours=12)
    while duration > timedelta(0):
        await rig.env.sleep(min(step, duration))
        duration -= step


def report(lengths: list[int], days: float) -> str:
    return f"runs {lengths}, {sum(lengths) / days:.0f} events/day over {days:.2f} days"


async def test_week_long_hold_stays_under_2000_events_a_day_and_continues_as_new(cycle_rig: CycleRig) -> None:
    handle = await holding_a_week(cycle_rig)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE, result
    lengths = await history_lengths(cycle_rig.client, handle.id, handle.result_run_id or "")
    print(report(lengths, WEEK_S / 86400))  # the measured figure, for the record (pytest -s)
    assert sum(lengths) / 7 < EVENTS_PER_DAY_LIMIT, report(lengths, 7)
    assert sum(lengths) > HISTORY_LIMIT  # so the hold had to continue as new ...
    assert len(lengths) >= 2, report(lengths, 7)  # ... and did
    assert max(lengths) < HISTORY_LIMIT + 100, report(lengths, 7)  # no run grew past the limit
    assert cycle_rig.fake.venue.positions[cycle_rig.maker.account_index] == 0


async def test_stop_loss_late_in_a_week_long_hold_closes_at_once_on_the_price_crossed_signal(
    cycle_rig: CycleRig,
) -> None:
    handle = await holding_a_week(cycle_rig)
    sl_name = f"sl-{cycle_rig.maker.account_index}"
    sl_watch: WatchSpec = await until(
        lambda: next((w for w in cycle_rig.fake.watches if w.name == sl_name), None), "the stop-loss watch"
    )
    assert (sl_watch.direction, sl_watch.level) == (Direction.DOWN, Decimal("1899.50"))
    await skip(cycle_rig, LATE_IN_THE_HOLD)
    assert len(await history_lengths(cycle_rig.client, handle.id, handle.result_run_id or "")) >= 2
    cycle_rig.fake.venue.mark = BELOW_STOP
    crossed = PriceCrossed(
        watch_id=1, venue="lighter", market=MARKET, level=sl_watch.level or Decimal(0),
        direction=Direction.DOWN, price=BELOW_STOP, at=datetime.now(UTC),
    )  # fmt: skip
    await handle.signal(PRICE_CROSSED, crossed)  # the handle names no run: the latest gets it
    # Time runs at real speed while the test polls: the next safety poll is minutes away.
    await cycle_rig.until_status(handle, lambda s: s.state is not CycleState.HOLDING, "leaving HOLDING")
    result: CycleResult = await handle.result()  # follows the runs
    assert result.state is CycleState.DONE, result
    assert result.reason.startswith("stop-loss"), result.reason
    assert len(cycle_rig.fake.venue.placed(is_close)) == 2
    assert cycle_rig.fake.deactivated == [handle.id]


async def test_stop_loss_late_in_a_week_long_hold_closes_on_the_safety_poll_alone(
    cycle_rig: CycleRig,
) -> None:
    handle = await holding_a_week(cycle_rig)
    await skip(cycle_rig, LATE_IN_THE_HOLD)
    cycle_rig.fake.venue.mark = BELOW_STOP  # and no signal: a lost or never-sent crossing
    moved_at = await cycle_rig.env.get_current_time()
    result: CycleResult = await handle.result()  # time skips to the next safety poll
    assert result.state is CycleState.DONE, result
    assert result.reason.startswith("stop-loss"), result.reason
    closed_at = (await handle.describe()).close_time
    assert closed_at is not None
    assert closed_at - moved_at <= timedelta(seconds=SAFETY_POLL_S + 60)
    assert len(cycle_rig.fake.venue.placed(is_close)) == 2
