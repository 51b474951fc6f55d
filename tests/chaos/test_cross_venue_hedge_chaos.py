"""Chaos across venues: a fleet of cross-venue pairs (one quoting on GRVT and hedging on Lighter, one
the other way round) runs its cycles while the orchestrator and the signer holding both venues'
keys are SIGKILLed at random (seeded) points and restarted. Every cycle must end DONE or UNWOUND,
no intent may have two orders on its venue, and every account must end flat on its own market."""

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
from perpflow.venues.base import VenueName
from perpflow.venues.lighter.client import LighterVenue
from tests.integration.test_grvt_adapter import orders_with_coid
from tests.plugins.chaos import (
    FLEET_WIGGLE_S,
    chaos_fleet,
    each_cycle_ended_done_or_unwound,
    kill_along,
    start_fleet,
    wiggle,
)
from tests.plugins.grvt_stack import ETH_GRVT, grvt_stack, grvt_venue, new_grvt_account
from tests.plugins.sim import SimHandle
from tests.plugins.venues import new_account, venue_for

CYCLES_PER_PAIR = 8
SEED = 20261130  # which process dies first; the wiggle draws from SEED + 1


@pytest.fixture
async def chaos_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own: the real orchestrator polls the fixed orchestrator queue."""
    env = await local_temporal()
    yield env
    await env.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_cross_venue_fleet_survives_sigkills_of_orchestrator_and_signer(
    chaos_env: WorkflowEnvironment, sim: SimHandle, postgres_url: str, pg_ledger: Ledger, tmp_path: Path
) -> None:
    grvt = [await new_grvt_account(sim) for _ in range(2)]
    lighter = [await new_account(sim) for _ in range(2)]
    stack = grvt_stack(chaos_env, sim, postgres_url, tmp_path, grvt, lighter)
    procs = [stack.orchestrator(), stack.signer()]
    for p in procs:
        p.start()
    # A cycle gives up on a signer queue nobody polls within 10 s: start trading once both poll.
    await asyncio.gather(*(p.polling(timeout=120) for p in procs))
    on_grvt = [
        LegAccount(account_index=g.account_index, api_key_index=0, venue=VenueName.GRVT, market=ETH_GRVT)
        for g in grvt
    ]
    on_lighter = [LegAccount(account_index=a.account_index, api_key_index=a.api_key_index) for a in lighter]
    pairs = [
        PairSpec(name="g2l", maker=on_grvt[0], taker=on_lighter[0]),
        PairSpec(name="l2g", maker=on_lighter[1], taker=on_grvt[1]),
    ]
    fleet = chaos_fleet("xchaos", pairs, CYCLES_PER_PAIR)
    public, stop = LighterVenue(sim.url, 0), asyncio.Event()
    grvt_venues = {g.account_index: grvt_venue(sim, g) for g in grvt}
    lighter_venues = {a.account_index: venue_for(sim, a) for a in lighter}
    handle = await start_fleet(chaos_env.client, fleet)
    background = [
        asyncio.create_task(wiggle(sim, public, stop, random.Random(SEED + 1), FLEET_WIGGLE_S)),
        asyncio.create_task(kill_along(procs, stop, random.Random(SEED), handle)),
    ]
    try:
        result: FleetResult = await asyncio.wait_for(handle.result(), timeout=540)
        stop.set()
        await asyncio.gather(*background)
        assert result.mode is FleetMode.COMPLETED, result
        # First: a cycle that ended otherwise fails here with its reason.
        await each_cycle_ended_done_or_unwound(chaos_env.client, handle, fleet)
        assert result.cycles == 2 * CYCLES_PER_PAIR
        assert sum(p.kills for p in procs) == 4  # one at each mark of kill_along
        async with pg_ledger.session() as s:
            intents = (
                await s.execute(
                    select(t.Order.client_order_index, t.Order.venue, t.Order.account_index).where(
                        t.Order.workflow_id.like(f"hedge-{fleet.name}%")
                    )
                )
            ).all()
        assert {venue for _, venue, _ in intents} == {"grvt", "lighter"}
        for coi, venue, account_index in intents:
            assert coi is not None
            if venue == "grvt":
                assert len(await orders_with_coid(grvt_venues[account_index], coi)) <= 1, coi
            else:
                assert len(await lighter_venues[account_index].orders_by_client_index(coi)) <= 1, coi
        for g in grvt_venues.values():
            assert (await g.account()).position(ETH_GRVT).size == 0
        for a in lighter_venues.values():
            assert (await a.account()).position("ETH").size == 0
    finally:
        stop.set()
        for task in background:
            task.cancel()
        for p in procs:
            p.kill()
        for v in (*grvt_venues.values(), *lighter_venues.values(), public):
            await v.close()
