"""A hedge rig: two fresh sim accounts, their signer workers (send + read queues), and a worker
serving the hedge workflows with the orchestrator's activities, all on a real dev server."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.hedge import HedgeActivities
from activities.market import MarketActivities
from activities.orders import OrderActivities
from activities.watches import WatchActivities
from perpflow import names
from perpflow.alerts.notifier import Notifier
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.hedge.fleet import PairSpec
from perpflow.hedge.models import CycleParams, CycleResult, CycleStatus, HedgeCycleInput, LegAccount
from perpflow.risk import RiskLimits
from perpflow.venues.base import Proxy
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for

ETH = 0


@dataclass
class HedgeRig:
    client: Client
    queue: str
    sim: SimHandle
    maker: SimAccount
    taker: SimAccount
    maker_venue: LighterVenue
    taker_venue: LighterVenue
    public: LighterVenue

    def leg(self, account: SimAccount) -> LegAccount:
        return LegAccount(account_index=account.account_index, api_key_index=account.api_key_index)

    def cycle(self, side: Side, **params: Any) -> HedgeCycleInput:
        defaults: dict[str, Any] = {
            "size": Decimal("0.05"),
            "maker_timeout_s": 20,
            "max_requotes": 2,
            "hold_s": 1,
            "close_mode": "market",
            "poll_s": 0.5,
            "hedge_deadline_s": 15,
        }
        return HedgeCycleInput(
            fleet="test",
            pair=f"p{self.maker.account_index}",
            seq=0,
            market="ETH",
            maker=self.leg(self.maker),
            taker=self.leg(self.taker),
            maker_side=side,
            params=CycleParams(**{**defaults, **params}),
        )

    async def start(self, inp: HedgeCycleInput) -> WorkflowHandle[Any, Any]:
        wid = names.hedge_cycle_id(inp.fleet, uuid.uuid4().hex[:8], inp.pair, inp.seq)
        return await self.client.start_workflow(
            "HedgeCycleWorkflow", inp, id=wid, task_queue=self.queue, result_type=CycleResult
        )

    async def status(self, handle: WorkflowHandle[Any, Any]) -> CycleStatus:
        result: CycleStatus = await handle.query("status", result_type=CycleStatus)
        return result

    async def until(
        self,
        handle: WorkflowHandle[Any, Any],
        check: Callable[[CycleStatus], bool],
        what: str,
        timeout: float = 30,
    ) -> CycleStatus:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = await self.status(handle)
            if check(status):
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last status {status}")
            await asyncio.sleep(0.1)

    async def quoting(self, handle: WorkflowHandle[Any, Any]) -> CycleStatus:
        """Wait until the maker order rests on the book."""
        return await self.until(handle, lambda s: any("/maker-" in o for o in s.orders), "the maker quote")

    async def move_through(self, side: Side, ticks: Decimal = Decimal(5)) -> None:
        """Move the reference price through our resting quote so the market maker fills it."""
        bid, ask = await best(self.public)
        await self.sim.admin.set_price(ETH, bid - ticks if side is Side.BUY else ask + ticks)

    async def positions(self) -> tuple[Decimal, Decimal]:
        a, b = await asyncio.gather(self.maker_venue.account(), self.taker_venue.account())
        return a.position("ETH").size, b.position("ETH").size


def signer_workers(client: Client, venue: LighterVenue, account: SimAccount, ledger: Ledger) -> list[Worker]:
    acts = OrderActivities(venue, Orders(ledger), RiskLimits())
    key = ("lighter", account.account_index, account.api_key_index)
    return [
        Worker(
            client,
            task_queue=names.signer_queue(*key),
            activities=acts.send_activities(),
            max_concurrent_activities=1,
        ),
        Worker(client, task_queue=names.signer_read_queue(*key), activities=acts.read_activities()),
    ]


@pytest.fixture
async def hedge_rig(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger
) -> AsyncIterator[HedgeRig]:
    from workflows.hedge.cycle import HedgeCycleWorkflow

    client = temporal_env.client
    maker, taker = await new_account(sim), await new_account(sim)
    maker_venue, taker_venue, public = venue_for(sim, maker), venue_for(sim, taker), LighterVenue(sim.url, 0)
    queue = f"hedge-{uuid.uuid4()}"
    market = MarketActivities(public)
    hedge = HedgeActivities(HedgeCycles(pg_ledger), Notifier(pg_ledger))
    async with AsyncExitStack() as stack:
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=[HedgeCycleWorkflow],
                activities=[
                    market.get_book_top,
                    market.get_market,
                    *hedge.all(),
                    *WatchActivities(pg_ledger).all(),
                ],
            ),
            *signer_workers(client, maker_venue, maker, pg_ledger),
            *signer_workers(client, taker_venue, taker, pg_ledger),
        ]
        for w in workers:
            await stack.enter_async_context(w)
        yield HedgeRig(client, queue, sim, maker, taker, maker_venue, taker_venue, public)
    for v in (maker_venue, taker_venue, public):
        await v.close()


async def sell_into_bid(sim: SimHandle, size: Decimal, price: Decimal) -> None:
    """A third account sells ``size`` at ``price`` (IOC): it fills whoever queues there first."""
    from perpflow.venues.types import OrderKind, OrderSpec, TimeInForce

    seller = await new_account(sim)
    venue = venue_for(sim, seller)
    try:
        spec = OrderSpec(
            market="ETH",
            client_order_index=1,
            side=Side.SELL,
            kind=OrderKind.LIMIT,
            tif=TimeInForce.IOC,
            size=size,
            price=price,
        )
        await venue.submit(await venue.sign_order(spec))
    finally:
        await venue.close()


@dataclass
class FleetRig:
    client: Client
    queue: str
    sim: SimHandle
    accounts: list[SimAccount]
    venues: list[LighterVenue]
    public: LighterVenue

    def pairs(self) -> list[PairSpec]:
        legs = [
            LegAccount(account_index=a.account_index, api_key_index=a.api_key_index) for a in self.accounts
        ]
        return [
            PairSpec(name=f"pair{i}", maker=legs[2 * i], taker=legs[2 * i + 1]) for i in range(len(legs) // 2)
        ]

    async def flat(self) -> bool:
        states = await asyncio.gather(*(v.account() for v in self.venues))
        return all(s.position("ETH").size == 0 for s in states)


@asynccontextmanager
async def fleet_rig(
    env: WorkflowEnvironment, sim: SimHandle, ledger: Ledger, pairs: int, proxy: Proxy | None = None
) -> AsyncIterator[FleetRig]:
    from workflows.hedge.cycle import HedgeCycleWorkflow
    from workflows.hedge.fleet import HedgeFleetWorkflow

    client, queue = env.client, f"fleet-{uuid.uuid4()}"
    accounts = [await new_account(sim) for _ in range(2 * pairs)]
    venues = [venue_for(sim, a, proxy=proxy) for a in accounts]
    public = LighterVenue(sim.url, 0)
    market, hedge = MarketActivities(public), HedgeActivities(HedgeCycles(ledger), Notifier(ledger))
    async with AsyncExitStack() as stack:
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=[HedgeCycleWorkflow, HedgeFleetWorkflow],
                activities=[
                    market.get_book_top,
                    market.get_market,
                    *hedge.all(),
                    *WatchActivities(ledger).all(),
                ],
            )
        ]
        for account, venue in zip(accounts, venues, strict=True):
            workers += signer_workers(client, venue, account, ledger)
        for w in workers:
            await stack.enter_async_context(w)
        yield FleetRig(client, queue, sim, accounts, venues, public)
    for v in (*venues, public):
        await v.close()


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With PERPFLOW_RECORD_HISTORIES set, keep this run's history for tests/replay."""
    if os.environ.get("PERPFLOW_RECORD_HISTORIES"):
        text = (await handle.fetch_history()).to_json()
        # Failure stack traces name this machine's paths; replay never reads them.
        for local in (f"{Path(__file__).parents[2]}/", f"{sys.base_prefix}/"):
            text = text.replace(local, "")
        (Path(__file__).parents[1] / "replay" / "histories" / f"{name}.json").write_text(text + "\n")
