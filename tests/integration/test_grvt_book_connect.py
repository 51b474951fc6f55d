"""GRVT books on connect come whole from the subscription's first message; REST is for gaps only.

Why no REST snapshot on connect is in docs/grvt-adapter.md (market data). This holds the premise:
books followed from their subscribe while prices move, and again after every socket drops and
reconnects, equal the REST book level for level, and the feed made no REST call and saw no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.feed import BookFeed
from perpflow.venues.feed import BookUpdate, StreamHooks, StreamOptions, StreamState
from perpflow.venues.grvt.feed import SNAPSHOT_DEPTH, GrvtFeed
from perpflow.venues.types import Book
from tests.plugins.sim import SimHandle

# The sim's markets (id, GRVT instrument); each move requotes the maker's whole ladder.
MARKETS = {0: "ETH_USDT_Perp", 1: "BTC_USDT_Perp", 2: "SOL_USDT_Perp"}
OPTIONS = StreamOptions(backoff_initial_s=0.1, backoff_max_s=0.5)
WAIT_S = 10.0


async def move_prices(sim: SimHandle, steps: int, pct: str) -> None:
    """Every market a little up, ``steps`` times, 20 ms apart: the books change around subscribes."""
    state = await sim.admin.state()
    start = {m: Decimal(state["markets"][str(m)]["price"]) for m in MARKETS}
    for step in range(1, steps + 1):
        for m, price in start.items():
            await sim.admin.set_price(m, price * (1 + Decimal(pct) * step))
        await asyncio.sleep(0.02)


def levels(book: LocalBook) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    return tuple([(lv.price, lv.size) for lv in side.top(SNAPSHOT_DEPTH)] for side in (book.bids, book.asks))


def rest_levels(rest: Book) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    return tuple([(lv.price, lv.size) for lv in side] for side in (rest.bids, rest.asks))


async def same_as_rest(feed: GrvtFeed, books: dict[str, BookFeed]) -> None:
    """Every book live and equal to REST's, level for level (a missed delta leaves a stale level)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        differ = [
            m for m, b in books.items() if not b.live or levels(b.book) != rest_levels(await feed.book(m))
        ]
        if not differ:
            return
        assert asyncio.get_running_loop().time() < deadline, f"books unlike REST: {differ}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def grvt_feed(sim: SimHandle) -> AsyncIterator[GrvtFeed]:
    feed = GrvtFeed(f"{sim.url}/grvt")
    await feed.start(asyncio.Event())
    try:
        yield feed
    finally:
        await feed.close()


async def test_books_are_whole_from_the_subscribe_snapshot_on_connect_and_reconnect(fresh: SimHandle) -> None:
    async with grvt_feed(fresh) as feed:
        fetched: list[str] = []

        async def rest_snapshot(market: str) -> Book:
            fetched.append(market)
            return await feed.book(market)

        books = {name: BookFeed(LocalBook(name), rest_snapshot) for name in MARKETS.values()}
        connects = 0

        async def connected() -> None:  # as the market-data service does on every (re)connect
            nonlocal connects
            connects += 1
            for book in books.values():
                book.expect_snapshot()

        def route(update: BookUpdate) -> None:
            books[update.market].apply(update)

        stream = feed.books("books", route, StreamHooks(on_connected=connected, options=OPTIONS))
        stop = asyncio.Event()
        task = asyncio.create_task(stream.run(stop))
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while stream.state is not StreamState.CONNECTED:
                assert asyncio.get_running_loop().time() < deadline, "the book socket never connected"
                await asyncio.sleep(0.02)
            moving = asyncio.create_task(move_prices(fresh, 10, "0.001"))
            await stream.watch(set(books))  # type: ignore[attr-defined]
            await moving
            await same_as_rest(feed, books)

            await fresh.admin.inject_fault("ws_drop")
            moving = asyncio.create_task(move_prices(fresh, 10, "-0.001"))
            while connects < 2:
                assert asyncio.get_running_loop().time() < deadline + WAIT_S, "no reconnect"
                await asyncio.sleep(0.02)
            await moving
            await same_as_rest(feed, books)
        finally:
            stop.set()
            await stream.close()
            await task
    assert stream.reconnects == 1
    assert fetched == [], "a REST snapshot was fetched on connect"
    assert [b.gaps for b in books.values()] == [0, 0, 0]
