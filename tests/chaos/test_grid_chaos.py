"""Chaos for grid sessions on the real stack (issue 13): the orchestrator and the signer run as their
own processes and are SIGKILLed during ladder placement and during refills while the sim's price
walks through the levels; fills happen while every worker is down; the venue's websockets are cut;
429 and invalid-nonce storms hit the ladder's batch. After each: every level but the gap rests
exactly the order the session's level table names (the venue rests nothing else), no price of the
account ever rests two orders at once, no order key reaches the venue twice, the session's position
(the sum of its level holds) is the venue's, and a stop leaves none of its orders.

The walk, which steps kill which process and the refill held at the venue come from the seed,
printed; set GRID_CHAOS_SEED to replay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.exposure import EXPOSURE_QUERY, Exposure
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, GridStatus
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side
from tests.plugins.chaos import (
    OPEN_ORDERS_PATH,
    SEND_PATHS,
    RestingWatch,
    WorkerProcs,
    allow_websockets,
    hold_next,
    market_data_proc,
    placed_once,
    refuse_websockets,
    restart,
    runs_at_least,
    signalled_fills,
    worker_procs,
)
from tests.plugins.marketdata import eventually, md_config, running
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for

ETH = 0
LEVELS = 7
GAP = 3  # the middle level is at the price when a session starts: it rests nothing
# A killed worker's tasks come back when they time out (10-15 s); a restart imports for seconds.
WAIT_S = 120.0
FILLS_PER_RUN = 10  # the config's minimum
# The walk fills this many orders: two continue-as-new at least, even a run's last move filling two.
WALK_FILLS = 2 * FILLS_PER_RUN + 2
SEED = int(os.environ.get("GRID_CHAOS_SEED", "20261207"))
BUSY = (LevelState.PLACING, LevelState.CANCELLING, LevelState.PARTIALLY_FILLED)


@dataclass
class Rig:
    client: Client
    sim: SimHandle
    procs: WorkerProcs
    ledger: Ledger
    state_dir: Path
    accounts: list[SimAccount]  # one per test, each trades on its own


@pytest.fixture(scope="module")
async def rig(
    sim: SimHandle, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    """A dev server of its own (the orchestrator polls the fixed queue), the orchestrator and one
    signer holding every test's account key, as processes."""
    env = await local_temporal()
    state_dir = tmp_path_factory.mktemp("grid-chaos")
    accounts = [await new_account(sim) for _ in range(4)]
    procs = worker_procs(env, sim, postgres_url, accounts, state_dir)
    ledger = Ledger(postgres_url)
    try:
        await restart(procs.all)
        yield Rig(env.client, sim, procs, ledger, state_dir, accounts)
    finally:
        for p in procs.all:
            p.kill()
        await ledger.close()
        await env.shutdown()


def settled(position: Decimal, fills: int = 0) -> Callable[[GridStatus], bool]:
    """Running unfrozen, every level but one resting its order, none under way, holding ``position``
    after at least ``fills`` fills."""

    def check(status: GridStatus) -> bool:
        states = Counter(row.state for row in status.levels)
        return (
            status.state is GridState.RUNNING and not status.frozen and states[LevelState.OPEN] == LEVELS - 1
            and not any(states[s] for s in BUSY) and status.position == position and status.fills >= fills
        )  # fmt: skip

    return check


@dataclass
class Grid:
    """One session on its own account: its config around the price, and what the venue says of it."""

    rig: Rig
    account: SimAccount
    venue: LighterVenue
    mid: Decimal
    step: Decimal
    size: Decimal
    tick: Decimal
    wid: str = ""

    @classmethod
    async def create(cls, rig: Rig, account: SimAccount) -> Grid:
        venue = venue_for(rig.sim, account)
        market = await venue.market("ETH")
        tick = Decimal(1).scaleb(-market.price_decimals)
        bid, ask = await best(venue)
        mid = ((bid + ask) / 2).quantize(tick)
        await rig.sim.admin.set_price(ETH, mid)
        size = max(market.min_base_amount, market.min_quote_amount * Decimal("1.5") / mid)
        lot = Decimal(1).scaleb(-market.size_decimals)
        step = (mid * Decimal("0.0025")).quantize(tick)
        return cls(rig, account, venue, mid, step, size.quantize(lot, ROUND_UP), tick)

    def price(self, level: Decimal | int) -> Decimal:
        """The price of a level (``n.5``: the midpoint between two)."""
        return (self.mid + (Decimal(level) - GAP) * self.step).quantize(self.tick)

    async def start(self, **config: Any) -> None:
        name = f"chaos-{uuid.uuid4().hex[:8]}"
        self.wid = names.grid_session_id(name)
        account = {"account_index": self.account.account_index, "api_key_index": self.account.api_key_index}
        await self.rig.client.start_workflow(
            "GridSessionWorkflow",
            {
                "name": name, "account": account, "market": "ETH", "levels": LEVELS,
                "lower": str(self.price(0)), "upper": str(self.price(LEVELS - 1)), "size": str(self.size),
                "reconcile_every_s": 4, "safety_poll_s": 4, "stop": {"outside_range_pct": 50}, **config,
            },
            id=self.wid, task_queue=names.ORCHESTRATOR_QUEUE,
        )  # fmt: skip

    def handle(self) -> WorkflowHandle[Any, GridStatus]:
        """The latest run (a continue-as-new moves on from the first)."""
        return self.rig.client.get_workflow_handle(self.wid, result_type=GridStatus)

    def watch(self) -> RestingWatch:
        return RestingWatch(venue_for(self.rig.sim, self.account))

    async def status(self) -> GridStatus | None:
        """None while no worker answers (killed, restarting) or the ladder is not laid yet."""
        with contextlib.suppress(WorkflowQueryFailedError, RPCError):
            rpc = timedelta(seconds=5)
            return await self.handle().query("status", result_type=GridStatus, rpc_timeout=rpc)
        return None

    async def until(self, check: Callable[[GridStatus], bool], what: str) -> GridStatus:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        status = None
        while status is None or not check(status):
            assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}; last {status}"
            await asyncio.sleep(0.2)
            status = await self.status()
        return status

    async def position(self) -> Decimal:
        return (await self.venue.account()).position("ETH").size

    async def rests_as_told(self, status: GridStatus, position: Decimal) -> None:
        """The venue rests exactly the orders the level table says rest, and holds ``position``."""
        told = [(r.price, r.side, r.client_order_index) for r in status.levels if r.state is LevelState.OPEN]
        rests = [(o.price, o.side, o.client_order_index) for o in await self.venue.open_orders("ETH")]
        assert sorted(rests) == sorted(told)
        assert await self.position() == position == status.position

    async def owns_as_told(self, status: GridStatus) -> None:
        """The exposure query (what the reconciler reads) names the resting orders and the position."""
        exposure = await self.handle().query(EXPOSURE_QUERY, result_type=Exposure)
        resting = [r.client_order_index for r in status.levels if r.state is LevelState.OPEN]
        assert sorted(exposure.open_orders) == sorted(resting)
        assert [p.size for p in exposure.positions] == ([status.position] if status.position else [])

    async def placed_once(self) -> dict[str, int]:
        return await placed_once(self.rig.ledger, self.venue, self.wid)

    async def stop_clean(self) -> None:
        """A stop (the config's: flatten) leaves no order of the session and the account flat."""
        await self.handle().signal("stop", {"by": "test", "reason": "chaos over"})
        final = await asyncio.wait_for(self.handle().result(), WAIT_S)
        assert final.state is GridState.STOPPED and final.position == 0, final
        assert await self.venue.open_orders("ETH") == []
        assert await self.position() == 0

    async def close(self) -> None:
        await self.rig.sim.admin.clear_faults()
        if self.wid and (await self.handle().describe()).status is WorkflowExecutionStatus.RUNNING:
            await self.handle().terminate("test over")
        for order in await self.venue.open_orders("ETH"):
            await self.venue.cancel("ETH", order.order_index)
        await self.venue.close()


@pytest.fixture
async def grid(rig: Rig) -> AsyncIterator[Grid]:
    """A fresh account's session, every worker process running (a failed test may leave one down)."""
    await restart([p for p in rig.procs.all if p.proc is None or p.proc.poll() is not None])
    g = await Grid.create(rig, rig.accounts.pop())
    try:
        yield g
    finally:
        await g.close()


def market_data(rig: Rig) -> contextlib.AbstractAsyncContextManager[object]:
    """The market-data service in this process (fast reconnects), on the orchestrator's state dir."""
    return running(md_config(rig.sim, rig.state_dir), rig.client, rig.ledger)


async def test_429_and_invalid_nonce_storms_delay_the_ladder_batch_and_double_nothing(grid: Grid) -> None:
    sim = grid.rig.sim
    await sim.admin.inject_fault("http_429", count=3, path="/api/v1/sendTxBatch")
    await sim.admin.inject_fault("invalid_nonce", count=5)
    async with market_data(grid.rig), grid.watch() as watch:
        await grid.start()
        laid = await grid.until(settled(Decimal(0)), "the ladder laid through the storms")
        assert (await sim.admin.state())["faults"] == []  # every 429 and bad nonce met the ladder's sends
        await grid.rests_as_told(laid, Decimal(0))
        keys = await grid.placed_once()
        assert set(keys.values()) == {r.client_order_index for r in laid.levels if r.state is LevelState.OPEN}
        assert len(keys) == LEVELS - 1  # each level placed once, under its first key
        await grid.stop_clean()
    assert watch.samples > 0 and watch.doubles == []


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_sigkills_during_the_ladder_and_its_refills_leave_one_order_per_level_across_continue_as_new(
    grid: Grid,
) -> None:
    print(f"GRID_CHAOS_SEED={SEED}")
    rng, rig = random.Random(SEED), grid.rig
    kills = sum(p.kills for p in rig.procs.all)
    async with market_data(rig):
        # The ladder's batch transaction reaches the venue (held there 5 s first); the signer's
        # look-up of what it placed is held while both workers die: the retry must find the orders
        # rather than place them again. (The watch reads open orders too: it starts after.)
        sent = await hold_next(rig.sim, 5_000, SEND_PATHS[1])
        await grid.start(fills_per_run=FILLS_PER_RUN)
        await sent.taken()
        await (await hold_next(rig.sim, 60_000, OPEN_ORDERS_PATH)).taken()
        unacked = await grid.status()
        assert (
            unacked is not None and sum(r.state is LevelState.PLACING for r in unacked.levels) == LEVELS - 1
        )
        assert len(await grid.venue.open_orders("ETH")) == LEVELS - 1
        await kill_both(rig)
        async with grid.watch() as watch:
            laid = await grid.until(settled(Decimal(0)), "the ladder laid once the workers are back")
            await grid.rests_as_told(laid, Decimal(0))
            position, crossings = await walk(grid, rng)
            await eventually(lambda: runs_at_least(rig.client, grid.wid, 3), "two continue-as-new", WAIT_S)
            status = await grid.until(settled(position, crossings), "the book whole in the latest run")
            await grid.rests_as_told(status, position)
            await grid.owns_as_told(status)
            keys = await grid.placed_once()
            assert len(keys) == LEVELS - 1 + crossings  # the ladder, then one refill per fill
            await grid.stop_clean()
    assert sum(p.kills for p in rig.procs.all) - kills >= 4
    assert watch.samples > 0 and watch.doubles == []


async def kill_both(rig: Rig) -> None:
    """SIGKILL the orchestrator and the signer (a request held at the sim dies with its connection),
    then start them again, the sim's faults cleared."""
    for p in rig.procs.all:
        p.kill()
    await rig.sim.admin.clear_faults()
    await restart(rig.procs.all)


async def walk(grid: Grid, rng: random.Random) -> tuple[Decimal, int]:
    """Move the price between level midpoints, 1 or 2 levels at a time, mostly onwards, until
    WALK_FILLS orders filled (each level it crosses fills). After each move the refills rest, the
    venue rests what the level table says and the position is the venue's. One refill's send is
    held at the venue while both workers die (it dies with its connection: the retry must send it
    again, once); another move SIGKILLs a worker (started again 0.2 to 1.5 s later). Returns the
    position and the fills."""
    procs, sim = grid.rig.procs.all, grid.rig.sim
    kill, hold_from, held = rng.randrange(2, 18), rng.randrange(2, 10), False
    price, position, crossings = grid.price(GAP), Decimal(0), 0
    at, onwards = GAP, rng.choice((-1, 1))
    status = await grid.until(settled(position), "the ladder whole")
    for step in range(80):
        if crossings >= WALK_FILLS:
            break
        at, onwards = next_midpoint(at, onwards, rng)
        target = grid.price(Decimal(at) + Decimal("0.5"))
        low, high = sorted((price, target))
        hit = [r for r in status.levels if r.state is LevelState.OPEN and low < r.price < high]
        position += sum((grid.size if r.side is Side.BUY else -grid.size for r in hit), Decimal(0))
        crossings += len(hit)
        refill = await hold_next(sim, 30_000, *SEND_PATHS) if hit and not held and step >= hold_from else None
        await sim.admin.set_price(ETH, target)
        price = target
        if refill:
            await refill.taken()
            await kill_both(grid.rig)
            held = True
        elif step == kill:
            victim = rng.choice(procs)
            victim.kill()
            await asyncio.sleep(rng.uniform(0.2, 1.5))  # how long it stays down
            victim.start()
        status = await grid.until(settled(position, crossings), f"step {step} to {target}: the refills rest")
        await grid.rests_as_told(status, position)
    assert crossings >= WALK_FILLS and held
    return position, crossings


def next_midpoint(at: int, onwards: int, rng: random.Random) -> tuple[int, int]:
    """The next midpoint between levels (``at``: the one above level ``at``): 1 or 2 levels on, a
    quarter of the time back, turning at the ends of the ladder."""
    if rng.random() < 0.25:
        onwards = -onwards
    jump = rng.choice((1, 1, 2))
    if not 0 <= at + onwards * jump <= LEVELS - 2:
        onwards = -onwards
    return min(max(at + onwards * jump, 0), LEVELS - 2), onwards


@pytest.mark.slow
async def test_fills_while_every_worker_is_down_are_taken_in_by_the_reconcile_and_counted_once(
    grid: Grid,
) -> None:
    rig, sim = grid.rig, grid.rig.sim
    feed = market_data_proc(rig.procs, rig.state_dir)
    feed.start()
    try:
        # No safety poll: only the reconcile reads the venue's orders back.
        await grid.start(reconcile_every_s=3, safety_poll_s=3600)
        laid = await grid.until(settled(Decimal(0)), "the ladder laid")
        buys = {laid.levels[GAP - 1].client_order_index, laid.levels[GAP - 2].client_order_index}
        for p in (feed, *rig.procs.all):
            p.kill()
        await sim.admin.set_price(ETH, grid.price(Decimal(GAP) - Decimal("2.5")))  # through both buys
        position = 2 * grid.size
        assert await grid.position() == position
        await restart(rig.procs.all)
        status = await grid.until(settled(position, 2), "the fills reconciled and re-armed")
        rows = status.levels[GAP - 2 : GAP + 1]
        assert [(r.state, r.side) for r in rows] == [
            (LevelState.FILLED, Side.BUY), (LevelState.OPEN, Side.SELL), (LevelState.OPEN, Side.SELL)
        ]  # fmt: skip
        assert status.fills == 2
        await grid.rests_as_told(status, position)
        await grid.owns_as_told(status)

    finally:
        feed.kill()
    # Market data back (in this process, on the same fill log): its catch-up signals both fills,
    # counted already.
    async with market_data(rig):

        async def both_signalled() -> bool:
            return buys <= await signalled_fills(rig.client, grid.wid)

        await eventually(both_signalled, "the outage's fills signalled", WAIT_S)
        again = await grid.until(settled(position, 2), "the session whole after the late signals")
        assert again.fills == 2
        await grid.rests_as_told(again, position)
        assert len(await grid.placed_once()) == LEVELS - 1 + 2
        await grid.stop_clean()


async def test_a_dropped_feed_freezes_the_session_and_it_re_arms_once_the_feed_is_back(grid: Grid) -> None:
    sim = grid.rig.sim
    async with market_data(grid.rig), grid.watch() as watch:
        await grid.start(safety_poll_s=2)
        await grid.until(settled(Decimal(0)), "the ladder laid")
        try:
            await refuse_websockets(sim)
            await grid.until(lambda s: s.frozen, "frozen while the feed is down")
            # A buy fills while frozen: the safety poll sees it, a reconcile reads the price below
            # the sell it owes (placeable now), and still nothing is placed.
            await sim.admin.set_price(ETH, grid.price(Decimal(GAP) - Decimal("1.5")))
            frozen = await grid.until(
                lambda s: s.position == grid.size and s.mark is not None and s.mark < grid.price(GAP),
                "the fill polled and the price read while frozen",
            )
            assert frozen.frozen and frozen.fills == 1
            assert frozen.levels[GAP - 1].state is LevelState.FILLED
            assert (frozen.levels[GAP].state, frozen.levels[GAP].owed_sell) == (LevelState.IDLE, grid.size)
            await grid.rests_as_told(frozen, grid.size)
            assert len(await grid.venue.open_orders("ETH")) == LEVELS - 2
        finally:
            await allow_websockets(sim)
        resumed = await grid.until(settled(grid.size, 1), "the sell placed once the feed is back")
        assert resumed.levels[GAP].side is Side.SELL
        await grid.rests_as_told(resumed, grid.size)
        assert len(await grid.placed_once()) == LEVELS
        await grid.stop_clean()
    assert watch.samples > 0 and watch.doubles == []
