"""Matching-engine unit tests: order types, statuses, positions, PnL and margin."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from perpflow.sim.engine import Engine, NewOrder
from perpflow.sim.enums import OrderStatus, OrderType, TimeInForce
from perpflow.sim.errors import SimError
from perpflow.sim.markets import DEFAULT_MARKETS, to_micro

ETH = 0
GTT, IOC, POST = TimeInForce.GTT, TimeInForce.IOC, TimeInForce.POST_ONLY


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def engine() -> Engine:
    return Engine(DEFAULT_MARKETS, clock=Clock())


def limit(
    price: int, size: int, *, ask: bool, tif: TimeInForce = GTT, coi: int = 0, **kw: object
) -> NewOrder:
    order = NewOrder(ETH, coi, size, price, ask, OrderType.LIMIT, tif)
    return replace(order, **kw)  # type: ignore[arg-type]


def funded(engine: Engine, usdc: str = "100000") -> int:
    return engine.create_account(to_micro(Decimal(usdc))).index


def test_price_time_priority_fills_oldest_first(engine: Engine) -> None:
    a, b, c = funded(engine), funded(engine), funded(engine)
    first = engine.submit(a, limit(300000, 100, ask=True))
    second = engine.submit(b, limit(300000, 100, ask=True))
    taker = engine.submit(c, limit(300000, 150, ask=False, tif=IOC))
    assert (first.status, second.status, second.remaining) == (OrderStatus.FILLED, OrderStatus.OPEN, 50)
    assert taker.status is OrderStatus.FILLED


def test_post_only_crossing_is_cancelled_not_filled(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, ask=True))
    order = engine.submit(b, limit(300000, 100, ask=False, tif=POST))
    assert (order.status, order.filled_base) == (OrderStatus.CANCELED_POST_ONLY, 0)


def test_market_order_respects_worst_price(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, ask=True))
    engine.submit(a, limit(301000, 100, ask=True))
    req = NewOrder(ETH, 0, 200, 300500, False, OrderType.MARKET, IOC)
    order = engine.submit(b, req)
    assert (order.status, order.filled_base) == (OrderStatus.CANCELED, 100)
    empty = engine.submit(b, replace(req, price=299000))
    assert empty.status is OrderStatus.CANCELED_NO_LIQUIDITY


def test_reduce_only_clips_to_position_and_rejects_growth(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, ask=True))
    engine.submit(b, limit(300000, 100, ask=False, tif=IOC))
    grow = engine.submit(b, limit(290000, 100, ask=False, reduce_only=True))
    assert grow.status is OrderStatus.CANCELED_REDUCE_ONLY
    engine.submit(a, limit(310000, 500, ask=False))
    close = engine.submit(b, limit(310000, 300, ask=True, tif=IOC, reduce_only=True))
    assert (close.status, close.filled_base) == (OrderStatus.FILLED, 100)
    assert engine.accounts[b].positions[ETH].size == 0
    assert engine.accounts[b].positions[ETH].realised == 100 * 10000


def test_insufficient_margin_is_a_cancelled_status(engine: Engine) -> None:
    poor = funded(engine, "10")
    order = engine.submit(poor, limit(300000, 10000, ask=False))  # 1 ETH at 3000 needs 150 USDC at 5 %
    assert order.status is OrderStatus.CANCELED_MARGIN


def test_duplicate_client_order_index_is_rejected(engine: Engine) -> None:
    a = funded(engine)
    engine.submit(a, limit(290000, 100, ask=False, coi=7))
    with pytest.raises(SimError) as info:
        engine.submit(a, limit(290000, 100, ask=False, coi=7))
    assert info.value.code == 21728
    engine.cancel(a, ETH, 7)
    assert engine.submit(a, limit(290000, 100, ask=False, coi=7)).status is OrderStatus.OPEN


def test_order_expiry_and_scheduled_cancel_all(engine: Engine) -> None:
    a = funded(engine)
    clock = engine.clock
    assert isinstance(clock, Clock)
    short = engine.submit(a, limit(290000, 100, ask=False, expiry_ms=clock.now + 1000))
    other = engine.submit(a, limit(289000, 100, ask=False))
    engine.accounts[a].cancel_all_time_ms = clock.now + 5000
    clock.now += 2000
    engine.expire()
    assert (short.status, other.status) == (OrderStatus.CANCELED_EXPIRED, OrderStatus.OPEN)
    clock.now += 5000
    engine.expire()
    assert other.status is OrderStatus.CANCELED


def test_modify_reprices_and_can_cross(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, ask=True))
    order = engine.submit(b, limit(290000, 100, ask=False, coi=9))
    engine.modify(b, ETH, 9, base=100, price=300000, trigger=0)
    assert (order.status, order.version) == (OrderStatus.FILLED, 2)


def test_stop_loss_triggers_on_mark(engine: Engine) -> None:
    a, b = funded(engine), funded(engine)
    engine.submit(a, limit(300000, 100, ask=True))
    engine.submit(b, limit(300000, 100, ask=False, tif=IOC))
    engine.submit(a, limit(280000, 100, ask=False))
    stop = engine.submit(b, NewOrder(ETH, 0, 100, 270000, True, OrderType.STOP_LOSS, IOC, True, 285000))
    assert stop.status is OrderStatus.PENDING
    engine.set_mark(ETH, 284000)
    assert (stop.status, engine.accounts[b].positions[ETH].size) == (OrderStatus.FILLED, 0)


def test_self_trade_expires_the_maker(engine: Engine) -> None:
    a = funded(engine)
    maker = engine.submit(a, limit(300000, 100, ask=True))
    taker = engine.submit(a, limit(300000, 100, ask=False))
    assert (maker.status, taker.status) == (OrderStatus.CANCELED_SELF_TRADE, OrderStatus.OPEN)
