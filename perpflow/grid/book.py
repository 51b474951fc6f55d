"""A grid session's state, in one model carried whole through continue-as-new: its ladder, orders,
fills and PnL (``GridOrders``), and what it should do next.

The workflow feeds it facts (acknowledgements, fill signals, the venue's open orders, the mark)
and asks it what to do (``plan``); it does no I/O and reads no clock, so it replays as it ran.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from pydantic import Field

from perpflow import names
from perpflow.grid import ladder, planner, rule
from perpflow.grid.config import Adjust, GridConfig, RebuildPolicy, Spacing, StopAction
from perpflow.grid.models import (
    GridRecord,
    GridState,
    GridStatus,
    LevelRow,
    Placement,
    Plan,
    ReconcileReport,
    StopReason,
)
from perpflow.grid.orders import GridOrders
from perpflow.grid.reconcile import reconcile
from perpflow.models import RejectedCommand
from perpflow.orders import OrderAck
from perpflow.venues.types import MarketInfo, OrderKind, Side, TimeInForce

# A flatten is an IOC: what it leaves (a thin book, a refusal) is tried again, this many times in all.
MAX_FLATTENS = 5
# Rejected commands a continued run still shows in its status.
KEEP_REJECTED = 20


class GridBook(GridOrders):
    # Sizes on the market's lot (``ladder.level_size``); False in a book begun before that rule,
    # whose ladders keep being built as they were.
    on_lot: bool = False

    @classmethod
    def start(cls, *, session: str, workflow_id: str, config: GridConfig, market: MarketInfo,
              mark: Decimal, now: datetime, on_lot: bool = True) -> GridBook:  # fmt: skip
        """A fresh session at ``mark``; a ladder that does not fit the market raises LadderError."""
        levels = ladder.build(config, market, mark, on_lot=on_lot)
        return cls(session=session, workflow_id=workflow_id, config=config, market=market,
                   started_at=now, levels=levels, mark=mark, on_lot=on_lot)  # fmt: skip

    # -- what to do now --------------------------------------------------------------------------

    def plan(self, mark: Decimal, feed_up: bool) -> Plan:
        """The orders to cancel and place now, each placement already written ahead on its level.
        Running, it keeps the ladder; stopping or rebuilding, it winds down. While the feed is
        down it places nothing new (a stop's cancels and flatten still go out)."""
        self.mark, self.frozen = mark, not feed_up
        if self.state in (GridState.STOPPING, GridState.REBUILDING):
            return self._wind_down(mark)
        if self.state is not GridState.RUNNING or self.frozen:
            return Plan()
        return planner.ladder_plan(self.levels, self.config, self.market, self.session, mark)

    def _wind_down(self, mark: Decimal) -> Plan:
        if self.state is GridState.STOPPING and self.stop_action is StopAction.KEEP_ORDERS:
            return Plan()
        plan = planner.cancel_all(self.levels)
        if self._flatten_due() and all(lv.state.free for lv in self.levels):
            plan.place.append(self._flatten_order(mark))
        return plan

    def _flatten_due(self) -> bool:
        return (
            self.state is GridState.STOPPING and self.stop_action is StopAction.FLATTEN
            and self.flatten is None and self.position != 0 and self.flattens < MAX_FLATTENS
        )  # fmt: skip

    def _flatten_order(self, mark: Decimal) -> Placement:
        side = Side.SELL if self.position > 0 else Side.BUY
        worst = mark * (1 + side.sign * self.config.flatten_slippage)
        self.flatten = Placement(
            key=names.order_key(self.session, f"flatten-{self.flattens}"), level=None, side=side,
            price=worst.quantize(Decimal(1).scaleb(-self.market.price_decimals)),
            size=abs(self.position).quantize(Decimal(1).scaleb(-self.market.size_decimals), ROUND_DOWN),
            kind=OrderKind.MARKET, tif=TimeInForce.IOC, reduce_only=True,
        )  # fmt: skip
        self.flattens += 1
        return self.flatten

    @property
    def settled(self) -> bool:
        """Stopping or rebuilding, nothing is left to wait for: ``finish`` or ``rebuilt`` now."""
        if self.state is GridState.STOPPING and self.stop_action is StopAction.KEEP_ORDERS:
            return True
        quiet = all(lv.state.free for lv in self.levels) and self.flatten is None
        return quiet and not self._flatten_due()

    def reconcile(self, open_orders: list[OrderAck], position: Decimal, at: datetime) -> ReconcileReport:
        return reconcile(self, open_orders, position, at)

    # -- operator and stops ----------------------------------------------------------------------

    def pause(self) -> bool:
        return self.state is GridState.RUNNING and self.move_to(GridState.PAUSED)

    def resume(self) -> bool:
        return self.state is GridState.PAUSED and self.move_to(GridState.RUNNING)

    def stop(self, reason: StopReason, action: StopAction | None = None) -> bool:
        """Begin the stop (once: a second stop changes nothing); ``plan`` then winds down."""
        if self.state is GridState.STOPPING or self.state.final:
            return False
        self.stop_reason, self.stop_action = reason, action or self.config.stop.action
        return self.move_to(GridState.STOPPING)

    def finish(self) -> None:
        """The stop is done (``settled``): STOPPED, with whatever the stop's action kept."""
        self.move_to(GridState.STOPPED)

    def outside_pct(self, mark: Decimal) -> Decimal:
        """How far outside the range the price is, in % of the bound it passed (0 inside)."""
        lower, upper = self.config.lower, self.config.upper
        if mark < lower:
            return (lower - mark) / lower * 100
        return (mark - upper) / upper * 100 if mark > upper else Decimal(0)

    def check_stop(self, mark: Decimal, *, time_up: bool = False) -> StopReason | None:
        """The first stop condition the session meets at ``mark``, if any; ``time_up``: its
        ``max_duration_s`` has passed (the workflow's timer says so)."""
        s, net = self.config.stop, self.net_pnl(mark)
        if s.stop_loss_usd is not None and net <= -s.stop_loss_usd:
            return StopReason.STOP_LOSS
        if s.take_profit_usd is not None and net >= s.take_profit_usd:
            return StopReason.TAKE_PROFIT
        if s.outside_range_pct is not None and self.outside_pct(mark) > s.outside_range_pct:
            return StopReason.RANGE_EXIT
        if s.max_position is not None and abs(self.position) > s.max_position:
            return StopReason.MAX_POSITION
        if s.max_duration_s is not None and time_up:
            return StopReason.TIME_LIMIT
        return None

    # -- rebuilds --------------------------------------------------------------------------------

    def adjusted(self, change: Adjust, on_lot: bool = False) -> GridConfig:
        """The config ``change`` makes, checked whole and against the market (the update's
        validator, which asks for sizes on the lot even of an older book): raises
        ValidationError or LadderError, changes nothing."""
        config = self.config.adjusted(change)
        ladder.build(config, self.market, self.mark or config.lower, on_lot=on_lot or self.on_lot)
        return config

    def recentered(self, mark: Decimal) -> GridConfig | None:
        """With the recenter policy, the same ladder around ``mark`` once the price is out of the
        range by more than the trigger; None otherwise."""
        c = self.config
        if c.rebuild is RebuildPolicy.NEVER or self.state is not GridState.RUNNING:
            return None
        if self.outside_pct(mark) <= c.rebuild_trigger_pct:
            return None
        tick = Decimal(1).scaleb(-self.market.price_decimals)
        if c.spacing is Spacing.GEOMETRIC:
            factor = mark / (c.lower * c.upper).sqrt()
            lower, upper = (c.lower * factor).quantize(tick), (c.upper * factor).quantize(tick)
        else:
            lower = (mark - (c.upper - c.lower) / 2).quantize(tick)
            upper = lower + c.upper - c.lower
        if lower <= 0:
            return None
        return GridConfig.model_validate({**c.model_dump(), "lower": lower, "upper": upper})

    def request_rebuild(self, config: GridConfig) -> bool:
        """Rebuild on ``config`` (from ``adjusted`` or ``recentered``): the old ladder's orders are
        cancelled, then ``rebuilt`` lays the new one. The same config again changes nothing."""
        if config == self.config or self.state not in (GridState.RUNNING, GridState.PAUSED):
            return False
        self.config = config
        return self.move_to(GridState.REBUILDING)

    def rebuilt(self, mark: Decimal) -> None:
        """The old ladder is quiet (``settled``): lay the new one at ``mark``, its generations past
        every key the old one used, holding the position the old one held."""
        position = self.position
        cost = sum((lv.hold_cost for lv in self.levels), Decimal(0))
        first = max(lv.generation for lv in self.levels)
        self.levels = ladder.build(self.config, self.market, mark, first_generation=first, on_lot=self.on_lot)
        rule.carry(self.levels, position, cost, mark)
        self.version += 1
        self.mark = mark
        self.move_to(GridState.RUNNING)

    # -- reports ---------------------------------------------------------------------------------

    @property
    def continue_as_new_due(self) -> bool:
        return self.run_fills >= self.config.fills_per_run

    def carry(self) -> GridBook:
        """What the next run starts from (the records go to the ledger before it continues)."""
        return self.model_copy(deep=True, update={"run_fills": 0})

    def status(self) -> GridStatus:
        rows = [
            LevelRow.model_validate(lv.model_dump(include=set(LevelRow.model_fields))) for lv in self.levels
        ]
        unrealized = self.unrealized()
        return GridStatus(
            workflow_id=self.workflow_id, name=self.config.name, state=self.state, frozen=self.frozen,
            version=self.version, mark=self.mark, position=self.position, pnl=self.pnl,
            unrealized=unrealized, net_pnl=self.pnl.net(unrealized), fills=self.fills,
            stop_reason=self.stop_reason, levels=rows, lost_orders=self.lost_orders,
        )  # fmt: skip

    def record(self) -> GridRecord:
        """The ledger's row of the session (``record_grid_session``)."""
        return GridRecord(
            workflow_id=self.workflow_id, name=self.config.name, venue=self.config.venue,
            market=self.config.market, account_index=self.config.account.account_index, state=self.state,
            config=self.config, version=self.version, position=self.position,
            realized_profit=self.pnl.realized, fees=self.pnl.fees, funding=self.pnl.funding,
            fill_count=self.fills, stop_reason=self.stop_reason, session=self.session,
        )  # fmt: skip


class GridSessionInput(GridConfig):
    """The workflow's input: a config as an operator starts it (raw JSON or the CLI's YAML), or,
    from continue-as-new, the config as adjusted with the book it carries."""

    carry: GridBook | None = None
    rejected_commands: list[RejectedCommand] = Field(default_factory=list)

    @classmethod
    def resume(cls, book: GridBook, rejected: list[RejectedCommand]) -> GridSessionInput:
        """The next run's input: the book, and the latest rejected commands (a bounded few)."""
        carried = {"carry": book.carry(), "rejected_commands": rejected[-KEEP_REJECTED:]}
        return cls.model_validate({**book.config.model_dump(), **carried})

    def config(self) -> GridConfig:
        return GridConfig.model_validate(self.model_dump(exclude={"carry", "rejected_commands"}))
