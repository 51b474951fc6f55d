"""GRVT's websockets: ``{md,td}/ws`` (legacy ``{stream, feed, method}``) and ``/ws/full``
(JSON-RPC, with trading calls on the trade host), grvt-api.md §9.

The trade host takes the session cookie from the upgrade's headers or query string and ends
a socket whose session expires (error 1000, then close 1008): the SDK does not refresh the
cookie of a live socket, so a client sees the expiry instead of a silent stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web

from perpflow.sim.changes import Changes
from perpflow.sim.errors import Rejected
from perpflow.sim.faces.grvt import feeds, trading, wire
from perpflow.sim.faces.grvt.conn import Conn, Sub, dumps
from perpflow.sim.faces.grvt.errors import GrvtError, err, grvt_error
from perpflow.sim.faces.grvt.sessions import Session, cookie_of
from perpflow.sim.faces.grvt.state import GrvtState
from perpflow.sim.faces.grvt.streams import MARKET_STREAMS, TRADE_STREAMS, market_selector, trade_selector
from perpflow.sim.faces.grvt.watch import AccountWatch

log = logging.getLogger(__name__)
Json = dict[str, Any]
SESSION_SWEEP_S = 0.5
POLICY_VIOLATION = 1008


class Hub:
    def __init__(self, grvt: GrvtState) -> None:
        self.grvt = grvt
        self.conns: set[Conn] = set()
        self.watches: dict[int, AccountWatch] = {}
        self.refuse_until = 0.0
        self.gaps: dict[str | None, int] = defaultdict(int)  # stream (None: any) -> numbers to skip
        # A subscribe-hold fault: subscribes wait, neither live nor answered, until it is lifted.
        self.hold: asyncio.Event | None = None
        self.held = 0

    # ---- connections ------------------------------------------------------------------------
    def handler(self, host: str) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, host)

        return handle

    async def _serve(self, request: web.Request, host: str) -> web.StreamResponse:
        token = cookie_of(request)
        if host == "td" and self.grvt.sessions.get(token) is None:
            refusal = err(1000)
            return web.json_response(refusal.body(), status=refusal.status)
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        if time.monotonic() < self.refuse_until:
            await ws.close(code=1013, message=b"try again later")
            return ws
        conn = Conn(ws, host, token)
        self.conns.add(conn)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
        finally:
            self.conns.discard(conn)
        return ws

    async def drop_all(self, refuse_seconds: float = 0.0) -> int:
        self.refuse_until = time.monotonic() + refuse_seconds
        victims = list(self.conns)
        for conn in victims:
            await conn.ws.close(code=1001, message=b"dropped by fault injection")
            self.conns.discard(conn)
        return len(victims)

    async def end_expired(self) -> int:
        """Close trade sockets whose session has expired; returns how many."""
        ended = [c for c in self.conns if c.host == "td" and self.grvt.sessions.get(c.token) is None]
        for conn in ended:
            await conn.send(dumps(err(1000).body()))
            await conn.ws.close(code=POLICY_VIOLATION, message=b"session expired")
            self.conns.discard(conn)
        return len(ended)

    async def run_session_sweep(self) -> None:
        while True:
            await asyncio.sleep(SESSION_SWEEP_S)
            await self.end_expired()

    # ---- requests ---------------------------------------------------------------------------
    async def _on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            await conn.send(dumps(err(1003).body()))  # e.g. the JS client's text "ping"
            return
        if not isinstance(msg, dict):
            await conn.send(dumps(err(1003).body()))
            return
        rpc = "jsonrpc" in msg
        method = str(msg.get("method", ""))
        try:
            if method in ("subscribe", "unsubscribe"):
                params = (msg.get("params") or {}) if rpc else msg
                selectors = params.get("selectors") if rpc else params.get("feed")
                await self._subscription(conn, msg, method, str(params.get("stream", "")), selectors or [])
            elif rpc and method.startswith("v1/") and conn.host == "td":
                await self._rpc_call(conn, msg, method.removeprefix("v1/"))
            else:
                raise err(1003)
        except (GrvtError, Rejected) as exc:
            await conn.send(dumps(self._error(msg, rpc, grvt_error(exc))))
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
            await conn.send(dumps(self._error(msg, rpc, err(1003))))

    @staticmethod
    def _error(msg: Json, rpc: bool, refusal: GrvtError) -> Json:
        if not rpc:
            return refusal.body()
        error = {"code": refusal.code, "message": refusal.message}
        return {"jsonrpc": "2.0", "error": error, "id": msg.get("id"), "method": msg.get("method")}

    def _session(self, conn: Conn) -> Session:
        session = self.grvt.sessions.get(conn.token)
        if session is None:
            raise err(1000)
        return session

    async def _rpc_call(self, conn: Conn, msg: Json, name: str) -> None:
        call = trading.CALLS.get(name)
        if call is None:
            raise err(1003)
        result = call(self.grvt, self._session(conn), msg.get("params") or {})
        await conn.send(
            dumps({"jsonrpc": "2.0", "result": result, "id": msg.get("id"), "method": msg.get("method")})
        )

    async def _subscription(
        self, conn: Conn, msg: Json, method: str, stream: str, selectors: list[Any]
    ) -> None:
        streams = MARKET_STREAMS if conn.host == "md" else TRADE_STREAMS
        if stream not in streams:
            raise err(1003)
        if method == "unsubscribe":
            for text in selectors:
                conn.subs.pop((stream, str(text)), None)
            await conn.send(
                dumps(self._reply(msg, {"stream": stream, "unsubs": [str(s) for s in selectors]}))
            )
            return
        if self.hold is not None:
            self.held += 1
            try:
                await self.hold.wait()
            finally:
                self.held -= 1
        subs = [Sub(self._selector(conn, stream, str(text))) for text in selectors]
        if not subs:
            raise GrvtError(1102, "Wrong number of selectors", 400)
        snapshots = [self._snapshots(sub) for sub in subs]
        result = {
            "stream": stream,
            "subs": [s.selector.text for s in subs],
            "unsubs": [],
            "num_snapshots": [len(s) for s in snapshots],
            "first_sequence_number": ["0" for _ in subs],
            "latest_sequence_number": ["0" for _ in subs],
        }
        # Registered before anything is sent, in the same step as the snapshots are taken: a change
        # published while the answer goes out reaches the subscription, after its snapshot.
        for sub in subs:
            conn.subs[(stream, sub.selector.text)] = sub
        async with conn.feeding:
            await conn.send(dumps(self._reply(msg, result)))
            for sub, payloads in zip(subs, snapshots, strict=True):
                for payload in payloads:
                    await conn.send(conn.feed(sub, payload, snapshot=True))

    @staticmethod
    def _reply(msg: Json, result: Json) -> Json:
        if "jsonrpc" in msg:
            return {"jsonrpc": "2.0", "result": result, "id": msg.get("id"), "method": msg.get("method")}
        return {"request_id": msg.get("request_id"), **result}

    def _selector(self, conn: Conn, stream: str, text: str) -> Any:
        grvt = self.grvt
        if conn.host == "md":
            return market_selector(stream, text, grvt.instruments)
        session = self._session(conn)
        own = grvt.keys.sub_account_id(session.account)
        selector = trade_selector(stream, text or own, grvt.instruments, {own: session.account})
        watch = self.watches.get(session.account)
        if watch is None:
            watch = self.watches[session.account] = AccountWatch(session.account)
            watch.start(grvt.engine, grvt.desk)
        return selector

    def _snapshots(self, sub: Sub) -> list[Json]:
        if sub.selector.account is None:
            return feeds.market_snapshot(self.grvt, sub)
        return feeds.order_snapshot(self.grvt, sub)

    # ---- publishing -------------------------------------------------------------------------
    async def publish(self, changes: Changes) -> None:
        if not self.conns:
            return
        for conn in [c for c in self.conns if c.host == "md"]:
            for sub in list(conn.subs.values()):
                await self._publish_market(conn, sub, changes)
        trading_conns = [c for c in self.conns if c.host == "td" and c.subs]
        for account, watch in list(self.watches.items()):
            if not trading_conns or account not in self.grvt.engine.accounts:
                continue
            news = feeds.account_news(self.grvt, watch, changes.trades)
            for conn in trading_conns:
                for sub in [s for s in conn.subs.values() if s.selector.account == account]:
                    for feed in news.for_selector(sub.selector):
                        await self._emit(conn, sub, feed)

    async def _publish_market(self, conn: Conn, sub: Sub, changes: Changes) -> None:
        inst, stream = sub.selector.instrument, sub.selector.stream
        assert inst is not None
        market = inst.spec.market_id
        if stream == "v1.trade":
            for t in changes.trades:
                if t.market_id == market:
                    await self._emit(conn, sub, wire.public_trade(inst, self.grvt.engine, t))
            return
        changed = changes.levels.get(market)
        traded = any(t.market_id == market for t in changes.trades)
        if changed or (traded and stream in feeds.TICKERS):
            await self._emit(conn, sub, feeds.market_update(self.grvt, sub, changed or set()))

    async def _emit(self, conn: Conn, sub: Sub, feed: Json) -> None:
        async with conn.feeding:
            skip = self._take_gap(sub.selector.stream)
            sent = await conn.send(conn.feed(sub, feed, skip=skip))
        if not sent:
            self.conns.discard(conn)

    def _take_gap(self, stream: str) -> bool:
        for key in (stream, None):
            if self.gaps.get(key, 0) > 0:
                self.gaps[key] -= 1
                return True
        return False

    def hold_subscribes(self, hold: bool) -> None:
        if hold and self.hold is None:
            self.hold = asyncio.Event()
        elif not hold and self.hold is not None:
            self.hold.set()
            self.hold = None

    def reset(self) -> None:
        self.watches.clear()
        self.gaps.clear()
        self.hold_subscribes(False)
