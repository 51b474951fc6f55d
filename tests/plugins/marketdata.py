"""Shared rig for the market-data tests: the service on the real sim and dev server, a
recording workflow, and helpers that make fills happen on the sim.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.service import MarketDataService
from perpflow.models import AccountRef, Model
from perpflow.orders import OrderIntent
from perpflow.signals import FEED_CHANGED, ORDER_FILLED, PRICE_CROSSED, FeedChanged, OrderFilled, PriceCrossed
from perpflow.venues.feed import StreamOptions
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.registry import build_feed
from perpflow.venues.types import Book, OrderSpec, Side, TimeInForce
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, new_account, venue_for

WAIT_S = 20.0

# Fast supervision so outages heal within a test; production defaults are 1 s .. 30 s.
FAST = StreamOptions(
    connect_timeout_s=2.0, ping_interval_s=1.0, stale_after_s=5.0, backoff_initial_s=0.2, backoff_max_s=1.0
)


class Recorded(Model):
    fills: dict[str, OrderFilled]
    raw_fills: int
    feed: list[FeedChanged]
    crossings: list[PriceCrossed]


@workflow.defn(name="MarketDataRecorderTestWorkflow")
class RecorderWorkflow:
    """Stands in for a trading workflow: takes the signals loosely, dedupes fills by id."""

    def __init__(self) -> None:
        self.fills: dict[str, OrderFilled] = {}
        self.raw_fills = 0
        self.feed: list[FeedChanged] = []
        self.crossings: list[PriceCrossed] = []
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: dict[str, Any]) -> None:
        fill = OrderFilled.model_validate(payload)
        self.raw_fills += 1
        self.fills.setdefault(fill.fill_id, fill)

    @workflow.signal(name=FEED_CHANGED)
    def feed_changed(self, payload: dict[str, Any]) -> None:
        self.feed.append(FeedChanged.model_validate(payload))

    @workflow.signal(name=PRICE_CROSSED)
    def price_crossed(self, payload: dict[str, Any]) -> None:
        self.crossings.append(PriceCrossed.model_validate(payload))

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def recorded(self) -> Recorded:
        return Recorded(fills=self.fills, raw_fills=self.raw_fills, feed=self.feed, crossings=self.crossings)


@pytest.fixture
async def maker(sim: SimHandle, pg_ledger: Ledger) -> AsyncIterator[Maker]:
    """A fresh sim account whose fills the tests make happen (registered in the ledger)."""
    account = await new_account(sim)
    venue = venue_for(sim, account)
    m = Maker(account, venue, Orders(pg_ledger), sim)
    await m.register(pg_ledger)
    yield m
    await venue.close()


async def fills_of(handle: WorkflowHandle[Any, Any], count: int, timeout: float = WAIT_S) -> None:
    async def enough() -> bool:
        return len((await recorded(handle)).fills) >= count

    await eventually(enough, f"{count} fill(s) at the workflow", timeout)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class MdRig:
    """The service's config and the venue URL its feed streams from."""

    url: str
    config: MarketDataConfig


def md_config(sim: SimHandle, state_dir: Path, markets: tuple[str, ...] = ("ETH",)) -> MdRig:
    config = MarketDataConfig(
        markets=markets,
        stream=FAST,
        refresh_interval_s=0.1,
        status_interval_s=0.2,
        state_dir=state_dir,
    )
    return MdRig(sim.url, config)


@asynccontextmanager
async def running(rig: MdRig, client: Client, ledger: Ledger) -> AsyncIterator[MarketDataService]:
    """The service on the sim's Lighter face, its books live."""
    config = rig.config
    svc = MarketDataService(config, build_feed(config.venue, rig.url), client, ledger)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        await asyncio.wait_for(svc.ready.wait(), WAIT_S)

        async def books_live() -> bool:
            return all(svc.book(m) is not None for m in config.markets)

        await eventually(books_live, "books live")
        yield svc
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)


@asynccontextmanager
async def recorder(client: Client) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    queue = f"md-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[RecorderWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(
            RecorderWorkflow.run, id=f"md-rec-{uuid.uuid4()}", task_queue=queue
        )
        yield handle
        await handle.signal(RecorderWorkflow.finish)
        await handle.result()


async def recorded(handle: WorkflowHandle[Any, Any]) -> Recorded:
    return await handle.query(RecorderWorkflow.recorded)


@dataclass
class Maker:
    """An account whose post-only orders are written to the ledger first, as the signer does."""

    account: SimAccount
    venue: LighterVenue
    orders: Orders
    sim: SimHandle

    async def register(self, ledger: Ledger) -> None:
        await ledger.upsert_account(
            AccountRef(
                name=f"md-{self.account.account_index}",
                venue="lighter",
                account_index=self.account.account_index,
            )
        )

    async def fill_one(self, workflow_id: str, step: str) -> int:
        """Rest a post-only bid just under the touch, then move the price through it."""
        book = await self.venue.book("ETH", 5)
        assert book.best_bid is not None
        price = book.best_bid - Decimal("0.5")
        intent = OrderIntent(
            key=names.order_key(workflow_id, step),
            workflow_id=workflow_id,
            account_index=self.account.account_index,
            market="ETH",
            side=Side.BUY,
            tif=TimeInForce.POST_ONLY,
            size=Decimal("0.01"),
            price=price,
        )
        record = await self.orders.claim(intent)
        spec = OrderSpec(
            market="ETH",
            client_order_index=record.client_order_index,
            side=Side.BUY,
            kind=intent.kind,
            tif=TimeInForce.POST_ONLY,
            size=intent.size,
            price=price,
        )
        await self.venue.submit(await self.venue.sign_order(spec))
        await self.sim.admin.set_price(0, price - 2)
        return record.client_order_index


async def sim_book(sim: SimHandle, market_id: int = 0) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    raw = (await sim.admin.state())["markets"][str(market_id)]["book"]
    return tuple([(Decimal(x["price"]), Decimal(x["size"])) for x in raw[side]] for side in ("bids", "asks"))


def as_pairs(book: Book) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    return tuple([(lv.price, lv.size) for lv in levels] for levels in (book.bids, book.asks))
