"""A crossing waits for a fill that says as much (perpflow.marketdata.hold), and a fill's market
price is its mid only when that mid is past the fill."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from perpflow.marketdata.delivery import Delivery
from perpflow.marketdata.hold import CrossingHold
from perpflow.signals import ORDER_FILLED, PRICE_CROSSED, Direction, OrderFilled, PriceCrossed
from perpflow.venues.types import Side

HOLD_S = 0.05
WF = "grid-a"


def crossing(level: str, direction: Direction, price: str, wf: str = WF, market: str = "ETH") -> Delivery:
    payload = PriceCrossed(
        watch_id=1, venue="lighter", market=market, level=Decimal(level), direction=direction,
        price=Decimal(price), at=datetime.now(UTC),
    )  # fmt: skip
    return Delivery(wf, PRICE_CROSSED, payload, key=f"cross-{level}-{direction}", kind="crossing")


def filled(side: Side, price: str, mid: str | None, wf: str = WF, maker: bool = True) -> Delivery:
    payload = OrderFilled(
        fill_id=f"f-{price}", venue="lighter", account_index=1, market="ETH", client_order_index=5,
        order_index=5, side=side, price=Decimal(price), size=Decimal("0.1"), is_maker=maker,
        at=datetime.now(UTC), mid=None if mid is None else Decimal(mid),
    )  # fmt: skip
    return Delivery(wf, ORDER_FILLED, payload, key=payload.fill_id, kind="fill")


def keys(sent: list[Delivery]) -> list[str]:
    return [d.key for d in sent]


async def sent_after_the_hold(sent: list[Delivery], n: int) -> None:
    async with asyncio.timeout(10):
        while len(sent) < n:
            await asyncio.sleep(HOLD_S / 5)


async def test_a_fill_whose_mid_is_past_the_crossing_stands_in_for_it() -> None:
    sent: list[Delivery] = []
    hold = CrossingHold(sent.append, HOLD_S)
    hold.crossing(crossing("2996.99", Direction.DOWN, "2996.00"), fill_stands_in=True)
    assert sent == []
    hold.fill(filled(Side.BUY, "2997.00", mid="2996.00"))
    assert keys(sent) == ["f-2997.00"] and hold.folded == 1 and hold.waiting == 0


async def test_a_crossing_the_fill_is_not_past_goes_right_behind_the_fill() -> None:
    sent: list[Delivery] = []
    hold = CrossingHold(sent.append, HOLD_S)
    hold.crossing(crossing("2990.99", Direction.DOWN, "2990.00"), fill_stands_in=True)  # further down
    hold.crossing(crossing("2996.99", Direction.UP, "2997.50", market="BTC"), fill_stands_in=True)
    hold.fill(filled(Side.BUY, "2997.00", mid="2996.00"))
    assert keys(sent) == ["f-2997.00", "cross-2990.99-down", "cross-2996.99-up"]  # at once, no wait
    assert hold.folded == 0 and hold.waiting == 0


async def test_only_the_newest_crossing_can_follow_the_fill_an_older_one_would_set_the_price_back() -> None:
    """Down through levels 2 and 3, back up through them, level 3's sell fills: the down crossings
    sent behind the fill left the session's price below level 2, its buy owed and never placed."""
    sent: list[Delivery] = []
    hold = CrossingHold(sent.append, HOLD_S)
    moves = [("2987.99", Direction.DOWN, "2982"), ("2999.99", Direction.DOWN, "2982"),
             ("2988.01", Direction.UP, "3006"), ("3000.01", Direction.UP, "3006")]  # fmt: skip
    for level, way, price in moves:
        hold.crossing(crossing(level, way, price), fill_stands_in=True)
    hold.fill(filled(Side.SELL, "3000.00", mid="3006"))
    assert keys(sent) == ["f-3000.00"] and hold.folded == 4 and hold.waiting == 0

    sent.clear()  # up through the sell, back down before the fill is routed: the newest goes behind
    hold.crossing(crossing("3000.01", Direction.UP, "3006"), fill_stands_in=True)
    hold.crossing(crossing("2999.99", Direction.DOWN, "2995"), fill_stands_in=True)
    hold.fill(filled(Side.SELL, "3000.00", mid="2995"))
    assert keys(sent) == ["f-3000.00", "cross-2999.99-down"] and hold.folded == 5


async def test_a_stale_mid_folds_nothing() -> None:
    """Read before the move, the mid is above the buy's price: the fill tells its own price only."""
    sent: list[Delivery] = []
    hold = CrossingHold(sent.append, HOLD_S)
    hold.crossing(crossing("2996.99", Direction.DOWN, "2996.00"), fill_stands_in=True)
    hold.fill(filled(Side.BUY, "2997.00", mid="2998.00"))
    assert keys(sent) == ["f-2997.00", "cross-2996.99-down"]


async def test_without_a_fill_the_crossing_goes_after_the_hold() -> None:
    sent: list[Delivery] = []
    hold = CrossingHold(sent.append, HOLD_S)
    hold.crossing(crossing("2996.99", Direction.DOWN, "2996.00"), fill_stands_in=True)
    hold.fill(filled(Side.BUY, "2997.00", mid="2996.00", wf="grid-other"))  # another workflow's
    assert keys(sent) == ["f-2997.00"]
    await sent_after_the_hold(sent, 2)
    assert keys(sent) == ["f-2997.00", "cross-2996.99-down"]


async def test_a_watch_no_fill_stands_in_for_is_sent_at_once_and_flush_sends_what_waits() -> None:
    sent: list[Delivery] = []
    hold = CrossingHold(sent.append, HOLD_S)
    hold.crossing(crossing("100", Direction.UP, "101"), fill_stands_in=False)  # a hedge's stop-loss
    assert keys(sent) == ["cross-100-up"]
    hold.crossing(crossing("99", Direction.DOWN, "98"), fill_stands_in=True)
    hold.flush()
    assert keys(sent) == ["cross-100-up", "cross-99-down"] and hold.waiting == 0


@pytest.mark.parametrize(
    ("side", "price", "mid", "maker", "market"),
    [
        (Side.BUY, "100", "99.5", True, "99.5"),  # the mid past the buy: the market went on down
        (Side.BUY, "100", "100.5", True, "100"),  # a mid read before the move
        (Side.SELL, "100", "100.5", True, "100.5"),
        (Side.SELL, "100", "99.5", True, "100"),
        (Side.BUY, "100", "99.5", False, "100"),  # a taker's fill
        (Side.BUY, "100", None, True, "100"),  # no book kept
    ],
)
def test_a_fills_market_price(side: Side, price: str, mid: str | None, maker: bool, market: str) -> None:
    fill = filled(side, price, mid, maker=maker).payload
    assert isinstance(fill, OrderFilled)
    assert fill.market_price() == Decimal(market)
