"""Cross-venue hedge cycles end to end: the real worker processes (the orchestrator serving both
venues' public reads, one signer holding GRVT and Lighter keys, the market-data worker streaming
both venues) and cycles started with plain JSON whose maker quotes on one face of the sim and whose
hedge trades on the other. The sim has one engine behind both faces: GRVT's ETH_USDT_Perp is
Lighter's ETH, so moving its price fills a quote on either face."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle

from perpflow import names
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.hedge.models import CycleResult, CycleState, CycleStatus
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side
from tests.plugins.chaos import Proc, signalled_fills
from tests.plugins.grvt_stack import (
    ETH_GRVT,
    GrvtSimAccount,
    ProcWaits,
    grvt_stack,
    grvt_venue,
    new_grvt_account,
    workers_running,
)
from tests.plugins.hedge import record_history
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for

ETH = 0  # the engine's market behind Lighter's ETH and GRVT's ETH_USDT_Perp
SIZE = Decimal("0.05")  # on both lots (GRVT's 0.001, Lighter's 0.0001), above both minimums


@dataclass
class Rig(ProcWaits):
    client: Client
    sim: SimHandle
    procs: list[Proc]
    grvt: list[GrvtSimAccount]
    lighter: list[SimAccount]
    postgres_url: str
    public: LighterVenue


@pytest.fixture(scope="module")
async def rig(
    sim: SimHandle, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    """A dev server of its own (the orchestrator polls the fixed queues); three GRVT and three
    Lighter accounts, one of each per test."""
    env = await local_temporal()
    grvt = [await new_grvt_account(sim) for _ in range(3)]
    lighter = [await new_account(sim) for _ in range(3)]
    stack = grvt_stack(env, sim, postgres_url, tmp_path_factory.mktemp("cross"), grvt, lighter)
    public = LighterVenue(sim.url, 0)
    try:
        async with workers_running(stack, ["ETH", ETH_GRVT], ["books", "grvt/books"]) as procs:
            yield Rig(env.client, sim, procs, grvt, lighter, postgres_url, public)
    finally:
        await public.close()
        await env.shutdown()


def grvt_leg(account: GrvtSimAccount) -> dict[str, Any]:
    return {"account_index": account.account_index, "api_key_index": 0, "venue": "grvt", "market": ETH_GRVT}


def lighter_leg(account: SimAccount) -> dict[str, Any]:
    """A leg on the cycle's own venue and market (Lighter's ETH): nothing to name."""
    return {"account_index": account.account_index, "api_key_index": account.api_key_index}


async def start(
    rig: Rig, maker: dict[str, Any], taker: dict[str, Any], side: Side
) -> WorkflowHandle[Any, Any]:
    params = {
        "size": str(SIZE), "maker_timeout_s": 30, "max_requotes": 2, "hold_s": 1, "close_mode": "market",
        "poll_s": 0.5, "hedge_deadline_s": 15,
    }  # fmt: skip
    inp = {
        "fleet": "cross", "pair": "p", "seq": 0, "venue": "lighter", "market": "ETH", "maker": maker,
        "taker": taker, "maker_side": side.value, "params": params,
    }  # fmt: skip
    wid = names.hedge_cycle_id("cross", uuid.uuid4().hex[:8], "p", 0)
    return await rig.client.start_workflow(
        "HedgeCycleWorkflow", inp, id=wid, task_queue=names.ORCHESTRATOR_QUEUE, result_type=CycleResult
    )


async def through_the_quote(rig: Rig, handle: WorkflowHandle[Any, Any], side: Side) -> None:
    """Once the maker's quote rests, move the engine's price through it (either face's book)."""

    async def quoting() -> bool:
        status: CycleStatus = await handle.query("status", result_type=CycleStatus)
        return any("/maker-" in o for o in status.orders)

    await rig.until(quoting, "the maker's quote")
    bid, ask = await best(rig.public)
    await rig.sim.admin.set_price(ETH, bid - 5 if side is Side.BUY else ask + 5)


async def order_venues(rig: Rig, workflow_id: str) -> dict[str, tuple[str, int]]:
    """Each of the cycle's orders in the ledger: its step -> (venue, account)."""
    ledger = Ledger(rig.postgres_url)
    try:
        async with ledger.session() as s:
            rows = (
                await s.execute(
                    select(t.Order.idempotency_key, t.Order.venue, t.Order.account_index).where(
                        t.Order.workflow_id == workflow_id
                    )
                )
            ).all()
    finally:
        await ledger.close()
    return {key.rsplit("/", 1)[1]: (venue, account) for key, venue, account in rows}


@contextlib.asynccontextmanager
async def venues(rig: Rig, g: GrvtSimAccount, a: SimAccount) -> AsyncIterator[tuple[GrvtVenue, LighterVenue]]:
    pair = grvt_venue(rig.sim, g), venue_for(rig.sim, a)
    try:
        yield pair
    finally:
        for v in pair:
            await v.close()


async def flat(pair: tuple[GrvtVenue, LighterVenue]) -> tuple[Decimal, Decimal]:
    g, a = await asyncio.gather(pair[0].account(), pair[1].account())
    return g.position(ETH_GRVT).size, a.position("ETH").size


async def test_a_grvt_makers_signalled_fill_is_hedged_on_lighter_and_both_end_flat(rig: Rig) -> None:
    g, a = rig.grvt[0], rig.lighter[0]
    handle = await start(rig, grvt_leg(g), lighter_leg(a), Side.BUY)
    async with venues(rig, g, a) as pair:
        await through_the_quote(rig, handle, Side.BUY)
        result = await rig.outcome(handle)
        assert (result.state, result.maker_filled, result.hedged) == (CycleState.DONE, SIZE, SIZE), result
        assert result.open_exposure == {}
        assert await flat(pair) == (Decimal(0), Decimal(0))
    steps = await order_venues(rig, handle.id)
    assert steps["maker-0"] == ("grvt", g.account_index)
    assert steps["hedge-0"] == ("lighter", a.account_index)
    assert {v for s, v in steps.items() if s.startswith("close-")} == {
        ("grvt", g.account_index),
        ("lighter", a.account_index),
    }
    assert await signalled_fills(rig.client, handle.id)  # GRVT's fill came from the market-data worker
    await record_history(handle, "hedge_cycle_cross_venue")


async def test_a_lighter_makers_fill_is_hedged_on_grvt_and_both_end_flat(rig: Rig) -> None:
    g, a = rig.grvt[1], rig.lighter[1]
    handle = await start(rig, lighter_leg(a), grvt_leg(g), Side.SELL)
    async with venues(rig, g, a) as pair:
        await through_the_quote(rig, handle, Side.SELL)
        result = await rig.outcome(handle)
        assert (result.state, result.maker_filled, result.hedged) == (CycleState.DONE, SIZE, SIZE), result
        assert await flat(pair) == (Decimal(0), Decimal(0))
    steps = await order_venues(rig, handle.id)
    assert (steps["maker-0"], steps["hedge-0"]) == (("lighter", a.account_index), ("grvt", g.account_index))
    assert await signalled_fills(rig.client, handle.id)


async def test_a_hedge_the_grvt_face_rejects_unwinds_the_lighter_maker_leg(rig: Rig) -> None:
    g, a = rig.grvt[2], rig.lighter[2]
    handle = await start(rig, lighter_leg(a), grvt_leg(g), Side.BUY)
    async with venues(rig, g, a) as pair:

        async def quoting() -> bool:
            status: CycleStatus = await handle.query("status", result_type=CycleStatus)
            return any("/maker-" in o for o in status.orders)

        await rig.until(quoting, "the maker's quote")
        # Every GRVT order from now on is refused (2080, insufficient margin): the hedge, and only
        # it, goes there; the unwind closes the maker's fill on Lighter.
        await rig.sim.admin.inject_fault("reject_orders", count=100, path="/grvt/td/full/v1/create_order")
        try:
            bid, _ = await best(rig.public)
            await rig.sim.admin.set_price(ETH, bid - 5)
            result = await rig.outcome(handle)
        finally:
            await rig.sim.admin.clear_faults()
        assert result.state is CycleState.UNWOUND, result
        assert "refused" in result.reason
        assert (result.maker_filled, result.hedged, result.open_exposure) == (SIZE, Decimal(0), {})
        assert await flat(pair) == (Decimal(0), Decimal(0))
    steps = await order_venues(rig, handle.id)
    assert {v for s, v in steps.items() if s.startswith("unwind-")} == {("lighter", a.account_index)}
