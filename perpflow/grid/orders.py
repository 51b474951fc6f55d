"""A grid session's orders and fills: the facts half of the session's state (``GridBook``).

Fills are counted once whichever way they come: a signal's fill id or an order's cumulative fill
from a look-up, whichever has seen more (the hedge cycle's tally).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, Field

from perpflow import names
from perpflow.grid import rule
from perpflow.grid.config import GridConfig, StopAction
from perpflow.grid.levels import GridLevel, LevelState
from perpflow.grid.models import (
    TRANSITIONS,
    GridFillRecord,
    GridFills,
    GridPnl,
    GridState,
    Placement,
    StopReason,
)
from perpflow.hedge.tally import OrderTally, Role, Tally
from perpflow.models import Model
from perpflow.orders import OrderAck, OrderIntent, OrderRef
from perpflow.signals import OrderFilled
from perpflow.venues.types import MarketInfo, OrderStatus

KEEP_FINISHED = 200  # ended orders kept to recognise a late repeat of their fills
KEEP_UNMATCHED = 100  # fill signals that beat their order's acknowledgement
KEEP_RECORDS = 1000  # fill rows waiting for the ledger
# An order the venue shows neither resting nor ended for this long (three times the venues'
# indexing grace) is gone without a fill: the venue no longer knows it (a fresh sim, a reset account).
LOST_AFTER_S = 30.0


class GridOrders(Model):
    session: str  # the order keys' prefix: unique per session start (names.grid_session_key)
    workflow_id: str
    config: GridConfig  # as adjusted since the start
    market: MarketInfo
    started_at: AwareDatetime
    levels: list[GridLevel]
    state: GridState = GridState.RUNNING
    version: int = 0  # ladder rebuilds so far
    watched_version: int = -1  # the ladder version the market-data worker's watches were set for
    tally: Tally = Field(default_factory=Tally)  # the session's orders by client order index
    pnl: GridPnl = Field(default_factory=GridPnl)
    fills: int = 0
    run_fills: int = 0  # since this run began: continue as new past config.fills_per_run
    frozen: bool = False  # the venue feed is down: nothing new is placed
    mark: Decimal | None = None
    stop_reason: StopReason | None = None
    stop_action: StopAction | None = None
    flattens: int = 0  # flatten orders issued
    flatten: Placement | None = None  # the last one
    lost_orders: int = 0  # level orders the venue stopped showing, ended as cancelled (LOST_AFTER_S)
    unmatched: list[OrderFilled] = Field(default_factory=list)
    records: list[GridFillRecord] = Field(default_factory=list)

    # -- facts -----------------------------------------------------------------------------------

    @property
    def position(self) -> Decimal:
        return sum((lv.hold for lv in self.levels), Decimal(0))

    def unrealized(self, mark: Decimal | None = None) -> Decimal:
        at = mark if mark is not None else self.mark
        return Decimal(0) if at is None else sum((lv.unrealized(at) for lv in self.levels), Decimal(0))

    def net_pnl(self, mark: Decimal | None = None) -> Decimal:
        return self.pnl.net(self.unrealized(mark))

    def move_to(self, state: GridState) -> bool:
        """Enter ``state`` by the transition table; True when it is a change."""
        if state is self.state:
            return False
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"grid {self.workflow_id}: illegal transition {self.state} -> {state}")
        self.state = state
        return True

    def level_of(self, coi: int) -> GridLevel | None:
        """The level whose current order this is (None: an older order, the flatten, not ours)."""
        return next((lv for lv in self.levels if lv.client_order_index == coi), None)

    def placing(self, key: str) -> GridLevel | None:
        return next(
            (lv for lv in self.levels if lv.state is LevelState.PLACING and lv.key(self.session) == key), None
        )

    def owns(self, key: str) -> bool:
        return key.startswith(names.order_key(self.session, ""))

    def intent(self, placement: Placement) -> OrderIntent:
        return OrderIntent(
            key=placement.key, workflow_id=self.workflow_id, venue=self.config.venue,
            account_index=self.config.account.account_index, market=self.config.market,
            side=placement.side, kind=placement.kind, tif=placement.tif, size=placement.size,
            price=placement.price, reduce_only=placement.reduce_only,
        )  # fmt: skip

    def order_ref(self, client_order_index: int) -> OrderRef:
        """How the order activities name one of the session's orders (a cancel, a look-up)."""
        return OrderRef(account_index=self.config.account.account_index, market=self.config.market,
                        client_order_index=client_order_index)  # fmt: skip

    # -- orders ----------------------------------------------------------------------------------

    def placed(self, key: str, ack: OrderAck, at: datetime) -> None:
        """The place activity's answer for ``key``: the order is tracked from now on, with the fill
        signals that arrived before it."""
        level = self.placing(key)
        if level is not None and level.side is not None:
            level.client_order_index = ack.client_order_index
            side, role = level.side, Role.MAKER
            fee = self.market.maker_fee if self.config.post_only else self.market.taker_fee
        elif self.flatten is not None and self.flatten.key == key:
            side, role, fee = self.flatten.side, Role.CLOSE, self.market.taker_fee
        else:
            return
        account = self.config.account.account_index
        self.tally.track(ack.client_order_index, key, role, account, side, fee_rate=fee / 100)  # fees in %
        self.apply(ack, at)
        waiting = [f for f in self.unmatched if f.client_order_index == ack.client_order_index]
        self.unmatched = [f for f in self.unmatched if f.client_order_index != ack.client_order_index]
        for fill in waiting:
            self.count(fill)

    def place_failed(self, key: str) -> None:
        """Refused before it rested: the level owes what it owed; the next plan tries a new key."""
        level = self.placing(key)
        if level is not None:
            level.move_to(LevelState.FAILED)
        elif self.flatten is not None and self.flatten.key == key:
            self.flatten = None

    def apply(self, ack: OrderAck, at: datetime) -> None:
        """An order's cumulative fill and status, as a look-up, cancel or placement reported it."""
        coi = ack.client_order_index
        order = self.tally.orders.get(coi)
        if order is None:
            return
        before = (order.size, order.quote, order.fees)
        self.tally.polled(coi, ack.filled_size, ack.filled_quote, ack.status.final)
        self._counted(coi, before, f"poll:{coi}:{order.size}", at)
        level = self.level_of(coi)
        if level is not None and level.state.live:
            self._follow(level, ack.status)
            if not ack.unseen:
                level.unseen_since = None
            elif level.unseen(at, LOST_AFTER_S):
                self._lost(level, order)
        self._flatten_ended(order)

    def _lost(self, level: GridLevel, order: OrderTally) -> None:
        """The venue no longer knows the level's order: it ends as cancelled, so a stop can settle
        and a running ladder places the level again. A fill the venue no longer tells of shows at
        the next reconcile, as the position audit's drift."""
        order.final = True
        level.move_to(LevelState.CANCELLED)
        self.lost_orders += 1
        self._forget_finished()

    def _flatten_ended(self, order: OrderTally) -> None:
        if self.flatten is not None and order.key == self.flatten.key and order.final:
            self.flatten = None

    def on_fill(self, fill: OrderFilled) -> bool:
        """A fill signal, counted once; True when it was new. Then ask ``plan`` what to do."""
        if fill.client_order_index in self.tally.orders:
            return self.count(fill)
        if self.flatten is not None or any(lv.state is LevelState.PLACING for lv in self.levels):
            self.unmatched = [*self.unmatched, fill][-KEEP_UNMATCHED:]
        return False

    def count(self, fill: OrderFilled) -> bool:
        coi = fill.client_order_index
        order = self.tally.orders[coi]
        before = (order.size, order.quote, order.fees)
        if not self.tally.signalled(coi, fill.fill_id, fill.size, fill.price, fill.fee):
            return False
        self._counted(coi, before, fill.fill_id, fill.at)
        level = self.level_of(coi)
        if level is not None and level.state.live:
            order.final = order.final or order.size >= level.order_size
            self._follow(level, OrderStatus.FILLED if order.final else OrderStatus.OPEN)
        elif self.flatten is not None and order.key == self.flatten.key:
            order.final = order.final or order.size >= self.flatten.size
        self._flatten_ended(order)
        return True

    def _counted(
        self, coi: int, before: tuple[Decimal, Decimal, Decimal], fill_id: str, at: datetime
    ) -> None:
        order = self.tally.orders[coi]
        size, quote, fees = order.size - before[0], order.quote - before[1], order.fees - before[2]
        if size <= 0:
            return
        level = self.level_of(coi)
        # A look-up without the fills' quote prices them at the order's limit.
        price = quote / size if quote > 0 else level.price if level else self.mark or Decimal(0)
        self.pnl.fees += fees
        self.fills += 1
        self.run_fills += 1
        if level is not None:
            level.filled += size
            realized = rule.level_fill(self.levels, level, order.side, size, price, pnl=self.pnl)
        else:
            realized = rule.loose_fill(self.levels, order.side, size, price, self.pnl)
        record = GridFillRecord(
            workflow_id=self.workflow_id, fill_id=fill_id, level=level.index if level else None,
            client_order_index=coi, side=order.side, price=price, size=size, fee=fees,
            realized=realized, at=at,
        )  # fmt: skip
        self.records = [*self.records, record][-KEEP_RECORDS:]

    def _follow(self, level: GridLevel, status: OrderStatus) -> None:
        """The level's state after what the venue (or a fill) said of its order."""
        if status is OrderStatus.FILLED:
            target = LevelState.FILLED
        elif status is OrderStatus.CANCELED:
            target = LevelState.CANCELLED
        elif level.state is LevelState.CANCELLING:
            return
        else:
            target = LevelState.PARTIALLY_FILLED if level.filled > 0 else LevelState.OPEN
        if target is not level.state or target is LevelState.PARTIALLY_FILLED:
            level.move_to(target)
        if target.free:
            self._forget_finished()

    def _forget_finished(self) -> None:
        live = {lv.client_order_index for lv in self.levels if lv.state.live}
        ended = [coi for coi, o in self.tally.orders.items() if o.final and coi not in live]
        for coi in ended[: max(0, len(ended) - KEEP_FINISHED)]:
            del self.tally.orders[coi]

    def paid_funding(self, amount: Decimal) -> None:
        """A funding payment of the session's position (negative: received), net PnL's last term."""
        self.pnl.funding += amount

    def take_records(self) -> GridFills:
        """The fill rows for the ledger (``record_grid_fills``), handed over once."""
        taken, self.records = self.records, []
        return GridFills(fills=taken)
