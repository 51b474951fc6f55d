"""Lighter websocket messages -> venue-neutral feed events, parsed once (lighter-api.md §11).

Book levels stay plain tuples of Decimals: they arrive thousands of times a second and a
pydantic model per level would cost more than the rest of the pipeline. Fills go through the
adapter's own ``parse.fill`` so websocket and REST fills share one id scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from perpflow.venues.feed import BookUpdate, Level
from perpflow.venues.lighter import parse
from perpflow.venues.types import VenueFill

Msg = dict[str, Any]

# Wire text -> Decimal. A book's prices and sizes repeat from update to update, and a dict lookup
# costs half of parsing a Decimal (Decimals are immutable: sharing them is safe). Bounded.
_DECIMALS: dict[str, Decimal] = {}
_DECIMALS_MAX = 100_000


def levels(raw: list[dict[str, str]] | None) -> list[Level]:
    known = _DECIMALS
    if len(known) > _DECIMALS_MAX:
        known.clear()
    out: list[Level] = []
    for lv in raw or ():
        price, size = lv["price"], lv["size"]
        p = known.get(price)
        if p is None:
            p = known[price] = Decimal(price)
        q = known.get(size)
        if q is None:
            q = known[size] = Decimal(size)
        out.append((p, q))
    return out


def channel(msg: Msg) -> tuple[str, str]:
    """``order_book:0`` -> (``order_book``, ``0``); messages use a colon, subscriptions a slash."""
    name, _, arg = str(msg.get("channel", "")).partition(":")
    return name, arg


def is_book(msg: Msg) -> bool:
    return str(msg.get("type", "")).endswith("order_book")


def book_update(msg: Msg, symbol_of: Callable[[int], str]) -> BookUpdate:
    """A subscribe answer is the snapshot; ``begin_nonce`` is the nonce an update follows."""
    ob = msg["order_book"]
    return BookUpdate(
        market=symbol_of(int(channel(msg)[1])),
        snapshot=msg["type"].startswith("subscribed"),
        seq=int(ob.get("nonce", 0)),
        prev_seq=int(ob.get("begin_nonce", 0)),
        bids=levels(ob.get("bids")),
        asks=levels(ob.get("asks")),
    )


def account_trades(msg: Msg) -> list[Msg]:
    """The trades of an ``account_all`` message, oldest first (the dict is keyed by market id)."""
    out: list[Msg] = [t for batch in (msg.get("trades") or {}).values() for t in batch]
    out.sort(key=lambda t: int(t.get("trade_id", 0)))
    return out


def fill(trade: Msg, account_index: int, symbol: str) -> VenueFill:
    return parse.fill(SimpleNamespace(**trade), account_index, symbol)


def involves(trade: Msg, account_index: int) -> bool:
    return account_index in (trade.get("ask_account_id"), trade.get("bid_account_id"))
