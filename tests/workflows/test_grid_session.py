"""GridSessionWorkflow on the real stack: a dev server, the orchestrator's activities, a signer's
order activities on the sim, and the market-data service signalling fills and the feed state."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.grid import GridActivities
from activities.market import MarketActivities
from activities.watches import WatchActivities
from perpflow import names
from perpflow.db.grid import GridSessions
from perpflow.db.ledger import Ledger
from perpflow.exposure import EXPOSURE_QUERY, Exposure
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, GridStatus
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.hedge import ETH, record_history, signer_workers
from tests.plugins.marketdata import md_config, running
from tests.plugins.sim import SimHandle
from tests.plugins.venues import best, new_account, venue_for
from workflows.grid.session import GridSessionWorkflow

MANUAL_COI = 7_000_001


async def until(
    handle: WorkflowHandle[Any, Any], check: Callable[[GridStatus], bool], what: str, timeout: float = 45
) -> GridStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    status: GridStatus | None = None
    while True:
        with contextlib.suppress(WorkflowQueryFailedError):  # starting: no ladder yet
            status = await handle.query("status", result_type=GridStatus)
        if status is not None and check(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last status {status}")
        await asyncio.sleep(0.2)


def level(status: GridStatus, index: int) -> Any:
    return status.levels[index]


async def test_a_session_lays_its_ladder_re_arms_fills_and_stop_leaves_only_the_manual_order(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    account = await new_account(sim)
    venue, public = venue_for(sim, account), LighterVenue(sim.url, 0)
    market = await public.market("ETH")
    tick = Decimal(1).scaleb(-market.price_decimals)
    bid, ask = await best(public)
    mid = ((bid + ask) / 2).quantize(tick)
    step = max((ask - bid) * 4, mid * Decimal("0.004")).quantize(tick)
    size = max(market.min_base_amount, (market.min_quote_amount * 2 / mid)).quantize(
        Decimal(1).scaleb(-market.size_decimals)
    )
    config = {
        "name": f"sim-{uuid.uuid4().hex[:6]}",
        "account": {"account_index": account.account_index, "api_key_index": account.api_key_index},
        "market": "ETH",
        "lower": str(mid - 3 * step),
        "upper": str(mid + 3 * step),
        "levels": 7,
        "size": str(size),
        "reconcile_every_s": 5,
        "safety_poll_s": 5,
        "stop": {"outside_range_pct": 50},
    }
    queue = f"grid-{uuid.uuid4()}"
    markets = MarketActivities(public)
    orchestrator = Worker(
        client,
        task_queue=queue,
        workflows=[GridSessionWorkflow],
        activities=[
            markets.get_book_top,
            markets.get_market,
            *WatchActivities(pg_ledger, tmp_path).all(),
            *GridActivities(GridSessions(pg_ledger)).all(),
        ],
    )
    manual = OrderSpec(
        market="ETH", client_order_index=MANUAL_COI, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.POST_ONLY, size=size, price=(mid * Decimal("0.8")).quantize(tick),
    )  # fmt: skip
    await venue.submit(await venue.sign_order(manual))
    workers = [orchestrator, *signer_workers(client, venue, account, pg_ledger)]
    try:
        async with running(md_config(sim, tmp_path), client, pg_ledger), workers[0], workers[1], workers[2]:
            handle = await client.start_workflow(
                "GridSessionWorkflow", config, id=names.grid_session_id(config["name"]), task_queue=queue,
                result_type=GridStatus,
            )  # fmt: skip
            laid = await until(
                handle, lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6, "the ladder resting"
            )
            assert level(laid, 3).state is LevelState.IDLE and not laid.frozen
            resting = {o.client_order_index for o in await venue.open_orders("ETH")}
            assert len(resting) == 7 and MANUAL_COI in resting
            # The exposure reconciler sees the session's orders as its own, never the manual one.
            owned = await handle.query(EXPOSURE_QUERY, result_type=Exposure)
            assert set(owned.open_orders) == resting - {MANUAL_COI} and owned.positions == []

            # The price walks down through level 2: its buy fills, the sell one level up re-arms.
            await sim.admin.set_price(ETH, mid - step - step / 2)
            down = await until(
                handle, lambda s: s.fills >= 1 and level(s, 3).state is LevelState.OPEN, "the sell re-armed"
            )
            assert level(down, 3).side is Side.SELL and down.position > 0
            # Back up through level 3: the sell fills, the buy at level 2 re-arms, a round trip.
            await sim.admin.set_price(ETH, mid + step / 2)
            up = await until(
                handle,
                lambda s: s.pnl.round_trips >= 1 and level(s, 2).state is LevelState.OPEN,
                "the buy re-armed",
            )
            assert level(up, 2).side is Side.BUY and up.pnl.realized > 0

            await handle.signal("stop", {"by": "test", "reason": "done"})
            final = await handle.result()
            assert final.state is GridState.STOPPED and final.position == 0
            left = [o.client_order_index for o in await venue.open_orders("ETH")]
            assert left == [MANUAL_COI]
            assert (await venue.account()).position("ETH").size == 0
            await record_history(handle, "grid_session_stopped")
    finally:
        for order in await venue.open_orders("ETH"):
            await venue.cancel("ETH", order.order_index)
        await venue.close()
        await public.close()
