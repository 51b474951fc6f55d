"""The GRVT feed against the sim's GRVT face: fills on the cookie-authenticated trade socket (through a
session the venue ends), a book sequence gap healed by a REST snapshot, a fill sequence gap that
drops the connection (the fills it hid are in the REST backfill), and a stalled link (GRVT's and,
for comparison, Lighter's) that turns the stream stale and heals when the link is back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import ROUND_CEILING, Decimal

import pytest

from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.feed import BookFeed
from perpflow.venues.base import Venue
from perpflow.venues.feed import FeedStream, StreamHooks, StreamOptions, StreamState, VenueFeed
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.feed import GrvtFeed
from perpflow.venues.lighter.feed import LighterFeed
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce, VenueFill
from tests.integration.test_grvt_adapter import ETH, SIZE, admin_post, best, grvt_venue, new_grvt_account
from tests.plugins.sim import SimHandle
from tests.plugins.venues import new_account, venue_for
from tests.tcp_proxy import cuttable_proxy

OPTIONS = StreamOptions(backoff_initial_s=0.1, backoff_max_s=0.5)
# A stall shows within a second: pinged five times a second, stale after one silent second.
QUICK = StreamOptions(
    connect_timeout_s=1.0, ping_interval_s=0.2, stale_after_s=1.0, backoff_initial_s=0.1, backoff_max_s=0.5
)
WAIT_S = 10.0


async def condition(check: Callable[[], bool], what: str = "the condition", timeout: float = WAIT_S) -> None:
    """Wait for a condition, failing with ``what`` after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
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


async def sweep_two_asks(venue: GrvtVenue, client_order_index: int) -> None:
    """A buy through the best ask level into the next one: one order, two trades, so the venue
    sends two fill messages in a row."""
    book = await venue.book(ETH, 5)
    top, second = book.asks[0], book.asks[1]
    lots = (top.size / SIZE).to_integral_value(rounding=ROUND_CEILING) + 1  # more than the top level
    spec = OrderSpec(
        market=ETH, client_order_index=client_order_index, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.IOC, size=lots * SIZE, price=second.price,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))


async def test_a_fill_sequence_gap_drops_the_connection_and_the_fill_it_hid_is_in_the_backfill(
    sim: SimHandle, feed: GrvtFeed
) -> None:
    account = await new_grvt_account(sim)
    venue = grvt_venue(sim, account)
    feed.add_login(account.account_index, account.api_key)
    fills: list[VenueFill] = []
    stream = feed.account("acct", account.account_index, None, fills.extend, StreamHooks(options=OPTIONS))
    try:
        async with running(stream):
            await condition(lambda: stream.state is StreamState.CONNECTED, "the trade socket")
            await buy_market(venue, 7101)  # numbers the selector: the next message is checked against it
            await condition(lambda: len(fills) == 1, "the first fill on the socket")
            await admin_post(sim, "/_sim/grvt/faults", {"kind": "seq_gap", "count": 1, "stream": "v1.fill"})
            await sweep_two_asks(venue, 7102)
            await condition(
                lambda: stream.reconnects >= 1 and stream.state is StreamState.CONNECTED, "reconnect"
            )
            backfill = await feed.recent_fills(account.account_index, ETH, None, 10)
    finally:
        await venue.close()
    swept = [f for f in backfill if f.client_order_index == 7102]
    assert len(swept) == 2 and len({f.fill_id for f in swept}) == 2
    # The message that skipped a number was handed over, then the connection dropped: the fill
    # behind it never came through the socket, only through the REST history.
    assert [f.client_order_index for f in fills] == [7101, 7102]
    assert fills[1].fill_id == swept[0].fill_id and swept[1].fill_id not in {f.fill_id for f in fills}
    assert stream.reconnects == 1


async def take(venue: Venue, market: str, client_order_index: int, size: Decimal) -> None:
    book = await venue.book(market, 5)
    assert book.best_ask is not None
    spec = OrderSpec(
        market=market, client_order_index=client_order_index, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.IOC, size=size, price=book.best_ask + 5,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))


@contextlib.asynccontextmanager
async def account_stream_through(
    sim: SimHandle, venue_name: str, upstream: str, hooks: StreamHooks, fills: list[VenueFill]
) -> AsyncIterator[tuple[FeedStream, Venue, str, Decimal]]:
    """The account's fill stream, its feed reaching the sim through ``upstream`` (a proxy's
    address); the account's own venue client (straight to the sim), market and order size."""
    feed: VenueFeed
    venue: Venue
    if venue_name == "grvt":
        g = await new_grvt_account(sim)
        feed, venue, index = GrvtFeed(f"http://{upstream}/grvt"), grvt_venue(sim, g), g.account_index
        feed.add_login(index, g.api_key)
        market, size = ETH, SIZE
    else:
        a = await new_account(sim)
        feed, venue, index = LighterFeed(f"http://{upstream}"), venue_for(sim, a), a.account_index
        market, size = "ETH", Decimal("0.01")
    await feed.start(asyncio.Event())
    try:
        async with running(feed.account("acct", index, None, fills.extend, hooks)) as stream:
            yield stream, venue, market, size
    finally:
        await venue.close()
        await feed.close()


@pytest.mark.parametrize("venue_name", ["grvt", "lighter"])
async def test_a_stalled_link_makes_the_stream_stale_and_it_heals_when_the_link_is_back(
    sim: SimHandle, venue_name: str
) -> None:
    """An account stream carries nothing while nobody trades: only the answers to its pings keep
    it fresh (GRVT answers a text ping with an error frame, Lighter with a pong). When the link
    goes silent without a reset, the stream goes stale, tears the connection down, and once the
    link passes traffic again it reconnects, resubscribed."""
    seen: list[tuple[StreamState, str]] = []
    fills: list[VenueFill] = []
    hooks = StreamHooks(on_state=lambda s: seen.append((s.state, s.status().error)), options=QUICK)
    host, _, port = sim.url.removeprefix("http://").rpartition(":")
    async with (
        cuttable_proxy(f"{host}:{port}") as link,
        account_stream_through(sim, venue_name, link.address, hooks, fills) as (stream, venue, market, size),
    ):
        await condition(lambda: stream.state is StreamState.CONNECTED, "the account stream")
        # Quiet but healthy: twice the staleness window of ping answers, never stale.
        start = stream.messages
        await condition(lambda: stream.messages >= start + 10, "ten answers to pings")
        assert [s for s, _ in seen] == [StreamState.CONNECTING, StreamState.CONNECTED]

        link.pause()
        await condition(lambda: (StreamState.STALE, "no message for 1 s") in seen, "the stream stale")
        stale_at = seen.index((StreamState.STALE, "no message for 1 s"))
        # Still silent: it tears down and tries again (the attempt hangs in the stalled link).
        await condition(
            lambda: StreamState.CONNECTING in [s for s, _ in seen[stale_at:]], "a reconnect attempt"
        )
        assert StreamState.CONNECTED not in [s for s, _ in seen[stale_at:]]

        link.resume()
        await condition(lambda: seen[-1][0] is StreamState.CONNECTED, "the stream connected again")
        assert stream.reconnects >= 1
        await take(venue, market, 7201, size)
        await condition(
            lambda: any(f.client_order_index == 7201 for f in fills), "a fill on the new connection"
        )
        again = stream.messages
        await condition(lambda: stream.messages >= again + 10, "ten more answers to pings")
        assert stream.state is StreamState.CONNECTED
        assert [s for s, _ in seen].count(StreamState.STALE) == 1
