"""WebSocket ``/stream``: Lighter's subscribe protocol (lighter-api.md §11).

Clients subscribe with a slash (``order_book/0``); messages carry a colon (``order_book:0``).
The publisher batches engine changes every ``book_interval_ms``: book deltas carry only changed
levels (size ``0`` = removed) with ``begin_nonce`` equal to the previous update's ``nonce`` so a
client can detect gaps; ``offset`` counts every book message this server sent.
``account_all/{a}`` answers a subscribe with every position of the account; its updates carry
the positions of the markets the account traded in since (a closed one with size ``0``), as
Lighter's may, so a client must merge them.
``account_all_orders/{a}`` answers a subscribe with the account's open orders; its updates carry
the orders that changed since, with their status (``orders.OrderWatch``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web

from perpflow.sim.changes import Changes
from perpflow.sim.enums import Side
from perpflow.sim.errors import Rejected
from perpflow.sim.faces.lighter import wire
from perpflow.sim.faces.lighter.auth import check_token
from perpflow.sim.faces.lighter.errors import LighterError, lighter_error
from perpflow.sim.faces.lighter.keys import ApiKeys
from perpflow.sim.faces.lighter.orders import OrderWatch
from perpflow.sim.faults import FaultKind
from perpflow.sim.markets import usdc_str
from perpflow.sim.order import Order, Trade
from perpflow.sim.venue import Venue

SNAPSHOT_TRADES = 50


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


class Hub:
    def __init__(self, venue: Venue, keys: ApiKeys) -> None:
        self.venue = venue
        self.keys = keys
        self.subs: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.sockets: set[web.WebSocketResponse] = set()
        self.book_nonce: dict[int, int] = defaultdict(int)
        self.offset = 0
        self.order_watches: dict[int, OrderWatch] = {}  # accounts with account_all_orders subscribers
        self.refuse_until = 0.0
        self._sessions = itertools.count(1)

    # ---- connection ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        if time.monotonic() < self.refuse_until:
            await ws.close(code=1013, message=b"try again later")
            return ws
        self.sockets.add(ws)
        try:
            await ws.send_str(_dumps({"type": "connected", "session_id": f"sim-{next(self._sessions)}"}))
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(ws, msg.data)
        finally:
            self._forget(ws)
        return ws

    def _forget(self, ws: web.WebSocketResponse) -> None:
        self.sockets.discard(ws)
        for subscribers in self.subs.values():
            subscribers.discard(ws)

    async def drop_all(self, refuse_seconds: float = 0.0) -> int:
        self.refuse_until = time.monotonic() + refuse_seconds
        victims = list(self.sockets)
        for ws in victims:
            await ws.close(code=1001, message=b"dropped by fault injection")
            self._forget(ws)
        return len(victims)

    async def _on_text(self, ws: web.WebSocketResponse, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            await self._error(ws, 30001, "Invalid JSON")
            return
        kind = msg.get("type")
        if kind == "ping":
            await ws.send_str('{"type":"pong"}')
        elif kind == "subscribe":
            await self._subscribe(ws, str(msg.get("channel", "")), msg.get("auth"))
        elif kind == "unsubscribe":
            self.subs[str(msg.get("channel", "")).replace(":", "/")].discard(ws)
            await ws.send_str(_dumps({"type": "unsubscribed", "channel": msg.get("channel")}))
        elif kind != "pong":
            await self._error(ws, 30002, f"Invalid Type: {kind}")

    async def _error(self, ws: web.WebSocketResponse, code: int, message: str) -> None:
        await ws.send_str(_dumps({"type": "error", "error": {"code": code, "message": message}}))

    async def _subscribe(self, ws: web.WebSocketResponse, channel: str, auth: str | None) -> None:
        name, _, arg = channel.partition("/")
        try:
            key = int(arg)
            snapshot = self._snapshot(name, key, auth)
        except (ValueError, KeyError):
            await self._error(ws, 30005, f"Invalid Channel: {channel}")
            return
        except (LighterError, Rejected) as exc:
            await self._error(ws, 30006, lighter_error(exc).message)
            return
        if ws in self.subs[channel]:
            await self._error(ws, 30003, f"Already Subscribed to {channel}")
            return
        self.subs[channel].add(ws)
        await ws.send_str(_dumps(snapshot))

    # ---- snapshots and updates ------------------------------------------------------------
    def _snapshot(self, name: str, key: int, auth: str | None) -> dict[str, Any]:
        engine = self.venue.engine
        if name == "order_book":
            if key not in engine.markets:
                raise KeyError(key)
            return self._book_msg("subscribed/order_book", key, wire.book_snapshot(engine, key))
        if name == "trade":
            spec = engine.markets[key]
            recent = [t for t in engine.trades if t.market_id == key][-SNAPSHOT_TRADES:]
            return {
                "channel": f"trade:{key}",
                "type": "subscribed/trade",
                "trades": [wire.trade(spec, t) for t in recent],
            }
        if name == "account_all":
            history = list(engine.account_trades.get(key, ()))[-SNAPSHOT_TRADES:]
            return self._account_msg("subscribed/account_all", key, history)
        if name == "account_all_orders":
            check_token(engine, self.keys, auth, key)
            if key not in self.order_watches:  # an earlier subscriber's watch keeps its unpublished changes
                self.order_watches[key] = OrderWatch.begin(engine, key)
            open_orders = list(engine.account(key).open_orders.values())
            return self._orders_msg("subscribed/account_all_orders", key, open_orders)
        raise KeyError(name)

    def _book_msg(self, kind: str, market_id: int, book: dict[str, Any]) -> dict[str, Any]:
        nonce = self.book_nonce[market_id]
        begin = nonce
        if kind.startswith("update"):
            nonce = self.book_nonce[market_id] = nonce + 1
        self.offset += 1
        book.update({"offset": self.offset, "nonce": nonce, "begin_nonce": begin})
        return {
            "channel": f"order_book:{market_id}",
            "offset": self.offset,
            "order_book": book,
            "timestamp": _now_ms(),
            "type": kind,
        }

    def _account_msg(self, kind: str, index: int, trades: list[Trade]) -> dict[str, Any]:
        """A snapshot holds every position; an update those of the markets of its trades."""
        engine = self.venue.engine
        acct = engine.account(index)
        by_market: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for t in trades:
            by_market[str(t.market_id)].append(wire.trade(engine.markets[t.market_id], t))
        positions = {str(p["market_id"]): p for p in wire.positions(engine, acct)}
        if kind.startswith("update/"):
            positions = {m: p for m, p in positions.items() if m in by_market}
        return {
            "account": index,
            "channel": f"account_all:{index}",
            "type": kind,
            "assets": {},
            "funding_histories": {},
            "shares": [],
            "positions": positions,
            "trades": dict(by_market),
            "collateral": usdc_str(acct.collateral),
            "total_trades_count": len(engine.account_trades.get(index, ())),
            "daily_trades_count": 0,
            "daily_volume": 0,
            "weekly_trades_count": 0,
            "weekly_volume": 0,
            "monthly_trades_count": 0,
            "monthly_volume": 0,
            "total_volume": 0,
        }

    def _orders_msg(self, kind: str, index: int, listed: list[Order]) -> dict[str, Any]:
        engine = self.venue.engine
        orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for o in listed:
            orders[str(o.market_id)].append(wire.order(engine.markets[o.market_id], o))
        return {
            "account": index,
            "channel": f"account_all_orders:{index}",
            "orders": dict(orders),
            "type": kind,
        }

    # ---- publisher ------------------------------------------------------------------------
    async def publish(self, changes: Changes) -> None:
        for market_id, levels in changes.levels.items():
            await self._publish_book(market_id, levels)
        await self._publish_trades(changes.trades)
        await self._publish_accounts(changes.accounts, changes.trades)

    async def _publish_book(self, market_id: int, changed: set[tuple[Side, int]]) -> None:
        engine = self.venue.engine
        book, spec = engine.books[market_id], engine.markets[market_id]
        subscribers = self.subs.get(f"order_book/{market_id}")
        if not subscribers:
            self.book_nonce[market_id] += 1  # keep the sequence continuous for later subscribers
            return
        asks = sorted((p, book.level_total(s, p)) for s, p in changed if s is Side.SELL)
        bids = sorted(((p, book.level_total(s, p)) for s, p in changed if s is Side.BUY), reverse=True)
        delta = wire.book_delta(spec, asks, bids)
        await self._fanout(subscribers, _dumps(self._book_msg("update/order_book", market_id, delta)))

    async def _publish_trades(self, trades: list[Trade]) -> None:
        engine = self.venue.engine
        by_market: dict[int, list[Trade]] = defaultdict(list)
        for t in trades:
            by_market[t.market_id].append(t)
        for market_id, batch in by_market.items():
            subscribers = self.subs.get(f"trade/{market_id}")
            if subscribers:
                spec = engine.markets[market_id]
                msg = {
                    "channel": f"trade:{market_id}",
                    "type": "update/trade",
                    "trades": [wire.trade(spec, t) for t in batch],
                }
                await self._fanout(subscribers, _dumps(msg))

    async def _publish_accounts(self, dirty: set[int], trades: list[Trade]) -> None:
        engine = self.venue.engine
        for index in dirty:
            if index not in engine.accounts:
                continue
            subscribers = self.subs.get(f"account_all/{index}")
            if subscribers:
                mine = [t for t in trades if index in (t.ask_account, t.bid_account)]
                msg = self._account_msg("update/account_all", index, mine)
                if self.venue.faults.take(FaultKind.WS_GARBLE, "/stream", submits=False) is not None:
                    for p in msg["positions"].values():
                        p["position"] = "garbled"  # a frame the client cannot read
                await self._fanout(subscribers, _dumps(msg))
            await self._publish_orders(index)

    def reset(self) -> None:
        """The venue starts over and reuses order indices: a watch left from before would take a
        new order for the old one with its index and never publish its change."""
        self.order_watches.clear()

    async def _publish_orders(self, index: int) -> None:
        """The account's orders that changed since the last update, if anyone listens."""
        subscribers = self.subs.get(f"account_all_orders/{index}")
        if not subscribers:
            self.order_watches.pop(index, None)
            return
        watch = self.order_watches.get(index)
        if watch is None:
            return
        changed = watch.changed(self.venue.engine)
        if changed:
            msg = self._orders_msg("update/account_all_orders", index, changed)
            await self._fanout(subscribers, _dumps(msg))

    async def _fanout(self, subscribers: set[web.WebSocketResponse], text: str) -> None:
        for ws in list(subscribers):
            if ws.closed:
                subscribers.discard(ws)
                continue
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                subscribers.discard(ws)

    async def run_pings(self) -> None:
        while True:
            await asyncio.sleep(self.venue.config.ping_interval_s)
            for ws in list(self.sockets):
                if not ws.closed:
                    try:
                        await ws.send_str('{"type":"ping"}')
                    except (ConnectionError, RuntimeError):
                        self._forget(ws)
