"""Local books against the real sim: a long random walk, a sequence gap, a dropped socket."""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal
from pathlib import Path

import aiohttp
from temporalio.testing import WorkflowEnvironment

from perpflow.db.ledger import Ledger
from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.feed import BookFeed
from perpflow.marketdata.service import BOOKS, MarketDataService
from perpflow.venues.feed import StreamState
from perpflow.venues.lighter import wire
from perpflow.venues.lighter.feed import LighterFeed
from tests.plugins.marketdata import as_pairs, eventually, md_config, running, sim_book
from tests.plugins.sim import SimHandle

STEPS = 120


async def reference(sim: SimHandle) -> Decimal:
    return Decimal((await sim.admin.state())["markets"]["0"]["price"])


async def matches_sim(svc: MarketDataService, sim: SimHandle) -> bool:
    book = svc.book("ETH")
    return book is not None and as_pairs(book.depth(50)) == await sim_book(sim)


async def test_local_book_equals_the_sim_after_every_step_of_a_long_random_walk(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    rng = random.Random(7)
    async with running(md_config(sim, tmp_path), temporal_env.client, pg_ledger) as svc:
        price = await reference(sim)
        for step in range(STEPS):
            # Mostly small moves, sometimes a jump that replaces the whole ladder.
            move = Decimal(str(rng.gauss(0, 0.0005 if step % 10 else 0.01)))
            price = (price * (1 + move)).quantize(Decimal("0.01"))
            await sim.admin.set_price(0, price)
            await eventually(lambda: matches_sim(svc, sim), f"book equal at step {step}")
        feed = next(iter(svc.feeds.values()))
        assert feed.gaps == 0
        assert feed.updates >= STEPS


async def test_a_sequence_gap_is_healed_by_a_rest_snapshot(sim: SimHandle) -> None:
    async with aiohttp.ClientSession(trust_env=False) as http, http.ws_connect(sim.ws_url) as ws:
        venue = LighterFeed(sim.url)
        await venue.start(stop=asyncio.Event())
        symbol_of = venue.rest.symbol_of
        feed = BookFeed(LocalBook("ETH"), venue.book)
        await ws.receive_json()  # connected
        await ws.send_json({"type": "subscribe", "channel": "order_book/0"})
        feed.apply(wire.book_update(await ws.receive_json(), symbol_of))
        price = Decimal((await sim.admin.state())["markets"]["0"]["price"])
        updates = []
        for move in (3, -4):
            await sim.admin.set_price(0, price + move)
            while True:
                msg = json.loads((await ws.receive()).data)
                if msg.get("type") == "update/order_book":
                    updates.append(wire.book_update(msg, symbol_of))
                    break
        feed.apply(updates[1])  # updates[0] was "lost": begin_nonce no longer matches
        assert feed.gaps == 1

        async def healed() -> bool:
            return feed.live and as_pairs(feed.book.depth(50)) == await sim_book(sim)

        await eventually(healed, "book re-synced from REST")
        await venue.close()


async def test_dropped_websockets_reconnect_with_back_off_and_a_fresh_book(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    async with running(md_config(sim, tmp_path), temporal_env.client, pg_ledger) as svc:
        stream = svc.streams[BOOKS]
        await sim.admin.inject_fault("ws_drop", seconds=1.0)
        await sim.admin.set_price(0, await reference(sim) + 7)  # while we are away

        async def back() -> bool:
            return stream.reconnects >= 1 and stream.state is StreamState.CONNECTED

        await eventually(back, "the book stream to come back")
        # Refused while the fault lasted: more than one attempt, spaced by the back-off.
        assert stream.reconnects >= 2
        await eventually(lambda: matches_sim(svc, sim), "book equal after reconnect")
