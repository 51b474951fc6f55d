"""Order activities against the simulated venue through the unmodified lighter-sdk."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.risk import RiskStates
from perpflow.orders import AccountQuery, AwaitFill, CancelAll, FillsQuery, Modify, OrderIntent, OrderRef
from perpflow.orders.errors import OrderPending
from perpflow.orders.status import OrderState
from perpflow.risk import GLOBAL_SCOPE, RiskLimits, TradingState, account_scope
from perpflow.venues.base import SignedTx
from perpflow.venues.errors import InvalidNonce, TransportError, VenueUnavailable
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderStatus, Side, TimeInForce
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for

env = ActivityEnvironment()
_keys = itertools.count()


def intent(account: SimAccount, **fields: object) -> OrderIntent:
    values: dict[str, object] = {
        "key": f"wf-test/step-{next(_keys)}",
        "workflow_id": "wf-test",
        "account_index": account.account_index,
        "market": "ETH",
        "side": Side.BUY,
        "tif": TimeInForce.POST_ONLY,
        "size": Decimal("0.05"),
        "price": Decimal("2000"),
    }
    values.update(fields)
    return OrderIntent.model_validate(values)


async def orders_with_coi(venue: LighterVenue, coi: int) -> list[object]:
    """Every order the venue holds for this client index, open or closed."""
    return list(await venue.orders_by_client_index(coi))


async def test_post_only_bid_rests_and_every_read_sees_it(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, _ = await best(venue)
    placed = await env.run(order_activities.place_order, intent(sim_account, price=bid - 10))
    assert (placed.status, placed.sent_now) == (OrderStatus.OPEN, True)
    ref = OrderRef(
        account_index=sim_account.account_index, market="ETH", client_order_index=placed.client_order_index
    )
    assert (await env.run(order_activities.get_order, ref)).order_index == placed.order_index
    query = AccountQuery(account_index=sim_account.account_index, market="ETH")
    open_orders = await env.run(order_activities.get_open_orders, query)
    # With its business key from the ledger: a workflow tells its own orders by it.
    assert [(o.client_order_index, o.key) for o in open_orders.orders] == [
        (placed.client_order_index, placed.key)
    ]
    cancelled = await env.run(order_activities.cancel_order, ref)
    assert cancelled.status is OrderStatus.CANCELED


async def test_the_ledger_follows_the_order_it_placed_and_cancelled(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, ledger: Ledger
) -> None:
    bid, _ = await best(venue)
    order = intent(sim_account, price=bid - 10)
    placed = await env.run(order_activities.place_order, order)

    async def recorded() -> tuple[OrderState, int | None]:
        record = await Orders(ledger).get(order.key)
        assert record is not None
        return record.status, record.order_index

    assert await recorded() == (OrderState.OPEN, placed.order_index)
    ref = OrderRef(
        account_index=sim_account.account_index, market="ETH", client_order_index=placed.client_order_index
    )
    await env.run(order_activities.cancel_order, ref)
    assert await recorded() == (OrderState.CANCELED, placed.order_index)


async def test_market_buy_fills_and_shows_in_position_and_fills(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    _, ask = await best(venue)
    done = await env.run(
        order_activities.place_order,
        intent(sim_account, kind=OrderKind.MARKET, tif=TimeInForce.IOC, price=ask + 20, size=Decimal("0.1")),
    )
    assert done.status is OrderStatus.FILLED
    assert done.filled_size == Decimal("0.1")
    query = AccountQuery(account_index=sim_account.account_index, market="ETH")
    position = (await env.run(order_activities.get_position, query)).account.position("ETH")
    assert position.size == Decimal("0.1")
    page = await env.run(order_activities.get_fills, FillsQuery(account_index=sim_account.account_index))
    assert [(f.client_order_index, f.side, f.is_maker) for f in page.fills] == [
        (done.client_order_index, Side.BUY, False)
    ]


async def test_retrying_a_placed_intent_does_not_send_again(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    first_intent = intent(sim_account, price=bid - 5)
    first = await env.run(order_activities.place_order, first_intent)
    again = await env.run(order_activities.place_order, first_intent)
    assert (again.sent_now, again.client_order_index) == (False, first.client_order_index)
    assert len(await orders_with_coi(venue, first.client_order_index)) == 1


async def test_a_reused_key_for_another_order_is_refused(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, _ = await best(venue)
    first = intent(sim_account, price=bid - 5)
    await env.run(order_activities.place_order, first)
    with pytest.raises(ApplicationError) as exc:
        await env.run(order_activities.place_order, first.model_copy(update={"size": Decimal("0.07")}))
    assert (exc.value.type, exc.value.non_retryable) == ("IntentConflict", True)


async def test_response_dropped_after_accept_is_found_not_resent(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    order = intent(sim_account, price=bid - 7)
    await sim.admin.inject_fault("drop_response", count=1)
    with pytest.raises(TransportError):
        await env.run(order_activities.place_order, order)
    retried = await env.run(order_activities.place_order, order)
    assert (retried.sent_now, retried.status) == (False, OrderStatus.OPEN)
    assert len(await orders_with_coi(venue, retried.client_order_index)) == 1


async def test_a_send_that_never_left_is_pending_for_the_grace_then_sent_once(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, ledger: Ledger
) -> None:
    bid, _ = await best(venue)
    order = intent(sim_account, price=bid - 6)
    orders = Orders(ledger)
    await orders.claim(order)
    # The signer recorded the signed order, then died before it was sent.
    lost = SignedTx(
        tx_type=14, tx_info="{}", tx_hash="0x10", nonce=0, api_key_index=sim_account.api_key_index
    )
    await orders.mark_submitting(order.key, lost)
    with pytest.raises(OrderPending):
        await env.run(order_activities.place_order, order)
    venue.indexing_grace_s = 0.0
    placed = await env.run(order_activities.place_order, order)
    assert placed.sent_now
    assert len(await orders_with_coi(venue, placed.client_order_index)) == 1


async def test_invalid_nonce_refreshes_and_the_retry_places_once(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    order = intent(sim_account, price=bid - 8)
    await sim.admin.inject_fault("invalid_nonce", count=1)
    with pytest.raises(InvalidNonce):
        await env.run(order_activities.place_order, order)
    placed = await env.run(order_activities.place_order, order)
    assert placed.sent_now
    assert len(await orders_with_coi(venue, placed.client_order_index)) == 1


async def test_429_retries_after_the_venues_back_off(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue, sim: SimHandle
) -> None:
    bid, _ = await best(venue)
    order = intent(sim_account, price=bid - 9)
    await sim.admin.inject_fault("http_429", count=1, path="/api/v1/sendTx")
    with pytest.raises(ApplicationError) as exc:
        await env.run(order_activities.place_order, order)
    assert exc.value.type == "RateLimited"
    assert not exc.value.non_retryable
    assert exc.value.next_retry_delay is not None
    placed = await env.run(order_activities.place_order, order)
    assert len(await orders_with_coi(venue, placed.client_order_index)) == 1


async def test_a_risk_read_that_fails_leaves_the_order_unsent_and_the_retry_sends_at_once(
    order_activities: OrderActivities,
    sim_account: SimAccount,
    venue: LighterVenue,
    sim: SimHandle,
    ledger: Ledger,
) -> None:
    """The verdict is awaited after the signed order is stored: without one (the position read
    failed) the order was never sent, so it goes back to claimed and the retry needs no look-up
    grace."""
    bid, _ = await best(venue)
    order = intent(sim_account, price=bid - 8)
    await sim.admin.inject_fault("http_5xx", count=50, path="/api/v1/account")
    with pytest.raises(VenueUnavailable):
        await env.run(order_activities.place_order, order)
    record = await Orders(ledger).get(order.key)
    assert record is not None and (record.status, record.submitted_at) == (OrderState.INTENT, None)
    await sim.admin.clear_faults()
    placed = await env.run(order_activities.place_order, order)  # no OrderPending: sent now
    assert placed.sent_now
    assert len(await orders_with_coi(venue, placed.client_order_index)) == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"size": Decimal("0.05005")}, "size 0.05005 has more than 4 decimals"),
        ({"price": Decimal("2000.005")}, "price 2000.005 has more than 2 decimals"),
        ({"size": Decimal("0.001")}, "below the minimum"),
    ],
)
async def test_unrepresentable_prices_and_sizes_are_refused_not_rounded_and_rejected_in_the_ledger(
    order_activities: OrderActivities,
    sim_account: SimAccount,
    ledger: Ledger,
    fields: dict[str, object],
    error: str,
) -> None:
    order = intent(sim_account, **fields)
    with pytest.raises(ApplicationError) as exc:
        await env.run(order_activities.place_order, order)
    assert (exc.value.type, exc.value.non_retryable) == ("Unrepresentable", True)
    assert error in str(exc.value)
    # Never sent and never sendable: final in the ledger, not an intent the reconciler waits on.
    record = await Orders(ledger).get(order.key)
    assert record is not None and (record.status, record.submitted_at) == (OrderState.REJECTED, None)
    assert record.reason is not None and error in record.reason
    with pytest.raises(ApplicationError) as again:  # its key is refused again, unsigned
        await env.run(order_activities.place_order, order)
    assert (again.value.type, again.value.non_retryable) == ("InvalidOrder", True)
    assert error in str(again.value)


async def test_risk_gate_follows_trading_states_and_limits(
    venue: LighterVenue, ledger: Ledger, sim_account: SimAccount
) -> None:
    limits = RiskLimits(max_order_notional=Decimal(500), allowed_markets=["ETH"])
    acts = OrderActivities(venue, Orders(ledger), limits)
    bid, _ = await best(venue)

    async def denial(**fields: object) -> str:
        denied = intent(sim_account, **{"price": bid - 10, **fields})
        with pytest.raises(ApplicationError) as exc:
            await env.run(acts.place_order, denied)
        assert (exc.value.type, exc.value.non_retryable) == ("RiskRejected", True)
        record = await Orders(ledger).get(denied.key)  # stored before the verdict, never sent
        assert record is not None and (record.status, record.submitted_at) == (OrderState.INTENT, None)
        return str(exc.value)

    assert "notional" in await denial(size=Decimal("1"))
    assert "not in the allowed markets" in await denial(
        market="BTC", price=Decimal(90000), size=Decimal("0.001")
    )
    scope = account_scope("lighter", sim_account.account_index)
    await RiskStates(ledger).set(scope, TradingState.REDUCING, reason="test", by="pytest")
    assert "REDUCING" in await denial()
    await RiskStates(ledger).set(GLOBAL_SCOPE, TradingState.HALTED, reason="test", by="pytest")
    assert "HALTED" in await denial(reduce_only=True)


async def test_insufficient_margin_is_a_final_failure(sim: SimHandle, ledger: Ledger) -> None:
    poor = await new_account(sim, collateral="10")
    venue = venue_for(sim, poor)
    try:
        acts = OrderActivities(venue, Orders(ledger), RiskLimits())
        bid, _ = await best(venue)
        with pytest.raises(ApplicationError) as exc:
            await env.run(acts.place_order, intent(poor, price=bid - 10, size=Decimal("1")))
        assert (exc.value.type, exc.value.non_retryable) == ("InsufficientMargin", True)
    finally:
        await venue.close()


async def test_modify_cancel_all_and_nonce_refresh(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, _ = await best(venue)
    a = await env.run(order_activities.place_order, intent(sim_account, price=bid - 20))
    await env.run(order_activities.place_order, intent(sim_account, price=bid - 21))
    ref = OrderRef(
        account_index=sim_account.account_index, market="ETH", client_order_index=a.client_order_index
    )
    moved = await env.run(
        order_activities.modify_order, Modify(order=ref, size=Decimal("0.06"), price=bid - 30)
    )
    assert moved.remaining_size == Decimal("0.06")
    left = await env.run(
        order_activities.cancel_all, CancelAll(account_index=sim_account.account_index, market="ETH")
    )
    assert left.orders == []
    nonce = await env.run(
        order_activities.refresh_nonce, AccountQuery(account_index=sim_account.account_index)
    )
    assert nonce.next_nonce == await venue.next_nonce()


async def test_a_signer_refuses_another_accounts_order(
    order_activities: OrderActivities, sim_account: SimAccount
) -> None:
    with pytest.raises(ApplicationError) as exc:
        await env.run(
            order_activities.place_order, intent(sim_account, account_index=sim_account.account_index + 1)
        )
    assert exc.value.type == "InvalidOrder"


async def test_await_fill_heartbeats_through_a_poll_longer_than_the_heartbeat_timeout(
    order_activities: OrderActivities, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, _ = await best(venue)
    placed = await env.run(order_activities.place_order, intent(sim_account, price=bid - 10))
    ref = OrderRef(
        account_index=sim_account.account_index, market="ETH", client_order_index=placed.client_order_index
    )
    beats: list[object] = []
    watched = ActivityEnvironment()
    watched.on_heartbeat = lambda *details: beats.append(details)
    # One poll of 5 s (the workflow allows up to 60 s against a 10 s heartbeat timeout).
    unfilled = await watched.run(order_activities.await_fill, AwaitFill(order=ref, timeout_s=5, poll_s=5))
    assert unfilled.filled_size == 0
    assert len(beats) >= 3  # every 2 s, not once per poll
    await env.run(order_activities.cancel_order, ref)
