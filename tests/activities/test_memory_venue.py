"""Adding a venue is one folder and one registry line: an in-memory venue built only from the
protocols and neutral types, registered at test time, serves the real order activities.

It takes the Lighter slot: ``VenueName`` lists the venues perpflow ships, and intents and ledger
rows name one of them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import AccountQuery, CancelAll, FillsQuery, OrderIntent, OrderRef
from perpflow.risk import RiskLimits
from perpflow.venues import registry
from perpflow.venues.base import VenueAccess, VenueName
from perpflow.venues.errors import TransportError
from perpflow.venues.types import OrderKind, OrderStatus, Side, TimeInForce
from tests.plugins import memory_venue
from tests.plugins.memory_venue import MemoryVenue

SLOT = VenueName.LIGHTER
ACCOUNT = 7
env = ActivityEnvironment()
_keys = itertools.count()


@pytest.fixture
async def memory(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MemoryVenue]:
    monkeypatch.setitem(registry.ADAPTERS, SLOT, memory_venue.adapter(SLOT))
    venue = registry.build_venue(SLOT, VenueAccess("memory://", ACCOUNT, api_key_index=1))
    assert isinstance(venue, MemoryVenue)
    yield venue
    await venue.close()


@pytest.fixture
def orders(memory: MemoryVenue, ledger: Ledger) -> OrderActivities:
    return OrderActivities(memory, Orders(ledger), RiskLimits())


def intent(**fields: object) -> OrderIntent:
    values: dict[str, object] = {
        "key": f"wf-memory/step-{next(_keys)}",
        "workflow_id": "wf-memory",
        "venue": SLOT,
        "account_index": ACCOUNT,
        "market": "ETH",
        "side": Side.BUY,
        "tif": TimeInForce.POST_ONLY,
        "size": Decimal("0.05"),
        "price": Decimal(1990),
        **fields,
    }
    return OrderIntent.model_validate(values)


def ref(client_order_index: int) -> OrderRef:
    return OrderRef(account_index=ACCOUNT, market="ETH", client_order_index=client_order_index)


async def test_a_resting_order_is_found_by_its_client_index_listed_open_and_cancelled(
    orders: OrderActivities,
) -> None:
    placed = await env.run(orders.place_order, intent())
    assert (placed.status, placed.sent_now) == (OrderStatus.OPEN, True)
    found = await env.run(orders.get_order, ref(placed.client_order_index))
    assert (found.order_index, found.status) == (placed.order_index, OrderStatus.OPEN)
    listed = await env.run(orders.get_open_orders, AccountQuery(account_index=ACCOUNT, market="ETH"))
    assert [o.client_order_index for o in listed.orders] == [placed.client_order_index]
    cancelled = await env.run(orders.cancel_order, ref(placed.client_order_index))
    assert cancelled.status is OrderStatus.CANCELED


async def test_a_place_retried_after_a_lost_answer_is_found_not_sent_again(
    orders: OrderActivities, memory: MemoryVenue
) -> None:
    order = intent()
    memory.lose_next_answer = True
    with pytest.raises(TransportError):
        await env.run(orders.place_order, order)
    retried = await env.run(orders.place_order, order)
    again = await env.run(orders.place_order, order)
    assert (retried.sent_now, retried.status, again.sent_now) == (False, OrderStatus.OPEN, False)
    assert len(await memory.orders_by_client_index(retried.client_order_index)) == 1


async def test_cancel_all_leaves_no_order_open(orders: OrderActivities) -> None:
    await env.run(orders.place_order, intent())
    await env.run(orders.place_order, intent(price=Decimal(1980)))
    left = await env.run(orders.cancel_all, CancelAll(account_index=ACCOUNT, market="ETH"))
    assert left.orders == []


async def test_a_crossing_buy_fills_into_the_position_and_the_fills(orders: OrderActivities) -> None:
    done = await env.run(
        orders.place_order,
        intent(kind=OrderKind.MARKET, tif=TimeInForce.IOC, price=Decimal(2010), size=Decimal("0.1")),
    )
    assert (done.status, done.filled_size) == (OrderStatus.FILLED, Decimal("0.1"))
    snapshot = await env.run(orders.get_position, AccountQuery(account_index=ACCOUNT, market="ETH"))
    assert (snapshot.account.position("ETH").size, snapshot.account.position("ETH").avg_entry_price) == (
        Decimal("0.1"),
        Decimal(2001),
    )
    page = await env.run(orders.get_fills, FillsQuery(account_index=ACCOUNT))
    assert [(f.client_order_index, f.side, f.price) for f in page.fills] == [
        (done.client_order_index, Side.BUY, Decimal(2001))
    ]
    later = await env.run(orders.get_fills, FillsQuery(account_index=ACCOUNT, cursor=page.cursor))
    assert later.fills == []


async def test_an_order_the_venue_refuses_for_margin_is_a_final_failure(
    orders: OrderActivities, memory: MemoryVenue
) -> None:
    memory.collateral = Decimal(50)
    with pytest.raises(ApplicationError) as exc:
        await env.run(orders.place_order, intent())
    assert (exc.value.type, exc.value.non_retryable) == ("InsufficientMargin", True)
