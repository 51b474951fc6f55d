"""HedgeFleetWorkflow: many pairs cycling through proxies, fleet commands, the daily loss limit."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.hedge.fleet import FleetInput, FleetMode, FleetResult, FleetStatus
from perpflow.hedge.models import CycleParams
from perpflow.venues.base import Proxy
from perpflow.venues.types import Side
from tests.plugins.hedge import ETH, FleetRig, fleet_rig
from tests.plugins.sim import SimHandle
from tests.plugins.venues import ProxyServer, best

FAST = CycleParams(
    size=Decimal("0.05"), maker_timeout_s=20, max_requotes=1, hold_s=1, close_mode="market", poll_s=0.5
)


async def resting_makers(rig: FleetRig) -> int:
    """Maker accounts (every pair's first) with a quote on the book."""
    books = await asyncio.gather(*(v.open_orders("ETH") for v in rig.venues[0::2]))
    return sum(1 for orders in books if orders)


async def fill_makers(rig: FleetRig, handle_id: str, side: Side, count: int) -> None:
    """Once ``count`` maker quotes rest, move the price through them."""
    handle = rig.client.get_workflow_handle(handle_id)
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        status: FleetStatus = await handle.query("status", result_type=FleetStatus)
        if sum(p.running is not None for p in status.pairs) >= count:
            break
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)
    while await resting_makers(rig) < count:  # the quotes are on the book
        assert asyncio.get_running_loop().time() < deadline, "the maker quotes never rested"
        await asyncio.sleep(0.1)
    bid, ask = await best(rig.public)
    await rig.sim.admin.set_price(ETH, bid - 5 if side is Side.BUY else ask + 5)


async def test_four_pairs_over_eight_accounts_through_a_proxy(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, proxy_server: ProxyServer
) -> None:
    proxy = Proxy(url=proxy_server.url, username="trader", password=SecretStr("s3cret"))
    async with fleet_rig(temporal_env, sim, pg_ledger, pairs=4, proxy=proxy) as rig:
        fleet = FleetInput(
            name=f"f{uuid.uuid4().hex[:6]}",
            market="ETH",
            pairs=rig.pairs(),
            cycle=FAST,
            pause_between_s=0,
            max_cycles_per_pair=1,
        )
        fleet.pairs[:] = [p.model_copy(update={"maker_side": Side.BUY}) for p in fleet.pairs]
        wid = names.hedge_fleet_id(fleet.name)
        handle = await rig.client.start_workflow(
            "HedgeFleetWorkflow", fleet, id=wid, task_queue=rig.queue, result_type=FleetResult
        )
        await fill_makers(rig, wid, Side.BUY, count=4)
        result: FleetResult = await asyncio.wait_for(handle.result(), timeout=90)
        assert (result.mode, result.cycles, result.failed_pairs) == (FleetMode.COMPLETED, 4, [])
        assert await rig.flat()
        sim_port = int(sim.url.rsplit(":", 1)[1])
        assert proxy_server.connections_to(sim_port) >= 8  # every signer's traffic went through it


async def test_daily_loss_limit_halts_the_fleet(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger
) -> None:
    async with fleet_rig(temporal_env, sim, pg_ledger, pairs=1) as rig:
        fleet = FleetInput(
            name=f"f{uuid.uuid4().hex[:6]}",
            market="ETH",
            pairs=rig.pairs(),
            cycle=FAST,
            pause_between_s=0,
            max_cycles_per_pair=5,
            daily_loss_limit_usd=Decimal("0.000001"),
        )
        fleet.pairs[0] = fleet.pairs[0].model_copy(update={"maker_side": Side.BUY})
        wid = names.hedge_fleet_id(fleet.name)
        handle = await rig.client.start_workflow(
            "HedgeFleetWorkflow", fleet, id=wid, task_queue=rig.queue, result_type=FleetResult
        )
        await fill_makers(rig, wid, Side.BUY, count=1)
        result: FleetResult = await asyncio.wait_for(handle.result(), timeout=90)
        # Crossing the spread three times loses a little: one cycle, then REDUCING -> HALTED.
        assert result.total_realized < 0
        assert (result.mode, result.cycles) == (FleetMode.HALTED, 1)
        assert await rig.flat()
