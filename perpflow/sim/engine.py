"""The matching engine: markets, books, accounts and the order lifecycle.

Everything is synchronous and integer-valued; the faces and the market maker drive it from one
event loop, so no locking is needed. The server drains what changed (``drain_changes``) once
per publishing tick and hands the same batch to every face.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from perpflow.sim.account import Account
from perpflow.sim.book import OrderBook
from perpflow.sim.changes import Changes
from perpflow.sim.enums import CancelReason, OrderKind, OrderStatus, Side, TimeInForce
from perpflow.sim.errors import Rejected, RejectReason
from perpflow.sim.markets import FEE_SCALE, MarketSpec
from perpflow.sim.matching import Fill, Withdrawal, next_match
from perpflow.sim.order import ORDER_INDEX_BASE, NewOrder, Order, Trade
from perpflow.sim.risk import clip_reduce_only, margin_ok, reducible
from perpflow.sim.triggers import TriggerBook

INACTIVE_KEPT = 2000  # per account; enough for any test or a day of paper trading
TRADES_KEPT = 100_000
FIRST_USER_ACCOUNT = 100
MARK_PUSH_MS = 1000  # accounts whose only change is the mark are pushed at most this often


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Engine:
    def __init__(self, markets: Iterable[MarketSpec], clock: Callable[[], int] = wall_clock_ms) -> None:
        self.clock = clock
        self.markets = {m.market_id: m for m in markets}
        self.books = {m: OrderBook(m) for m in self.markets}
        self.marks = {m: s.to_ticks(s.start_price) for m, s in self.markets.items()}
        self.imfs = {m: s.initial_margin_fraction for m, s in self.markets.items()}
        self.accounts: dict[int, Account] = {}
        self.orders: dict[int, Order] = {}
        self.inactive: dict[int, deque[Order]] = {}
        self.trades: deque[Trade] = deque(maxlen=TRADES_KEPT)
        self.account_trades: dict[int, deque[Trade]] = {}
        self.triggers = TriggerBook()
        self.fees_collected = 0
        self.partial_fill_ratio = 0.0  # >0 while a forced-partial-fill fault is active
        self.partial_fill_budget = 0
        self.dirty_accounts: set[int] = set()
        self._mark_pushed: dict[int, int] = {}  # market -> when its mark last made accounts dirty (ms)
        self.new_trades: list[Trade] = []
        self._next_account = FIRST_USER_ACCOUNT
        self._next_order = ORDER_INDEX_BASE
        self._next_trade = 1

    # ---- accounts -------------------------------------------------------------------------
    def create_account(
        self, collateral: int, *, index: int | None = None, market_maker: bool = False
    ) -> Account:
        if index is None:
            index = self._next_account
            self._next_account += 1
        acct = Account(index=index, is_market_maker=market_maker)
        self.accounts[index] = acct
        self.inactive[index] = deque(maxlen=INACTIVE_KEPT)
        self.account_trades[index] = deque(maxlen=INACTIVE_KEPT)
        self.fund(index, collateral)
        return acct

    def account(self, index: int) -> Account:
        acct = self.accounts.get(index)
        if acct is None:
            raise Rejected(RejectReason.ACCOUNT_NOT_FOUND)
        return acct

    def market(self, market_id: int) -> MarketSpec:
        spec = self.markets.get(market_id)
        if spec is None:
            raise Rejected(RejectReason.INVALID_MARKET)
        return spec

    def fund(self, index: int, amount: int) -> None:
        acct = self.account(index)
        acct.collateral += amount
        acct.deposits += amount
        self.dirty_accounts.add(index)

    # ---- order entry ----------------------------------------------------------------------
    def submit(self, account: int, req: NewOrder, ref: str = "") -> Order:
        """Validate synchronously (raising Rejected), then execute; later failures are statuses."""
        acct = self.account(account)
        self._validate(acct, req)
        self._next_order += 1
        order = req.accept(self._next_order - 1, account, self.clock())
        self.orders[order.order_index] = order
        self._open(acct, order)
        if req.kind.is_triggered:
            order.status = OrderStatus.WAITING_TRIGGER
            self.triggers.add(order)
        else:
            self.place(order, ref)
        return order

    def _validate(self, acct: Account, req: NewOrder) -> None:
        spec = self.market(req.market_id)
        if req.base_amount < spec.min_base_amount or req.price <= 0:
            raise Rejected(RejectReason.INVALID_AMOUNT)
        if req.base_amount * req.price < spec.min_quote_amount:
            raise Rejected(RejectReason.INVALID_AMOUNT)
        if req.client_order_index and req.client_order_index in acct.by_client:
            raise Rejected(RejectReason.DUPLICATE_CLIENT_ORDER)
        if req.tif is not TimeInForce.IMMEDIATE_OR_CANCEL and 0 < req.expiry_ms <= self.clock():
            raise Rejected(RejectReason.INVALID_EXPIRY)

    def _open(self, acct: Account, order: Order) -> None:
        acct.open_orders[order.order_index] = order
        if order.client_order_index:
            acct.by_client[order.client_order_index] = order
        acct.position(order.market_id).open_orders += 1
        self.dirty_accounts.add(acct.index)

    def place(self, order: Order, ref: str = "") -> None:
        """Run an accepted order through the book: checks, matching, then rest or cancel."""
        acct = self.accounts[order.account]
        book = self.books[order.market_id]
        room = reducible(acct, order) if order.reduce_only else order.remaining
        if room <= 0:
            self._close(order, CancelReason.REDUCE_ONLY)
            return
        needs_margin = not (acct.is_market_maker or order.reduce_only)  # reduce-only never adds exposure
        if needs_margin and not margin_ok(acct, order, self.marks, self.imfs):
            self._close(order, CancelReason.MARGIN)
            return
        if order.tif is TimeInForce.POST_ONLY and book.side(order.side.opposite).crosses(order.price):
            self._close(order, CancelReason.POST_ONLY)
            return
        self._match(order, ref, min(room, self._fill_cap(order)))
        self._finish(acct, order)

    def _match(self, taker: Order, ref: str, max_fill: int) -> None:
        opposite = self.books[taker.market_id].side(taker.side.opposite)
        now = self.clock()
        while (step := next_match(opposite, taker, now, max_fill)) is not None:
            if isinstance(step, Withdrawal):
                self.deactivate(step.maker, step.reason)
                continue
            maker = step.maker
            # A resting reduce-only order trades only what still reduces its owner's position.
            room = reducible(self.accounts[maker.account], maker) if maker.reduce_only else step.qty
            if room <= 0:
                self.deactivate(maker, CancelReason.REDUCE_ONLY_LIMIT)
                continue
            step.qty = min(step.qty, room)
            self._fill(taker, step, ref)
            max_fill -= step.qty
            if maker.reduce_only and step.qty == room and maker.status is OrderStatus.OPEN:
                self.deactivate(maker, CancelReason.REDUCE_ONLY_LIMIT)  # its position is closed now

    def _fill(self, taker: Order, fill: Fill, ref: str) -> None:
        maker, qty, price = fill.maker, fill.qty, fill.price
        spec = self.markets[taker.market_id]
        notional = qty * price
        for order in (taker, maker):
            order.remaining -= qty
            order.filled_base += qty
            order.filled_quote += notional
            order.updated_ms = self.clock()
        self.books[maker.market_id].reduce(maker, qty)
        self.accounts[maker.account].track_resting(maker, -qty)
        if maker.remaining == 0:
            self._close(maker)
        taker_fee = notional * spec.taker_fee_ppm // FEE_SCALE
        maker_fee = notional * spec.maker_fee_ppm // FEE_SCALE
        taker_before = self._settle(taker, qty, price, taker_fee)
        maker_before = self._settle(maker, qty, price, maker_fee)
        ask, bid = (taker, maker) if taker.side is Side.SELL else (maker, taker)
        self._next_trade += 1
        self._record(
            Trade(
                trade_id=self._next_trade - 1,
                ref=ref,
                market_id=taker.market_id,
                size=qty,
                price=price,
                ask_id=ask.order_index,
                bid_id=bid.order_index,
                ask_client_id=ask.client_order_index,
                bid_client_id=bid.client_order_index,
                ask_account=ask.account,
                bid_account=bid.account,
                maker_side=maker.side,
                timestamp_ms=self.clock(),
                taker_fee=taker_fee,
                maker_fee=maker_fee,
                taker_position_before=taker_before,
                maker_position_before=maker_before,
            )
        )

    def _settle(self, order: Order, qty: int, price: int, fee: int) -> int:
        """Move the position and cash of ``order``'s owner; returns the signed size before."""
        acct = self.accounts[order.account]
        before = acct.settle(order.market_id, -qty if order.side is Side.SELL else qty, price, fee)
        self.fees_collected += fee
        self.dirty_accounts.add(acct.index)
        return before

    def _record(self, trade: Trade) -> None:
        self.trades.append(trade)
        self.new_trades.append(trade)
        self.account_trades[trade.ask_account].append(trade)
        self.account_trades[trade.bid_account].append(trade)

    def _finish(self, acct: Account, order: Order) -> None:
        if order.reduce_only and order.remaining and not clip_reduce_only(acct, order):
            self._close(order, CancelReason.REDUCE_ONLY_LIMIT)  # what it reduced is closed
            return
        if order.remaining == 0:
            self._close(order)
        elif order.tif is TimeInForce.IMMEDIATE_OR_CANCEL or order.kind is OrderKind.MARKET:
            none = order.filled_base == 0 and order.kind is OrderKind.MARKET
            self._close(order, CancelReason.NO_LIQUIDITY if none else CancelReason.UNFILLED)
        else:
            order.status = OrderStatus.OPEN
            self.books[order.market_id].rest(order)
            acct.track_resting(order, order.remaining)
            self.dirty_accounts.add(acct.index)

    def _fill_cap(self, order: Order) -> int:
        if self.partial_fill_budget <= 0 or self.accounts[order.account].is_market_maker:
            return order.remaining
        self.partial_fill_budget -= 1
        return max(1, int(order.remaining * self.partial_fill_ratio))

    # ---- order exit -----------------------------------------------------------------------
    def _close(self, order: Order, reason: CancelReason | None = None) -> None:
        """Make an order inactive: filled without a reason, else cancelled. It is off the book."""
        order.status = OrderStatus.FILLED if reason is None else OrderStatus.CANCELED
        order.cancel_reason = reason
        order.updated_ms = self.clock()
        acct = self.accounts[order.account]
        if acct.open_orders.pop(order.order_index, None) is not None:
            acct.position(order.market_id).open_orders -= 1
        if order.client_order_index and acct.by_client.get(order.client_order_index) is order:
            del acct.by_client[order.client_order_index]
        self.inactive[order.account].append(order)
        self.dirty_accounts.add(order.account)

    def deactivate(self, order: Order, reason: CancelReason) -> None:
        """Cancel an active order wherever it is (book or trigger list)."""
        if order.status is OrderStatus.OPEN:
            self.books[order.market_id].unlink(order)
            self.accounts[order.account].track_resting(order, -order.remaining)
        elif order.status is OrderStatus.WAITING_TRIGGER:
            self.triggers.remove(order)
        self._close(order, reason)

    def open_order(
        self, account: int, market_id: int, *, order_index: int = 0, client_order_index: int = 0
    ) -> Order:
        """An account's active order on a market, by order index or by client order index."""
        acct = self.account(account)
        self.market(market_id)
        order = acct.open_orders.get(order_index) if order_index else acct.by_client.get(client_order_index)
        if order is None:
            other = self.orders.get(order_index)
            if other is not None and other.account != account:
                raise Rejected(RejectReason.NOT_OWNER)
            raise Rejected(RejectReason.ORDER_NOT_ACTIVE)
        if order.market_id != market_id:
            raise Rejected(RejectReason.ORDER_NOT_ACTIVE)
        return order

    def cancel(self, order: Order) -> None:
        self.deactivate(order, CancelReason.CLIENT)

    def cancel_all(
        self, account: int, market_id: int | None = None, reason: CancelReason = CancelReason.CLIENT_ALL
    ) -> list[Order]:
        acct = self.account(account)
        victims = [o for o in acct.open_orders.values() if market_id is None or o.market_id == market_id]
        for order in victims:
            self.deactivate(order, reason)
        return victims

    def modify(self, order: Order, *, base: int, price: int, trigger: int) -> None:
        """Replace price, remaining size and trigger; the order loses its time priority."""
        spec = self.markets[order.market_id]
        if base < 1 or price < 1 or base * price < spec.min_quote_amount:
            raise Rejected(RejectReason.INVALID_AMOUNT)
        if order.status is OrderStatus.OPEN:
            self.books[order.market_id].unlink(order)
            self.accounts[order.account].track_resting(order, -order.remaining)
        order.price, order.remaining, order.trigger_price = price, base, trigger
        order.initial = order.filled_base + base
        order.version += 1
        order.updated_ms = self.clock()
        if order.status is not OrderStatus.WAITING_TRIGGER:
            self.place(order)

    def drain_changes(self) -> Changes:
        levels = {m: book.changed for m, book in self.books.items() if book.changed}
        for market_id in levels:
            self.books[market_id].changed = set()
        trades, self.new_trades = self.new_trades, []
        accounts, self.dirty_accounts = self.dirty_accounts, set()
        return Changes(levels, trades, accounts)

    # ---- time and price -------------------------------------------------------------------
    def expire(self) -> None:
        """Cancel expired good-till-time orders and fire due scheduled cancel-alls."""
        now = self.clock()
        for acct in list(self.accounts.values()):
            if acct.cancel_all_at_ms and acct.cancel_all_at_ms <= now:
                acct.cancel_all_at_ms = 0
                self.cancel_all(acct.index, reason=CancelReason.SCHEDULED_ALL)
            stale = [o for o in acct.open_orders.values() if o.expiry_ms and o.expiry_ms <= now]
            for order in stale:
                self.deactivate(order, CancelReason.EXPIRED)

    def set_mark(self, market_id: int, ticks: int) -> None:
        self.marks[market_id] = ticks
        for order in self.triggers.fire(market_id, ticks):
            order.kind = order.kind.released_as
            if order.kind is OrderKind.MARKET:
                order.tif = TimeInForce.IMMEDIATE_OR_CANCEL
            self.place(order)
        # The mark moves only the unrealised PnL of open positions: those accounts are pushed again
        # at most every MARK_PUSH_MS (a venue pushes account changes, not every account at each
        # tick; at 20 ticks a second that was most of the sim's and its subscribers' work).
        now = self.clock()
        if now - self._mark_pushed.get(market_id, -MARK_PUSH_MS) >= MARK_PUSH_MS:
            self._mark_pushed[market_id] = now
            self.dirty_accounts.update(
                a.index for a in self.accounts.values() if getattr(a.positions.get(market_id), "size", 0)
            )
