"""Engine changes as GRVT feed payloads, per stream and per subscription (grvt-api.md §9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perpflow.sim.enums import Side
from perpflow.sim.faces.grvt import wire
from perpflow.sim.faces.grvt.conn import Sub
from perpflow.sim.faces.grvt.instruments import Instrument
from perpflow.sim.faces.grvt.state import GrvtState
from perpflow.sim.faces.grvt.streams import Selector
from perpflow.sim.faces.grvt.watch import AccountWatch
from perpflow.sim.order import Trade

Json = dict[str, Any]
TICKERS = ("v1.ticker.s", "v1.ticker.d", "v1.mini.s", "v1.mini.d")


def market_snapshot(grvt: GrvtState, sub: Sub) -> list[Json]:
    inst, stream = sub.selector.instrument, sub.selector.stream
    assert inst is not None
    if stream == "v1.book.s":
        return [wire.book(inst, grvt.engine, sub.selector.depth)]
    if stream == "v1.book.d":
        return [wire.book(inst, grvt.engine, 500)]
    if stream in TICKERS:
        every = grvt.funding_interval_ns
        return [wire.ticker(inst, grvt.engine, funding_every_ns=every, mini=stream.startswith("v1.mini"))]
    return []


def market_update(grvt: GrvtState, sub: Sub, changed: set[tuple[Side, int]]) -> Json:
    """The message a book or ticker subscription gets when its instrument's book moved."""
    inst, stream = sub.selector.instrument, sub.selector.stream
    assert inst is not None
    if stream == "v1.book.d":
        return book_delta(grvt, inst, changed)
    return market_snapshot(grvt, sub)[0]


def book_delta(grvt: GrvtState, inst: Instrument, changed: set[tuple[Side, int]]) -> Json:
    """Changed levels only; a level that emptied has size "0"."""
    ob = grvt.engine.books[inst.spec.market_id]

    def levels(side: Side) -> list[Json]:
        prices = sorted((p for s, p in changed if s is side), reverse=side is Side.BUY)
        out = []
        for p in prices:
            level = ob.side(side).levels.get(p)
            size, count = (level.total, len(level.orders)) if level else (0, 0)
            out.append(
                {
                    "price": inst.price_str(p),
                    "size": inst.size_str(size) if size else "0",
                    "num_orders": count,
                }
            )
        return out

    return {
        "event_time": wire.now_ns(),
        "instrument": inst.name,
        "bids": levels(Side.BUY),
        "asks": levels(Side.SELL),
    }


def order_snapshot(grvt: GrvtState, sub: Sub) -> list[Json]:
    """Open orders for ``v1.order`` and positions for ``v1.position``, on subscribe."""
    sel, engine = sub.selector, grvt.engine
    assert sel.account is not None
    acct, sub_id = engine.account(sel.account), grvt.keys.sub_account_id(sel.account)
    if sel.stream == "v1.order":
        out = []
        for o in acct.open_orders.values():
            inst = grvt.instruments.by_market.get(o.market_id)
            if inst is not None and sel.covers(inst):
                out.append(wire.order(inst, sub_id, grvt.desk.records.get(o.order_index), o))
        return out
    if sel.stream == "v1.position":
        by_name = grvt.instruments.by_name
        return [
            p
            for p in wire.positions(grvt.instruments, engine, sub_id, acct)
            if sel.covers(by_name[p["instrument"]])
        ]
    return []


def state_of(order: Json) -> Json:
    """``v1.state``'s feed: the order's state under its ids."""
    return {
        "order_id": order["order_id"],
        "client_order_id": order["metadata"]["client_order_id"],
        "order_state": order["state"],
    }


@dataclass(frozen=True, slots=True)
class AccountNews:
    """One publishing tick's news of one account, rendered once for all its subscribers."""

    orders: list[tuple[Instrument, Json]]
    positions: list[tuple[Instrument, Json]]
    fills: list[tuple[Instrument, Json]]

    def for_selector(self, sel: Selector) -> list[Json]:
        if sel.stream == "v1.order":
            return [o for inst, o in self.orders if sel.covers(inst)]
        if sel.stream == "v1.state":
            return [state_of(o) for inst, o in self.orders if sel.covers(inst)]
        chosen = {"v1.position": self.positions, "v1.fill": self.fills}.get(sel.stream, [])
        return [feed for inst, feed in chosen if sel.covers(inst)]


def account_news(grvt: GrvtState, watch: AccountWatch, trades: list[Trade]) -> AccountNews:
    engine, by_market, account = grvt.engine, grvt.instruments.by_market, watch.account
    sub_id = grvt.keys.sub_account_id(account)
    orders = []
    for rec, o in watch.orders(engine, grvt.desk):
        inst = rec.instrument if rec else by_market.get(o.market_id) if o else None
        if inst is not None:
            orders.append((inst, wire.order(inst, sub_id, rec, o)))
    positions = [
        (by_market[m], wire.position(by_market[m], engine, sub_id, p))
        for m, p in watch.moved_positions(engine)
        if m in by_market
    ]
    fills = []
    for t in trades:
        if account in (t.bid_account, t.ask_account) and t.market_id in by_market:
            rec = grvt.desk.records.get(t.bid_id if t.bid_account == account else t.ask_id)
            inst = by_market[t.market_id]
            fills.append(
                (inst, wire.fill(inst, engine, sub_id, account, t, signer=rec.signer if rec else ""))
            )
    return AccountNews(orders, positions, fills)
