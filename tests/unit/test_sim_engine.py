"""Matching-engine unit tests: order types, statuses, positions, PnL and margin."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from perpflow.sim.engine import Engine
from perpflow.sim.enums import CancelReason, OrderKind, OrderStatus, Side, TimeInForce
from perpflow.sim.errors import Rejected, RejectReason
from perpflow.sim.markets import DEFAULT_MARKETS, to_micro
from perpflow.sim.order import NewOrder, Order

ETH = 0
GTT, IOC, POST = TimeInForce.GOOD_TILL_TIME, TimeInForce.IMMEDIATE_OR_CANCEL, TimeInForce.POST_ONLY
BUY, SELL = Side.BUY, Side.SELL


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def engine() -> Engine:
    return Engine(DEFAULT_MARKETS, clock=Clock())


def limit(
    price: int, size: int, *, side: Side, tif: TimeInForce = GTT, coi: int = 0, **kw: object
) -> NewOrder:
    order = NewOrder(ETH, coi, size, price, side, OrderKind.LIMIT, tif)
    return replace(order, **kw)  # type: ignore[arg-type]


def cancelled(order: Order) -> CancelReason | None:
    assert order.status is OrderStatus.CANCELED
    return order.cancel_reason


def funded(engine: Engine, usdc: str = "100000") -> int:
    return engine.create_account(to_micro(Decimal(usdc))).index


def test_price_time_priority_fills_oldest_first(engine: Engine) -> None:
    a, b, c = funded(engine), funded(engine), funded(engine)
    first = engine.submit(a, limit(300000, 100, side=SELL))
    second = engine.submit(b, limit(300000, 100, side=SELL))
    taker = engine.submit(c, limit(300000, 150, side=BUY, tif=IOC))
    assert (first.status, second.status, second.remaining) == (OrderStatus.FILLED, OrderStatus.OPEN, 50)
    assert taker.status is OrderStatus.FILLED


def test_post_only_crossing_is_cancelled_not_filled(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    order = engine.submit(b, limit(300000, 100, side=BUY, tif=POST))
    assert (cancelled(order), order.filled_base) == (CancelReason.POST_ONLY, 0)


def test_market_order_respects_worst_price(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(a, limit(301000, 100, side=SELL))
    req = NewOrder(ETH, 0, 200, 300500, BUY, OrderKind.MARKET, IOC)
    order = engine.submit(b, req)
    assert (cancelled(order), order.filled_base) == (CancelReason.UNFILLED, 100)
    empty = engine.submit(b, replace(req, price=299000))
    assert cancelled(empty) is CancelReason.NO_LIQUIDITY


def test_reduce_only_clips_to_position_and_rejects_growth(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(b, limit(300000, 100, side=BUY, tif=IOC))
    grow = engine.submit(b, limit(290000, 100, side=BUY, reduce_only=True))
    assert cancelled(grow) is CancelReason.REDUCE_ONLY
    engine.submit(a, limit(310000, 500, side=BUY))
    close = engine.submit(b, limit(310000, 300, side=SELL, tif=IOC, reduce_only=True))
    assert (cancelled(close), close.filled_base) == (CancelReason.REDUCE_ONLY_LIMIT, 100)
    assert engine.accounts[b].positions[ETH].size == 0
    assert engine.accounts[b].positions[ETH].realised == 100 * 10000


def test_reduce_only_taker_trades_only_what_reduces_and_its_excess_is_cancelled(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(b, limit(300000, 100, side=BUY, tif=IOC))  # b long 100
    bids = [engine.submit(a, limit(299000, 60, side=BUY)) for _ in range(3)]  # 180 bid, in 3 orders
    close = engine.submit(b, limit(299000, 300, side=SELL, reduce_only=True))  # GTT: would rest 120 short
    assert (cancelled(close), close.filled_base) == (CancelReason.REDUCE_ONLY_LIMIT, 100)
    assert [o.filled_base for o in bids] == [60, 40, 0] and bids[1].status is OrderStatus.OPEN
    assert engine.accounts[b].positions[ETH].size == 0
    book = engine.books[ETH]
    assert (book.level_total(BUY, 299000), book.level_total(SELL, 299000)) == (80, 0)
    assert close.order_index not in engine.accounts[b].open_orders


def test_reduce_only_taker_that_rests_keeps_no_more_than_its_position(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(b, limit(300000, 100, side=BUY, tif=IOC))  # b long 100
    engine.submit(a, limit(299000, 60, side=BUY))
    close = engine.submit(b, limit(299000, 300, side=SELL, reduce_only=True))
    assert (close.status, close.filled_base, close.remaining) == (OrderStatus.OPEN, 60, 40)
    assert engine.books[ETH].level_total(SELL, 299000) == 40


def test_a_resting_reduce_only_order_never_opens_a_position(engine: Engine) -> None:
    a, b, c = funded(engine), funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(b, limit(300000, 100, side=BUY, tif=IOC))  # b long 100
    exit_ = engine.submit(b, limit(310000, 100, side=SELL, reduce_only=True))  # rests
    engine.submit(a, limit(299000, 100, side=BUY))
    engine.submit(b, limit(299000, 100, side=SELL, tif=IOC))  # b flat by another order; exit_ still rests
    assert (exit_.status, engine.accounts[b].positions[ETH].size) == (OrderStatus.OPEN, 0)
    engine.submit(c, limit(310000, 50, side=SELL))  # behind exit_ at its price
    run = engine.submit(a, limit(311000, 100, side=BUY, tif=IOC))  # runs through exit_'s price
    assert (cancelled(exit_), exit_.filled_base) == (CancelReason.REDUCE_ONLY_LIMIT, 0)
    assert engine.accounts[b].positions[ETH].size == 0  # never short
    assert run.filled_base == 50 and engine.books[ETH].level_total(SELL, 310000) == 0


def test_a_resting_reduce_only_order_fills_only_what_is_left_of_its_position(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(b, limit(300000, 100, side=BUY, tif=IOC))  # b long 100
    exit_ = engine.submit(b, limit(310000, 100, side=SELL, reduce_only=True))
    engine.submit(a, limit(299000, 60, side=BUY))
    engine.submit(b, limit(299000, 60, side=SELL, tif=IOC))  # b long 40; exit_ still offers 100
    run = engine.submit(a, limit(310000, 100, side=BUY))  # would take all 100
    assert (cancelled(exit_), exit_.filled_base) == (CancelReason.REDUCE_ONLY_LIMIT, 40)
    assert engine.accounts[b].positions[ETH].size == 0
    assert (run.status, run.filled_base, run.remaining) == (OrderStatus.OPEN, 40, 60)
    assert engine.books[ETH].level_total(SELL, 310000) == 0
    assert engine.books[ETH].level_total(BUY, 310000) == 60


def test_insufficient_margin_is_a_cancelled_status(engine: Engine) -> None:
    poor = funded(engine, "10")
    order = engine.submit(poor, limit(300000, 10000, side=BUY))  # 1 ETH at 3000 needs 150 USDC at 5 %
    assert cancelled(order) is CancelReason.MARGIN


def test_duplicate_client_order_index_is_rejected(engine: Engine) -> None:
    a = funded(engine)
    engine.submit(a, limit(290000, 100, side=BUY, coi=7))
    with pytest.raises(Rejected) as info:
        engine.submit(a, limit(290000, 100, side=BUY, coi=7))
    assert info.value.reason is RejectReason.DUPLICATE_CLIENT_ORDER
    engine.cancel(engine.open_order(a, ETH, client_order_index=7))
    assert engine.submit(a, limit(290000, 100, side=BUY, coi=7)).status is OrderStatus.OPEN


def test_order_expiry_and_scheduled_cancel_all(engine: Engine) -> None:
    a = funded(engine)
    clock = engine.clock
    assert isinstance(clock, Clock)
    short = engine.submit(a, limit(290000, 100, side=BUY, expiry_ms=clock.now + 1000))
    other = engine.submit(a, limit(289000, 100, side=BUY))
    engine.accounts[a].cancel_all_at_ms = clock.now + 5000
    clock.now += 2000
    engine.expire()
    assert (cancelled(short), other.status) == (CancelReason.EXPIRED, OrderStatus.OPEN)
    clock.now += 5000
    engine.expire()
    assert cancelled(other) is CancelReason.SCHEDULED_ALL


def test_modify_reprices_and_can_cross(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    order = engine.submit(b, limit(290000, 100, side=BUY, coi=9))
    engine.modify(engine.open_order(b, ETH, client_order_index=9), base=100, price=300000, trigger=0)
    assert (order.status, order.version) == (OrderStatus.FILLED, 2)


def test_stop_loss_triggers_on_mark(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, side=SELL))
    engine.submit(b, limit(300000, 100, side=BUY, tif=IOC))
    engine.submit(a, limit(280000, 100, side=BUY))
    stop = engine.submit(b, NewOrder(ETH, 0, 100, 270000, SELL, OrderKind.STOP_MARKET, IOC, True, 285000))
    assert stop.status is OrderStatus.WAITING_TRIGGER
    engine.set_mark(ETH, 284000)
    assert (stop.status, engine.accounts[b].positions[ETH].size) == (OrderStatus.FILLED, 0)


def test_self_trade_expires_the_maker(engine: Engine) -> None:
    a = funded(engine)
    maker = engine.submit(a, limit(300000, 100, side=SELL))
    taker = engine.submit(a, limit(300000, 100, side=BUY))
    assert (cancelled(maker), taker.status) == (CancelReason.SELF_TRADE, OrderStatus.OPEN)


def test_a_mark_move_pushes_open_positions_at_most_once_a_second(engine: Engine) -> None:
    clock = engine.clock
    assert isinstance(clock, Clock)
    maker, holder, flat = funded(engine), funded(engine), funded(engine)
    engine.submit(maker, limit(300000, 100, side=SELL))
    engine.submit(holder, limit(300000, 100, side=BUY, tif=IOC))  # holder is long 100 lots
    engine.cancel(engine.submit(flat, limit(290000, 100, side=BUY)))  # a position record, flat
    engine.drain_changes()

    engine.set_mark(ETH, 301000)
    assert engine.drain_changes().accounts == {maker, holder}  # the flat account has nothing to move
    clock.now += 500
    engine.set_mark(ETH, 302000)
    assert engine.drain_changes().accounts == set()  # within the second: not again
    clock.now += 500
    engine.set_mark(ETH, 303000)
    assert engine.drain_changes().accounts == {maker, holder}
