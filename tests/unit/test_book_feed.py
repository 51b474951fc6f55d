"""A book fed venue-neutral updates: deltas in sequence, a gap healed by a snapshot and a replay."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.feed import BookFeed, FeedState
from perpflow.venues.feed import BookUpdate, Level
from perpflow.venues.types import Book, BookLevel


def lv(price: int, size: str) -> Level:
    return Decimal(price), Decimal(size)


def delta(seq: int, prev_seq: int, bids: list[Level]) -> BookUpdate:
    return BookUpdate("ETH", False, seq, prev_seq, bids, [])


SNAPSHOT = BookUpdate("ETH", True, 10, 10, [lv(99, "1"), lv(98, "2")], [lv(101, "1")])


async def test_deltas_in_sequence_set_absolute_sizes_and_zero_removes_a_level() -> None:
    feed = BookFeed(LocalBook("ETH"), snapshot=_unused)
    feed.apply(delta(9, 8, [lv(97, "5")]))  # before the snapshot: not trusted
    feed.apply(SNAPSHOT)
    feed.apply(delta(11, 10, [lv(99, "0"), lv(98, "3")]))
    assert feed.live and feed.seq == 11 and feed.gaps == 0
    assert feed.book.best_bid == Decimal(98)
    assert feed.book.depth(5).bids == [BookLevel(price=Decimal(98), size=Decimal(3))]


async def test_a_gap_installs_a_rest_snapshot_and_replays_the_deltas_received_meanwhile() -> None:
    fetched = asyncio.Event()
    release = asyncio.Event()

    async def snapshot(market: str) -> Book:
        fetched.set()
        await release.wait()
        return Book(market=market, bids=[BookLevel(price=Decimal(96), size=Decimal(4))], asks=[])

    feed = BookFeed(LocalBook("ETH"), snapshot)
    feed.apply(SNAPSHOT)
    feed.apply(delta(13, 12, [lv(95, "1")]))  # 11 and 12 were lost
    await fetched.wait()
    feed.apply(delta(14, 13, [lv(96, "6")]))
    assert feed.state is FeedState.RESYNCING and feed.gaps == 1
    release.set()
    while not feed.live:
        await asyncio.sleep(0)
    assert feed.seq == 14
    bids = [(x.price, x.size) for x in feed.book.depth(5).bids]
    assert bids == [lv(96, "6"), lv(95, "1")]


async def test_a_failed_snapshot_gives_up_and_waits_for_the_next_subscribe_snapshot() -> None:
    gave_up = asyncio.Event()

    async def failing(_: str) -> Book:
        raise ConnectionError("venue down")

    feed = BookFeed(LocalBook("ETH"), failing, on_give_up=gave_up.set)
    feed.apply(SNAPSHOT)
    feed.apply(delta(12, 11, []))
    await asyncio.wait_for(gave_up.wait(), 1)
    assert feed.state is FeedState.AWAITING_SNAPSHOT


async def _unused(_: str) -> Book:
    raise AssertionError("no gap expected")
