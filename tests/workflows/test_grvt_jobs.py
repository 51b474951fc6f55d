"""Jobs on GRVT by configuration alone: the real worker processes (orchestrator, one signer holding
GRVT keys, the market-data worker streaming GRVT and Lighter) configured by their environment and
the signer YAML, and jobs started with plain JSON naming ``venue: grvt`` and GRVT's market: a grid
session lays its ladder, re-arms on fills the market-data worker signals (its safety net is an hour
away) and stops flat; a hedge cycle and a one-pair fleet hedge their maker's fills and end flat."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any

import pytest
from temporalio.client import Client

from perpflow import names
from perpflow.devstack.harness import local_temporal
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, GridStatus
from perpflow.hedge.fleet import FleetMode, FleetResult
from perpflow.hedge.models import CycleResult, CycleState, CycleStatus
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.types import Side
from tests.plugins.chaos import Proc, signalled_fills
from tests.plugins.grvt_stack import (
    ETH_GRVT,
    GrvtSimAccount,
    ProcWaits,
    Stack,
    best,
    grvt_stack,
    grvt_url,
    grvt_venue,
    new_grvt_account,
    workers_running,
)
from tests.plugins.sim import SimHandle

ETH = 0  # the sim's market id behind ETH_USDT_Perp


@dataclass
class Rig(ProcWaits):
    client: Client
    sim: SimHandle
    stack: Stack
    procs: list[Proc]
    accounts: list[GrvtSimAccount]  # grid: 0; cycle: 1, 2; fleet: 3, 4
    public: GrvtVenue

    def venue(self, account: GrvtSimAccount) -> GrvtVenue:
        return grvt_venue(self.sim, account)


@pytest.fixture(scope="module")
async def rig(
    sim: SimHandle, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    """A dev server of its own (the orchestrator polls the fixed queues) and the three workers as
    processes, configured for five fresh GRVT accounts and both venues' URLs."""
    env = await local_temporal()
    state_dir = tmp_path_factory.mktemp("grvt-jobs")
    accounts = [await new_grvt_account(sim) for _ in range(5)]
    stack = grvt_stack(env, sim, postgres_url, state_dir, accounts)
    public = GrvtVenue(grvt_url(sim), 0)
    try:
        async with workers_running(stack, [ETH_GRVT], ["grvt/books"]) as procs:
            yield Rig(env.client, sim, stack, procs, accounts, public)
    finally:
        await public.close()
        await env.shutdown()


async def centred(rig: Rig) -> tuple[Decimal, Decimal]:
    """The reference price set to the GRVT book's mid (other tests moved it); (mid, tick)."""
    market = await rig.public.market(ETH_GRVT)
    tick = Decimal(1).scaleb(-market.price_decimals)
    bid, ask = await best(rig.public)
    mid = ((bid + ask) / 2).quantize(tick)
    await rig.sim.admin.set_price(ETH, mid)
    return mid, tick


async def min_size_multiple(rig: Rig, notional_at: Decimal) -> Decimal:
    """The smallest multiple of the instrument's min size worth twice its min notional at a price."""
    market = await rig.public.market(ETH_GRVT)
    lots = (market.min_quote_amount * 2 / notional_at / market.min_base_amount).to_integral_value(ROUND_UP)
    return market.min_base_amount * max(lots, 1)


def level_state(status: GridStatus, index: int) -> LevelState:
    return status.levels[index].state


async def test_a_grid_session_on_grvt_lays_its_ladder_re_arms_on_signalled_fills_and_stops_flat(
    rig: Rig,
) -> None:
    account = rig.accounts[0]
    venue = rig.venue(account)
    mid, tick = await centred(rig)
    bid, ask = await best(rig.public)
    step = max((ask - bid) * 4, mid * Decimal("0.004")).quantize(tick)
    size = await min_size_multiple(rig, mid)
    name = f"grvt-{uuid.uuid4().hex[:6]}"
    config = {
        "name": name, "venue": "grvt", "market": ETH_GRVT,
        "account": {"account_index": account.account_index, "api_key_index": 0},
        "lower": str(mid - 3 * step), "upper": str(mid + 3 * step), "levels": 7, "size": str(size),
        "stop": {"outside_range_pct": 50},
        # An hour away: every re-arm below comes from a fill the market-data worker signalled.
        "reconcile_every_s": 3600, "safety_poll_s": 3600,
    }  # fmt: skip
    handle = await rig.client.start_workflow(
        "GridSessionWorkflow", config, id=names.grid_session_id(name), task_queue=names.ORCHESTRATOR_QUEUE,
        result_type=GridStatus,
    )  # fmt: skip

    async def status() -> GridStatus:
        return await handle.query("status", result_type=GridStatus)

    try:
        laid: GridStatus = await rig.until(
            # Frozen until the account's new stream is up (caught up), which may come after the ladder.
            lambda: _when(
                status(), lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6 and not s.frozen
            ),
            "the ladder resting and the feed up",
        )
        assert level_state(laid, 3) is LevelState.IDLE
        resting = await venue.open_orders(ETH_GRVT)
        assert len(resting) == 6 and all(o.size == size for o in resting)

        await rig.sim.admin.set_price(ETH, mid - step - step / 2)  # through level 2's buy
        down: GridStatus = await rig.until(
            lambda: _when(status(), lambda s: s.fills >= 1 and level_state(s, 3) is LevelState.OPEN),
            "the sell above the filled buy re-armed",
        )
        assert down.levels[3].side is Side.SELL and down.position > 0
        await rig.sim.admin.set_price(ETH, mid + step / 2)  # back up through level 3's sell
        up: GridStatus = await rig.until(
            lambda: _when(
                status(), lambda s: s.pnl.round_trips >= 1 and level_state(s, 2) is LevelState.OPEN
            ),
            "the buy below the filled sell re-armed",
        )
        assert up.levels[2].side is Side.BUY and up.pnl.realized > 0

        await handle.signal("stop", {"by": "test", "reason": "done"})
        final = await rig.outcome(handle)
        assert final.state is GridState.STOPPED and final.position == 0
        assert await venue.open_orders(ETH_GRVT) == []
        assert (await venue.account()).position(ETH_GRVT).size == 0
        assert len(await signalled_fills(rig.client, handle.id)) >= 2  # order_filled, GRVT's fills
    finally:
        with contextlib.suppress(Exception):
            await venue.cancel_all(ETH_GRVT)
        await venue.close()


def cycle_params(size: Decimal) -> dict[str, Any]:
    return {
        "size": str(size), "maker_timeout_s": 20, "max_requotes": 2, "hold_s": 1, "close_mode": "market",
        "poll_s": 0.5, "hedge_deadline_s": 15,
    }  # fmt: skip


def leg(account: GrvtSimAccount) -> dict[str, int]:
    return {"account_index": account.account_index, "api_key_index": 0}


async def through_the_quote(rig: Rig, maker: GrvtVenue) -> None:
    """Once the maker's bid rests, move the price through it."""

    async def resting() -> bool:
        return bool(await maker.open_orders(ETH_GRVT))

    await rig.until(resting, "the maker's quote on GRVT's book")
    bid, _ = await best(rig.public)
    await rig.sim.admin.set_price(ETH, bid - 5)


async def test_a_hedge_cycle_on_grvt_hedges_the_signalled_maker_fill_and_ends_flat(rig: Rig) -> None:
    maker, taker = rig.accounts[1], rig.accounts[2]
    await centred(rig)
    size = Decimal("0.05")  # ten of ETH_USDT_Perp's min size
    assert size % (await rig.public.market(ETH_GRVT)).min_base_amount == 0
    # Held until the test flattens it: the market-data worker's signal is awaited in its history
    # while the cycle still runs (the cycle may have seen the fill first through its own poll).
    params = {**cycle_params(size), "hold_s": 600}
    inp = {
        "fleet": "grvt", "pair": "p0", "seq": 0, "venue": "grvt", "market": ETH_GRVT,
        "maker": leg(maker), "taker": leg(taker), "maker_side": "buy", "params": params,
    }  # fmt: skip
    wid = names.hedge_cycle_id("grvt", uuid.uuid4().hex[:8], "p0", 0)
    handle = await rig.client.start_workflow(
        "HedgeCycleWorkflow", inp, id=wid, task_queue=names.ORCHESTRATOR_QUEUE, result_type=CycleResult
    )
    maker_venue, taker_venue = rig.venue(maker), rig.venue(taker)

    async def holding() -> bool:
        return (await handle.query("status", result_type=CycleStatus)).state is CycleState.HOLDING

    try:
        await through_the_quote(rig, maker_venue)
        await rig.until(holding, "the maker filled and hedged: holding")
        makers = {o for o in (await handle.query("status", result_type=CycleStatus)).orders if "/maker-" in o}
        assert makers
        await rig.until(
            lambda: signalled_fills(rig.client, wid), "the maker's fill signalled as order_filled"
        )
        await handle.signal("flatten", {"by": "test"})
        result = await rig.outcome(handle)
        assert result.state is CycleState.DONE, result
        assert result.maker_filled == result.hedged == size
        assert result.open_exposure == {}
        for v in (maker_venue, taker_venue):
            assert (await v.account()).position(ETH_GRVT).size == 0
    finally:
        await maker_venue.close()
        await taker_venue.close()


async def test_a_fleet_on_grvt_runs_its_pairs_cycle_and_completes_flat(rig: Rig) -> None:
    maker, taker = rig.accounts[3], rig.accounts[4]
    await centred(rig)
    name = f"grvt{uuid.uuid4().hex[:6]}"
    fleet = {
        "name": name, "venue": "grvt", "market": ETH_GRVT, "cycle": cycle_params(Decimal("0.05")),
        "pairs": [{"name": "pair0", "maker": leg(maker), "taker": leg(taker), "maker_side": "buy"}],
        "pause_between_s": 0, "max_cycles_per_pair": 1,
    }  # fmt: skip
    handle = await rig.client.start_workflow(
        "HedgeFleetWorkflow", fleet, id=names.hedge_fleet_id(name), task_queue=names.ORCHESTRATOR_QUEUE,
        result_type=FleetResult,
    )  # fmt: skip
    maker_venue, taker_venue = rig.venue(maker), rig.venue(taker)
    try:
        await through_the_quote(rig, maker_venue)
        result = await rig.outcome(handle)
        assert (result.mode, result.cycles, result.failed_pairs) == (FleetMode.COMPLETED, 1, []), result
        for v in (maker_venue, taker_venue):
            assert (await v.account()).position(ETH_GRVT).size == 0
    finally:
        await maker_venue.close()
        await taker_venue.close()


async def _when(status: Any, check: Callable[[Any], bool]) -> Any:
    """The awaited status if ``check`` holds, else None."""
    value = await status
    return value if check(value) else None
