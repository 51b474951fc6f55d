"""The GRVT feed against the sim's GRVT face: fills on the cookie-authenticated trade socket (through a
session the venue ends), and a book sequence gap healed by a REST snapshot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.feed import BookFeed
from perpflow.venues.feed import FeedStream, StreamHooks, StreamOptions, StreamState
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.feed import GrvtFeed
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce, VenueFill
from tests.integration.test_grvt_adapter import ETH, SIZE, admin_post, best, grvt_venue, new_grvt_account
from tests.plugins.sim import SimHandle

OPTIONS = StreamOptions(backoff_initial_s=0.1, backoff_max_s=0.5)


async def condition(check: Callable[[], bool]) -> None:
    """Wait for a condition (the test's own timeout bounds it)."""
    while not check():
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(stream: FeedStream) -> AsyncIterator[FeedStream]:
    stop = asyncio.Event()
    task = asyncio.create_task(stream.run(stop))
    try:
        yield stream
    finally:
        stop.set()
        await stream.close()
        await task


@pytest.fixture
async def feed(sim: SimHandle) -> AsyncIterator[GrvtFeed]:
    f = GrvtFeed(f"{sim.url}/grvt")
    await f.start(asyncio.Event())
    yield f
    await f.close()


async def buy_market(venue: GrvtVenue, client_order_index: int) -> None:
    _, ask = await best(venue)
    spec = OrderSpec(
        market=ETH, client_order_index=client_order_index, side=Side.BUY, kind=OrderKind.MARKET,
        tif=TimeInForce.IOC, size=SIZE, price=ask + 5,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))


async def test_fills_arrive_by_client_order_index_and_survive_the_venue_ending_the_session(
    sim: SimHandle, feed: GrvtFeed
) -> None:
    account = await new_grvt_account(sim)
    venue = grvt_venue(sim, account)
    feed.add_login(account.account_index, account.api_key)
    fills: list[VenueFill] = []
    stream = feed.account("acct", account.account_index, None, fills.extend, StreamHooks(options=OPTIONS))
    try:
        async with running(stream):
            await condition(lambda: stream.state is StreamState.CONNECTED)
            await buy_market(venue, 7001)
            await condition(lambda: any(f.client_order_index == 7001 for f in fills))
            await admin_post(sim, "/_sim/grvt/sessions/expire", {})  # the socket gets 1000 and closes
            await condition(lambda: stream.reconnects >= 1 and stream.state is StreamState.CONNECTED)
            await buy_market(venue, 7002)
            await condition(lambda: any(f.client_order_index == 7002 for f in fills))
    finally:
        await venue.close()
    first = next(f for f in fills if f.client_order_index == 7001)
    assert (first.market, first.side, first.size, first.is_maker) == (ETH, Side.BUY, SIZE, False)
    backfill = await feed.recent_fills(account.account_index, ETH, None, 10)
    assert {f.client_order_index for f in backfill} == {7001, 7002}
    assert {f.fill_id for f in backfill} <= {f.fill_id for f in fills}


async def test_a_book_sequence_gap_is_healed_by_a_rest_snapshot(sim: SimHandle, feed: GrvtFeed) -> None:
    book = BookFeed(LocalBook(ETH), feed.book)
    stream = feed.books("books", book.apply, StreamHooks(options=OPTIONS))

    async def same_as_rest() -> bool:
        rest = await feed.book(ETH)
        return (book.book.best_bid, book.book.best_ask) == (rest.best_bid, rest.best_ask)

    async with running(stream):
        await stream.watch({ETH})  # type: ignore[attr-defined]
        await condition(lambda: book.live)
        price = Decimal(str((await sim.admin.state())["markets"]["0"]["price"]))
        await admin_post(sim, "/_sim/grvt/faults", {"kind": "seq_gap", "count": 1, "stream": "v1.book.d"})
        await sim.admin.set_price(0, price + 7)
        await condition(lambda: book.gaps == 1 and book.live)
        await sim.admin.set_price(0, price + 9)  # deltas apply on the re-synced book again
        while not await same_as_rest():
            await asyncio.sleep(0.02)
        assert book.gaps == 1 and stream.state is StreamState.CONNECTED and stream.reconnects == 0
        assert book.book.best_bid is not None and book.book.best_bid > price
