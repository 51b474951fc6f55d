"""Engine state in GRVT's shapes (grvt-api.md §6, §7): decimal strings, ns timestamps, ints
where the raw SDK's dataclasses want ints, every field its dataclasses require."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from perpflow.sim.account import Account, Position
from perpflow.sim.engine import Engine
from perpflow.sim.enums import CancelReason, OrderStatus, Side
from perpflow.sim.faces.grvt.history import Candle
from perpflow.sim.faces.grvt.instruments import Instrument, Instruments
from perpflow.sim.faces.grvt.records import OrderRecord, order_id
from perpflow.sim.markets import FEE_SCALE, MARGIN_FRACTION_SCALE, usdc_str
from perpflow.sim.order import Order, Trade

Json = dict[str, Any]
MS_NS = 1_000_000
_REJECTED = {
    CancelReason.POST_ONLY: "FAIL_POST_ONLY",
    CancelReason.REDUCE_ONLY: "FAIL_REDUCE_ONLY",
    CancelReason.MARGIN: "BELOW_MARGIN",
}
_CANCELLED = {
    CancelReason.CLIENT: "CLIENT_CANCEL",
    CancelReason.CLIENT_ALL: "CLIENT_BULK_CANCEL",
    CancelReason.SCHEDULED_ALL: "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED",
    CancelReason.SELF_TRADE: "SELF_TRADE_PROTECTION",
    CancelReason.EXPIRED: "EXPIRED",
    CancelReason.REDUCE_ONLY_LIMIT: "REDUCE_ONLY_LIMIT",
}
_UNFILLED = {"IMMEDIATE_OR_CANCEL": "IOC_CANCEL", "FILL_OR_KILL": "FOK_CANCEL"}
# The sim charges no funding: every rate it shows (ticker, funding history) is this one.
FUNDING_RATE = "0.0"
HOUR_NS = 3600 * 10**9


def now_ns() -> str:
    return str(time.time_ns())


def _ratio(num: int, den: int, decimals: int) -> str:
    if den == 0:
        return "0.0"
    value = Decimal(num) / Decimal(den) / Decimal(10**decimals)
    return format(value.quantize(Decimal(1).scaleb(-9)).normalize(), "f")


def status_of(o: Order, tif: str, is_market: bool) -> tuple[str, str]:
    if o.status is OrderStatus.FILLED:
        return "FILLED", "UNSPECIFIED"
    if o.status is not OrderStatus.CANCELED:
        return ("OPEN", "UNSPECIFIED") if o.status is OrderStatus.OPEN else ("PENDING", "UNSPECIFIED")
    reason = o.cancel_reason
    if reason in _REJECTED:
        return "REJECTED", _REJECTED[reason]  # type: ignore[index]
    if reason in (CancelReason.UNFILLED, CancelReason.NO_LIQUIDITY):
        return "CANCELLED", "MARKET_CANCEL" if is_market else _UNFILLED.get(tif, "IOC_CANCEL")
    return "CANCELLED", _CANCELLED.get(reason, "CLIENT_CANCEL")  # type: ignore[arg-type]


def order_state(inst: Instrument, rec: OrderRecord | None, o: Order | None) -> Json:
    if o is None:
        assert rec is not None
        status, reason = rec.outcome or ("PENDING", "UNSPECIFIED")
        return {
            "status": status,
            "reject_reason": reason,
            "book_size": ["0" if rec.outcome else str(rec.request["legs"][0]["size"])],
            "traded_size": ["0"],
            "update_time": str(rec.update_time_ns or rec.create_time_ns),
            "avg_fill_price": ["0.0"],
        }
    tif, is_market = (rec.tif, rec.is_market) if rec else ("GOOD_TILL_TIME", False)
    status, reason = status_of(o, tif, is_market)
    active = o.status.is_active
    return {
        "status": status,
        "reject_reason": reason,
        "book_size": [inst.size_str(o.remaining if active else 0)],
        "traded_size": [inst.size_str(o.filled_base)],
        "update_time": str(o.updated_ms * MS_NS),
        "avg_fill_price": [_ratio(o.filled_quote, o.filled_base, inst.spec.price_decimals)],
    }


def order(inst: Instrument, sub_account_id: str, rec: OrderRecord | None, o: Order | None) -> Json:
    """An order as GRVT shows it: the signed request echoed, with id, create time and state."""
    req = rec.request if rec else _unsigned_request(inst, sub_account_id, o)
    index = o.order_index if o else (rec.order_index if rec else 0)
    sig = dict(req.get("signature") or {})
    sig.setdefault("chain_id", "0")
    meta = dict(req.get("metadata") or {})
    create_ns = rec.create_time_ns if rec else (o.created_ms * MS_NS if o else 0)
    meta.update({"create_time": str(create_ns), "trigger": None, "broker": "UNSPECIFIED"})
    meta = {k: v for k, v in meta.items() if v is not None}
    return {
        "order_id": order_id(index),
        "sub_account_id": sub_account_id,
        "is_market": bool(req.get("is_market")),
        "time_in_force": req.get("time_in_force") or "GOOD_TILL_TIME",
        "post_only": bool(req.get("post_only")),
        "reduce_only": bool(req.get("reduce_only")),
        "legs": req["legs"],
        "signature": sig,
        "metadata": meta,
        "state": order_state(inst, rec, o),
    }


def _unsigned_request(inst: Instrument, sub_account_id: str, o: Order | None) -> Json:
    """An order placed through another face: GRVT's shape with an empty signature."""
    assert o is not None
    return {
        "sub_account_id": sub_account_id,
        "legs": [
            {
                "instrument": inst.name,
                "size": inst.size_str(o.initial),
                "limit_price": inst.price_str(o.price),
                "is_buying_asset": o.side is Side.BUY,
            }
        ],
        "signature": {"signer": "", "r": "", "s": "", "v": 0, "expiration": "0", "nonce": 0},
        "metadata": {"client_order_id": str(o.client_order_index)},
    }


def fill(
    inst: Instrument, engine: Engine, sub_account_id: str, account: int, t: Trade, *, signer: str
) -> Json:
    is_buyer = t.bid_account == account
    is_taker = (t.maker_side is Side.SELL) == is_buyer
    spec = inst.spec
    mark = inst.price_str(engine.marks[spec.market_id])
    fee_ppm = spec.taker_fee_ppm if is_taker else spec.maker_fee_ppm
    return {
        "event_time": str(t.timestamp_ms * MS_NS),
        "sub_account_id": sub_account_id,
        "instrument": inst.name,
        "is_buyer": is_buyer,
        "is_taker": is_taker,
        "size": inst.size_str(t.size),
        "price": inst.price_str(t.price),
        "mark_price": mark,
        "index_price": mark,
        "interest_rate": "0.0",
        "forward_price": mark,
        "realized_pnl": "0.0",
        "fee": usdc_str(t.taker_fee if is_taker else t.maker_fee),
        "fee_rate": _ratio(fee_ppm, FEE_SCALE, 0),
        "trade_id": f"{t.trade_id}-1",
        "order_id": order_id(t.bid_id if is_buyer else t.ask_id),
        "venue": "ORDERBOOK",
        "client_order_id": str(t.bid_client_id if is_buyer else t.ask_client_id),
        "signer": signer,
        "is_rpi": False,
        "broker": "UNSPECIFIED",
    }


def position(inst: Instrument, engine: Engine, sub_account_id: str, p: Position) -> Json:
    spec = inst.spec
    mark = engine.marks[spec.market_id]
    unrealised = p.unrealised(mark)
    imf = p.imf or engine.imfs[spec.market_id]
    return {
        "event_time": now_ns(),
        "sub_account_id": sub_account_id,
        "instrument": inst.name,
        "size": inst.size_str(p.size),
        "notional": usdc_str(abs(p.size) * mark),
        "entry_price": _ratio(abs(p.entry_quote), abs(p.size), spec.price_decimals),
        "exit_price": "0.0",
        "mark_price": inst.price_str(mark),
        "unrealized_pnl": usdc_str(unrealised),
        "realized_pnl": usdc_str(p.realised),
        "total_pnl": usdc_str(unrealised + p.realised),
        "roi": "0.0",
        "quote_index_price": "1.0",
        "est_liquidation_price": "0.0",
        "leverage": _ratio(MARGIN_FRACTION_SCALE, imf, 0),
        "cumulative_fee": "0.0",
        "cumulative_realized_funding_payment": "0.0",
    }


def positions(insts: Instruments, engine: Engine, sub_account_id: str, acct: Account) -> list[Json]:
    return [
        position(insts.by_market[m], engine, sub_account_id, p)
        for m, p in acct.positions.items()
        if p.size != 0 and m in insts.by_market
    ]


def sub_account(insts: Instruments, engine: Engine, sub_account_id: str, acct: Account) -> Json:
    equity = acct.equity(engine.marks)
    initial = acct.initial_margin(engine.marks, engine.imfs)
    maintenance = sum(
        abs(p.size) * engine.marks[m] * engine.markets[m].maintenance_margin_fraction // MARGIN_FRACTION_SCALE
        for m, p in acct.positions.items()
    )
    unrealised = sum(p.unrealised(engine.marks[m]) for m, p in acct.positions.items())
    return {
        "event_time": now_ns(),
        "sub_account_id": sub_account_id,
        "margin_type": "SIMPLE_CROSS_MARGIN",
        "settle_currency": "USDT",
        "unrealized_pnl": usdc_str(unrealised),
        "total_equity": usdc_str(equity),
        "initial_margin": usdc_str(initial),
        "maintenance_margin": usdc_str(maintenance),
        "available_balance": usdc_str(max(0, equity - initial)),
        "spot_balances": [{"currency": "USDT", "balance": usdc_str(acct.collateral), "index_price": "1.0"}],
        "positions": positions(insts, engine, sub_account_id, acct),
        "settle_index_price": "1.0",
        "derisk_margin": "0.0",
        "derisk_to_maintenance_margin_ratio": "1.0",
    }


def book(inst: Instrument, engine: Engine, depth: int) -> Json:
    ob = engine.books[inst.spec.market_id]

    def levels(side: Side) -> list[Json]:
        bs = ob.side(side)
        return [
            {"price": inst.price_str(p), "size": inst.size_str(total), "num_orders": len(bs.levels[p].orders)}
            for p, total in bs.depth(depth)
        ]

    return {
        "event_time": now_ns(),
        "instrument": inst.name,
        "bids": levels(Side.BUY),
        "asks": levels(Side.SELL),
    }


def ticker(inst: Instrument, engine: Engine, *, funding_every_ns: int, mini: bool = False) -> Json:
    spec = inst.spec
    ob = engine.books[spec.market_id]
    mark = inst.price_str(engine.marks[spec.market_id])
    bid, ask = ob.bids.best(), ob.asks.best()
    last = next((t for t in reversed(engine.trades) if t.market_id == spec.market_id), None)
    out: Json = {
        "event_time": now_ns(),
        "instrument": inst.name,
        "mark_price": mark,
        "index_price": mark,
        "last_price": inst.price_str(last.price) if last else mark,
        "last_size": inst.size_str(last.size) if last else "0",
        "mid_price": inst.price_str((bid + ask) // 2) if bid and ask else mark,
        "best_bid_price": inst.price_str(bid) if bid else "0",
        "best_bid_size": inst.size_str(ob.bids.levels[bid].total) if bid else "0",
        "best_ask_price": inst.price_str(ask) if ask else "0",
        "best_ask_size": inst.size_str(ob.asks.levels[ask].total) if ask else "0",
    }
    if not mini:
        out.update(
            {
                "funding_rate_8h_curr": FUNDING_RATE,
                "funding_rate_8h_avg": FUNDING_RATE,
                "interest_rate": "0.0",
                "forward_price": mark,
                "open_interest": "0.0",
                "high_price": mark,
                "low_price": mark,
                "open_price": mark,
                "funding_rate": FUNDING_RATE,
                "next_funding_time": str((time.time_ns() // funding_every_ns + 1) * funding_every_ns),
            }
        )
    return out


def public_trade(inst: Instrument, engine: Engine, t: Trade) -> Json:
    mark = inst.price_str(engine.marks[inst.spec.market_id])
    return {
        "event_time": str(t.timestamp_ms * MS_NS),
        "instrument": inst.name,
        "is_taker_buyer": t.maker_side is Side.SELL,
        "size": inst.size_str(t.size),
        "price": inst.price_str(t.price),
        "mark_price": mark,
        "index_price": mark,
        "interest_rate": "0.0",
        "forward_price": mark,
        "trade_id": f"{t.trade_id}-1",
        "venue": "ORDERBOOK",
        "is_rpi": False,
    }


def candle(inst: Instrument, c: Candle, step_ns: int) -> Json:
    """A kline as GRVT sends it: close_time is the next interval's open (ccxt's capture)."""
    return {
        "open_time": str(c.open_ns),
        "close_time": str(c.open_ns + step_ns),
        "open": inst.price_str(c.open),
        "close": inst.price_str(c.close),
        "high": inst.price_str(c.high),
        "low": inst.price_str(c.low),
        "volume_b": inst.size_str(c.volume),
        "volume_q": usdc_str(c.notional),
        "trades": c.trades,
        "instrument": inst.name,
    }


def funding_rate(inst: Instrument, at_ns: int, mark: int, every_ns: int) -> Json:
    """One funding time: the rate the sim applies (none) and the mark in force then."""
    return {
        "instrument": inst.name,
        "funding_rate": FUNDING_RATE,
        "funding_time": str(at_ns),
        "mark_price": inst.price_str(mark),
        "funding_rate_8_h_avg": FUNDING_RATE,
        "funding_interval_hours": every_ns // HOUR_NS,
    }
