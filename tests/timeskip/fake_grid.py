"""The fake venue of ``fakes.py`` as a grid session sees it: its open orders, the grid ledger, and
the market-data worker's fill and feed signals sent by the test."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.grid.models import GridFillRecord, GridFills, GridRecord, GridStatus
from perpflow.hedge.models import LegAccount
from perpflow.marketdata.models import Watch, WatchSet, WatchSetResult, WatchSpec
from perpflow.orders import AccountQuery, OpenOrders, OrderAcks, OrderBatch, OrderIntent
from perpflow.signals import FEED_CHANGED, ORDER_FILLED, FeedChanged, FeedState, OrderFilled
from perpflow.venues.types import OrderKind, OrderStatus, Side, TimeInForce
from tests.timeskip.conftest import WAIT_S, terminate_running, until
from tests.timeskip.fakes import MARKET, FakeOrder, FakeTrading, legs, trading_workers
from workflows.grid.session import GridSessionWorkflow

_epochs = itertools.count(1)


@dataclass
class FakeGrid(FakeTrading):
    sessions: list[GridRecord] = field(default_factory=list)
    fills: list[GridFillRecord] = field(default_factory=list)
    feed_up: bool | None = None  # what register_watch says of the feed
    # Set once a batch of placements reached the venue (then a fresh one): a test waits for the
    # next placement, not for a polling interval.
    placed_batch: asyncio.Event = field(default_factory=asyncio.Event)
    # Client order indexes by price, of the orders placed through place_orders that may still
    # rest: finding the order at a price does not scan every order the session ever placed.
    at_price: defaultdict[Decimal, list[int]] = field(default_factory=lambda: defaultdict(list))

    @activity.defn(name="place_orders")
    async def place_orders(self, batch: OrderBatch) -> OrderAcks:
        try:
            acks = await super().place_orders(batch)
        finally:
            self.placed_batch.set()
            self.placed_batch = asyncio.Event()
        for intent, ack in zip(batch.intents, acks.acks, strict=True):
            if not ack.refusal:
                self.at_price[intent.price].append(ack.client_order_index)
        return acks

    @activity.defn(name="get_open_orders")
    async def get_open_orders(self, query: AccountQuery) -> OpenOrders:
        self.calls.append(("get_open_orders", query))
        mine = [o for o in self.venue.resting() if o.intent.account_index == query.account_index]
        return OpenOrders(orders=[o.ack() for o in mine])

    @activity.defn(name="register_watch")
    async def register_watch(self, spec: WatchSpec) -> Watch:
        self.calls.append(("register_watch", spec))
        self.watches.append(spec)
        return Watch(id=len(self.watches), spec=spec, feed_up=self.feed_up)

    @activity.defn(name="set_watches")
    async def set_watches(self, req: WatchSet) -> WatchSetResult:
        self.calls.append(("set_watches", req))
        self.watches.extend(req.specs)
        return WatchSetResult(count=len(req.specs), feed_up=self.feed_up)

    @activity.defn(name="record_grid_session")
    async def record_grid_session(self, rec: GridRecord) -> None:
        self.sessions.append(rec)

    @activity.defn(name="record_grid_fills")
    async def record_grid_fills(self, batch: GridFills) -> None:
        self.fills.extend(batch.fills)

    def orchestrator(self) -> list[Callable[..., Any]]:
        return [
            self.get_market,
            self.get_book_top,
            self.register_watch,
            self.set_watches,
            self.deactivate_watches,
            self.record_grid_session,
            self.record_grid_fills,
        ]

    def signer_read(self) -> list[Callable[..., Any]]:
        return [self.get_order, self.get_position, self.get_open_orders]


@dataclass
class GridRig:
    env: WorkflowEnvironment
    queue: str
    fake: FakeGrid
    account: LegAccount
    started: list[str] = field(default_factory=list)
    fill_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def client(self) -> Client:
        return self.env.client

    def config(self, **overrides: Any) -> dict[str, Any]:
        """21 levels 1900..2100 around the fake's 2000, 0.01 each, every level live (room for all)."""
        base: dict[str, Any] = {
            "name": f"g{uuid.uuid4().hex[:8]}",
            "account": self.account.model_dump(),
            "market": MARKET,
            "lower": "1900",
            "upper": "2100",
            "levels": 21,
            "size": "0.01",
            "max_open_orders_per_side": 20,
        }
        return {**base, **overrides}

    async def start(self, config: dict[str, Any], **options: Any) -> WorkflowHandle[Any, GridStatus]:
        wid = names.grid_session_id(config["name"])
        self.started.append(wid)
        return await self.client.start_workflow(
            "GridSessionWorkflow", config, id=wid, task_queue=self.queue, result_type=GridStatus, **options
        )

    async def status(self, handle: WorkflowHandle[Any, Any]) -> GridStatus:
        result: GridStatus = await handle.query("status", result_type=GridStatus)
        return result

    async def until_status(
        self,
        handle: WorkflowHandle[Any, Any],
        check: Callable[[GridStatus], bool],
        what: str,
        timeout: float = 20,
    ) -> GridStatus:
        async def looks() -> GridStatus | None:
            status = await self.status(handle)
            return status if check(status) else None

        result: GridStatus = await until(looks, what, timeout)
        return result

    def resting(self, price: Decimal | None = None) -> list[FakeOrder]:
        return [o for o in self.fake.venue.resting() if price is None or o.intent.price == price]

    def placed_resting(self, price: Decimal) -> list[FakeOrder]:
        """``resting(price)`` among the orders placed through ``place_orders`` (all that a session
        places), without reading every order that ended before them."""
        orders = self.fake.venue.orders
        cois = [c for c in self.fake.at_price[price] if orders[c].status is OrderStatus.OPEN]
        self.fake.at_price[price] = cois
        return [orders[c] for c in cois]

    async def until_placed(self, check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        """``check`` now and again after each batch of placements, until it returns something
        truthy: that value (``until`` for what a placement makes, woken by it, not by a clock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            placed = self.fake.placed_batch
            if value := check():
                return value
            try:
                await asyncio.wait_for(placed.wait(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None

    async def until_answered(self, handle: WorkflowHandle[Any, Any], timeout: float = WAIT_S) -> None:
        """Until the server holds the answer of every activity the session started: a signal sent
        next reaches the session after those answers, as a fill does once its order rested and
        the session saw it placed. (The time-skipping server does not show a pending workflow
        task; the activities it shows, one describe after another, are the nearest it tells.)"""
        deadline = asyncio.get_running_loop().time() + timeout
        while (await handle.describe()).raw_description.pending_activities:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for the activities' answers")

    def placed_at(self, price: Decimal) -> list[OrderIntent]:
        return self.fake.venue.placed(lambda i: i.price == price)

    async def fill(
        self,
        handle: WorkflowHandle[Any, Any],
        order: FakeOrder,
        size: Decimal | None = None,
        signals: int = 1,
    ) -> None:
        """The order fills on the venue, and the market-data worker tells the session (``signals``
        times: a repeat is the same fill id). The market trades at the order's price."""
        before = order.filled
        self.fake.venue.mark = order.intent.price
        self.fake.venue.fill(order.coi, size)
        fill = OrderFilled(
            fill_id=f"fill-{next(self.fill_ids)}", venue="lighter", account_index=self.account.account_index,
            market=MARKET, client_order_index=order.coi, order_index=order.coi, side=order.intent.side,
            price=order.intent.price, size=order.filled - before, is_maker=True, at=datetime.now(UTC),
        )  # fmt: skip
        for _ in range(signals):
            await handle.signal(ORDER_FILLED, fill.model_dump(mode="json"))

    async def feed(self, handle: WorkflowHandle[Any, Any], state: FeedState) -> None:
        change = FeedChanged(
            venue="lighter", stream=f"account-{self.account.account_index}",
            account_index=self.account.account_index, state=state, since=datetime.now(UTC),
            epoch=next(_epochs),
        )  # fmt: skip
        await handle.signal(FEED_CHANGED, change.model_dump(mode="json"))

    async def manual_order(self, price: Decimal) -> FakeOrder:
        """An order someone placed by hand on the same account."""
        intent = OrderIntent(
            key=f"manual/{uuid.uuid4().hex[:6]}", workflow_id="", venue="lighter",
            account_index=self.account.account_index, market=MARKET, side=Side.BUY, kind=OrderKind.LIMIT,
            tif=TimeInForce.POST_ONLY, size=Decimal("0.01"), price=price,
        )  # fmt: skip
        ack = await self.fake.venue.place(intent)
        return self.fake.venue.orders[ack.client_order_index]


@asynccontextmanager
async def grid_rig(env: WorkflowEnvironment, **worker_options: Any) -> AsyncIterator[GridRig]:
    fake = FakeGrid()
    account, _ = legs()
    rig = GridRig(env, f"ts-grid-{uuid.uuid4()}", fake, account)
    async with trading_workers(
        env.client, rig.queue, fake, [account], [GridSessionWorkflow], **worker_options
    ):
        yield rig
        await terminate_running(rig.client, rig.started)
