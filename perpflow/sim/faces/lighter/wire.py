"""Render engine records as the JSON dicts Lighter serves (lighter-api.md §9, §10, §11)."""

from __future__ import annotations

from typing import Any

from perpflow.sim.account import Account, Position
from perpflow.sim.engine import Engine
from perpflow.sim.enums import Side
from perpflow.sim.faces.lighter.codes import KIND_WORDS, TIF_WORDS, status_word
from perpflow.sim.markets import MarketSpec, fixed, usdc_str
from perpflow.sim.order import Order, Trade

Json = dict[str, Any]


def l1_address(account_index: int) -> str:
    """The sim's stand-in for an account's L1 (Ethereum) address."""
    return f"0x{account_index:040x}"


def order(spec: MarketSpec, o: Order) -> Json:
    return {
        "order_index": o.order_index,
        "client_order_index": o.client_order_index,
        "order_id": str(o.order_index),
        "client_order_id": str(o.client_order_index),
        "market_index": o.market_id,
        "owner_account_index": o.account,
        "initial_base_amount": spec.size_str(o.initial),
        "price": spec.price_str(o.price),
        "nonce": o.nonce,
        "remaining_base_amount": spec.size_str(o.remaining if o.status.is_active else 0),
        "is_ask": o.side is Side.SELL,
        "base_size": o.initial,
        "base_price": o.price,
        "filled_base_amount": spec.size_str(o.filled_base),
        "filled_quote_amount": usdc_str(o.filled_quote),
        "side": "sell" if o.side is Side.SELL else "buy",
        "type": KIND_WORDS[o.kind],
        "time_in_force": TIF_WORDS[o.tif],
        "reduce_only": o.reduce_only,
        "trigger_price": spec.price_str(o.trigger_price),
        "order_expiry": o.expiry_ms,
        "status": status_word(o),
        "trigger_status": "na",
        "trigger_time": 0,
        "parent_order_index": 0,
        "parent_order_id": "0",
        "to_trigger_order_id_0": "0",
        "to_trigger_order_id_1": "0",
        "to_cancel_order_id_0": "0",
        "block_height": o.nonce,
        "timestamp": o.created_ms // 1000,
        "created_at": o.created_ms // 1000,
        "updated_at": o.updated_ms // 1000,
        "transaction_time": o.updated_ms * 1000,
        "order_version": o.version,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }


def simple_order(spec: MarketSpec, o: Order) -> Json:
    return {
        "order_index": o.order_index,
        "order_id": str(o.order_index),
        "owner_account_index": o.account,
        "initial_base_amount": spec.size_str(o.initial),
        "remaining_base_amount": spec.size_str(o.remaining),
        "price": spec.price_str(o.price),
        "order_expiry": o.expiry_ms,
        "transaction_time": o.created_ms * 1000,
    }


def trade(spec: MarketSpec, t: Trade) -> Json:
    taker_before = t.taker_position_before
    maker_before = t.maker_position_before
    return {
        "trade_id": t.trade_id,
        "trade_id_str": str(t.trade_id),
        "tx_hash": t.ref,
        "type": "trade",
        "market_id": t.market_id,
        "size": spec.size_str(t.size),
        "price": spec.price_str(t.price),
        "usd_amount": usdc_str(t.usd_amount),
        "ask_id": t.ask_id,
        "bid_id": t.bid_id,
        "ask_id_str": str(t.ask_id),
        "bid_id_str": str(t.bid_id),
        "ask_client_id": t.ask_client_id,
        "bid_client_id": t.bid_client_id,
        "ask_client_id_str": str(t.ask_client_id),
        "bid_client_id_str": str(t.bid_client_id),
        "ask_account_id": t.ask_account,
        "bid_account_id": t.bid_account,
        "is_maker_ask": t.maker_side is Side.SELL,
        "block_height": t.trade_id,
        "timestamp": t.timestamp_ms,
        "taker_fee": usdc_str(t.taker_fee),
        "maker_fee": usdc_str(t.maker_fee),
        "taker_position_size_before": spec.size_str(abs(taker_before)),
        "taker_position_sign_changed": _sign_changed(taker_before, t, taker=True),
        "maker_position_size_before": spec.size_str(abs(maker_before)),
        "maker_position_sign_changed": _sign_changed(maker_before, t, taker=False),
        "transaction_time": t.timestamp_ms * 1000,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }


def _sign_changed(before: int, t: Trade, *, taker: bool) -> bool:
    is_ask = (t.maker_side is Side.SELL) != taker
    after = before - t.size if is_ask else before + t.size
    return (before > 0) != (after > 0) or (before < 0) != (after < 0)


def position(spec: MarketSpec, p: Position, mark: int, imf_default: int) -> Json:
    size = abs(p.size)
    avg = abs(p.entry_quote) // size if size else 0
    imf = p.imf or imf_default
    return {
        "market_id": spec.market_id,
        "symbol": spec.symbol,
        "initial_margin_fraction": fixed(imf, 2),
        "open_order_count": p.open_orders,
        "pending_order_count": 0,
        "position_tied_order_count": 0,
        "sign": -1 if p.size < 0 else 1,
        "position": spec.size_str(size),
        "avg_entry_price": spec.price_str(avg),
        "position_value": usdc_str(size * mark),
        "unrealized_pnl": usdc_str(p.unrealised(mark)),
        "realized_pnl": usdc_str(p.realised),
        "liquidation_price": "0",
        "total_funding_paid_out": "0.000000",
        "margin_mode": 0,
        "allocated_margin": "0.000000",
    }


def positions(engine: Engine, acct: Account) -> list[Json]:
    out = []
    for m, p in sorted(acct.positions.items()):
        spec = engine.markets[m]
        out.append(position(spec, p, engine.marks[m], engine.imfs[m]))
    return out


def detailed_account(engine: Engine, acct: Account) -> Json:
    equity = acct.equity(engine.marks)
    available = equity - acct.initial_margin(engine.marks, engine.imfs)
    return {
        "code": 0,
        "account_type": 0,
        "index": acct.index,
        "l1_address": l1_address(acct.index),
        "cancel_all_time": acct.cancel_all_at_ms,
        "total_order_count": len(acct.open_orders),
        "total_isolated_order_count": 0,
        "pending_order_count": 0,
        "available_balance": usdc_str(available),
        "status": 1,
        "collateral": usdc_str(acct.collateral),
        "account_index": acct.index,
        "name": "",
        "description": "",
        "can_invite": True,
        "referral_points_percentage": "",
        "positions": positions(engine, acct),
        "assets": [],
        "total_asset_value": usdc_str(equity),
        "cross_asset_value": usdc_str(equity),
        "shares": [],
        "pending_unlocks": [],
        "approved_integrators": [],
    }


def book_levels(spec: MarketSpec, levels: list[tuple[int, int]]) -> list[Json]:
    return [{"price": spec.price_str(p), "size": spec.size_str(s)} for p, s in levels]


def book_snapshot(engine: Engine, market_id: int, depth: int = 250) -> Json:
    spec = engine.markets[market_id]
    book = engine.books[market_id]
    return book_delta(spec, book.asks.depth(depth), book.bids.depth(depth))


def book_delta(spec: MarketSpec, asks: list[tuple[int, int]], bids: list[tuple[int, int]]) -> Json:
    return {"code": 0, "asks": book_levels(spec, asks), "bids": book_levels(spec, bids)}
