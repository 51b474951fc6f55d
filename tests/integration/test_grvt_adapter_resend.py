"""GRVT orders signed once (a sim the tests start): the signed bytes are in the ledger before they are
sent, a send in doubt or refused goes again with those stored bytes (signed on an earlier UTC day
too, when a fresh signature would differ), and the check right after a send is one request while
the look-up before a resend reads the histories as well."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pysdk import grvt_raw_types as t
from temporalio.exceptions import ApplicationError

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import OrderBatch, OrderIntent
from perpflow.orders.errors import OrderPending
from perpflow.orders.status import OrderState
from perpflow.risk import RiskLimits
from perpflow.venues.base import SignedTx
from perpflow.venues.grvt import client as grvt_client
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.types import OrderKind, OrderStatus, TimeInForce, VenueOrder
from tests.integration.test_grvt_adapter import (
    ETH,
    GrvtAccount,
    best,
    env,
    grvt_venue,
    intent,
    new_grvt_account,
    orders_with_coid,
)
from tests.plugins.sim import SimHandle

DAY_NS = 86_400 * 10**9
CREATE_ORDER = "/grvt/td/full/v1/create_order"


@pytest.fixture
async def grvt_account(sim: SimHandle) -> GrvtAccount:
    return await new_grvt_account(sim)


@pytest.fixture
async def venue(sim: SimHandle, grvt_account: GrvtAccount) -> AsyncIterator[GrvtVenue]:
    v = grvt_venue(sim, grvt_account)
    yield v
    await v.close()


@pytest.fixture
def activities(venue: GrvtVenue, ledger: Ledger) -> OrderActivities:
    """The order activities on each ledger backend in turn."""
    return OrderActivities(venue, Orders(ledger), RiskLimits())


@contextmanager
def signing_a_day_earlier() -> Iterator[None]:
    """The adapter signs as on the previous UTC day: another expiration, so other bytes than a
    signature made today."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grvt_client, "time", SimpleNamespace(time_ns=lambda: time.time_ns() - DAY_NS))
        yield


def signature(order_json: dict[str, Any]) -> tuple[str, str, str, int]:
    sig = order_json["signature"]
    return sig["r"], sig["s"], str(sig["expiration"]), int(sig["nonce"])


def sent_signature(tx: SignedTx) -> tuple[str, str, str, int]:
    return signature(json.loads(tx.tx_info)["order"])


def venue_signature(order: t.Order) -> tuple[str, str, str, int]:
    sig = order.signature
    return sig.r, sig.s, str(sig.expiration), int(sig.nonce)


def requests_of(venue: GrvtVenue, patch: pytest.MonkeyPatch) -> list[str]:
    """The name of every REST call the venue makes from now on (``create_order``, ``order``, ...)."""
    names: list[str] = []
    post = venue.rest.post_text

    async def recorded(is_auth: bool, path: str, text: str) -> dict[str, Any]:
        names.append(path.rsplit("/", 1)[-1])
        return await post(is_auth, path, text)

    patch.setattr(venue.rest, "post_text", recorded)
    return names


async def stored(ledger: Ledger, order: OrderIntent) -> tuple[OrderState, SignedTx]:
    record = await Orders(ledger).get(order.key)
    assert record is not None and record.signed is not None
    return record.status, record.signed


async def test_the_signed_bytes_are_in_the_ledger_before_they_are_sent(
    activities: OrderActivities,
    grvt_account: GrvtAccount,
    venue: GrvtVenue,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bid, _ = await best(venue)
    order = intent(grvt_account, price=bid - 1)
    at_send: list[tuple[SignedTx, tuple[OrderState, SignedTx]]] = []
    submit = venue.submit

    async def observed(tx: SignedTx) -> None:
        at_send.append((tx, await stored(ledger, order)))
        await submit(tx)

    monkeypatch.setattr(venue, "submit", observed)
    placed = await env.run(activities.place_order, order)
    [(sent, (status, in_ledger))] = at_send
    assert (status, in_ledger) == (OrderState.SUBMITTING, sent)
    [on_venue] = await orders_with_coid(venue, placed.client_order_index)
    assert venue_signature(on_venue) == sent_signature(sent)
    assert in_ledger.resend_until is not None
    assert in_ledger.resend_until > datetime.now(UTC) + timedelta(days=25)
    assert (await stored(ledger, order))[1] == sent  # read back whole after the send


async def test_a_send_in_doubt_goes_again_with_the_bytes_stored_a_day_earlier_after_the_full_look_up(
    activities: OrderActivities,
    grvt_account: GrvtAccount,
    venue: GrvtVenue,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, ask = await best(venue)
    # An IOC that fills at once: a second order would fill again, it could not hide behind 2012.
    order = intent(grvt_account, kind=OrderKind.LIMIT, tif=TimeInForce.IOC, price=ask + 5)
    orders = Orders(ledger)
    record = await orders.claim(order)
    # Yesterday the signer stored its signed order, then died before the bytes left.
    with signing_a_day_earlier():
        yesterdays = await venue.sign_order(record.spec())
    assert sent_signature(yesterdays) != sent_signature(await venue.sign_order(record.spec()))
    await orders.mark_submitting(order.key, yesterdays)
    with pytest.raises(OrderPending):
        await env.run(activities.place_order, order)
    assert await orders_with_coid(venue, record.client_order_index) == []
    venue.indexing_grace_s = 0.0
    calls = requests_of(venue, monkeypatch)
    placed = await env.run(activities.place_order, order)
    assert placed.sent_now
    looked = calls[: calls.index("create_order")]
    assert {"order", "order_history", "fill_history"} <= set(looked)  # in full before the resend
    [on_venue] = await orders_with_coid(venue, record.client_order_index)
    assert venue_signature(on_venue) == sent_signature(yesterdays)
    assert (await stored(ledger, order))[1] == yesterdays


async def test_a_429_keeps_the_stored_bytes_and_the_retry_sends_them_unchanged(
    activities: OrderActivities, grvt_account: GrvtAccount, venue: GrvtVenue, ledger: Ledger, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    order = intent(grvt_account, price=bid - 2)
    await sim.admin.inject_fault("http_429", count=1, path=CREATE_ORDER)
    with signing_a_day_earlier(), pytest.raises(ApplicationError) as refused:
        await env.run(activities.place_order, order)
    assert refused.value.type == "RateLimited"
    status, first = await stored(ledger, order)
    assert status is OrderState.INTENT
    placed = await env.run(activities.place_order, order)  # signed today, this would be other bytes
    assert placed.sent_now and placed.status in (OrderStatus.PENDING, OrderStatus.OPEN)
    [on_venue] = await orders_with_coid(venue, placed.client_order_index)
    assert venue_signature(on_venue) == sent_signature(first)


async def test_the_check_right_after_a_send_is_one_request(
    activities: OrderActivities,
    grvt_account: GrvtAccount,
    venue: GrvtVenue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    never_sent = 999_999
    await venue.markets()
    calls = requests_of(venue, monkeypatch)
    assert await venue.order_just_sent(ETH, never_sent) is None
    assert calls == ["order"]  # not visible (yet): one request, whatever the histories hold
    calls.clear()
    assert await venue.order_by_client_index(ETH, never_sent) is None
    assert calls == ["order", "order_history", "fill_history"]  # what a resend waits for
    calls.clear()
    # The sim shows an order as soon as it answers, so which look-up the gateway chose is watched.
    looks: list[str] = []
    for name in ("order_just_sent", "order_by_client_index"):
        monkeypatch.setattr(venue, name, watched(looks, name, getattr(venue, name)))
    bid, _ = await best(venue)
    placed = await env.run(activities.place_order, intent(grvt_account, price=bid - 3))
    assert placed.sent_now and calls[calls.index("create_order") :] == ["create_order", "order"]
    assert looks == ["order_just_sent"]


def watched(looks: list[str], name: str, look: Callable[[str, int], Awaitable[VenueOrder | None]]) -> object:
    async def noted(symbol: str, client_order_index: int) -> VenueOrder | None:
        looks.append(name)
        return await look(symbol, client_order_index)

    return noted


async def test_a_ladder_refused_by_a_429_goes_again_through_place_orders_with_the_stored_bytes(
    activities: OrderActivities, grvt_account: GrvtAccount, venue: GrvtVenue, ledger: Ledger, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    batch = OrderBatch(intents=[intent(grvt_account, price=bid - 10 - i) for i in range(3)])
    await sim.admin.inject_fault("http_429", count=1, path=CREATE_ORDER)  # the ladder's first send
    with signing_a_day_earlier(), pytest.raises(ApplicationError):
        await env.run(activities.place_orders, batch)
    first_status, first = await stored(ledger, batch.intents[0])
    assert first_status is OrderState.INTENT
    acks = await env.run(activities.place_orders, batch)
    assert [a.sent_now for a in acks.acks] == [True, True, True]
    for order, ack in zip(batch.intents, acks.acks, strict=True):
        _, sent = await stored(ledger, order)
        assert [venue_signature(o) for o in await orders_with_coid(venue, ack.client_order_index)] == [
            sent_signature(sent)
        ]
    assert (await stored(ledger, batch.intents[0]))[1] == first  # signed yesterday, sent today
