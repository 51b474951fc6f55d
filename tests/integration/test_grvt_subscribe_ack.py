"""An account stream is connected, and fires ``on_connected`` (the market-data service's REST fill
backfill), only once the venue has answered its subscribe: the subscription is live by then, so a
fill made before it is in the backfill and every later one comes on the socket.

The GRVT face's ``subscribe_hold`` fault keeps subscribes waiting, neither live nor answered, so a
fill can be made in the window between the socket opening and its subscription going live. When
the stream said connected as soon as its subscribe was sent, the backfill read the fill history
before that fill, the socket never carried it, and it was lost until another reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from perpflow.venues.feed import FeedStream, StreamHooks, StreamOptions, StreamState
from perpflow.venues.grvt.feed import GrvtFeed
from perpflow.venues.lighter.feed import LighterFeed
from perpflow.venues.types import VenueFill
from tests.integration.test_grvt_adapter import ETH, admin_post, grvt_venue, new_grvt_account
from tests.integration.test_grvt_adapter_feed import OPTIONS, WAIT_S, buy_market, condition, running, take
from tests.plugins.sim import SimHandle
from tests.plugins.venues import new_account, venue_for

FAULTS = "/_sim/grvt/faults"
# A subscribe left unanswered fails the attempt after half a second.
SHORT = StreamOptions(connect_timeout_s=0.5, backoff_initial_s=0.1, backoff_max_s=0.3)


async def held(sim: SimHandle) -> int:
    """How many subscribes the GRVT face holds back."""
    return int(str((await admin_post(sim, FAULTS, {"kind": "subscribe_hold"}))["held"]))


async def hold(sim: SimHandle, on: bool) -> None:
    await admin_post(sim, FAULTS, {"kind": "subscribe_hold", "hold": on})


async def until_held(sim: SimHandle) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while await held(sim) == 0:
        assert asyncio.get_running_loop().time() < deadline, "no subscribe reached the venue"
        await asyncio.sleep(0.02)


@pytest.fixture
async def feed(sim: SimHandle) -> AsyncIterator[GrvtFeed]:
    f = GrvtFeed(f"{sim.url}/grvt")
    await f.start(asyncio.Event())
    yield f
    await f.close()
    await hold(sim, False)


def states(stream: FeedStream, seen: list[StreamState]) -> None:
    seen.append(stream.state)


class Watched:
    """An account stream with the states it went through and its ``on_connected`` calls."""

    def __init__(self, feed: GrvtFeed, account_index: int, options: StreamOptions) -> None:
        self.seen: list[StreamState] = []
        self.connects: list[int] = []
        hooks = StreamHooks(
            on_connected=self.connected, on_state=lambda s: states(s, self.seen), options=options
        )
        self.stream = feed.account("acct", account_index, None, lambda _: None, hooks)

    async def connected(self) -> None:
        self.connects.append(1)


async def test_a_fill_made_before_the_subscription_is_live_comes_in_the_backfill_run_after_it(
    sim: SimHandle, feed: GrvtFeed
) -> None:
    account = await new_grvt_account(sim)
    venue = grvt_venue(sim, account)
    feed.add_login(account.account_index, account.api_key)
    on_socket: list[VenueFill] = []
    backfills: list[list[VenueFill]] = []
    held_at_connect: list[int] = []

    async def backfill() -> None:  # what the market-data service does on every connect
        held_at_connect.append(await held(sim))
        backfills.append(await feed.recent_fills(account.account_index, ETH, None, 10))

    hooks = StreamHooks(on_connected=backfill, options=OPTIONS)
    stream = feed.account("acct", account.account_index, None, on_socket.extend, hooks)
    # A second stream of the account, live before the hold: it shows when the venue has published
    # a fill (the sim publishes on its next tick, which a subscription live by then would get).
    witnessed: list[VenueFill] = []
    witness_hooks = StreamHooks(options=OPTIONS)
    witness = feed.account("witness", account.account_index, None, witnessed.extend, witness_hooks)
    try:
        async with running(witness):
            await condition(lambda: witness.state is StreamState.CONNECTED, "the witness stream")
            await hold(sim, True)
            async with running(stream):
                await until_held(sim)
                # Socket open, subscribe at the venue but not live: not connected, no backfill yet.
                await buy_market(venue, 7301)
                await condition(lambda: len(witnessed) == 1, "the fill published")
                assert (stream.state, held_at_connect) == (StreamState.CONNECTING, [])
                await hold(sim, False)
                await condition(lambda: len(backfills) == 1, "the backfill after the answer")
                assert stream.state is StreamState.CONNECTED and held_at_connect == [0]
                await buy_market(venue, 7302)
                await condition(lambda: any(f.client_order_index == 7302 for f in on_socket), "a live fill")
    finally:
        await venue.close()
    # 7301 was made before the subscription went live: only the backfill has it.
    assert [f.client_order_index for f in backfills[0]] == [7301]
    assert [f.client_order_index for f in on_socket] == [7302]
    assert stream.reconnects == 0


async def test_a_subscribe_left_unanswered_is_a_failed_connection(sim: SimHandle, feed: GrvtFeed) -> None:
    account = await new_grvt_account(sim)
    feed.add_login(account.account_index, account.api_key)
    w = Watched(feed, account.account_index, SHORT)
    stream, seen, connects = w.stream, w.seen, w.connects
    await hold(sim, True)
    async with running(stream):
        await condition(lambda: stream.failures >= 2, "two timed-out attempts")
        assert "TimeoutError" in stream.status().error
        assert StreamState.CONNECTED not in seen and connects == []
        await hold(sim, False)
        await condition(lambda: stream.state is StreamState.CONNECTED, "connected once answered")
    assert connects == [1]


async def test_a_refused_subscribe_is_a_failed_connection(sim: SimHandle, feed: GrvtFeed) -> None:
    """A sub-account the session may not read: GRVT answers the subscribe with an error (1001)."""
    account, other = await new_grvt_account(sim), await new_grvt_account(sim)
    feed.add_login(other.account_index, account.api_key)  # logs in as ``account``
    w = Watched(feed, other.account_index, OPTIONS)
    stream, seen, connects = w.stream, w.seen, w.connects
    async with running(stream):
        await condition(lambda: stream.failures >= 2, "two refused attempts")
        assert "grvt subscribe v1.fill 1001" in stream.status().error
    assert StreamState.CONNECTED not in seen and connects == []


async def test_refused_sockets_neither_connect_nor_backfill(sim: SimHandle, feed: GrvtFeed) -> None:
    """Under ``ws_drop`` the sim takes each upgrade and closes it at once (1013): each attempt
    fails before any subscribe answer, so the stream does not flap connected with a backfill."""
    account = await new_grvt_account(sim)
    feed.add_login(account.account_index, account.api_key)
    w = Watched(feed, account.account_index, OPTIONS)
    stream, seen, connects = w.stream, w.seen, w.connects
    async with running(stream):
        await condition(lambda: stream.state is StreamState.CONNECTED, "the trade socket")
        await sim.admin.inject_fault("ws_drop", seconds=1.5)
        # The drop counts one reconnect, each refused attempt one more (the first retry is due
        # well within the refusal).
        await condition(
            lambda: stream.reconnects >= 2 and stream.state is StreamState.CONNECTED,
            "connected after refused attempts",
        )
    assert seen.count(StreamState.CONNECTED) == 2 and len(connects) == 2


async def test_a_lighter_account_stream_is_connected_once_its_subscription_answered(sim: SimHandle) -> None:
    """Lighter answers ``account_all`` with its first message (the account's recent trades): the
    stream is connected after it, a refused subscription never is."""
    a = await new_account(sim)
    venue, feed = venue_for(sim, a), LighterFeed(sim.url)
    await feed.start(asyncio.Event())
    fills: list[VenueFill] = []
    read_at_connect: list[int] = []
    seen: list[StreamState] = []
    try:
        await take(venue, "ETH", 7401, Decimal("0.01"))
        streams: list[FeedStream] = []

        async def connected() -> None:
            read_at_connect.append(streams[0].messages)

        hooks = StreamHooks(on_connected=connected, options=OPTIONS)
        streams.append(feed.account("acct", a.account_index, None, fills.extend, hooks))
        async with running(streams[0]):
            await condition(lambda: any(f.client_order_index == 7401 for f in fills), "the answer's trade")
        assert read_at_connect == [1]  # the answer was read, and handed over after on_connected

        hooks = StreamHooks(on_state=lambda s: states(s, seen), options=OPTIONS)
        unknown = feed.account("nobody", 10**9, None, fills.extend, hooks)
        async with running(unknown):
            await condition(lambda: unknown.failures >= 2, "two refused attempts")
        assert StreamState.CONNECTED not in seen
    finally:
        await venue.close()
        await feed.close()
