"""Chaos: a fleet runs >= 20 hedge cycles while its orchestrator and signer processes are
SIGKILLed at random (seeded) points and restarted. Every cycle must end DONE or UNWOUND,
no intent may have two orders on the venue, and every account must end flat."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.hedge.fleet import FleetMode, FleetResult, PairSpec
from perpflow.hedge.models import LegAccount
from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.chaos import (
    FLEET_WIGGLE_S,
    chaos_fleet,
    each_cycle_ended_done_or_unwound,
    kill_along,
    start_fleet,
    wiggle,
    worker_procs,
)
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, new_account, venue_for

CYCLES_PER_PAIR = 10
PAIRS = 2
SEED = 20261121  # which process dies first; the wiggle draws from SEED + 1


@pytest.fixture
async def chaos_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own: the real orchestrator polls the fixed orchestrator queue."""
    env = await local_temporal()
    yield env
    await env.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_fleet_survives_sigkills_of_orchestrator_and_signer(
    chaos_env: WorkflowEnvironment, sim: SimHandle, postgres_url: str, pg_ledger: Ledger, tmp_path: Path
) -> None:
    accounts: list[SimAccount] = [await new_account(sim) for _ in range(2 * PAIRS)]
    procs = worker_procs(chaos_env, sim, postgres_url, accounts, tmp_path)
    for p in procs.all:
        p.start()
    # A cycle gives up on a signer queue nobody polls within 10 s: start trading once every
    # worker polls (importing a worker takes over 10 s on a loaded machine).
    await asyncio.gather(*(p.polling(timeout=120) for p in procs.all))
    legs = [LegAccount(account_index=a.account_index, api_key_index=a.api_key_index) for a in accounts]
    pairs = [PairSpec(name=f"p{i}", maker=legs[2 * i], taker=legs[2 * i + 1]) for i in range(PAIRS)]
    fleet = chaos_fleet("chaos", pairs, CYCLES_PER_PAIR)
    public, stop = LighterVenue(sim.url, 0), asyncio.Event()
    venues = [venue_for(sim, a) for a in accounts]
    handle = await start_fleet(chaos_env.client, fleet)
    background = [
        asyncio.create_task(wiggle(sim, public, stop, random.Random(SEED + 1), FLEET_WIGGLE_S)),
        asyncio.create_task(kill_along(procs.all, stop, random.Random(SEED), handle)),
    ]
    try:
        result: FleetResult = await asyncio.wait_for(handle.result(), timeout=540)
        stop.set()
        await asyncio.gather(*background)
        assert result.mode is FleetMode.COMPLETED, result
        # First: a cycle that ended otherwise fails here with its reason.
        await each_cycle_ended_done_or_unwound(chaos_env.client, handle, fleet)
        assert result.cycles == PAIRS * CYCLES_PER_PAIR
        assert sum(p.kills for p in procs.all) == 4  # one at each mark of kill_along
        async with pg_ledger.session() as s:
            intents = (
                await s.execute(
                    select(t.Order.client_order_index, t.Order.account_index).where(
                        t.Order.workflow_id.like("hedge-chaos%")
                    )
                )
            ).all()
        by_account = {v.account_index: v for v in venues}
        for coi, account_index in intents:
            assert len(await by_account[account_index].orders_by_client_index(coi)) <= 1, coi
        states = await asyncio.gather(*(v.account() for v in venues))
        assert all(s.position("ETH").size == 0 for s in states), [s.position("ETH") for s in states]
    finally:
        stop.set()
        for task in background:
            task.cancel()
        for p in procs.all:
            p.kill()
        for v in (*venues, public):
            await v.close()
