"""A venue, the cycle ledger, alerts and price watches in memory, behind activities registered
under the real names, so the hedge workflows run unchanged on the time-skipping server.

Every call is recorded: tests assert which orders were placed (side, size, reduce-only), what was
recorded and what was alerted. The test decides what happens on the venue: a post-only order
rests until ``fill``; an IOC order fills at once at the touch unless a ``refuse`` rule (or a
missing price within its bound) says otherwise; a ``hold`` gate keeps matching placements in
flight until the test opens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from perpflow import names
from perpflow.alerts.models import Alert, Severity
from perpflow.hedge.models import CycleRecord, LegAccount
from perpflow.marketdata.models import DeactivatedWatches, DeactivateWatches, Watch, WatchSpec
from perpflow.orders import (
    AccountQuery,
    AccountSnapshot,
    AwaitFill,
    BookQuery,
    BookSnapshot,
    MarketQuery,
    OrderAck,
    OrderAcks,
    OrderBatch,
    OrderIntent,
    OrderRef,
)
from perpflow.venues.types import (
    AccountState,
    Book,
    BookLevel,
    MarketInfo,
    OrderStatus,
    PositionInfo,
    Side,
    TimeInForce,
)

MARKET = "ETH"
ETH = MarketInfo(
    symbol=MARKET,
    market_id=0,
    size_decimals=4,
    price_decimals=2,
    min_base_amount=Decimal("0.001"),
    min_quote_amount=Decimal(1),
)
# A fake await_fill answers "nothing new" after this long (real time): a running activity stops
# the time-skipping server's clock, so a long wait here would hold the workflow's clock too.
AWAIT_FILL_CAP_S = 1.0
_account_numbers = itertools.count(1000, 10)


def legs() -> tuple[LegAccount, LegAccount]:
    """A maker and a taker account no other test uses: their signer queues are this test's own."""
    first = next(_account_numbers)
    maker = LegAccount(account_index=first, api_key_index=1)
    return maker, LegAccount(account_index=first + 1, api_key_index=1)


def is_maker(intent: OrderIntent) -> bool:
    return "/maker-" in intent.key


def is_hedge(intent: OrderIntent) -> bool:
    return "/hedge-" in intent.key


def is_close(intent: OrderIntent) -> bool:
    return intent.reduce_only


@dataclass
class Rule:
    """Placements matching ``matches`` are refused with ``error`` (non-retryable), ``times`` more
    times (None: always)."""

    matches: Callable[[OrderIntent], bool]
    times: int | None
    error: str


@dataclass
class FakeOrder:
    intent: OrderIntent
    coi: int
    status: OrderStatus = OrderStatus.OPEN
    filled: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)

    def ack(self) -> OrderAck:
        return OrderAck(
            key=self.intent.key,
            market=self.intent.market,
            client_order_index=self.coi,
            order_index=self.coi,
            status=self.status,
            filled_size=self.filled,
            filled_quote=self.quote,
            remaining_size=self.intent.size - self.filled if self.status is OrderStatus.OPEN else Decimal(0),
            sent_now=True,
        )


class FakeVenue:
    """One market, positions per account, orders by client order index."""

    def __init__(self, mark: Decimal = Decimal(2000), spread: Decimal = Decimal(1)) -> None:
        self.mark, self.spread = mark, spread
        self.positions: dict[int, Decimal] = defaultdict(Decimal)
        self.orders: dict[int, FakeOrder] = {}
        self._by_key: dict[str, int] = {}
        self._cois = itertools.count(1)
        self._rules: list[Rule] = []
        self._gates: list[tuple[Callable[[OrderIntent], bool], asyncio.Event]] = []
        self._change = asyncio.Event()
        self.fill_makers_at_once = False  # True: a post-only quote fills in full as it is placed

    # -- what the test controls ----------------------------------------------------------------

    def refuse(
        self, matches: Callable[[OrderIntent], bool], times: int | None = None, error: str = "RiskRejected"
    ) -> None:
        self._rules.append(Rule(matches, times, error))

    def stop_refusing(self) -> None:
        self._rules.clear()

    def hold(self, matches: Callable[[OrderIntent], bool]) -> asyncio.Event:
        """Matching placements wait (in flight) until the returned event is set."""
        gate = asyncio.Event()
        self._gates.append((matches, gate))
        return gate

    def fill(self, coi: int, size: Decimal | None = None) -> None:
        """A resting order fills by ``size`` (the rest of it by default) at its own price."""
        order = self.orders[coi]
        assert order.status is OrderStatus.OPEN, order
        self._trade(order, size or order.intent.size - order.filled, order.intent.price)
        if order.filled == order.intent.size:
            order.status = OrderStatus.FILLED
        self._changed()

    @property
    def bid(self) -> Decimal:
        return self.mark - self.spread / 2

    @property
    def ask(self) -> Decimal:
        return self.mark + self.spread / 2

    # -- what the test reads -------------------------------------------------------------------

    def placed(self, matches: Callable[[OrderIntent], bool] = lambda _: True) -> list[OrderIntent]:
        """Orders that reached the venue (refused ones excluded), oldest first."""
        return [o.intent for o in self.orders.values() if matches(o.intent)]

    def resting(self) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.status is OrderStatus.OPEN]

    # -- what the activities do ----------------------------------------------------------------

    async def place(self, intent: OrderIntent) -> OrderAck:
        for matches, gate in self._gates:
            if matches(intent):
                await gate.wait()
        if intent.key in self._by_key:  # a retried intent is the same order
            return self.orders[self._by_key[intent.key]].ack()
        self._refuse_by_rule(intent)
        order = FakeOrder(intent, next(self._cois))
        self.orders[order.coi] = order
        self._by_key[intent.key] = order.coi
        if intent.tif is TimeInForce.IOC:
            self._fill_at_touch(order)
        elif self.fill_makers_at_once:
            self._trade(order, intent.size, intent.price)
            order.status = OrderStatus.FILLED
        self._changed()
        return order.ack()

    def cancel(self, ref: OrderRef) -> OrderAck:
        order = self.order(ref)
        if order.status is OrderStatus.OPEN:
            order.status = OrderStatus.CANCELED
            self._changed()
        return order.ack()

    async def await_fill(self, req: AwaitFill) -> OrderAck:
        order = self.order(req.order)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(req.timeout_s, AWAIT_FILL_CAP_S)
        while order.filled <= req.known_filled and not order.status.final:
            left = deadline - loop.time()
            if left <= 0:
                break
            activity.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._change.wait(), min(left, 0.2))
        return order.ack()

    def account(self, account_index: int) -> AccountState:
        size = self.positions[account_index]
        return AccountState(
            account_index=account_index,
            collateral=Decimal(100_000),
            available_balance=Decimal(100_000),
            positions=[PositionInfo(market=MARKET, size=size, avg_entry_price=self.mark)] if size else [],
        )

    def book(self) -> Book:
        return Book(
            market=MARKET,
            bids=[BookLevel(price=self.bid - i, size=Decimal(10)) for i in range(5)],
            asks=[BookLevel(price=self.ask + i, size=Decimal(10)) for i in range(5)],
        )

    def _refuse_by_rule(self, intent: OrderIntent) -> None:
        for rule in self._rules:
            if rule.matches(intent) and rule.times != 0:
                if rule.times is not None:
                    rule.times -= 1
                raise ApplicationError(
                    f"fake venue refuses {intent.key}", type=rule.error, non_retryable=True
                )

    def _fill_at_touch(self, order: FakeOrder) -> None:
        """All at once at the touch if within the order's price bound; reduce-only never flips."""
        intent = order.intent
        price = self.ask if intent.side is Side.BUY else self.bid
        within = price <= intent.price if intent.side is Side.BUY else price >= intent.price
        size = intent.size
        if intent.reduce_only:
            held = self.positions[intent.account_index]
            reducible = -held if intent.side is Side.BUY else held
            size = min(size, max(reducible, Decimal(0)))
        if within and size > 0:
            self._trade(order, size, price)
        order.status = OrderStatus.FILLED if order.filled == intent.size else OrderStatus.CANCELED

    def _trade(self, order: FakeOrder, size: Decimal, price: Decimal) -> None:
        order.filled += size
        order.quote += size * price
        self.positions[order.intent.account_index] += order.intent.side.sign * size

    def order(self, ref: OrderRef) -> FakeOrder:
        order = self.orders.get(ref.index)
        if order is None or order.intent.account_index != ref.account_index:
            raise ApplicationError(f"no order {ref.index}", type="OrderNotFound", non_retryable=True)
        return order

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()


@dataclass
class FakeTrading:
    """The venue, the cycle ledger, alerts and price watches, as the hedge workflows see them."""

    venue: FakeVenue = field(default_factory=FakeVenue)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    records: list[CycleRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    watches: list[WatchSpec] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)  # workflow ids
    final_record_gate: asyncio.Event | None = None  # set: a cycle's final row waits for it
    book_gate: asyncio.Event | None = None  # set: book reads wait for it

    def called(self, name: str) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    def critical(self) -> list[Alert]:
        return [a for a in self.alerts if a.severity is Severity.CRITICAL]

    def records_of(self, workflow_id: str) -> list[CycleRecord]:
        return [r for r in self.records if r.workflow_id == workflow_id]

    @activity.defn(name="get_market")
    async def get_market(self, query: MarketQuery) -> MarketInfo:
        self.calls.append(("get_market", query))
        if query.market != MARKET:
            raise ApplicationError(f"unknown market {query.market}", type="InvalidOrder", non_retryable=True)
        return ETH

    @activity.defn(name="get_book_top")
    async def get_book_top(self, query: BookQuery) -> BookSnapshot:
        self.calls.append(("get_book_top", query))
        if self.book_gate is not None:
            await self.book_gate.wait()
        return BookSnapshot(book=self.venue.book())

    @activity.defn(name="place_order")
    async def place_order(self, intent: OrderIntent) -> OrderAck:
        self.calls.append(("place_order", intent))
        return await self.venue.place(intent)

    @activity.defn(name="place_orders")
    async def place_orders(self, batch: OrderBatch) -> OrderAcks:
        """Each intent as ``place_order`` places it; a refusal is its own order's, as the gateway's."""
        self.calls.append(("place_orders", batch))
        acks = []
        for intent in batch.intents:
            self.calls.append(("place_order", intent))
            try:
                acks.append(await self.venue.place(intent))
            except ApplicationError as exc:
                refused = {"status": OrderStatus.CANCELED, "sent_now": False, "refusal": exc.type}
                acks.append(OrderAck(key=intent.key, market=intent.market, client_order_index=0, **refused))
        return OrderAcks(acks=acks)

    @activity.defn(name="cancel_order")
    async def cancel_order(self, ref: OrderRef) -> OrderAck:
        self.calls.append(("cancel_order", ref))
        return self.venue.cancel(ref)

    @activity.defn(name="get_order")
    async def get_order(self, ref: OrderRef) -> OrderAck:
        self.calls.append(("get_order", ref))
        return self.venue.order(ref).ack()

    @activity.defn(name="await_fill")
    async def await_fill(self, req: AwaitFill) -> OrderAck:
        self.calls.append(("await_fill", req))
        return await self.venue.await_fill(req)

    @activity.defn(name="get_position")
    async def get_position(self, query: AccountQuery) -> AccountSnapshot:
        self.calls.append(("get_position", query))
        return AccountSnapshot(account=self.venue.account(query.account_index))

    @activity.defn(name="record_cycle")
    async def record_cycle(self, rec: CycleRecord) -> None:
        self.calls.append(("record_cycle", rec))
        if rec.result is not None and self.final_record_gate is not None:
            await self.final_record_gate.wait()
        self.records.append(rec)

    @activity.defn(name="send_alert")
    async def send_alert(self, alert: Alert) -> None:
        self.calls.append(("send_alert", alert))
        self.alerts.append(alert)

    @activity.defn(name="register_watch")
    async def register_watch(self, spec: WatchSpec) -> Watch:
        self.calls.append(("register_watch", spec))
        self.watches.append(spec)
        return Watch(id=len(self.watches), spec=spec)

    @activity.defn(name="deactivate_watches")
    async def deactivate_watches(self, req: DeactivateWatches) -> DeactivatedWatches:
        self.calls.append(("deactivate_watches", req))
        self.deactivated.append(req.workflow_id)
        return DeactivatedWatches(count=len([w for w in self.watches if w.workflow_id == req.workflow_id]))

    def orchestrator(self) -> list[Callable[..., Any]]:
        return [
            self.get_market,
            self.get_book_top,
            self.record_cycle,
            self.send_alert,
            self.register_watch,
            self.deactivate_watches,
        ]

    def signer(self) -> list[Callable[..., Any]]:
        return [self.place_order, self.place_orders, self.cancel_order]

    def signer_read(self) -> list[Callable[..., Any]]:
        return [self.get_order, self.await_fill, self.get_position]


@asynccontextmanager
async def trading_workers(
    client: Client,
    queue: str,
    fake: FakeTrading,
    accounts: Sequence[LegAccount],
    workflows: Sequence[type],
    **workflow_worker_options: Any,
) -> AsyncIterator[None]:
    """One worker per queue: the workflows' own, and each account's signer and read queues."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            Worker(
                client,
                task_queue=queue,
                workflows=list(workflows),
                activities=fake.orchestrator(),
                **workflow_worker_options,
            )
        )
        for leg in accounts:
            key = ("lighter", leg.account_index, leg.api_key_index)
            for q, acts in (
                (names.signer_queue(*key), fake.signer()),
                (names.signer_read_queue(*key), fake.signer_read()),
            ):
                await stack.enter_async_context(Worker(client, task_queue=q, activities=acts))
        yield
