"""5,000 fills through one grid session: every run's history stays far under Temporal's limits
(continue-as-new every ``fills_per_run`` fills), the book carried whole; events per fill printed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.timeskip.conftest import history_lengths, until
from tests.timeskip.fake_grid import GridRig, grid_rig
from tests.timeskip.test_grid_session import LEVEL, MID, SIZE, laid

FILLS = int(os.environ.get("GRID_HISTORY_FILLS", "5000"))
PER_RUN = 300
EVENTS_LIMIT = 51_200  # Temporal's hard limit per run


@pytest.fixture
async def rig(skipping_env: WorkflowEnvironment) -> AsyncIterator[GridRig]:
    async with grid_rig(skipping_env) as rig:
        yield rig


async def round_trips(rig: GridRig, handle: WorkflowHandle[Any, Any], fills: int) -> None:
    """Fill the bid below the mark, then the ask it re-armed, and so on: one fill at a time, each
    once the order it re-armed rests and the session has its acknowledgement (woken by the
    placement and the server's word, not by a polling interval)."""
    for n in range(fills):
        price = MID - LEVEL if n % 2 == 0 else MID
        what = f"the order at {price} (fill {n})"
        [order] = await rig.until_placed(partial(rig.placed_resting, price), what)
        await rig.until_answered(handle)
        await rig.fill(handle, order)


@pytest.mark.slow
async def test_5000_fills_stay_under_the_history_limits_with_the_book_carried(rig: GridRig) -> None:
    handle = await laid(rig, rig.config(fills_per_run=PER_RUN))
    first_run = (await handle.describe()).run_id or ""
    await round_trips(rig, handle, FILLS)
    status = await rig.until_status(handle, lambda s: s.fills == FILLS, f"{FILLS} fills", timeout=60)
    assert status.pnl.round_trips == FILLS // 2 and status.pnl.realized == FILLS // 2 * SIZE * LEVEL
    await until(lambda: len(rig.resting()) == 20, "the ladder whole")
    lengths = await history_lengths(rig.client, handle.id, first_run)
    runs = len(lengths)
    print(
        f"\n{FILLS} fills in {runs} runs: events per run max {max(lengths)}, "
        f"events per fill {sum(lengths) / FILLS:.1f}"
    )
    assert runs >= FILLS // PER_RUN and max(lengths) < EVENTS_LIMIT // 5
    # Each fill re-armed exactly one order: the 20 of the ladder, then one per fill.
    assert len(rig.fake.venue.placed()) == 20 + FILLS
