"""The signer's live view of its Lighter account (``account_all`` + ``account_all_orders``) against the
simulated venue: positions and the fate of orders just sent without a request while it is live, by
REST when its socket is dropped or silent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.risk import RiskStates
from perpflow.orders import OrderIntent
from perpflow.risk import RiskLimits
from perpflow.venues.feed import StreamOptions
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.lighter.view import LiveAccount
from perpflow.venues.ratelimit import RateBudget
from perpflow.venues.types import OrderKind, OrderSpec, OrderStatus, Side, TimeInForce, VenueOrder
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for
from tests.tcp_proxy import cuttable_proxy

env = ActivityEnvironment()
_cois = itertools.count(1)


class CountingBudget(RateBudget):
    """Counts the venue client's requests and never holds one back."""

    def __init__(self) -> None:
        super().__init__(per_minute=1e12)
        self.requests = 0

    async def acquire(self, weight: float) -> None:
        self.requests += 1


@dataclass
class Followed:
    venue: LighterVenue
    budget: CountingBudget
    view: LiveAccount


async def follow(sim: SimHandle, account: SimAccount) -> AsyncIterator[Followed]:
    """A warm client (markets, nonce) with its view running and ready, its count at zero."""
    budget = CountingBudget()
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


async def take(venue: LighterVenue, side: Side, size: str, price: Decimal) -> tuple[int, VenueOrder | None]:
    """An IOC through the book (the sim's market maker is on the other side), and its fate."""
    coi = next(_cois)
    spec = OrderSpec(
        market="ETH", client_order_index=coi, side=side, kind=OrderKind.LIMIT, tif=TimeInForce.IOC,
        size=Decimal(size), price=price,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))
    return coi, await venue.order_just_sent("ETH", coi)


async def rest_position(venue: LighterVenue) -> Decimal:
    return (await venue.account()).position("ETH").size


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


async def test_a_silent_view_goes_stale_and_positions_come_by_rest(
    sim: SimHandle, sim_account: SimAccount
) -> None:
    """The view's socket through a link the test holds silent: no pong, no update, then stale."""
    async for f in follow(sim, sim_account):
        host = sim.url.removeprefix("http://")
        async with cuttable_proxy(host) as link:
            quick = StreamOptions(ping_interval_s=0.5, stale_after_s=1.5, backoff_initial_s=0.2)
            silent = LiveAccount(
                f"http://{link.address}", sim_account.account_index, f.view._token, f.view._symbol_of,
                proxy=None, options=quick,
            )  # fmt: skip
            f.venue._live = silent  # the client reads this view from now on
            stop = asyncio.Event()
            task = asyncio.create_task(silent.follow(stop))
            try:
                await asyncio.wait_for(silent.until_ready(), 20)
                before = f.budget.requests
                assert await f.venue.position("ETH") == 0
                assert f.budget.requests == before
                link.pause()
                await asyncio.wait_for(silent.until_unready(), 20)
                assert await f.venue.position("ETH") == 0
                assert f.budget.requests == before + 1
            finally:
                link.resume()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


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
    acts = OrderActivities(venue, Orders(ledger), RiskStates(ledger), RiskLimits())
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
        acts = OrderActivities(f.venue, Orders(ledger), RiskStates(ledger), RiskLimits())
        bid, _ = await best(f.venue)
        f.budget.requests = 0
        with pytest.raises(ApplicationError) as exc:
            await env.run(acts.place_order, intent(poor, price=bid - 10, size=Decimal("1")))
        assert (exc.value.type, exc.value.non_retryable) == ("InsufficientMargin", True)
        assert "canceled-margin-not-allowed" in str(exc.value)
        assert f.budget.requests == 1  # the sendTx; the refusal came from the view
