"""place_orders: a ladder placed in the venue's batch transactions, each order exactly once, against
the simulated venue through the unmodified lighter-sdk (and the in-memory venue of the protocols)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import OrderAcks, OrderBatch, OrderIntent
from perpflow.orders.errors import OrderPending
from perpflow.orders.status import OrderState
from perpflow.risk import RiskLimits
from perpflow.venues.base import SignedTx, Venue, VenueAccess, VenueName
from perpflow.venues.errors import TransportError
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderStatus, Side, TimeInForce
from tests.plugins.memory_venue import MemoryVenue
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best

env = ActivityEnvironment()
_keys = itertools.count()


def ladder(account_index: int, top: Decimal, levels: int, **fields: object) -> OrderBatch:
    """Post-only bids one cent apart from ``top`` down."""
    return OrderBatch(
        intents=[
            OrderIntent(
                key=f"wf-batch/level-{next(_keys)}",
                workflow_id="wf-batch",
                account_index=account_index,
                market="ETH",
                side=Side.BUY,
                tif=TimeInForce.POST_ONLY,
                size=Decimal("0.05"),
                price=top - Decimal(i) / 100,
                **fields,  # type: ignore[arg-type]
            )
            for i in range(levels)
        ]
    )


def batch_sizes(monkeypatch: pytest.MonkeyPatch, venue: Venue) -> list[int]:
    """The size of each batch transaction the venue client sends, as it sends them."""
    sizes: list[int] = []
    send = venue.submit_batch

    async def counted(txs: Sequence[SignedTx]) -> None:
        sizes.append(len(txs))
        await send(txs)

    monkeypatch.setattr(venue, "submit_batch", counted)
    return sizes


async def once_each(venue: Venue, acks: OrderAcks) -> None:
    for ack in acks.acks:
        assert len(await venue.orders_by_client_index(ack.client_order_index)) == 1, ack.key


async def test_120_orders_go_in_three_batch_transactions(
    order_activities: OrderActivities,
    sim_account: SimAccount,
    venue: LighterVenue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes = batch_sizes(monkeypatch, venue)
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 120)
    acks = await env.run(order_activities.place_orders, batch)
    assert sizes == [50, 50, 20]
    assert [a.key for a in acks.acks] == [i.key for i in batch.intents]
    assert {(a.status, a.sent_now, a.refusal) for a in acks.acks} == {(OrderStatus.OPEN, True, "")}
    opened = await venue.open_orders("ETH")
    assert sorted(o.client_order_index for o in opened) == sorted(a.client_order_index for a in acks.acks)


async def test_a_batch_retried_after_a_lost_answer_doubles_no_order(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 60)
    await sim.admin.inject_fault("drop_response", count=1, path="/api/v1/sendTxBatch")
    with pytest.raises(TransportError):
        await env.run(order_activities.place_orders, batch)
    acks = await env.run(order_activities.place_orders, batch)
    assert [a.sent_now for a in acks.acks] == [False] * 50 + [True] * 10
    assert {a.status for a in acks.acks} == {OrderStatus.OPEN}
    await once_each(venue, acks)


async def test_intents_already_placed_are_looked_up_not_sent_again(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 20)
    placed = [await env.run(order_activities.place_order, intent) for intent in batch.intents[:5]]
    acks = await env.run(order_activities.place_orders, batch)
    assert [a.sent_now for a in acks.acks] == [False] * 5 + [True] * 15
    assert [a.client_order_index for a in acks.acks[:5]] == [p.client_order_index for p in placed]
    await once_each(venue, acks)


async def test_an_order_sent_moments_ago_is_pending_the_rest_placed_then_it_once(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, ledger: Ledger
) -> None:
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 8)
    orders = Orders(ledger)
    await orders.claim(batch.intents[0])
    # The signer recorded the first order signed, then died before it was sent.
    lost = SignedTx(
        tx_type=14, tx_info="{}", tx_hash="0x10", nonce=0, api_key_index=sim_account.api_key_index
    )
    await orders.mark_submitting(batch.intents[0].key, lost)
    with pytest.raises(OrderPending):
        await env.run(order_activities.place_orders, batch)
    assert len(await venue.open_orders("ETH")) == 7
    venue.indexing_grace_s = 0.0
    acks = await env.run(order_activities.place_orders, batch)
    assert [a.sent_now for a in acks.acks] == [True] + [False] * 7
    await once_each(venue, acks)


async def test_an_order_that_would_cross_is_cancelled_alone(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, ask = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 10)
    batch.intents[3] = batch.intents[3].model_copy(update={"price": ask + 5})
    acks = await env.run(order_activities.place_orders, batch)
    crossed = acks.acks.pop(3)
    assert (crossed.status, crossed.sent_now) == (OrderStatus.CANCELED, True)
    assert "post-only" in crossed.reason
    assert {a.status for a in acks.acks} == {OrderStatus.OPEN}


async def test_refusals_are_each_orders_own_typed_as_place_order_fails(
    venue: LighterVenue, ledger: Ledger, sim_account: SimAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = batch_sizes(monkeypatch, venue)
    limits = RiskLimits(max_position=Decimal("0.4"))
    acts = OrderActivities(venue, Orders(ledger), limits)
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 10)  # 0.05 each: the 9th would pass 0.4
    batch.intents[2] = batch.intents[2].model_copy(update={"price": bid - Decimal("10.005")})
    acks = await env.run(acts.place_orders, batch)
    refusals = ["", "", "Unrepresentable", "", "", "", "", "", "RiskRejected", "RiskRejected"]
    assert [a.refusal for a in acks.acks] == refusals
    assert [a.status for a in acks.acks].count(OrderStatus.OPEN) == 7
    assert sizes == [7]
    # The unsignable one is final in the ledger; the risk-denied ones stay intents (never signed).
    records = [await Orders(ledger).get(i.key) for i in batch.intents]
    assert [r.status if r else None for r in records[2:3] + records[8:]] == [
        OrderState.REJECTED, OrderState.INTENT, OrderState.INTENT,
    ]  # fmt: skip
    again = await env.run(acts.place_orders, batch)  # retried: refused again, never sent
    assert (again.acks[2].refusal, again.acks[2].sent_now) == ("InvalidOrder", False)
    assert await venue.orders_by_client_index(again.acks[2].client_order_index) == []


async def test_a_batch_refused_whole_goes_again_one_by_one(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 6)
    await sim.admin.inject_fault("reject_orders", count=2)  # the batch, then its first order alone
    acks = await env.run(order_activities.place_orders, batch)
    assert [a.refusal for a in acks.acks] == ["InsufficientMargin"] + [""] * 5
    assert [a.status for a in acks.acks[1:]] == [OrderStatus.OPEN] * 5
    assert await venue.orders_by_client_index(acks.acks[0].client_order_index) == []
    again = await env.run(order_activities.place_orders, batch)  # retried: refused again, never sent
    assert [(a.refusal, a.sent_now) for a in again.acks] == [("InvalidOrder", False)] + [("", False)] * 5
    assert await venue.orders_by_client_index(acks.acks[0].client_order_index) == []


async def test_a_bad_nonce_is_refreshed_and_every_order_placed_once(
    order_activities: OrderActivities,
    sim_account: SimAccount,
    venue: LighterVenue,
    sim: SimHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes = batch_sizes(monkeypatch, venue)
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 60)
    await sim.admin.inject_fault("invalid_nonce", count=1, path="/api/v1/sendTxBatch")
    acks = await env.run(order_activities.place_orders, batch)
    assert sizes == [50, 50, 10]
    assert {(a.status, a.sent_now) for a in acks.acks} == {(OrderStatus.OPEN, True)}
    await once_each(venue, acks)


async def test_a_429_ends_the_attempt_and_the_retry_places_each_order_once(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    batch = ladder(sim_account.account_index, bid - 10, 60)
    await sim.admin.inject_fault("http_429", count=1, path="/api/v1/sendTxBatch")
    with pytest.raises(ApplicationError) as exc:
        await env.run(order_activities.place_orders, batch)
    assert (exc.value.type, exc.value.non_retryable) == ("RateLimited", False)
    acks = await env.run(order_activities.place_orders, batch)
    assert {(a.status, a.sent_now) for a in acks.acks} == {(OrderStatus.OPEN, True)}
    await once_each(venue, acks)


@pytest.fixture
async def memory() -> AsyncIterator[MemoryVenue]:
    venue = MemoryVenue(VenueName.LIGHTER, VenueAccess("memory://", 7, api_key_index=1))
    yield venue
    await venue.close()


@pytest.mark.parametrize("max_batch", [MemoryVenue.max_batch, 1])
async def test_a_venue_of_the_protocols_alone_takes_the_batch_in_its_own_sizes(
    memory: MemoryVenue, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, max_batch: int
) -> None:
    memory.max_batch = max_batch
    sizes = batch_sizes(monkeypatch, memory)
    acts = OrderActivities(memory, Orders(ledger), RiskLimits())
    batch = ladder(7, Decimal(1990), 25)
    acks = await env.run(acts.place_orders, batch)
    assert sizes == ([10, 10, 5] if max_batch == 10 else [])  # one by one: sendTx each
    assert {(a.status, a.sent_now) for a in acks.acks} == {(OrderStatus.OPEN, True)}
    again = await env.run(acts.place_orders, batch)
    assert {a.sent_now for a in again.acks} == {False}
    await once_each(memory, acks)


async def test_a_batch_not_yet_indexed_is_pending_without_a_look_up_per_order(
    memory: MemoryVenue, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts = OrderActivities(memory, Orders(ledger), RiskLimits())
    batch = ladder(7, Decimal(1990), 25)
    looked: list[int] = []
    look_up, list_open = memory.order_by_client_index, memory.open_orders

    async def counted(symbol: str, client_order_index: int) -> object:
        looked.append(client_order_index)
        return await look_up(symbol, client_order_index)

    async def not_indexed(symbol: str | None = None) -> list[object]:
        return []

    monkeypatch.setattr(memory, "order_by_client_index", counted)
    monkeypatch.setattr(memory, "open_orders", not_indexed)
    acks = await env.run(acts.place_orders, batch)
    assert ({a.status for a in acks.acks}, looked) == ({OrderStatus.PENDING}, [])
    monkeypatch.setattr(memory, "open_orders", list_open)
    again = await env.run(acts.place_orders, batch)  # indexed now: found, not sent again
    assert {(a.status, a.sent_now) for a in again.acks} == {(OrderStatus.OPEN, False)}
    await once_each(memory, again)
