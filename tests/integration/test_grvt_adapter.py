"""The GRVT adapter through the order activities against the sim's GRVT face (a sim the tests start):
orders placed, read, cancelled and filled exactly once, the session cookie renewed and healed."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest
from eth_account import Account
from pydantic import SecretStr
from pysdk import grvt_raw_types as t
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import AccountQuery, FillsQuery, OrderAck, OrderIntent, OrderRef
from perpflow.risk import RiskLimits
from perpflow.venues.base import VenueName
from perpflow.venues.errors import TransportError
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.signing import client_order_id
from perpflow.venues.types import OrderKind, OrderSpec, OrderStatus, Side, TimeInForce
from tests.plugins.sim import SimHandle

env = ActivityEnvironment()
_keys = itertools.count()
_api_keys = itertools.count(1)
ETH = "ETH_USDT_Perp"
SIZE = Decimal("0.05")


@dataclass(frozen=True)
class GrvtAccount:
    account_index: int
    signer: SecretStr
    api_key: SecretStr


async def admin_post(sim: SimHandle, path: str, body: dict[str, object]) -> dict[str, object]:
    """The sim's GRVT admin calls (SimAdmin speaks the Lighter face's)."""
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}{path}", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def new_grvt_account(sim: SimHandle, collateral: str = "100000") -> GrvtAccount:
    """An engine account reached through the GRVT face: an API key tagged to a fresh signer."""
    signer, api_key = Account.create(), f"grvt-key-{next(_api_keys)}"
    index = int(str((await admin_post(sim, "/_sim/accounts", {"collateral": collateral}))["account_index"]))
    await admin_post(
        sim, f"/_sim/accounts/{index}/grvt_api_keys", {"api_key": api_key, "signer": signer.address}
    )
    return GrvtAccount(index, SecretStr(signer.key.hex()), SecretStr(api_key))


def grvt_venue(sim: SimHandle, account: GrvtAccount) -> GrvtVenue:
    return GrvtVenue(
        f"{sim.url}/grvt", account.account_index, api_key_index=0,
        private_key=account.signer, session_key=account.api_key,
    )  # fmt: skip


@pytest.fixture
async def grvt_account(sim: SimHandle) -> GrvtAccount:
    return await new_grvt_account(sim)


@pytest.fixture
async def venue(sim: SimHandle, grvt_account: GrvtAccount) -> AsyncIterator[GrvtVenue]:
    v = grvt_venue(sim, grvt_account)
    yield v
    await v.close()


@pytest.fixture
async def sqlite_ledger(sqlite_url: str) -> AsyncIterator[Ledger]:
    ledger = Ledger(sqlite_url)
    yield ledger
    await ledger.close()


@pytest.fixture
def activities(venue: GrvtVenue, sqlite_ledger: Ledger) -> OrderActivities:
    return OrderActivities(venue, Orders(sqlite_ledger), RiskLimits())


def intent(account: GrvtAccount, **fields: object) -> OrderIntent:
    values: dict[str, object] = {
        "key": f"wf-grvt/step-{next(_keys)}", "workflow_id": "wf-grvt", "venue": VenueName.GRVT,
        "account_index": account.account_index, "market": ETH, "side": Side.BUY,
        "tif": TimeInForce.POST_ONLY, "size": SIZE, "price": Decimal("2000"),
    }  # fmt: skip
    values.update(fields)
    return OrderIntent.model_validate(values)


async def best(venue: GrvtVenue) -> tuple[Decimal, Decimal]:
    book = await venue.book(ETH, 5)
    assert book.best_bid is not None and book.best_ask is not None
    return book.best_bid, book.best_ask


async def until(check: Callable[[], Awaitable[OrderAck]], done: Callable[[OrderAck], bool]) -> OrderAck:
    """GRVT creates asynchronously (PENDING first): poll the condition, bounded by the test timeout."""
    while not done(ack := await check()):
        await asyncio.sleep(0.05)
    return ack


def ref(account: GrvtAccount, ack: OrderAck) -> OrderRef:
    return OrderRef(
        account_index=account.account_index, market=ETH, client_order_index=ack.client_order_index
    )


async def orders_with_coid(venue: GrvtVenue, coi: int) -> list[t.Order]:
    """Every order the venue ever held with this client order index, active or ended."""
    sub = str(venue.account_index)
    history = await venue.rest.call(venue.rest.order_history_v1(t.ApiOrderHistoryRequest(sub, limit=1000)))
    active = await venue.rest.call(venue.rest.open_orders_v1(t.ApiOpenOrdersRequest(sub)))
    coid = str(client_order_id(coi))
    return [o for o in [*history.result, *active.result] if o.metadata.client_order_id == coid]


async def test_a_post_only_bid_rests_shows_in_every_read_and_cancels(
    activities: OrderActivities, grvt_account: GrvtAccount, venue: GrvtVenue
) -> None:
    bid, _ = await best(venue)
    placed = await env.run(activities.place_order, intent(grvt_account, price=bid - 1))
    assert placed.sent_now and placed.status in (OrderStatus.PENDING, OrderStatus.OPEN)
    order = ref(grvt_account, placed)
    opened = await until(lambda: env.run(activities.get_order, order), lambda a: a.status is OrderStatus.OPEN)
    assert (opened.remaining_size, opened.order_index is not None) == (SIZE, True)
    listed = await env.run(activities.get_open_orders, AccountQuery(account_index=grvt_account.account_index))
    assert [(o.client_order_index, o.key) for o in listed.orders] == [(placed.client_order_index, placed.key)]
    cancelled = await env.run(activities.cancel_order, order)
    done = await until(lambda: env.run(activities.get_order, order), lambda a: a.status.final)
    assert OrderStatus.CANCELED in (cancelled.status, done.status) and done.status is OrderStatus.CANCELED
    assert len(await orders_with_coid(venue, placed.client_order_index)) == 1


async def test_a_market_buy_fills_into_the_position_and_the_fills(
    activities: OrderActivities, grvt_account: GrvtAccount, venue: GrvtVenue
) -> None:
    _, ask = await best(venue)
    order = intent(grvt_account, kind=OrderKind.MARKET, tif=TimeInForce.IOC, price=ask + 5)
    placed = await env.run(activities.place_order, order)
    filled = await until(
        lambda: env.run(activities.get_order, ref(grvt_account, placed)), lambda a: a.status.final
    )
    assert (filled.status, filled.filled_size) == (OrderStatus.FILLED, SIZE)
    query = AccountQuery(account_index=grvt_account.account_index, market=ETH)
    assert (await env.run(activities.get_position, query)).account.position(ETH).size == SIZE
    page = await env.run(activities.get_fills, FillsQuery(account_index=grvt_account.account_index))
    assert [(f.client_order_index, f.side, f.is_maker) for f in page.fills] == [
        (placed.client_order_index, Side.BUY, False)
    ]


async def test_a_response_dropped_after_accept_leaves_exactly_one_order(
    activities: OrderActivities, grvt_account: GrvtAccount, venue: GrvtVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    order = intent(grvt_account, price=bid - 2)
    await sim.admin.inject_fault("drop_response", count=1)
    with pytest.raises(TransportError):
        await env.run(activities.place_order, order)
    retried = await until(
        lambda: env.run(activities.place_order, order), lambda a: a.status is OrderStatus.OPEN
    )
    assert not retried.sent_now
    assert len(await orders_with_coid(venue, retried.client_order_index)) == 1


async def test_a_retry_after_the_order_filled_finds_it_in_history_and_never_places_another(
    activities: OrderActivities,
    grvt_account: GrvtAccount,
    venue: GrvtVenue,
    sim: SimHandle,
    sqlite_ledger: Ledger,
) -> None:
    _, ask = await best(venue)
    order = intent(grvt_account, kind=OrderKind.MARKET, tif=TimeInForce.IOC, price=ask + 5)
    await sim.admin.inject_fault("drop_response", count=1)
    with pytest.raises(TransportError):
        await env.run(activities.place_order, order)
    record = await Orders(sqlite_ledger).get(order.key)
    assert record is not None
    coi = record.client_order_index
    # The market order is no longer active: only the history knows its client_order_id now.
    mine = OrderRef(account_index=grvt_account.account_index, market=ETH, client_order_index=coi)
    await until(lambda: env.run(activities.get_order, mine), lambda a: a.status.final)
    retried = await env.run(activities.place_order, order)
    assert (retried.sent_now, retried.status, retried.filled_size) == (False, OrderStatus.FILLED, SIZE)
    assert len(await orders_with_coid(venue, coi)) == 1
    position = (await venue.account()).position(ETH)
    assert position.size == SIZE


async def test_resending_the_same_signed_bytes_never_makes_a_second_order(
    grvt_account: GrvtAccount, venue: GrvtVenue
) -> None:
    bid, _ = await best(venue)
    spec = OrderSpec(
        market=ETH, client_order_index=4242, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.POST_ONLY, size=SIZE, price=bid - 3,
    )  # fmt: skip
    signed = await venue.sign_order(spec)
    await venue.submit(signed)
    await venue.submit(signed)  # while active: 2012, taken as "already there"
    assert json.loads(signed.tx_info)["order"]["metadata"]["client_order_id"] == str(2**63 + 4242)
    found = await venue.order_by_client_index(ETH, 4242)
    assert found is not None
    await venue.cancel(ETH, 4242)
    while (ended := await venue.order_by_client_index(ETH, 4242)) is None or not ended.status.final:
        await asyncio.sleep(0.05)
    await venue.submit(signed)  # the same bytes once the order ended: a duplicate, not a new order
    assert await venue.open_orders(ETH) == []
    assert len(await orders_with_coid(venue, 4242)) == 1


async def test_the_session_renews_ahead_of_expiry_and_heals_when_the_venue_ends_it(
    grvt_account: GrvtAccount, venue: GrvtVenue, sim: SimHandle
) -> None:
    session = venue.session
    assert session is not None
    await venue.open_orders()
    assert session.logins == 1
    lifetime = session.expires_at - session.issued_at
    # A tenth of the lifetime before expiry (the SDK would wait for the last 5 s): renewed first.
    session._clock = lambda: session.expires_at - lifetime / 20  # type: ignore[method-assign]
    await venue.open_orders()
    assert session.logins == 2
    session._clock = time.time  # type: ignore[method-assign]
    await admin_post(sim, "/_sim/grvt/sessions/expire", {})
    # 1000: the refused cookie is dropped (not kept until its expiry) and the call goes again.
    assert await venue.open_orders() == [] and session.logins == 3
