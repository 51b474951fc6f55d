"""What a hedge cycle knows (CycleProgress): fills counted once whichever way they come, carried
through continue-as-new with the same payload as before, run-time flags left behind."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic_core import to_jsonable_python

from perpflow.hedge.models import CycleParams, CycleProgress, CycleState, LegAccount, Placement
from perpflow.hedge.tally import Role
from perpflow.orders import OrderAck
from perpflow.signals import OrderFilled
from perpflow.venues.types import MarketInfo, OrderStatus, Side

D = Decimal
MAKER, TAKER = LegAccount(account_index=10, api_key_index=1), LegAccount(account_index=11, api_key_index=1)
BUY = Placement(key="wf/maker-0", leg=MAKER, role=Role.MAKER, side=Side.BUY, fee_rate=D(0))
# What a holding cycle carried across continue-as-new before CycleProgress: in-flight runs send it.
CARRIED = {
    "params", "market", "tally", "orders", "hedges", "hold_until", "last_mark", "reason", "paused",
    "stop_requested", "rejected_commands",
}  # fmt: skip
# Carried since cross-venue cycles (the hedge leg's own market and mark); runs begun before send
# neither, and resume with their defaults.
CARRIED_SINCE_CROSS_VENUE = {"taker_market", "taker_mark"}


def _ack(filled: str, status: OrderStatus = OrderStatus.OPEN) -> OrderAck:
    return OrderAck(
        key=BUY.key, market="ETH", client_order_index=1, status=status, filled_size=D(filled),
        filled_quote=D(filled) * 2000, sent_now=True,
    )  # fmt: skip


def _fill(fill_id: str, size: str) -> OrderFilled:
    return OrderFilled(
        fill_id=fill_id, venue="lighter", account_index=10, market="ETH", client_order_index=1,
        order_index=1, side=Side.BUY, price=D(2000), size=D(size), is_maker=True, at=datetime.now(UTC),
    )  # fmt: skip


def test_a_fill_signalled_before_its_order_is_tracked_counts_once_it_is() -> None:
    s = CycleProgress()
    s.count(_fill("f1", "0.3"))
    assert s.tally.position(10) == 0 and not s.wake
    s.track(BUY, _ack("0"))
    assert s.tally.position(10) == D("0.3")
    assert s.orders == [BUY.key] and not s.unmatched


def test_a_fill_seen_by_signal_and_poll_counts_once() -> None:
    s = CycleProgress()
    s.track(BUY, _ack("0"))
    s.count(_fill("f1", "0.3"))
    s.count(_fill("f1", "0.3"))
    assert s.wake
    s.apply(_ack("0.3", OrderStatus.FILLED))
    assert s.own_positions((MAKER, TAKER)) == {MAKER: D("0.3")}
    assert s.tally.open_orders() == []


def test_states_move_by_the_transition_table() -> None:
    s = CycleProgress()
    assert not s.move_to(CycleState.QUOTING)
    assert s.move_to(CycleState.HEDGING)
    with pytest.raises(RuntimeError, match="illegal transition"):
        s.move_to(CycleState.UNWOUND)


def test_continue_as_new_carries_what_it_always_carried_and_resumes_holding() -> None:
    market = MarketInfo(
        symbol="ETH", market_id=0, size_decimals=4, price_decimals=2, min_base_amount=D("0.001"),
        min_quote_amount=D(1),
    )  # fmt: skip
    s = CycleProgress(params=CycleParams(size=D(1)), market=market, hold_until=datetime.now(UTC))
    s.track(BUY, _ack("1", OrderStatus.FILLED))
    s.state, s.wake, s.flatten_requested, s.paused = CycleState.HOLDING, True, True, True
    payload = to_jsonable_python(s)
    assert set(payload) == CARRIED | CARRIED_SINCE_CROSS_VENUE
    older = CycleProgress.model_validate({k: v for k, v in payload.items() if k in CARRIED})
    assert older.taker_market is None and older.taker_mark is None

    resumed = CycleProgress()
    resumed.resume(CycleProgress.model_validate(payload))
    assert resumed.state is CycleState.HOLDING and resumed.paused
    assert not resumed.levels_stale  # the last run's watches stay registered
    assert not resumed.wake and not resumed.flatten_requested
    assert resumed.tally.position(10) == 1 and resumed.orders == [BUY.key]
