"""The matching engine: markets, books, accounts and the order lifecycle.

Everything is synchronous and integer-valued; the HTTP/WS faces and the market maker drive it
from one event loop, so no locking is needed. Observers read ``dirty_accounts``,
``new_trades`` and each book's ``changed`` set and clear them after publishing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from perpflow.sim import errors
from perpflow.sim.account import Account
from perpflow.sim.book import OrderBook
from perpflow.sim.enums import OrderStatus, OrderType, TimeInForce
from perpflow.sim.markets import MarketSpec
from perpflow.sim.matching import match
from perpflow.sim.order import MAX_CLIENT_ORDER_INDEX, ORDER_INDEX_BASE, Order, Trade
from perpflow.sim.triggers import TriggerBook

INACTIVE_KEPT = 2000  # per account; enough for any test or a day of paper trading
TRADES_KEPT = 100_000
FIRST_USER_ACCOUNT = 100


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True, frozen=True)
class NewOrder:
    market_id: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    type: OrderType
    tif: TimeInForce
    reduce_only: bool = False
    trigger_price: int = 0
    expiry_ms: int = 0
    nonce: int = 0


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
        acct = Account(index=index, is_market_maker=market_maker, l1_address=f"0x{index:040x}")
        self.accounts[index] = acct
        self.inactive[index] = deque(maxlen=INACTIVE_KEPT)
        self.account_trades[index] = deque(maxlen=INACTIVE_KEPT)
        self.fund(index, collateral)
        return acct

    def account(self, index: int) -> Account:
        acct = self.accounts.get(index)
        if acct is None:
            raise errors.account_not_found()
        return acct

    def fund(self, index: int, amount: int) -> None:
        acct = self.account(index)
        acct.collateral += amount
        acct.deposits += amount
        self.dirty_accounts.add(index)

    # ---- ids and records --------------------------------------------------------------------
    def next_trade_id(self) -> int:
        self._next_trade += 1
        return self._next_trade - 1

    def record_trade(self, trade: Trade) -> None:
        self.trades.append(trade)
        self.new_trades.append(trade)
        self.account_trades[trade.ask_account].append(trade)
        self.account_trades[trade.bid_account].append(trade)

    # ---- order entry ----------------------------------------------------------------------
    def submit(self, account: int, req: NewOrder, tx_hash: str = "") -> Order:
        """Validate synchronously (raising SimError), then execute; later failures are statuses."""
        acct = self.account(account)
        self._validate(acct, req)
        self._next_order += 1
        order = Order(
            order_index=self._next_order - 1,
            client_order_index=req.client_order_index,
            market_id=req.market_id,
            account=account,
            is_ask=req.is_ask,
            price=req.price,
            initial=req.base_amount,
            type=req.type,
            tif=req.tif,
            reduce_only=req.reduce_only,
            trigger_price=req.trigger_price,
            expiry_ms=req.expiry_ms,
            nonce=req.nonce,
            created_ms=self.clock(),
        )
        self.orders[order.order_index] = order
        self._open(acct, order)
        if req.type in _TRIGGERED:
            order.status = OrderStatus.PENDING
            self.triggers.add(order)
        else:
            self.place(order, tx_hash)
        return order

    def _validate(self, acct: Account, req: NewOrder) -> None:
        spec = self.markets.get(req.market_id)
        if spec is None:
            raise errors.invalid_market()
        if req.base_amount < spec.min_base_amount or req.price <= 0:
            raise errors.invalid_amount()
        if req.base_amount * req.price < spec.min_quote_amount:
            raise errors.invalid_amount()
        if not 0 <= req.client_order_index <= MAX_CLIENT_ORDER_INDEX:
            raise errors.invalid_tx_info()
        if req.client_order_index and req.client_order_index in acct.by_client:
            raise errors.duplicate_client_order_index()
        if req.tif is not TimeInForce.IOC and 0 < req.expiry_ms <= self.clock():
            raise errors.invalid_expiry()

    def _open(self, acct: Account, order: Order) -> None:
        acct.open_orders[order.order_index] = order
        if order.client_order_index:
            acct.by_client[order.client_order_index] = order
        acct.position(order.market_id).open_orders += 1
        self.dirty_accounts.add(acct.index)

    def place(self, order: Order, tx_hash: str = "") -> None:
        """Run an accepted order through the book: checks, matching, then rest or cancel."""
        acct = self.accounts[order.account]
        book = self.books[order.market_id]
        if order.reduce_only and not self._clip_reduce_only(acct, order):
            self.close(order, OrderStatus.CANCELED_REDUCE_ONLY)
            return
        if not acct.is_market_maker and not self._margin_ok(acct, order):
            self.close(order, OrderStatus.CANCELED_MARGIN)
            return
        opp = book.side(not order.is_ask)
        if order.tif is TimeInForce.POST_ONLY and opp.crosses(order.price):
            self.close(order, OrderStatus.CANCELED_POST_ONLY)
            return
        match(self, order, tx_hash, self._fill_cap(order))
        self._finish(acct, order)

    def _finish(self, acct: Account, order: Order) -> None:
        if order.remaining == 0:
            self.close(order, OrderStatus.FILLED)
        elif order.tif is TimeInForce.IOC or order.type is OrderType.MARKET:
            none = order.filled_base == 0 and order.type is OrderType.MARKET
            self.close(order, OrderStatus.CANCELED_NO_LIQUIDITY if none else OrderStatus.CANCELED)
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

    def _clip_reduce_only(self, acct: Account, order: Order) -> bool:
        size = acct.position(order.market_id).size
        reducible = size if order.is_ask else -size
        if reducible <= 0:
            return False
        if order.remaining > reducible:
            order.remaining = reducible
            order.initial = order.filled_base + reducible
        return True

    def _margin_ok(self, acct: Account, order: Order) -> bool:
        pos = acct.position(order.market_id)
        extra = order.remaining
        if order.is_ask:
            pos.open_asks += extra
        else:
            pos.open_bids += extra
        try:
            return acct.equity(self.marks) >= acct.initial_margin(self.marks, self.imfs)
        finally:
            if order.is_ask:
                pos.open_asks -= extra
            else:
                pos.open_bids -= extra

    # ---- order exit -----------------------------------------------------------------------
    def close(self, order: Order, status: OrderStatus) -> None:
        """Make an order inactive; it must already be off the book."""
        order.status = status
        order.updated_ms = self.clock()
        acct = self.accounts[order.account]
        if acct.open_orders.pop(order.order_index, None) is not None:
            acct.position(order.market_id).open_orders -= 1
        if order.client_order_index and acct.by_client.get(order.client_order_index) is order:
            del acct.by_client[order.client_order_index]
        self.inactive[order.account].append(order)
        self.dirty_accounts.add(order.account)

    def deactivate(self, order: Order, status: OrderStatus) -> None:
        """Cancel an active order wherever it is (book or trigger list)."""
        if order.status is OrderStatus.OPEN:
            self.books[order.market_id].unlink(order)
            self.accounts[order.account].track_resting(order, -order.remaining)
        elif order.status is OrderStatus.PENDING:
            self.triggers.remove(order)
        self.close(order, status)

    def find_open(self, account: int, market_id: int, index: int) -> Order:
        """An open order by order index, else by client order index (lighter-api.md §15)."""
        acct = self.account(account)
        if market_id not in self.markets:
            raise errors.invalid_market()
        order = acct.open_orders.get(index) if index >= ORDER_INDEX_BASE else acct.by_client.get(index)
        if order is None:
            other = self.orders.get(index)
            if other is not None and other.account != account:
                raise errors.not_owner()
            raise errors.order_not_active()
        if order.market_id != market_id:
            raise errors.order_not_active()
        return order

    def cancel(self, account: int, market_id: int, index: int) -> Order:
        order = self.find_open(account, market_id, index)
        self.deactivate(order, OrderStatus.CANCELED)
        return order

    def cancel_all(self, account: int, market_id: int | None = None) -> list[Order]:
        acct = self.account(account)
        victims = [o for o in acct.open_orders.values() if market_id is None or o.market_id == market_id]
        for order in victims:
            self.deactivate(order, OrderStatus.CANCELED)
        return victims

    def modify(
        self, account: int, market_id: int, index: int, *, base: int, price: int, trigger: int
    ) -> Order:
        """Replace price, remaining size and trigger; the order loses its time priority."""
        order = self.find_open(account, market_id, index)
        spec = self.markets[market_id]
        if base < 1 or price < 1 or base * price < spec.min_quote_amount:
            raise errors.invalid_amount()
        acct = self.accounts[account]
        if order.status is OrderStatus.OPEN:
            self.books[market_id].unlink(order)
            acct.track_resting(order, -order.remaining)
        order.price, order.remaining, order.trigger_price = price, base, trigger
        order.initial = order.filled_base + base
        order.version += 1
        order.updated_ms = self.clock()
        if order.status is not OrderStatus.PENDING:
            self.place(order)
        return order

    # ---- time and price -------------------------------------------------------------------
    def expire(self) -> None:
        """Cancel expired GTT orders and fire due scheduled cancel-alls."""
        now = self.clock()
        for acct in list(self.accounts.values()):
            if acct.cancel_all_time_ms and acct.cancel_all_time_ms <= now:
                acct.cancel_all_time_ms = 0
                self.cancel_all(acct.index)
            stale = [o for o in acct.open_orders.values() if o.expiry_ms and o.expiry_ms <= now]
            for order in stale:
                self.deactivate(order, OrderStatus.CANCELED_EXPIRED)

    def set_mark(self, market_id: int, ticks: int) -> None:
        self.marks[market_id] = ticks
        for order in self.triggers.fire(market_id, ticks):
            order.type = _TRIGGER_BECOMES[order.type]
            if order.type is OrderType.MARKET:
                order.tif = TimeInForce.IOC
            self.place(order)
        self.dirty_accounts.update(
            a.index for a in self.accounts.values() if a.positions.get(market_id, None) is not None
        )


_TRIGGERED = frozenset(
    {OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT}
)
_TRIGGER_BECOMES = {
    OrderType.STOP_LOSS: OrderType.MARKET,
    OrderType.TAKE_PROFIT: OrderType.MARKET,
    OrderType.STOP_LOSS_LIMIT: OrderType.LIMIT,
    OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT,
}
