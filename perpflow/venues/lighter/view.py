"""The signer's live view of its own Lighter account, on one websocket through the account's proxy.

``account_all/{a}`` (public) carries the account's positions and new trades. Its subscribe answer
holds every position, so it replaces the view's; an update may carry only the markets that
changed (a closed position as ``"0"``), so it replaces those markets' positions and keeps the
others. ``account_all_orders/{a}`` (auth) answers the subscribe with the open orders and then
carries the orders that changed, each with its status (``open``, ``filled``,
``canceled-post-only``, ``canceled-margin-not-allowed``...). The venue client reads both from here
while the view is live (connected, both subscriptions answered and applied, a frame within two
pings) and by REST otherwise.

An order's fate is told only once the view's positions hold its fills too: the view counts the
traded size of each order from ``account_all``'s trades, so a fill shown on the orders channel
but not yet on the positions channel waits, and the next risk check never reads a position older
than that order. If the view does not show it in time while it seems live, it lags: it stops
being live until both channels have been answered again (``resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import TypeVar

import aiohttp

from perpflow.venues.errors import AuthError
from perpflow.venues.feed import FeedStream, StreamHooks, StreamOptions, StreamState
from perpflow.venues.lighter import parse, wire
from perpflow.venues.lighter.stream import AnsweredStream, ws_url
from perpflow.venues.types import Proxy, VenueOrder
from perpflow.venues.websocket import StreamError

# The view is fresh while a frame came within this many ping intervals: the venue answers each of
# our pings, so two missed answers mean the socket is dead even before the read times out.
FRESH_PINGS = 2
# The orders (by client order index), and the traded sizes and trade ids (by order index), the view
# keeps: an order's fate is asked for right after its send, so the oldest can go. At 4,096 an
# account would have to send that many orders between a send and its look-up to lose one.
KEPT = 4096
V = TypeVar("V")
# The view's socket: a risk check reads its position, so a silently dead socket must stop counting
# as live soon: with a ping every 5 s it does within FRESH_PINGS x 5 = 10 s (the feed's 10 s pings
# would allow 20 s). Each ping is a message against Lighter's per-IP websocket limit (200 a minute,
# lighter-api.md section 13): 12 a minute per view, so ten accounts behind one IP would spend 120
# of the 200 on pings alone; pinging faster would crowd out their subscribes.
OPTIONS = StreamOptions(ping_interval_s=5.0, stale_after_s=10.0)
# Parse failures of a frame: the view cannot trust its state, so it reconnects for fresh snapshots.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, decimal.InvalidOperation)


class AccountView(AnsweredStream):
    def __init__(
        self,
        name: str,
        ws_url: str,
        session: aiohttp.ClientSession,
        account_index: int,
        *,
        token: Callable[[], str],
        symbol_of: Callable[[int], str],
        proxy: Proxy | None = None,
        options: StreamOptions = OPTIONS,
    ) -> None:
        hooks = StreamHooks(on_state=self._on_state, options=options)
        super().__init__(name, ws_url, session, self._on_message, hooks, proxy=proxy)
        self.account_index, self._token, self._symbol_of = account_index, token, symbol_of
        self._positions_channel = f"account_all/{account_index}"
        self._orders_channel = f"account_all_orders/{account_index}"
        self.channels = {self._positions_channel, self._orders_channel}
        self._applied: set[str] = set()  # the snapshots applied on this connection
        self._positions: dict[int, Decimal] = {}
        self._orders: OrderedDict[int, wire.Msg] = OrderedDict()  # by client order index, as sent
        self._traded: OrderedDict[int, Decimal] = OrderedDict()  # by order index, from trades
        self._trade_ids: OrderedDict[int, None] = OrderedDict()
        self._changed = asyncio.Event()
        self._ended = False  # ``run`` returned or raised: this view is never live again

    # -- the stream ------------------------------------------------------------------------------

    def subscription(self, channel: str) -> wire.Msg:
        frame = super().subscription(channel)
        if channel == self._orders_channel:
            frame["auth"] = self._token()
        return frame

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await super().run(stop)
        finally:
            self._ended = True
            self._wake()

    async def greet(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._applied = set()
        await super().greet(ws)

    def _on_state(self, _: FeedStream) -> None:
        self._wake()  # a waiter learns at once that the view is no longer live

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_message(self, msg: wire.Msg) -> None:
        try:
            name, _ = wire.channel(msg)
            kind = str(msg.get("type", ""))
            snapshot = kind.startswith("subscribed/")
            if name == "account_all":
                self._on_account(msg, snapshot=snapshot)
            elif name == "account_all_orders":
                self._on_orders(msg, snapshot=snapshot)
            else:
                return
        except _MALFORMED as exc:
            raise StreamError(f"malformed {str(msg.get('type'))[:40]} message: {exc!r}") from exc
        if snapshot:
            self._applied.add(f"{name}/{self.account_index}")
        self._wake()

    def _on_account(self, msg: wire.Msg, *, snapshot: bool) -> None:
        positions = {
            int(p.get("market_id", key)): parse.signed_size(p.get("position"), p.get("sign"))
            for key, p in (msg.get("positions") or {}).items()
        }
        if snapshot:
            self._positions = positions
        else:
            self._positions.update(positions)  # the markets that changed; the others keep theirs
        for t in wire.account_trades(msg):
            trade_id = int(t.get("trade_id", 0))
            if trade_id in self._trade_ids:
                continue  # a reconnect's snapshot repeats recent trades
            _remember(self._trade_ids, trade_id, None)
            size = Decimal(str(t["size"]))
            for account_key, order_key in (("ask_account_id", "ask_id"), ("bid_account_id", "bid_id")):
                if t.get(account_key) == self.account_index:
                    order_index = int(t[order_key])
                    _remember(self._traded, order_index, self._traded.get(order_index, Decimal(0)) + size)

    def _on_orders(self, msg: wire.Msg, *, snapshot: bool) -> None:
        if snapshot:
            # What rested before the reconnect and is not open now ended unseen: its fate is unknown.
            for coi in [coi for coi, o in self._orders.items() if not parse.status(o["status"]).final]:
                del self._orders[coi]
        for batch in (msg.get("orders") or {}).values():
            for raw in batch:
                self._on_order(raw)

    def _on_order(self, raw: wire.Msg) -> None:
        """Frames may come late or twice: an ended order stays ended, and a client order index
        stays with its newest order (the highest order index)."""
        coi = int(raw.get("client_order_index") or 0)
        if not coi:
            return
        _parsed(raw, str)  # read now: a frame we cannot read reconnects the view, never fails a read
        kept = self._orders.get(coi)
        if kept is not None:
            old, new = int(kept["order_index"]), int(raw["order_index"])
            if new < old or (new == old and parse.status(kept["status"]).final):
                return
        _remember(self._orders, coi, raw)

    async def resync(self) -> None:
        """Not live until both channels are answered again: their snapshots replace what the view
        holds (subscribed anew on this connection, or on the next one if sending fails)."""
        self._applied = set()
        self._wake()
        ws = self.live
        if ws is None:
            return  # the next connection subscribes anew
        try:
            for channel in sorted(self.channels):
                await ws.send_str(json.dumps({"type": "unsubscribe", "channel": channel}))
                await ws.send_str(json.dumps(self.subscription(channel)))
        except (ConnectionError, RuntimeError, AuthError):
            await self.close()  # the next connection subscribes anew (or fails for its token)

    # -- what the venue client reads -------------------------------------------------------------

    @property
    def ready(self) -> bool:
        fresh = time.monotonic() - self.last_message <= FRESH_PINGS * self.options.ping_interval_s
        live = self.state is StreamState.CONNECTED and not self._ended
        return live and self._applied >= self.channels and fresh

    def position(self, market_id: int) -> Decimal:
        return self._positions.get(market_id, Decimal(0))

    async def until_ready(self) -> None:
        """Until the view is live, or has ended (``ready`` says which)."""
        while not self.ready and not self._ended:
            await self._changed.wait()

    async def until_unready(self) -> None:
        while self.ready:
            await self._changed.wait()

    def shown(self, client_order_index: int) -> VenueOrder | None:
        """The newest order with this client index as the orders channel last showed it."""
        raw = self._orders.get(client_order_index)
        return None if raw is None else _parsed(raw, self._symbol_of)

    async def order(self, client_order_index: int, timeout_s: float) -> VenueOrder | None:
        """The order with this client index once the view shows it with all its fills in the
        positions; None if that takes longer than ``timeout_s`` (the view lags: it resyncs) or the
        view stops being live."""
        deadline = time.monotonic() + timeout_s
        while self.ready:
            found = self.shown(client_order_index)
            if found is not None and found.filled_size <= self._traded.get(found.order_index, Decimal(0)):
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                await self.resync()
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return None


def _parsed(raw: wire.Msg, symbol_of: Callable[[int], str]) -> VenueOrder:
    return parse.order(SimpleNamespace(**raw), symbol_of(int(raw["market_index"])))


def _remember(kept: OrderedDict[int, V], key: int, value: V) -> None:
    kept[key] = value
    kept.move_to_end(key)
    if len(kept) > KEPT:
        kept.popitem(last=False)


class LiveAccount:
    """An account's view while ``follow`` runs: its own HTTP session (never the environment's
    proxy: the account's own, explicitly), one ``AccountView``."""

    def __init__(
        self,
        url: str,
        account_index: int,
        token: Callable[[], str],
        symbol_of: Callable[[int], str],
        *,
        proxy: Proxy | None,
        options: StreamOptions = OPTIONS,
    ) -> None:
        self.url, self.account_index, self.proxy, self.options = url, account_index, proxy, options
        self._token, self._symbol_of = token, symbol_of
        self._view: AccountView | None = None
        self._following = asyncio.Event()

    def view(self) -> AccountView | None:
        """The view, if it is live now."""
        view = self._view
        return view if view is not None and view.ready else None

    async def follow(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(trust_env=False) as session:
            self._view = AccountView(
                f"lighter-view-{self.account_index}", ws_url(self.url), session, self.account_index,
                token=self._token, symbol_of=self._symbol_of, proxy=self.proxy, options=self.options,
            )  # fmt: skip
            self._following.set()
            try:
                await self._view.run(stop)
            finally:
                self._view = None
                self._following.clear()

    async def until_ready(self) -> None:
        """Until the view can be read (``follow`` must be running)."""
        while True:
            await self._following.wait()
            view = self._view
            if view is not None:
                await view.until_ready()
                if view.ready:
                    return

    async def until_unready(self) -> None:
        """Until the view cannot be read (dropped, stale, or ``follow`` ended)."""
        view = self._view
        if view is not None:
            await view.until_unready()
