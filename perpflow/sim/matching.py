"""Price-time matching of one incoming (taker) order against the opposite side of its book."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perpflow.sim.enums import OrderStatus
from perpflow.sim.markets import FEE_SCALE
from perpflow.sim.order import Order, Trade

if TYPE_CHECKING:
    from perpflow.sim.engine import Engine


def match(engine: Engine, taker: Order, tx_hash: str, max_fill: int) -> None:
    """Fill ``taker`` against resting orders no worse than its price, up to ``max_fill`` lots."""
    opp = engine.books[taker.market_id].side(not taker.is_ask)
    now = engine.clock()
    while taker.remaining > 0 and max_fill > 0 and opp.crosses(taker.price):
        price = opp.best()
        assert price is not None
        maker = opp.levels[price].orders[0]
        if maker.expiry_ms and maker.expiry_ms <= now:
            engine.deactivate(maker, OrderStatus.CANCELED_EXPIRED)
            continue
        if maker.account == taker.account:
            # Lighter's default self-trade behaviour is EXPIRE_MAKER.
            engine.deactivate(maker, OrderStatus.CANCELED_SELF_TRADE)
            continue
        qty = min(taker.remaining, maker.remaining, max_fill)
        fill(engine, taker, maker, qty=qty, price=price, tx_hash=tx_hash)
        max_fill -= qty


def fill(engine: Engine, taker: Order, maker: Order, *, qty: int, price: int, tx_hash: str) -> Trade:
    spec = engine.markets[taker.market_id]
    notional = qty * price
    for order in (taker, maker):
        order.remaining -= qty
        order.filled_base += qty
        order.filled_quote += notional
        order.updated_ms = engine.clock()
    engine.books[maker.market_id].reduce(maker, qty)
    maker_acct = engine.accounts[maker.account]
    maker_acct.track_resting(maker, -qty)
    if maker.remaining == 0:
        engine.close(maker, OrderStatus.FILLED)
    taker_fee = notional * spec.taker_fee_ppm // FEE_SCALE
    maker_fee = notional * spec.maker_fee_ppm // FEE_SCALE
    taker_before = _settle(engine, taker, qty, price, taker_fee)
    maker_before = _settle(engine, maker, qty, price, maker_fee)
    ask, bid = (taker, maker) if taker.is_ask else (maker, taker)
    trade = Trade(
        trade_id=engine.next_trade_id(),
        tx_hash=tx_hash,
        market_id=taker.market_id,
        size=qty,
        price=price,
        ask_id=ask.order_index,
        bid_id=bid.order_index,
        ask_client_id=ask.client_order_index,
        bid_client_id=bid.client_order_index,
        ask_account=ask.account,
        bid_account=bid.account,
        is_maker_ask=maker.is_ask,
        timestamp_ms=engine.clock(),
        taker_fee=taker_fee,
        maker_fee=maker_fee,
        taker_position_before=taker_before,
        maker_position_before=maker_before,
    )
    engine.record_trade(trade)
    return trade


def _settle(engine: Engine, order: Order, qty: int, price: int, fee: int) -> int:
    """Move the position and cash of ``order``'s owner; returns the signed size before."""
    acct = engine.accounts[order.account]
    pos = acct.position(order.market_id)
    before = pos.size
    realised = pos.apply(-qty if order.is_ask else qty, price)
    acct.collateral += realised - fee
    acct.fees_paid += fee
    engine.fees_collected += fee
    engine.dirty_accounts.add(acct.index)
    return before
