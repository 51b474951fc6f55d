"""The Lighter adapter's batch placement against the simulated venue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpflow.venues.errors import InvalidOrder
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, OrderStatus, Side, TimeInForce, VenueOrder
from tests.plugins.venues import best


def bid(coi: int, price: Decimal) -> OrderSpec:
    return OrderSpec(
        market="ETH",
        client_order_index=coi,
        side=Side.BUY,
        kind=OrderKind.LIMIT,
        tif=TimeInForce.POST_ONLY,
        size=Decimal("0.05"),
        price=price,
    )


async def test_a_signed_batch_rests_every_order_and_spends_one_nonce_each(venue: LighterVenue) -> None:
    price = (await best(venue))[0] - 10
    before = await venue.next_nonce()
    txs = await venue.sign_batch([bid(7001, price), bid(7002, price - 1), bid(7003, price - 2)])
    assert [tx.nonce for tx in txs] == [before, before + 1, before + 2]
    await venue.submit_batch(txs)
    resting = {o.client_order_index: o.status for o in await venue.open_orders("ETH")}
    assert resting == dict.fromkeys((7001, 7002, 7003), OrderStatus.OPEN)
    assert await venue.next_nonce() == before + 3
    follow_up = await venue.sign_order(bid(7004, price - 3))
    assert follow_up.nonce == before + 3


async def test_a_batch_larger_than_the_venue_takes_is_refused_unsent(venue: LighterVenue) -> None:
    price = (await best(venue))[0] - 10
    too_many = [bid(8000 + i, price) for i in range(venue.max_batch + 1)]
    with pytest.raises(InvalidOrder, match="at most 50"):
        await venue.sign_batch(too_many)
    with pytest.raises(InvalidOrder, match="1 to 50"):
        await venue.submit_batch([])


def test_an_order_cancelled_for_margin_is_told_apart_from_other_cancels(venue: LighterVenue) -> None:
    def cancelled(reason: str) -> VenueOrder:
        return VenueOrder(
            market="ETH", order_index=1, client_order_index=1, side=Side.BUY, price=Decimal(1),
            size=Decimal(1), filled_size=Decimal(0), remaining_size=Decimal(1), status=OrderStatus.CANCELED,
            reason=reason,
        )  # fmt: skip

    assert venue.refused_for_margin(cancelled("canceled-margin-not-allowed"))
    assert not venue.refused_for_margin(cancelled("canceled-post-only"))
