"""The market-data worker process serving GRVT and Lighter at once, configured by its environment
(``PERPFLOW_LIGHTER_URL``, ``PERPFLOW_GRVT_URL``) and the signer YAML (a GRVT account's View-only
key): each venue's fills reach the workflow that owns the order as ``order_filled``, each stream's
state as ``feed_changed`` naming its venue, a GRVT session the venue ends costs no fill, and a band
watch on GRVT (a leg's stop-loss or take-profit, a grid's crossing) fires ``price_crossed`` once from
GRVT's book.

Then the GRVT service alone, in this process, through GRVT's outages: a fill made while the venue
refuses sockets, a fill behind a skipped sequence number, and the trade socket moving to a fresh
cookie before its own expires each reach their workflow exactly once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import ROUND_CEILING, Decimal
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.watches import Watches
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.liveness import account_stream
from perpflow.marketdata.models import WatchKind, WatchSpec
from perpflow.marketdata.service import MarketDataService
from perpflow.models import AccountRef
from perpflow.orders import OrderIntent
from perpflow.signals import Direction, FeedState
from perpflow.venues.base import Venue, VenueName
from perpflow.venues.feed import StreamState
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.stream import GrvtSocket
from perpflow.venues.registry import build_feed
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.grvt_stack import (
    ETH_GRVT,
    GrvtSimAccount,
    admin_post,
    best,
    grvt_stack,
    grvt_url,
    grvt_venue,
    new_grvt_account,
    until_true,
)
from tests.plugins.marketdata import FAST, Recorded, recorded, recorder
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, new_account, venue_for

GRVT_SIZE = Decimal("0.05")
LIGHTER_SIZE = Decimal("0.01")
ETH = 0  # the sim's market id behind GRVT's ETH_USDT_Perp (and Lighter's ETH)


async def take(orders: Orders, venue: Venue, workflow_id: str, step: str, size: Decimal) -> int:
    """An IOC buy through the ask, claimed in the ledger for ``workflow_id`` first (as the signer
    does), so its fill is that workflow's; its client order index."""
    book = await venue.book(ETH_GRVT if venue.name is VenueName.GRVT else "ETH", 5)
    assert book.best_ask is not None
    price = book.best_ask + 5
    intent = OrderIntent(
        key=names.order_key(workflow_id, step), workflow_id=workflow_id, venue=venue.name,
        account_index=venue.account_index, market=book.market, side=Side.BUY, tif=TimeInForce.IOC,
        size=size, price=price,
    )  # fmt: skip
    coi = (await orders.claim(intent)).client_order_index
    spec = OrderSpec(
        market=book.market, client_order_index=coi, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.IOC, size=size, price=price,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))
    return coi


async def watch_feed(ledger: Ledger, workflow_id: str, venue: VenueName, market: str, account: int) -> None:
    """The workflow asks for the feed state of the venue's books and of the account's fills."""
    spec = WatchSpec(
        workflow_id=workflow_id, name=f"feed-{venue}", kind=WatchKind.ORDER, venue=venue, market=market,
        account_index=account, client_order_index=1, wants_feed_state=True,
    )  # fmt: skip
    await Watches(ledger).register(spec)


def changes(t: Recorded, venue: VenueName, stream: str) -> list[FeedState]:
    """The stream's changes as told, in epoch order (signals may arrive out of order)."""
    return [c.state for c in sorted(t.feed, key=lambda c: c.epoch) if c.venue == venue and c.stream == stream]


async def register(ledger: Ledger, grvt: GrvtSimAccount, lighter: SimAccount) -> None:
    """The accounts as the signer would register them (no signer runs here)."""
    tag = uuid.uuid4().hex[:6]
    await ledger.upsert_account(
        AccountRef(name=f"g-{tag}", venue=VenueName.GRVT, account_index=grvt.account_index, api_key_index=0)
    )
    await ledger.upsert_account(
        AccountRef(name=f"l-{tag}", venue=VenueName.LIGHTER, account_index=lighter.account_index)
    )


async def test_one_worker_routes_both_venues_fills_and_feed_states_and_a_session_ended_by_grvt_loses_no_fill(
    temporal_env: WorkflowEnvironment, sim: SimHandle, postgres_url: str, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    g, l_ = await new_grvt_account(sim), await new_account(sim)
    await register(pg_ledger, g, l_)
    stack = grvt_stack(temporal_env, sim, postgres_url, tmp_path, [g], [l_], view_login=True)
    gv, lv = grvt_venue(sim, g), venue_for(sim, l_)
    orders = Orders(pg_ledger)
    worker = stack.market_data("ETH", ETH_GRVT)
    grvt_account, lighter_account = f"account-{g.account_index}", f"account-{l_.account_index}"
    try:
        async with recorder(client) as handle:
            wid = handle.id
            await watch_feed(pg_ledger, wid, VenueName.GRVT, ETH_GRVT, g.account_index)
            await watch_feed(pg_ledger, wid, VenueName.LIGHTER, "ETH", l_.account_index)
            worker.start()
            status = await stack.streams_connected(
                ["books", lighter_account, "grvt/books", f"grvt/{grvt_account}"], worker
            )
            assert {(f.venue, f.stream) for f in status.feeds} >= {("grvt", "books"), ("grvt", grvt_account)}

            async def all_up() -> bool:
                t = await recorded(handle)
                streams = [(VenueName.GRVT, "books"), (VenueName.GRVT, grvt_account),
                           (VenueName.LIGHTER, "books"), (VenueName.LIGHTER, lighter_account)]  # fmt: skip
                return all(changes(t, v, s)[-1:] == [FeedState.UP] for v, s in streams)

            await until_true(all_up, "every stream of both venues told up", worker)

            # One fill on each venue, routed by the orders table to the workflow that claimed it.
            g1 = await take(orders, gv, wid, "grvt-1", GRVT_SIZE)
            l1 = await take(orders, lv, wid, "lighter-1", LIGHTER_SIZE)

            async def filled(*cois: int) -> bool:
                return set(cois) <= {f.client_order_index for f in (await recorded(handle)).fills.values()}

            await until_true(lambda: filled(g1, l1), "a fill of each venue at the workflow", worker)
            by_coi = {f.client_order_index: f for f in (await recorded(handle)).fills.values()}
            assert (by_coi[g1].venue, by_coi[g1].account_index, by_coi[g1].market) == (
                "grvt", g.account_index, ETH_GRVT,
            )  # fmt: skip
            assert (by_coi[g1].side, by_coi[g1].is_maker) == (Side.BUY, False)
            assert (by_coi[l1].venue, by_coi[l1].account_index, by_coi[l1].market) == (
                "lighter", l_.account_index, "ETH",
            )  # fmt: skip

            # GRVT ends every session: the trade socket closes, the feed logs in again, and a fill
            # made meanwhile comes through (the reconnect's backfill from the fill history at worst).
            before = await recorded(handle)
            await admin_post(sim, "/_sim/grvt/sessions/expire", {})
            g2 = await take(orders, gv, wid, "grvt-2", GRVT_SIZE)

            seen = len(changes(before, VenueName.GRVT, grvt_account))

            async def reconnected() -> bool:
                now = changes(await recorded(handle), VenueName.GRVT, grvt_account)
                return now[seen : seen + 1] == [FeedState.DOWN] and now[-1] is FeedState.UP

            await until_true(reconnected, "GRVT's account stream down, then up again", worker)
            await until_true(lambda: filled(g2), "the fill made while GRVT's session ended", worker)
            after = await recorded(handle)
            # Lighter's streams and GRVT's book stream saw nothing of it.
            for venue, stream in [(VenueName.LIGHTER, "books"), (VenueName.LIGHTER, lighter_account),
                                  (VenueName.GRVT, "books")]:  # fmt: skip
                assert changes(after, venue, stream) == changes(before, venue, stream)
            assert {f.client_order_index for f in after.fills.values()} == {g1, l1, g2}
            assert after.raw_fills == len(after.fills)  # each fill signalled once
    finally:
        worker.kill()
        await gv.close()
        await lv.close()
    assert (tmp_path / "marketdata-fills-grvt.json").exists() and (
        tmp_path / "marketdata-fills.json"
    ).exists()


async def test_band_watches_on_grvt_fire_price_crossed_once_from_grvts_book(
    temporal_env: WorkflowEnvironment, sim: SimHandle, postgres_url: str, pg_ledger: Ledger, tmp_path: Path
) -> None:
    """A GRVT leg's take-profit (up) and stop-loss (down) bands, on a market the worker keeps for
    no other reason than these watches: each fires once as GRVT's price passes it, whatever the
    price does beyond."""
    g, l_ = await new_grvt_account(sim), await new_account(sim)
    await register(pg_ledger, g, l_)
    stack = grvt_stack(temporal_env, sim, postgres_url, tmp_path, [g], [l_], view_login=True)
    gv = grvt_venue(sim, g)
    worker = stack.market_data("ETH")  # Lighter's only: GRVT's book is kept for the watches
    bid, ask = await best(gv)
    mid = (bid + ask) / 2
    up, down = (mid + 20).quantize(Decimal("0.01")), (mid - 20).quantize(Decimal("0.01"))
    try:
        async with recorder(temporal_env.client) as handle:
            watches = Watches(pg_ledger)
            for name, level, direction in (
                ("take-profit", up, Direction.UP),
                ("stop-loss", down, Direction.DOWN),
            ):
                await watches.register(WatchSpec(
                    workflow_id=handle.id, name=name, kind=WatchKind.BAND, venue=VenueName.GRVT,
                    market=ETH_GRVT, level=level, direction=direction, hysteresis=Decimal(2),
                    reference_price=mid, wants_feed_state=True,
                ))  # fmt: skip
            worker.start()

            async def grvt_book_up() -> bool:
                return changes(await recorded(handle), VenueName.GRVT, "books")[-1:] == [FeedState.UP]

            await until_true(grvt_book_up, "GRVT's book stream told up to the watcher", worker)

            async def crossed(direction: Direction) -> bool:
                return any(c.direction is direction for c in (await recorded(handle)).crossings)

            await sim.admin.set_price(ETH, up + 10)
            await until_true(lambda: crossed(Direction.UP), "the take-profit band crossed", worker)
            await sim.admin.set_price(ETH, up + 15)  # beyond: no second crossing
            await sim.admin.set_price(ETH, down - 10)
            await until_true(lambda: crossed(Direction.DOWN), "the stop-loss band crossed", worker)
            crossings = (await recorded(handle)).crossings
    finally:
        worker.kill()
        await gv.close()
    assert [(c.venue, c.market, c.direction, c.level) for c in crossings] == [
        ("grvt", ETH_GRVT, Direction.UP, up), ("grvt", ETH_GRVT, Direction.DOWN, down),
    ]  # fmt: skip
    assert crossings[0].price >= up and crossings[1].price <= down


# --- the GRVT service in this process, through GRVT's outages -------------------------------------

OUTAGE_WAIT_S = 15.0


@asynccontextmanager
async def grvt_service(
    sim: SimHandle, client: Client, ledger: Ledger, g: GrvtSimAccount, state_dir: Path, ping_s: float = 1.0
) -> AsyncIterator[MarketDataService]:
    """GRVT's market-data service as the worker runs it (its account registered, logging in with
    the account's View key), keeping ETH's book."""
    await ledger.upsert_account(
        AccountRef(name=f"g-{uuid.uuid4().hex[:6]}", venue=VenueName.GRVT, account_index=g.account_index)
    )
    config = MarketDataConfig(
        venue=VenueName.GRVT, markets=(ETH_GRVT,), stream=replace(FAST, ping_interval_s=ping_s),
        refresh_interval_s=0.1, status_interval_s=0.2, state_dir=state_dir,
    )  # fmt: skip
    feed = build_feed(VenueName.GRVT, grvt_url(sim), {g.account_index: g.view_key})
    svc = MarketDataService(config, feed, client, ledger)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        yield svc
    finally:
        stop.set()
        await asyncio.wait_for(task, OUTAGE_WAIT_S)


async def caught_up(svc: MarketDataService, g: GrvtSimAccount, after: int = 0) -> int:
    """The account stream told up (connected, its backfill delivered) later than epoch ``after``
    and connected still, and every signal sent; that up's epoch."""
    name = account_stream(g.account_index)

    async def up() -> bool:
        change, stream = svc.liveness.current.get(name), svc.streams.get(name)
        if stream is None or stream.state is not StreamState.CONNECTED:
            return False
        return change is not None and change.state is FeedState.UP and change.epoch > after

    await until_true(up, f"{name} up (after epoch {after})", timeout=OUTAGE_WAIT_S)
    await until_true(lambda: _settled(svc), "every signal sent", timeout=OUTAGE_WAIT_S)
    return svc.liveness.current[name].epoch


async def _settled(svc: MarketDataService) -> bool:
    return svc.signaller.pending == 0


async def fills_at(handle: WorkflowHandle[Any, Any], cois: set[int]) -> Recorded:
    """What the workflow holds once every one of these orders' fills reached it."""

    async def arrived() -> bool:
        return cois <= {f.client_order_index for f in (await recorded(handle)).fills.values()}

    await until_true(arrived, f"fills of {sorted(cois)} at the workflow", timeout=OUTAGE_WAIT_S)
    return await recorded(handle)


async def past_the_top_ask(venue: GrvtVenue) -> Decimal:
    """A buy size that takes the best ask level whole and part of the next: two trades."""
    book = await venue.book(ETH_GRVT, 5)
    lots = (book.asks[0].size / GRVT_SIZE).to_integral_value(rounding=ROUND_CEILING) + 1
    return lots * GRVT_SIZE


async def test_a_fill_made_while_grvt_refuses_sockets_reaches_its_workflow_once_by_the_backfill(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    g = await new_grvt_account(sim)
    gv, orders = grvt_venue(sim, g), Orders(pg_ledger)
    try:
        async with (
            recorder(temporal_env.client) as wf,
            grvt_service(sim, temporal_env.client, pg_ledger, g, tmp_path) as svc,
        ):
            up = await caught_up(svc, g)
            stream = svc.streams[account_stream(g.account_index)]
            await sim.admin.inject_fault("ws_drop", seconds=1.5)  # every socket closed, new ones refused
            # No trade socket is open at the sim when this fill happens, and a subscribe replays no
            # fill: only the REST backfill of a later connection can bring it.
            coi = await take(orders, gv, wf.id, "refused", GRVT_SIZE)
            await fills_at(wf, {coi})
            await caught_up(svc, g, after=up)
            assert stream.reconnects >= 1
            rec = await recorded(wf)
    finally:
        await gv.close()
    assert [f.client_order_index for f in rec.fills.values()] == [coi]
    assert rec.raw_fills == 1  # signalled once, though later connections' backfills saw it again


async def test_a_fill_behind_a_skipped_fill_number_reaches_its_workflow_once_by_the_backfill(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    """One buy through two ask levels: two fill messages back to back, the first numbered past a
    skipped one. The stream hands that fill over and drops the connection before reading the
    second, so the second comes from the reconnect's backfill, where the first comes again."""
    g = await new_grvt_account(sim)
    gv, orders = grvt_venue(sim, g), Orders(pg_ledger)
    try:
        async with (
            recorder(temporal_env.client) as wf,
            grvt_service(sim, temporal_env.client, pg_ledger, g, tmp_path) as svc,
        ):
            up = await caught_up(svc, g)
            stream = svc.streams[account_stream(g.account_index)]
            first = await take(orders, gv, wf.id, "numbered", GRVT_SIZE)  # the selector's numbering starts
            await fills_at(wf, {first})
            await admin_post(sim, "/_sim/grvt/faults", {"kind": "seq_gap", "count": 1, "stream": "v1.fill"})
            swept = await take(orders, gv, wf.id, "two-levels", await past_the_top_ask(gv))
            await caught_up(svc, g, after=up)
            rec = await fills_at(wf, {first, swept})
            assert stream.reconnects == 1
            venue_fills, _ = await gv.fills(ETH_GRVT)
    finally:
        await gv.close()
    two = [f.fill_id for f in venue_fills if f.client_order_index == swept]
    assert len(two) == 2
    assert sorted(rec.fills) == sorted(
        [*two, *(f.fill_id for f in venue_fills if f.client_order_index == first)]
    )
    assert rec.raw_fills == 3  # each fill signalled once


COOKIE_TTL_S = 4.0  # renewed half-way (perpflow renews a tenth early, but never less than half)


async def test_the_trade_socket_moves_to_a_fresh_cookie_before_its_own_expires_and_loses_no_fill(
    temporal_env: WorkflowEnvironment,
    sim: SimHandle,
    pg_ledger: Ledger,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sessions of a few seconds: the socket is replaced on a fresh login before its cookie
    expires, twice, while fills keep coming (one at a time while the socket is settled, back to
    back from the moment the session falls due until the new socket is up); GRVT never has to
    end it (error 1000), and every fill reaches its workflow once."""
    caplog.set_level(logging.INFO, logger="perpflow.venues")
    g = await new_grvt_account(sim)
    gv, orders = grvt_venue(sim, g), Orders(pg_ledger)
    name = account_stream(g.account_index)
    ttl = (await admin_post(sim, "/_sim/grvt/config", {}))["cookie_ttl_s"]
    await admin_post(sim, "/_sim/grvt/config", {"cookie_ttl_s": COOKIE_TTL_S})
    try:
        async with (
            recorder(temporal_env.client) as wf,
            grvt_service(sim, temporal_env.client, pg_ledger, g, tmp_path, ping_s=0.5) as svc,
        ):
            await caught_up(svc, g)
            stream = svc.streams[name]
            assert isinstance(stream, GrvtSocket) and stream.auth is not None
            session, logins, reconnects = stream.auth, stream.auth.logins, stream.reconnects

            def switching() -> bool:
                return session.due() or stream.state is not StreamState.CONNECTED

            async def routed_or_switching(since: int) -> bool:
                return svc.router.routed > since or switching()

            cookies = [(session.issued_at, session.expires_at)]
            cois: list[int] = []
            away = 0  # fills made while no socket was up: the backfill's
            while session.logins < logins + 2 or stream.state is not StreamState.CONNECTED:
                routed, rushed = svc.router.routed, switching()
                cois.append(await take(orders, gv, wf.id, f"roll-{len(cois)}", GRVT_SIZE))
                away += stream.state is not StreamState.CONNECTED
                if session.issued_at != cookies[-1][0]:
                    cookies.append((session.issued_at, session.expires_at))
                if not rushed:
                    await until_true(partial(routed_or_switching, routed), "the fill routed")
                assert len(cois) < 500, "the session was never renewed"
            await fills_at(wf, set(cois))
            await until_true(lambda: _settled(svc), "every signal sent", timeout=OUTAGE_WAIT_S)
            rec = await recorded(wf)
    finally:
        await admin_post(sim, "/_sim/grvt/config", {"cookie_ttl_s": ttl})
        await gv.close()
    assert stream.reconnects == reconnects + 2 and len(cookies) == 3
    for (_, expires), (renewed, _) in pairwise(cookies):
        assert renewed < expires  # the new login came before the old cookie ran out
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "grvt 1000" in m or "session expired" in m]
    assert messages.count(f"stream {name} venue announced shutdown") == 2  # both switches planned
    assert away >= 1, "no fill was made while the socket was being replaced"
    assert sorted(f.client_order_index for f in rec.fills.values()) == sorted(cois)
    assert rec.raw_fills == len(cois)
