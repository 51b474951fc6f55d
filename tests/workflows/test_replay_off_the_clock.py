"""A run's history replays whatever clock its workflow tasks ran at (``tests.plugins.replay_clock``):
the hold's end, a maker quote's timeout, the hedge deadline, a fleet's day and a stuck tx come from
timers that fired (events in the history), never from ``workflow.now()`` against a deadline. Each
took the other side on a changed clock on the build before ``hedge-hold-timer`` /
``hedge-maker-timeout-timer`` / ``hedge-deadline-timer`` / ``fleet-off-the-clock`` /
``payout-stuck-by-timer``; grid sessions are checked in test_grid_stops.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from perpflow.devstack.harness import time_skipping_server
from perpflow.hedge.fleet import FleetMode, FleetResult
from perpflow.hedge.models import CycleResult, CycleState
from perpflow.venues.types import Side
from tests.plugins.hedge import HedgeRig
from tests.plugins.payouts import Payouts, PayoutState, eventually
from tests.plugins.replay_clock import replays_on_every_clock
from tests.timeskip.conftest import CycleRig, open_rig
from workflows.calls import BUMP_PAYOUT, CANCEL_ORDER, PLACE_ORDER
from workflows.hedge.fleet import OFF_THE_CLOCK
from workflows.hedge.hold import HOLD_TIMER
from workflows.hedge.quote import HEDGE_DEADLINE_TIMER, MAKER_TIMEOUT_TIMER
from workflows.payout import STUCK_BY_TIMER


async def test_a_hold_that_runs_to_its_end_replays_on_any_clock(hedge_rig: HedgeRig, tmp_path: Path) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, hold_s=1))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert (result.state, result.reason) == (CycleState.DONE, "closed"), result  # no trigger, no flatten
    events = await replays_on_every_clock(handle, HOLD_TIMER, tmp_path)
    # The hold's end (the safety poll, 600 s by default, never fired in a 1 s hold).
    assert any(ev["eventType"] == "EVENT_TYPE_TIMER_FIRED" for ev in events)


def scheduled(events: list[dict[str, Any]], activity: str) -> int:
    attrs = [ev.get("activityTaskScheduledEventAttributes", {}) for ev in events]
    return sum(a.get("activityType", {}).get("name") == activity for a in attrs)


def fired(events: list[dict[str, Any]]) -> int:
    return sum(ev["eventType"] == "EVENT_TYPE_TIMER_FIRED" for ev in events)


async def test_maker_quotes_timing_out_and_requoted_replay_on_any_clock(
    hedge_rig: HedgeRig, tmp_path: Path
) -> None:
    # depth 3: each quote rests behind the market maker's and is never filled.
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, maker_timeout_s=1.5, max_requotes=1, depth=3))
    result: CycleResult = await handle.result()
    assert (result.state, result.maker_filled) == (CycleState.DONE, 0), result
    events = await replays_on_every_clock(handle, MAKER_TIMEOUT_TIMER, tmp_path)
    # Both quotes placed, each cancelled once its timeout's timer fired.
    assert (scheduled(events, PLACE_ORDER.name), scheduled(events, CANCEL_ORDER.name)) == (2, 2)
    assert fired(events) >= 2


async def test_a_hedge_finding_no_bid_until_its_deadline_replays_on_any_clock(
    hedge_rig: HedgeRig, tmp_path: Path
) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, hedge_deadline_s=3))
    await hedge_rig.quoting(handle)
    # ~5% down through the quote: the sell hedge, bounded 1% below the maker's price, finds no bid.
    await hedge_rig.move_through(Side.BUY, ticks=Decimal(150))
    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert "could not hedge" in result.reason
    assert await hedge_rig.positions() == (0, 0)
    events = await replays_on_every_clock(handle, HEDGE_DEADLINE_TIMER, tmp_path)
    # The quote, hedges round after round until the deadline's timer fired, the unwind's close.
    assert scheduled(events, PLACE_ORDER.name) >= 4


async def test_a_hedge_filled_in_two_rounds_replays_on_any_clock(hedge_rig: HedgeRig, tmp_path: Path) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY))
    await hedge_rig.quoting(handle)
    # The next taker order (the hedge: the market maker's own fills are exempt) fills half.
    await hedge_rig.sim.admin.inject_fault("partial_fill", count=1, ratio=0.5)
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert (result.state, result.maker_filled, result.hedged) == (
        CycleState.DONE,
        Decimal("0.05"),
        Decimal("0.05"),
    )
    await replays_on_every_clock(handle, HEDGE_DEADLINE_TIMER, tmp_path)
    status = await hedge_rig.status(handle)
    assert len([o for o in status.orders if "/hedge-" in o]) == 2


@pytest.fixture
async def skipping_rig() -> AsyncIterator[CycleRig]:
    """The time-skipping tier's rig (fake trading activities) on a test server of its own."""
    env = await time_skipping_server()
    try:
        async with open_rig(env) as rig:
            yield rig
    finally:
        await env.shutdown()


async def test_a_fleet_whose_day_turns_between_its_cycles_replays_on_any_clock(
    skipping_rig: CycleRig, tmp_path: Path
) -> None:
    skipping_rig.fake.venue.fill_makers_at_once = True
    # A day's pause between the two cycles (skipped time): one UTC midnight passes in it.
    inp = skipping_rig.fleet(
        f"ts{uuid.uuid4().hex[:8]}", max_cycles_per_pair=2, pause_between_s=86400, cycle={"hold_s": 0}
    )
    fleet = await skipping_rig.start_fleet(inp)
    result: FleetResult = await fleet.result()
    assert (result.mode, result.cycles) == (FleetMode.COMPLETED, 2), result
    run = await fleet.describe()
    assert run.close_time is not None and run.close_time.date() > run.start_time.date()
    assert (await skipping_rig.fleet_status(fleet)).day == run.close_time.date().isoformat()
    events = await replays_on_every_clock(fleet, OFF_THE_CLOCK, tmp_path)
    assert fired(events) >= 2  # the pause and the midnight


async def test_a_stuck_tx_bumped_replays_on_any_clock(payouts: Payouts, tmp_path: Path) -> None:
    ev = await payouts.liquidate(payouts.users[1], leverage_ratio=600)
    await payouts.chain.set_automine(False)
    await payouts.start_workers()
    handle = await payouts.start(ev, payouts.policy.model_copy(update={"stuck_after_s": 1}))

    async def bumped() -> bool:
        with contextlib.suppress(Exception):  # no ledger row yet
            return len((await payouts.repo.get(handle.id)).tx_hashes) >= 2
        return False

    await eventually(bumped, 30, "a fee bump's second tx hash")
    await payouts.chain.mine(1)
    assert (await handle.result()).state is PayoutState.DONE
    events = await replays_on_every_clock(handle, STUCK_BY_TIMER, tmp_path)
    scheduled = [ev.get("activityTaskScheduledEventAttributes", {}) for ev in events]
    assert any(a.get("activityType", {}).get("name") == BUMP_PAYOUT.name for a in scheduled)
