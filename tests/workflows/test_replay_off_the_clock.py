"""A run's history replays whatever clock its workflow tasks ran at (``tests.plugins.replay_clock``):
the hold's end and a stuck tx come from timers that fired (events in the history), never from
``workflow.now()`` against a deadline. Both took the other side on a changed clock on the build
before ``hedge-hold-timer`` / ``payout-stuck-by-timer``; grid sessions are checked in test_grid_stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from perpflow.hedge.models import CycleResult, CycleState
from perpflow.venues.types import Side
from tests.plugins.chain import ChainEnv
from tests.plugins.hedge import HedgeRig
from tests.plugins.payouts import Payouts, PayoutState, eventually, open_payouts
from tests.plugins.replay_clock import replays_on_every_clock
from workflows.calls import BUMP_PAYOUT
from workflows.hedge.hold import HOLD_TIMER
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


@pytest.fixture
async def payouts(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str
) -> AsyncIterator[Payouts]:
    async with open_payouts(chain, temporal_env, sqlite_url) as env:
        yield env


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
