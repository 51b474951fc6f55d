"""Two venues in memory for cross-venue hedge cycles: Lighter's ETH and GRVT's ETH_USDT_Perp, each a
``FakeVenue`` with its own book, positions and market rules, behind the real activity names on the
queues a real deployment serves them on (each account's signer queues by venue, GRVT's public reads
on its market queue, Lighter's on the workflow's own queue).

Each fake venue refuses what its venue would: an order sent to the wrong venue's queue or for
another venue's market, a size off its lot or below its minimums, a price off its tick. So a cycle
that routes or rounds a leg by the other leg's market fails here.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from perpflow import names
from perpflow.hedge.models import LegAccount
from perpflow.orders import BookQuery, BookSnapshot, MarketQuery, OrderAck, OrderIntent, OrderRef
from perpflow.venues.base import VenueName
from perpflow.venues.types import AccountState, Book, BookLevel, MarketInfo, PositionInfo
from tests.timeskip.fakes import ETH, FakeTrading, FakeVenue
from workflows.hedge.cycle import HedgeCycleWorkflow
from workflows.hedge.fleet import HedgeFleetWorkflow

LIGHTER_ETH = ETH  # lot 0.0001, tick 0.01, at least 0.001 and 1 USD
GRVT_ETH = MarketInfo(
    symbol="ETH_USDT_Perp",
    market_id=0x030401,
    size_decimals=2,  # lot 0.01
    price_decimals=1,  # tick 0.1
    min_base_amount=Decimal("0.01"),
    min_quote_amount=Decimal(50),  # 0.025 ETH at 2000
)
_accounts = itertools.count(5000, 10)


class VenueFake(FakeVenue):
    """A ``FakeVenue`` that is one venue's one market and holds orders to its rules."""

    def __init__(self, name: VenueName, market: MarketInfo, mark: Decimal, cois: Any) -> None:
        super().__init__(mark=mark)
        self.name, self.market = name, market
        self._cois = cois  # client order indexes come from one ledger, unique across venues

    async def place(self, intent: OrderIntent) -> OrderAck:
        self._check(intent)
        return await super().place(intent)

    def _check(self, intent: OrderIntent) -> None:
        m = self.market
        if (intent.venue, intent.market) != (self.name, m.symbol):
            refuse(f"{self.name} {m.symbol} got an order for {intent.venue} {intent.market}", "WrongVenue")
        lot, tick = Decimal(1).scaleb(-m.size_decimals), Decimal(1).scaleb(-m.price_decimals)
        if intent.size % lot or intent.size < m.min_base_amount:
            refuse(f"{self.name}: size {intent.size} off the lot {lot} or below {m.min_base_amount}")
        if intent.price % tick:
            refuse(f"{self.name}: price {intent.price} off the tick {tick}")
        if intent.size * intent.price < m.min_quote_amount:
            refuse(f"{self.name}: notional {intent.size * intent.price} below {m.min_quote_amount}")

    def order(self, ref: OrderRef) -> Any:
        if ref.market != self.market.symbol:
            refuse(f"{self.name} has no market {ref.market}", "WrongVenue")
        return super().order(ref)

    def book(self) -> Book:
        tick = Decimal(1).scaleb(-self.market.price_decimals)
        bid, ask = self.bid.quantize(tick), self.ask.quantize(tick)
        return Book(
            market=self.market.symbol,
            bids=[BookLevel(price=bid - i, size=Decimal(10)) for i in range(5)],
            asks=[BookLevel(price=ask + i, size=Decimal(10)) for i in range(5)],
        )

    def account(self, account_index: int) -> AccountState:
        size = self.positions[account_index]
        held = [PositionInfo(market=self.market.symbol, size=size, avg_entry_price=self.mark)] if size else []
        return AccountState(
            account_index=account_index,
            collateral=Decimal(100_000),
            available_balance=Decimal(100_000),
            positions=held,
        )


def refuse(why: str, kind: str = "InvalidOrder") -> None:
    raise ApplicationError(why, type=kind, non_retryable=True)


class MarketReads:
    """A venue's public reads on its market queue (as the orchestrator serves GRVT's)."""

    def __init__(self, venue: VenueFake) -> None:
        self.venue = venue
        self.reads: list[str] = []

    @activity.defn(name="get_market")
    async def get_market(self, query: MarketQuery) -> MarketInfo:
        self.reads.append(query.market)
        if query.market != self.venue.market.symbol:
            refuse(f"{self.venue.name} has no market {query.market}")
        return self.venue.market

    @activity.defn(name="get_book_top")
    async def get_book_top(self, query: BookQuery) -> BookSnapshot:
        self.reads.append(query.market)
        if query.market != self.venue.market.symbol:
            refuse(f"{self.venue.name} has no market {query.market}")
        return BookSnapshot(book=self.venue.book())


@dataclass
class CrossRig:
    """A cross-venue cycle's world: ``lighter`` serves the orchestrator's activities (its reads,
    the ledger, alerts, watches) on the workflow queue; ``grvt`` its own reads on GRVT's market
    queue. The maker trades on ``maker_venue``, the taker on the other."""

    client: Client
    queue: str
    lighter: FakeTrading
    grvt: FakeTrading
    grvt_reads: MarketReads
    maker: LegAccount
    taker: LegAccount
    started: list[str] = field(default_factory=list)

    def venue(self, name: VenueName) -> VenueFake:
        venue = (self.lighter if name is VenueName.LIGHTER else self.grvt).venue
        assert isinstance(venue, VenueFake)
        return venue

    @property
    def maker_venue(self) -> VenueFake:
        return self.venue(self.maker.venue or VenueName.LIGHTER)

    @property
    def taker_venue(self) -> VenueFake:
        return self.venue(self.taker.venue or VenueName.LIGHTER)


def cross_legs(maker_on: VenueName) -> tuple[LegAccount, LegAccount]:
    """Fresh accounts: the maker on ``maker_on``, the taker on the other venue; each GRVT leg names
    its venue and market, each Lighter leg takes the cycle's (venue lighter, market ETH)."""
    first = next(_accounts)

    def leg(index: int, venue: VenueName) -> LegAccount:
        if venue is VenueName.LIGHTER:
            return LegAccount(account_index=index, api_key_index=1)
        return LegAccount(account_index=index, api_key_index=0, venue=venue, market=GRVT_ETH.symbol)

    other = VenueName.LIGHTER if maker_on is VenueName.GRVT else VenueName.GRVT
    return leg(first, maker_on), leg(first + 1, other)


def signer_queues(leg: LegAccount) -> tuple[str, str]:
    key = (leg.venue or VenueName.LIGHTER, leg.account_index, leg.api_key_index)
    return names.signer_queue(*key), names.signer_read_queue(*key)


@asynccontextmanager
async def cross_rig(client: Client, maker_on: VenueName, **workflow_options: Any) -> AsyncIterator[CrossRig]:
    """Both venues (GRVT's mark a dollar above Lighter's), the hedge workflows and every queue."""
    cois = itertools.count(1)
    lighter = FakeTrading(venue=VenueFake(VenueName.LIGHTER, LIGHTER_ETH, Decimal(2000), cois))
    grvt = FakeTrading(venue=VenueFake(VenueName.GRVT, GRVT_ETH, Decimal(2001), cois))
    reads = MarketReads(grvt.venue)  # type: ignore[arg-type]
    maker, taker = cross_legs(maker_on)
    rig = CrossRig(client, f"ts-cross-{uuid.uuid4()}", lighter, grvt, reads, maker, taker)
    workers = [
        Worker(
            client,
            task_queue=rig.queue,
            workflows=[HedgeCycleWorkflow, HedgeFleetWorkflow],
            activities=lighter.orchestrator(),
            **workflow_options,
        ),
        Worker(
            client,
            task_queue=names.market_queue(VenueName.GRVT),
            activities=[reads.get_market, reads.get_book_top],
        ),
    ]
    for leg in (maker, taker):
        trading = grvt if leg.venue is VenueName.GRVT else lighter
        send, read = signer_queues(leg)
        workers += [
            Worker(client, task_queue=send, activities=trading.signer()),
            Worker(client, task_queue=read, activities=trading.signer_read()),
        ]
    async with AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield rig


def placed(venue: FakeVenue, matches: Callable[[OrderIntent], bool]) -> list[tuple[int, str, Decimal, bool]]:
    """(account, side, size, reduce-only) of the orders a venue accepted, oldest first."""
    return [(i.account_index, i.side.value, i.size, i.reduce_only) for i in venue.placed(matches)]
