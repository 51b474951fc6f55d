"""The reconciler's pure judgement: orders by their owner's status, positions by what live owners
own, confirmation across two looks, and the size of a close."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpflow.exposure import Exposure, OwnedPosition
from perpflow.models import AccountRef
from perpflow.orders import OrderAck
from perpflow.reconcile.judge import confirm, flatten_size, judge, position_key
from perpflow.reconcile.models import (
    AccountObservation,
    LiveOwner,
    OrderOwner,
    OrphanKind,
    OrphanReason,
    Owners,
    OwnerStatus,
    Policy,
    ReconcileInput,
)
from perpflow.venues.types import MarketInfo, OrderStatus, PositionInfo

ACCOUNT = AccountRef(name="a", venue="lighter", account_index=7, api_key_index=3)
ETH = MarketInfo(
    symbol="ETH", market_id=0, size_decimals=4, price_decimals=2,
    min_base_amount=Decimal("0.005"), min_quote_amount=Decimal(10),
)  # fmt: skip


def order(coi: int, left: str = "0.05") -> OrderAck:
    return OrderAck(
        key="", market="ETH", client_order_index=coi, order_index=100 + coi, status=OrderStatus.OPEN,
        remaining_size=Decimal(left), sent_now=False,
    )  # fmt: skip


def owned(wid: str, size: str, market: str = "ETH") -> LiveOwner:
    pos = OwnedPosition(venue="lighter", account_index=7, market=market, size=Decimal(size))
    return LiveOwner(workflow_id=wid, exposure=Exposure(workflow_id=wid, positions=[pos]))


def observe(
    orders: list[OrderAck] | None = None,
    owners: list[OrderOwner] | None = None,
    position: str = "0",
    live: list[LiveOwner] | None = None,
    in_flight: dict[str, list[int]] | None = None,
) -> AccountObservation:
    return AccountObservation(
        account=ACCOUNT,
        orders=orders or [],
        positions=[PositionInfo(market="ETH", size=Decimal(position), avg_entry_price=Decimal(2000))],
        owners=Owners(orders=owners or [], live=live or [], in_flight=in_flight or {}),
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (OwnerStatus.TERMINATED, OrphanReason.OWNER_TERMINATED),
        (OwnerStatus.COMPLETED, OrphanReason.OWNER_CLOSED),
        (OwnerStatus.FAILED, OrphanReason.OWNER_CLOSED),
        (OwnerStatus.CANCELED, OrphanReason.OWNER_CLOSED),
        (OwnerStatus.TIMED_OUT, OrphanReason.OWNER_CLOSED),
        (OwnerStatus.NOT_FOUND, OrphanReason.OWNER_NOT_FOUND),
        (OwnerStatus.UNKNOWN_ORDER, OrphanReason.UNKNOWN_ORDER),
    ],
)
def test_an_open_order_whose_owner_is_not_running_is_an_orphan_saying_why(
    status: OwnerStatus, reason: OrphanReason
) -> None:
    wid = None if status is OwnerStatus.UNKNOWN_ORDER else "hedge-x"
    got = judge(observe([order(5)], [OrderOwner(client_order_index=5, workflow_id=wid, status=status)]))
    [orphan] = got.orphans
    assert (orphan.kind, orphan.reason, orphan.client_order_index, orphan.owner) == (
        OrphanKind.ORDER, reason, 5, wid,
    )  # fmt: skip


@pytest.mark.parametrize("status", [OwnerStatus.RUNNING, OwnerStatus.UNREACHABLE])
def test_an_order_of_a_running_or_unreachable_owner_is_no_orphan(status: OwnerStatus) -> None:
    got = judge(observe([order(5)], [OrderOwner(client_order_index=5, workflow_id="w", status=status)]))
    assert got.orphans == []
    assert [v.owner_status for v in got.orders] == [status]


def test_a_position_beyond_what_live_owners_own_is_an_orphan_of_the_difference() -> None:
    got = judge(observe(position="0.08", live=[owned("w1", "0.02"), owned("w2", "0.01")]))
    [orphan] = got.orphans
    assert (orphan.kind, orphan.size, orphan.key) == (
        OrphanKind.POSITION, Decimal("0.05"), position_key("lighter", 7, "ETH"),
    )  # fmt: skip
    [view] = got.positions
    assert (view.owned, view.owners) == (Decimal("0.03"), ["w1", "w2"])


def test_a_position_owned_in_full_is_no_orphan_and_other_accounts_do_not_count() -> None:
    other = OwnedPosition(venue="lighter", account_index=8, market="ETH", size=Decimal(1))
    live = owned("w1", "-0.05")
    assert live.exposure is not None
    live.exposure.positions.append(other)
    assert judge(observe(position="-0.05", live=[live])).orphans == []


def test_a_live_owner_that_owns_more_than_the_venue_shows_leaves_a_negative_orphan() -> None:
    [orphan] = judge(observe(position="0", live=[owned("w1", "0.05")])).orphans
    assert orphan.size == Decimal("-0.05")


def test_positions_are_not_judged_while_a_live_owner_does_not_answer() -> None:
    silent = LiveOwner(workflow_id="w1", exposure=None, error="unknown query exposure")
    got = judge(observe(position="0.05", live=[silent]))
    assert got.orphans == []
    assert "w1" in got.deferred and "unknown query" in got.deferred


def test_positions_are_not_judged_while_an_order_is_in_flight_but_orders_are() -> None:
    owners = [OrderOwner(client_order_index=5, workflow_id="w0", status=OwnerStatus.TERMINATED)]
    got = judge(observe([order(5)], owners, position="0.05", in_flight={"w9": [77]}))
    assert [o.kind for o in got.orphans] == [OrphanKind.ORDER]
    assert "77" in got.deferred


def test_only_what_is_the_same_in_both_looks_is_confirmed() -> None:
    first = judge(observe(position="0.05")).orphans
    same = judge(observe(position="0.05")).orphans
    moved = judge(observe(position="0.06")).orphans
    assert confirm(first, same) == (same, [])
    assert confirm(first, moved) == ([], [position_key("lighter", 7, "ETH")])
    assert confirm(first, []) == ([], [position_key("lighter", 7, "ETH")])


@pytest.mark.parametrize(
    ("orphan", "venue", "size"),
    [
        ("0.05", "0.08", "0.05"),  # never more than the orphan
        ("0.05", "0.03", "0.03"),  # nor than the position on its side
        ("-0.05", "-0.05", "0.05"),
        ("0.05", "-0.05", "0"),  # against the position: a close would add exposure
        ("0.004", "0.004", "0"),  # below the market minimum
        ("0.00512", "1", "0.0051"),  # rounded down to the size step
    ],
)
def test_a_close_is_never_more_than_the_orphan_nor_the_position(orphan: str, venue: str, size: str) -> None:
    got, why = flatten_size(Decimal(orphan), Decimal(venue), ETH)
    assert got == Decimal(size)
    assert bool(why) == (got == 0)


def test_the_input_names_the_policy_of_each_account_and_keeps_settle_within_the_period() -> None:
    inp = ReconcileInput(policies={"a": Policy.FLATTEN}, default_policy=Policy.CANCEL_ORDERS)
    assert (inp.policy_for("a"), inp.policy_for("b")) == (Policy.FLATTEN, Policy.CANCEL_ORDERS)
    with pytest.raises(ValueError, match="settle_s"):
        ReconcileInput(period_s=4, settle_s=3)
