"""The signer's live view of its Lighter account (``account_all`` + ``account_all_orders``) against the
simulated venue: positions and the fate of orders just sent without a request while it is live, by
REST when its socket is dropped or silent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.chain.backoff import Backoff
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import OrderIntent
from perpflow.risk import RiskLimits
from perpflow.venues.errors import AuthError
from perpflow.venues.feed import StreamOptions
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.lighter.view import LiveAccount
from perpflow.venues.ratelimit import RateBudget
from perpflow.venues.types import OrderKind, OrderSpec, OrderStatus, Side, TimeInForce, VenueOrder
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for
from tests.tcp_proxy import CuttableProxy, cuttable_proxy
from workers import signer

env = ActivityEnvironment()
_cois = itertools.count(1)


@dataclass
class Followed:
    venue: LighterVenue
    budget: RateBudget
    view: LiveAccount


async def follow(sim: SimHandle, account: SimAccount) -> AsyncIterator[Followed]:
    """A warm client (markets, nonce) with its view running and ready, its count at zero."""
    budget = RateBudget(per_minute=1e12)  # holds nothing back; its requests count them
    venue = venue_for(sim, account, budget=budget, weighted=False)
    stop = asyncio.Event()
    task = asyncio.create_task(venue.follow(stop))
    try:
        await venue.markets()
        await venue.refresh_nonce()
        assert venue.account_view is not None
        await asyncio.wait_for(venue.account_view.until_ready(), 20)
        budget.requests = 0
        yield Followed(venue, budget, venue.account_view)
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await venue.close()


@pytest.fixture
async def followed(sim: SimHandle, sim_account: SimAccount) -> AsyncIterator[Followed]:
    async for f in follow(sim, sim_account):
        yield f


async def send_ioc(venue: LighterVenue, side: Side, size: str, price: Decimal, market: str = "ETH") -> int:
    """An IOC through the book (the sim's market maker is on the other side); its client index."""
    coi = next(_cois)
    spec = OrderSpec(
        market=market, client_order_index=coi, side=side, kind=OrderKind.LIMIT, tif=TimeInForce.IOC,
        size=Decimal(size), price=price,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))
    return coi


async def take(
    venue: LighterVenue, side: Side, size: str, price: Decimal, market: str = "ETH"
) -> tuple[int, VenueOrder | None]:
    """An IOC through the book, and its fate."""
    coi = await send_ioc(venue, side, size, price, market)
    return coi, await venue.order_just_sent(market, coi)


async def rest_position(venue: LighterVenue, market: str = "ETH") -> Decimal:
    return (await venue.account()).position(market).size


async def test_the_views_position_is_the_rest_position_after_fills_both_ways_and_partial(
    sim: SimHandle, followed: Followed
) -> None:
    venue, budget = followed.venue, followed.budget
    bid, ask = await best(venue)
    steps = [
        (Side.BUY, "0.1", ask + 50, None),
        (Side.BUY, "0.2", ask + 50, 0.5),
        (Side.SELL, "0.5", bid - 50, None),
    ]
    expected = [Decimal("0.1"), Decimal("0.2"), Decimal("-0.3")]
    for (side, size, price, partial), position in zip(steps, expected, strict=True):
        if partial is not None:
            await sim.admin.inject_fault("partial_fill", count=1, ratio=partial)
        sent = budget.requests
        _, found = await take(venue, side, size, price)
        assert budget.requests == sent + 1  # the sendTx only: the fate came from the view
        assert found is not None and found.status in (OrderStatus.FILLED, OrderStatus.CANCELED)
        assert found.filled_size == (Decimal(size) if partial is None else Decimal(size) * Decimal(partial))
        before = budget.requests
        assert await venue.position("ETH") == position
        assert budget.requests == before  # no request while the view is ready
        assert await rest_position(venue) == position


async def test_a_dropped_view_falls_back_to_rest_until_it_is_ready_again(
    sim: SimHandle, followed: Followed
) -> None:
    venue, budget, view = followed.venue, followed.budget, followed.view
    _, ask = await best(venue)
    await take(venue, Side.BUY, "0.1", ask + 50)
    await sim.admin.inject_fault("ws_drop", seconds=5)
    try:
        await asyncio.wait_for(view.until_unready(), 10)
        before = budget.requests
        assert await venue.position("ETH") == Decimal("0.1")
        assert budget.requests == before + 1  # the account read
        coi, found = await take(venue, Side.BUY, "0.1", ask + 50)
        assert found is not None and found.client_order_index == coi  # by the REST look-up
    finally:
        await sim.admin.clear_faults()
    await asyncio.wait_for(view.until_ready(), 30)
    before = budget.requests
    assert await venue.position("ETH") == Decimal("0.2")
    assert budget.requests == before


@asynccontextmanager
async def linked_view(
    sim: SimHandle, f: Followed, options: StreamOptions, **kwargs: Callable[[], str]
) -> AsyncIterator[tuple[CuttableProxy, LiveAccount]]:
    """The client's view replaced by one whose socket goes through a link the test can hold
    silent, ready; ``token`` may replace the view's token source."""
    async with cuttable_proxy(sim.url.removeprefix("http://")) as link:
        linked = LiveAccount(
            f"http://{link.address}", f.venue.account_index, kwargs.get("token", f.view._token),
            f.view._symbol_of, proxy=None, options=options,
        )  # fmt: skip
        f.venue._live = linked  # the client reads this view from now on
        stop = asyncio.Event()
        task = asyncio.create_task(linked.follow(stop))
        try:
            await asyncio.wait_for(linked.until_ready(), 20)
            yield link, linked
        finally:
            link.resume()
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def until_filled(venue: LighterVenue, coi: int) -> None:
    """Until the venue's REST look-up shows the order filled (each try is one request)."""
    while (
        found := await venue.order_by_client_index("ETH", coi)
    ) is None or found.status is not OrderStatus.FILLED:
        pass


async def test_a_fill_made_while_the_view_is_silent_comes_by_rest_once_the_view_is_stale(
    sim: SimHandle, followed: Followed
) -> None:
    """The view's socket through a link the test holds silent: no pong, no update, then stale."""
    quick = StreamOptions(ping_interval_s=0.5, stale_after_s=1.5, backoff_initial_s=0.2)
    async with linked_view(sim, followed, quick) as (link, silent):
        venue, budget = followed.venue, followed.budget
        _, ask = await best(venue)
        before = budget.requests
        assert await venue.position("ETH") == 0
        assert budget.requests == before
        link.pause()
        coi = await send_ioc(venue, Side.BUY, "0.1", ask + 50)
        await asyncio.wait_for(until_filled(venue, coi), 20)
        await asyncio.wait_for(silent.until_unready(), 20)
        before = budget.requests
        assert await venue.position("ETH") == Decimal("0.1")  # not the silent view's 0
        assert budget.requests == before + 1  # the account read


async def test_a_view_that_lags_an_order_just_sent_is_not_read_until_it_has_resynced(
    sim: SimHandle, followed: Followed
) -> None:
    """A link held silent well within the view's freshness bound: the order's fate does not
    show in time, so it comes by REST, and so does the next position, until the view has had
    both channels answered again."""
    patient = StreamOptions(ping_interval_s=60.0, stale_after_s=120.0)
    async with linked_view(sim, followed, patient) as (link, lagging):
        venue, budget = followed.venue, followed.budget
        _, ask = await best(venue)
        link.pause()
        coi, found = await take(venue, Side.BUY, "0.1", ask + 50)
        assert found is not None and found.client_order_index == coi  # by the REST look-up
        assert found.status is OrderStatus.FILLED
        before = budget.requests
        assert await venue.position("ETH") == Decimal("0.1")  # not the lagging view's 0
        assert budget.requests == before + 1
        link.resume()
        await asyncio.wait_for(lagging.until_ready(), 20)
        before = budget.requests
        assert await venue.position("ETH") == Decimal("0.1")
        assert budget.requests == before  # the view again, resynchronised


async def test_an_update_of_one_market_keeps_the_other_markets_position_and_a_close_reads_zero(
    sim: SimHandle, followed: Followed
) -> None:
    venue, budget = followed.venue, followed.budget
    _, btc_ask = await best(venue, "BTC")
    bid, ask = await best(venue)
    await take(venue, Side.BUY, "0.001", btc_ask + 500, "BTC")
    for side, size, price, eth in [
        (Side.BUY, "0.1", ask + 50, Decimal("0.1")),
        (Side.BUY, "0.1", ask + 50, Decimal("0.2")),  # an update that carries ETH alone
        (Side.SELL, "0.2", bid - 50, Decimal(0)),  # closed: ETH reads 0
    ]:
        await take(venue, side, size, price)
        before = budget.requests
        assert (await venue.position("ETH"), await venue.position("BTC")) == (eth, Decimal("0.001"))
        assert budget.requests == before  # both from the view
    assert (await rest_position(venue), await rest_position(venue, "BTC")) == (0, Decimal("0.001"))


async def test_a_frame_the_view_cannot_read_reconnects_it_and_it_is_read_again(
    sim: SimHandle, followed: Followed
) -> None:
    venue, budget, live = followed.venue, followed.budget, followed.view
    view = live._view
    assert view is not None
    _, ask = await best(venue)
    await sim.admin.inject_fault("ws_garble", count=1)
    try:
        await take(venue, Side.BUY, "0.1", ask + 50)
        await asyncio.wait_for(live.until_ready(), 30)
    finally:
        await sim.admin.clear_faults()
    assert (live._view, view.reconnects) == (view, 1)  # the same view, reconnected once
    before = budget.requests
    assert await venue.position("ETH") == Decimal("0.1")
    assert budget.requests == before


async def test_the_signer_restarts_a_view_that_ended_and_logs_it(
    sim: SimHandle, followed: Followed, caplog: pytest.LogCaptureFixture
) -> None:
    """The view's auth token refused once: its subscribe cannot be made, the view ends, the
    signer logs that and starts it again."""
    token, refused = followed.view._token, []

    def once_refused() -> str:
        if not refused:
            refused.append(True)
            raise AuthError("refused once")
        return token()

    live = LiveAccount(
        sim.url, followed.venue.account_index, once_refused, followed.view._symbol_of, proxy=None
    )
    followed.venue._live = live
    stop = asyncio.Event()
    task = asyncio.create_task(signer.keep_following(followed.venue, stop, Backoff(0.05, 0.1)))
    try:
        await asyncio.wait_for(live.until_ready(), 20)
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert refused == [True]
    ended = [r for r in caplog.records if r.name == "perpflow.signer" and "account view ended" in r.message]
    assert len(ended) == 1 and "refused once" in ended[0].message


def intent(account: SimAccount, **fields: object) -> OrderIntent:
    values: dict[str, object] = {
        "key": f"wf-view/step-{next(_cois)}",
        "workflow_id": "wf-view",
        "account_index": account.account_index,
        "market": "ETH",
        "side": Side.BUY,
        "tif": TimeInForce.POST_ONLY,
        "size": Decimal("0.05"),
    }
    values.update(fields)
    return OrderIntent.model_validate(values)


async def test_place_order_learns_rested_and_post_only_cancelled_from_the_view_in_one_request(
    followed: Followed, sim_account: SimAccount, ledger: Ledger
) -> None:
    venue, budget = followed.venue, followed.budget
    acts = OrderActivities(venue, Orders(ledger), RiskLimits())
    bid, ask = await best(venue)
    budget.requests = 0
    rested = await env.run(acts.place_order, intent(sim_account, price=bid - 10))
    assert (rested.status, budget.requests) == (OrderStatus.OPEN, 1)  # the sendTx alone
    crossing = await env.run(acts.place_order, intent(sim_account, price=ask + 10))
    assert (crossing.status, crossing.reason, budget.requests) == (
        OrderStatus.CANCELED,
        "canceled-post-only",
        2,
    )


async def test_a_margin_refusal_shown_by_the_view_still_raises_insufficient_margin(
    sim: SimHandle, ledger: Ledger
) -> None:
    poor = await new_account(sim, collateral="10")
    async for f in follow(sim, poor):
        acts = OrderActivities(f.venue, Orders(ledger), RiskLimits())
        bid, _ = await best(f.venue)
        f.budget.requests = 0
        with pytest.raises(ApplicationError) as exc:
            await env.run(acts.place_order, intent(poor, price=bid - 10, size=Decimal("1")))
        assert (exc.value.type, exc.value.non_retryable) == ("InsufficientMargin", True)
        assert "canceled-margin-not-allowed" in str(exc.value)
        assert f.budget.requests == 1  # the sendTx; the refusal came from the view
