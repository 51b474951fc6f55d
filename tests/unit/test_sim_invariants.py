"""Hypothesis: engine invariants hold after every step of random order flow and price moves."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.sim.engine import Engine
from perpflow.sim.enums import OrderKind, OrderStatus, Side, TimeInForce
from perpflow.sim.errors import Rejected
from perpflow.sim.marketmaker import LadderConfig, MarketMaker
from perpflow.sim.markets import DEFAULT_MARKETS, to_micro
from perpflow.sim.order import NewOrder

# Fees on, so the conservation check covers them.
MARKETS = tuple(replace(m, taker_fee_ppm=500, maker_fee_ppm=200) for m in DEFAULT_MARKETS[:2])

orders = st.tuples(
    st.sampled_from(["order", "order", "order", "cancel", "move"]),
    st.integers(0, 2),  # account
    st.integers(0, 1),  # market
    st.sampled_from(list(Side)),
    st.integers(-40, 40),  # price offset in bps
    st.integers(1, 400),  # size multiplier of min_base
    st.sampled_from(list(TimeInForce)),
    st.booleans(),  # market order
    st.booleans(),  # reduce only
)


def check_invariants(engine: Engine) -> None:
    for market_id, book in engine.books.items():
        for side in (book.asks, book.bids):
            assert side.prices == sorted(side.prices)
            for price, level in side.levels.items():
                assert level.orders and level.total == sum(o.remaining for o in level.orders) > 0
                assert all(o.status is OrderStatus.OPEN and o.price == price for o in level.orders)
        assert (
            sum(a.positions[market_id].size for a in engine.accounts.values() if market_id in a.positions)
            == 0
        )
    assert all(o.remaining >= 0 and o.filled_base >= 0 for o in engine.orders.values())
    for acct in engine.accounts.values():
        assert acct.collateral == acct.deposits + acct.realised() - acct.fees_paid
    cash = sum(p.realised - p.entry_quote for a in engine.accounts.values() for p in a.positions.values())
    assert cash == 0
    assert sum(a.fees_paid for a in engine.accounts.values()) == engine.fees_collected
    ids = [t.trade_id for t in engine.trades]
    assert len(ids) == len(set(ids))
    per_account = Counter(t.trade_id for trades in engine.account_trades.values() for t in trades)
    assert all(per_account[i] == 2 for i in ids)
    for acct in engine.accounts.values():
        traded = sum(t.size for t in engine.account_trades[acct.index])
        filled = sum(o.filled_base for o in engine.orders.values() if o.account == acct.index)
        assert traded == filled


@settings(max_examples=60, deadline=None)
@given(st.lists(orders, min_size=1, max_size=60))
def test_engine_invariants_hold_at_every_step(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    engine = Engine(MARKETS)
    mm = MarketMaker(engine, LadderConfig(levels=3, level_notional=Decimal(2000)))
    mm.requote_all()
    users = [engine.create_account(to_micro(Decimal(5000))).index for _ in range(3)]
    for kind, who, market_id, side, bps, mult, tif, is_market, reduce in steps:
        spec = engine.markets[market_id]
        mark = engine.marks[market_id]
        if kind == "move":
            engine.set_mark(market_id, mark + mark * bps // 1000)
            mm.requote(market_id)
        elif kind == "cancel":
            open_orders = list(engine.accounts[users[who]].open_orders.values())
            if open_orders:
                engine.cancel(open_orders[0])
        else:
            price = max(1, mark + mark * bps // 10_000)
            req = NewOrder(
                market_id,
                0,
                spec.min_base_amount * mult,
                price,
                side,
                OrderKind.MARKET if is_market else OrderKind.LIMIT,
                TimeInForce.IMMEDIATE_OR_CANCEL if is_market else tif,
                reduce,
            )
            with contextlib.suppress(Rejected):  # below the minimum: rejected, nothing changes
                engine.submit(users[who], req)
        check_invariants(engine)
