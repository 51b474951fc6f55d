"""HedgeCycleWorkflow: a post-only maker leg on A, every fill increment hedged on B at once,
a hold watched for stop-loss / take-profit, then both legs closed and verified flat.

A hedge that cannot be placed unwinds A: never a silent naked leg. Every close, unwind, flatten
and cancel acts on this cycle's own fills only, never on whatever else the accounts hold, and
records and alerts run beside those orders, never before them. A Temporal cancel is a clean
stop: resting orders cancelled, own legs closed, CANCELLED with the amounts.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from perpflow import names
    from perpflow.alerts.models import Alert, Severity
    from perpflow.exposure import EXPOSURE_QUERY, Exposure, OwnedPosition
    from perpflow.hedge import pricing
    from perpflow.hedge.models import (
        TRANSITIONS,
        Adjust,
        CycleCarry,
        CycleParams,
        CycleRecord,
        CycleResult,
        CycleState,
        CycleStatus,
        HedgeCycleInput,
        Leg,
        LegAccount,
    )
    from perpflow.hedge.tally import Role, Tally
    from perpflow.marketdata.models import DeactivateWatches, WatchKind, WatchSpec
    from perpflow.orders import (
        AccountQuery,
        AccountSnapshot,
        AwaitFill,
        BookQuery,
        BookSnapshot,
        MarketQuery,
        OrderAck,
        OrderIntent,
        OrderRef,
    )
    from perpflow.signals import ORDER_FILLED, PRICE_CROSSED, Direction, OrderFilled
    from perpflow.venues.types import MarketInfo, OrderKind, Side, TimeInForce
    from workflows.commands import CommandLog, RejectsUnknownSignals
    from workflows.failures import root_cause, unless_cancelled
    from workflows.options import BESIDE, LEDGER, ORDER, SIGNER_PRESENT, VENUE_READ
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input

# Each long poll for fills returns at least this often, so history stays small but a lost
# signal is never waited on for longer.
POLL_WINDOW_S = 30.0
UNWIND_ATTEMPTS = 5
UNWIND_BACKOFF_S = 30.0
# A market close is final at once on the venue; these looks cover an order not yet indexed.
FINAL_LOOKS = 3
# A holding cycle continues as new past this many events (Temporal's hard limit is 51,200).
HISTORY_LIMIT = 10_000
# Ledger rows are written at these transitions; QUOTING <-> HEDGING flips would only slow hedges.
RECORDED = frozenset(
    {CycleState.QUOTING, CycleState.HOLDING, CycleState.CLOSING, CycleState.UNWINDING, CycleState.CANCELLING}
)


class HedgeImpossible(Exception):
    """The hedge could not be placed by its deadline (or was refused): unwind."""


@workflow.defn(name="HedgeCycleWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class HedgeCycleWorkflow(RejectsUnknownSignals):
    def __init__(self) -> None:
        self.inp: HedgeCycleInput | None = None
        self.params: CycleParams | None = None
        self.state = CycleState.QUOTING
        self.paused = False
        self.stop_requested = False
        self.flatten_requested = False
        self.wake = False
        self.levels_stale = True  # stop-loss / take-profit watches need (re)registering
        self.tally = Tally()
        self.unmatched: list[OrderFilled] = []  # fills signalled before their order was tracked
        self.orders: list[str] = []
        self.commands = CommandLog("cycle")
        self.market: MarketInfo | None = None
        self.last_mark: Decimal | None = None
        self.reason = ""
        self.hedges = 0
        self.hold_until: datetime | None = None
        self.poll: asyncio.Task[OrderAck] | None = None
        self.poll_coi = 0
        # Order placements under way: a cancel waits for them, so no order is sent unseen.
        self.inflight: dict[str, tuple[LegAccount, Role, Side, Decimal, asyncio.Task[OrderAck]]] = {}
        self.recorder: asyncio.Task[None] | None = None  # ledger writes, one after the other
        self.beside: list[asyncio.Task[Any]] = []  # alerts and watch changes
        self.result: CycleResult | None = None

    # -- the business process ------------------------------------------------------------------

    @workflow.run
    async def run(self, raw: Any = None) -> CycleResult:
        inp = parse_input(HedgeCycleInput, raw, names.Kind.HEDGE_CYCLE)
        self.inp, self.params = inp, inp.params
        if inp.carry is not None:
            self._resume(inp.carry)
        else:
            workflow.upsert_search_attributes([
                names.KIND.value_set(names.Kind.HEDGE_CYCLE), names.VENUE.value_set(inp.venue),
                names.ACCOUNT.value_set(str(inp.maker.account_index)), names.MARKET.value_set(inp.market),
            ])  # fmt: skip
        try:
            return await self._cycle()
        except asyncio.CancelledError:
            return await self._cancelled()

    async def _cycle(self) -> CycleResult:
        if self.hold_until is None:  # a new cycle, not one continued while holding
            try:
                self.market = await self._read("get_market", MarketQuery(market=self._inp.market), MarketInfo)
            except ActivityError as exc:
                raise ApplicationError(root_cause(exc), type="UnknownMarket", non_retryable=True) from None
            await self._check_signers()
            self._enter(CycleState.QUOTING)
            try:
                await self._quote_and_hedge()
            except HedgeImpossible as exc:
                return await self._unwind(str(exc))
            if self.tally.filled(Role.MAKER) == 0:
                asked = self.stop_requested or self.flatten_requested
                return await self._end(
                    CycleState.STOPPED if asked else CycleState.DONE, "the maker leg never filled"
                )
            self._enter(CycleState.HOLDING)
            self.hold_until = workflow.now() + timedelta(seconds=self._params.hold_s)
        await self._hold()
        return await self._close()

    async def _check_signers(self) -> None:
        """A first read on each leg's queue: an unknown account or key fails now, by name."""
        for leg in (self._inp.maker, self._inp.taker):
            queue = self._read_queue(leg)
            try:
                await unless_cancelled(workflow.execute_activity(
                    "get_position",
                    AccountQuery(account_index=leg.account_index, market=self._inp.market),
                    task_queue=queue,
                    result_type=AccountSnapshot,
                    schedule_to_start_timeout=SIGNER_PRESENT,
                    **VENUE_READ,
                ))  # fmt: skip
            except ActivityError as exc:
                if _timed_out_waiting(exc):
                    why = (
                        f"no signer serves account {leg.account_index} API key {leg.api_key_index}: "
                        f"nobody polled {queue} within {SIGNER_PRESENT.total_seconds():g} s "
                        "(unknown account or key, or its signer is not running)"
                    )
                else:
                    why = f"account {leg.account_index}: {root_cause(exc)}"
                raise ApplicationError(why, type="UnknownAccount", non_retryable=True) from None

    async def _quote_and_hedge(self) -> None:
        for attempt in range(self._params.max_requotes + 1):
            await workflow.wait_condition(lambda: not self.paused or self.flatten_requested)
            remaining = self._params.size - self.tally.filled(Role.MAKER)
            if self._should_stop_quoting(remaining):
                break
            book = (
                await self._read(
                    "get_book_top", BookQuery(market=self._inp.market, depth=self._params.depth), BookSnapshot
                )
            ).book
            price = pricing.maker_price(book, self._inp.maker_side, self._params.depth)
            if price is None:
                await workflow.sleep(self._params.poll_s)
                continue
            size = pricing.round_size_down(self._market, remaining)
            ack = await self._place(
                self._inp.maker,
                f"maker-{attempt}",
                side=self._inp.maker_side,
                kind=OrderKind.LIMIT,
                tif=TimeInForce.POST_ONLY,
                size=size,
                price=price,
                role=Role.MAKER,
            )
            await self._work_maker_order(ack)
        await self._hedge_outstanding(final=True)

    def _should_stop_quoting(self, remaining: Decimal) -> bool:
        return self.flatten_requested or self.stop_requested or remaining < self._market.min_base_amount

    async def _work_maker_order(self, ack: OrderAck) -> None:
        """Hedge each fill as it comes until the order is done or its timeout; then cancel it."""
        deadline = workflow.time() + self._params.maker_timeout_s
        ref = self._ref(self._inp.maker, ack.client_order_index)
        while not self.tally.orders[ack.client_order_index].final:
            await self._hedge_outstanding(final=False)
            left = deadline - workflow.time()
            if left <= 0 or self.flatten_requested:
                break
            await self._wait_for_fills(ref, left)
        if not self.tally.orders[ack.client_order_index].final:
            # A fill that races the cancel still shows in the cancel's final state.
            self._apply(await self._send(self._inp.maker, "cancel_order", ref))
        await self._hedge_outstanding(final=False)

    async def _wait_for_fills(self, ref: OrderRef, left: float) -> None:
        """Whichever comes first: a fill signal (fast path) or the polling activity (safety net)."""
        coi = ref.client_order_index
        assert coi is not None
        if self.poll is not None and self.poll_coi != coi:
            self.poll.cancel()  # a poll of an earlier (now final) quote
            self.poll = None
        if self.poll is None or self.poll.done():
            self.poll_coi = coi
            req = AwaitFill(
                order=ref,
                known_filled=self.tally.orders[coi].size,
                timeout_s=min(left, POLL_WINDOW_S),
                poll_s=self._params.poll_s,
            )
            self.poll = workflow.start_activity(
                "await_fill",
                req,
                task_queue=self._read_queue(self._inp.maker),
                result_type=OrderAck,
                start_to_close_timeout=timedelta(seconds=req.timeout_s + 15),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=VENUE_READ["retry_policy"],
            )
        self.wake = False
        signalled = asyncio.ensure_future(
            workflow.wait_condition(lambda: self.wake or self.flatten_requested)
        )
        await workflow.wait([self.poll, signalled], timeout=left, return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        if self.poll.done():
            poll, self.poll = self.poll, None
            self._apply(poll.result())

    async def _hedge_outstanding(self, *, final: bool) -> None:
        """Hedge on B whatever A has filled beyond what B already holds, by the hedge deadline."""
        deadline: float | None = None
        while (need := self._unhedged()) >= self._market.min_base_amount:
            if deadline is None:
                deadline = workflow.time() + self._params.hedge_deadline_s
                self._enter(CycleState.HEDGING)
            left = deadline - workflow.time()
            if left <= 0:
                raise HedgeImpossible(f"could not hedge {need} within {self._params.hedge_deadline_s:g} s")
            await self._hedge(need, left)
        if final and (residue := self._unhedged()) > 0:
            self.reason = f"{residue} filled below the minimum order size could not be hedged"
            self._alert(Severity.WARNING, "unhedgeable residue", self.reason)
        if self.state is CycleState.HEDGING:
            self._enter(CycleState.QUOTING)

    def _unhedged(self) -> Decimal:
        return pricing.round_size_down(
            self._market, self.tally.filled(Role.MAKER) - self.tally.filled(Role.HEDGE)
        )

    async def _hedge(self, need: Decimal, left: float) -> None:
        reference = self.tally.avg_price(Role.MAKER)
        assert reference is not None
        side = self._inp.maker_side.opposite
        worst = pricing.worst_price(self._market, side, reference, self._params.max_slippage)
        try:
            ack = await self._place(
                self._inp.taker,
                f"hedge-{self.hedges}",
                side=side,
                kind=OrderKind.MARKET,
                tif=TimeInForce.IOC,
                size=need,
                price=worst,
                role=Role.HEDGE,
                deadline_s=left,
            )
        except ActivityError as exc:
            raise HedgeImpossible(f"hedge of {need} refused: {root_cause(exc)}") from None
        self.hedges += 1
        if ack.filled_size == 0:
            # Nothing within the slippage bound: look again shortly, until the deadline.
            await workflow.sleep(min(1.0, left))

    # -- holding -------------------------------------------------------------------------------

    async def _hold(self) -> None:
        """Until hold_s is over, a trigger or a flatten. The market-data worker signals a crossing
        of a stop-loss / take-profit level at once; a slow look at the book is the safety net."""
        assert self.hold_until is not None
        while not self.flatten_requested:
            mark = await self._mark()
            if trigger := self._trigger(mark):
                self.reason = trigger
                break
            left = (self.hold_until - workflow.now()).total_seconds()
            if left <= 0:
                break
            if self.levels_stale:
                self._watch_levels(mark)
            if _history_full():
                await self._continue_holding()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.flatten_requested or self.wake,
                    timeout=min(self._params.safety_poll_s, left),
                )
            self.wake = False

    def _trigger(self, mark: Decimal) -> str | None:
        """Per leg: the two legs sit on separately margined accounts."""
        pnls = [self.tally.floating_pnl(leg.account_index, mark) for leg in self._legs]
        sl, tp = self._params.stop_loss_usd, self._params.take_profit_usd
        if sl is not None and min(pnls) <= -sl:
            return f"stop-loss: a leg's floating PnL {min(pnls):.2f} reached -{sl} at {mark}"
        if tp is not None and max(pnls) >= tp:
            return f"take-profit: a leg's floating PnL {max(pnls):.2f} reached {tp} at {mark}"
        return None

    def _watch_levels(self, mark: Decimal) -> None:
        """Ask the market-data worker to signal when the mark crosses a leg's SL or TP price."""
        self.levels_stale = False
        for leg in self._legs:
            acct = leg.account_index
            position = self.tally.position(acct)
            cash = self.tally.cash(acct) - self.tally.fees(acct)
            sl, tp = self._params.stop_loss_usd, self._params.take_profit_usd
            for name, pnl in (("sl", None if sl is None else -sl), ("tp", tp)):
                level = None if pnl is None else pricing.crossing_price(position, cash, pnl)
                if level is None:
                    continue
                losing_down = (position > 0) == (name == "sl")
                spec = WatchSpec(
                    workflow_id=workflow.info().workflow_id,
                    name=f"{name}-{acct}",
                    kind=WatchKind.BAND,
                    venue=self._inp.venue,
                    market=self._inp.market,
                    level=pricing.round_price(self._market, level),
                    direction=Direction.DOWN if losing_down else Direction.UP,
                    reference_price=mark,
                )
                self._beside("register_watch", spec)

    async def _continue_holding(self) -> None:
        await self._flush()
        assert self.hold_until is not None
        carry = CycleCarry(
            params=self._params, market=self._market, tally=self.tally, orders=self.orders,
            hedges=self.hedges, hold_until=self.hold_until, last_mark=self.last_mark,
            reason=self.reason, paused=self.paused, stop_requested=self.stop_requested,
            rejected_commands=self.commands.rejected,
        )  # fmt: skip
        workflow.logger.info("cycle %s continues as new while holding", workflow.info().workflow_id)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._inp.model_copy(update={"carry": carry}))

    def _resume(self, carry: CycleCarry) -> None:
        self.params, self.market, self.tally = carry.params, carry.market, carry.tally
        self.orders, self.hedges, self.hold_until = carry.orders, carry.hedges, carry.hold_until
        self.last_mark, self.reason = carry.last_mark, carry.reason
        self.paused, self.stop_requested = carry.paused, carry.stop_requested
        self.commands.rejected = carry.rejected_commands
        self.state = CycleState.HOLDING
        self.levels_stale = False  # the watches of the previous run stay registered

    # -- closing: only what this cycle holds -------------------------------------------------

    async def _close(self) -> CycleResult:
        self._enter(CycleState.CLOSING)
        try:
            if self._params.close_mode == "maker_then_market":
                await self._close_as_maker()
            left = await self._flatten_own("close")
        except ActivityError as exc:
            return await self._fail(f"closing failed: {root_cause(exc)}")
        if left:
            return await self._fail(f"still open after closing: {_exposure(left)}")
        return await self._end(CycleState.DONE, self.reason or "closed")

    async def _close_as_maker(self) -> None:
        book = (
            await self._read("get_book_top", BookQuery(market=self._inp.market, depth=1), BookSnapshot)
        ).book
        for leg, size in self._own_positions().items():
            side = Side.SELL if size > 0 else Side.BUY
            price = pricing.maker_price(book, side, 1)
            if price is not None:
                await self._place(
                    leg,
                    f"close-maker-{leg.account_index}",
                    side=side,
                    kind=OrderKind.LIMIT,
                    tif=TimeInForce.POST_ONLY,
                    size=abs(size),
                    price=price,
                    role=Role.CLOSE,
                    reduce_only=True,
                )
        await workflow.sleep(self._params.close_maker_timeout_s)
        # _flatten_own cancels what is still resting before it closes the rest at market.

    async def _flatten_own(self, step: str) -> dict[LegAccount, Decimal]:
        """Cancel this cycle's resting orders, then close its own size on each leg (reduce-only,
        at market); what is still open afterwards, by the venue's final order states."""
        await self._cancel_open_orders()
        for _ in range(2):  # a residue after the market close gets one more try
            own = self._own_positions()
            if not own:
                break
            for leg, size in own.items():
                await self._market_close(leg, size, f"{step}-{leg.account_index}-{len(self.orders)}")
        return self._own_positions()

    async def _market_close(self, leg: LegAccount, size: Decimal, step: str) -> None:
        side = Side.SELL if size > 0 else Side.BUY
        mark = await self._mark()
        worst = pricing.worst_price(self._market, side, mark, self._params.max_slippage)
        ack = await self._place(
            leg,
            step,
            side=side,
            kind=OrderKind.MARKET,
            tif=TimeInForce.IOC,
            size=abs(size),
            price=worst,
            role=Role.CLOSE,
            reduce_only=True,
        )
        for _ in range(FINAL_LOOKS):
            if self.tally.orders[ack.client_order_index].final:
                return
            self._apply(await self._send(leg, "cancel_order", self._ref(leg, ack.client_order_index)))

    async def _cancel_open_orders(self) -> None:
        for coi in self.tally.open_orders():
            leg = self._leg_of(self.tally.orders[coi].account_index)
            self._apply(await self._send(leg, "cancel_order", self._ref(leg, coi)))

    def _own_positions(self) -> dict[LegAccount, Decimal]:
        return {leg: size for leg in self._legs if (size := self.tally.position(leg.account_index)) != 0}

    async def _unwind(self, why: str) -> CycleResult:
        self.reason = why
        self._enter(CycleState.UNWINDING)
        self._alert(Severity.WARNING, "hedge failed: unwinding", why)
        for attempt in range(UNWIND_ATTEMPTS):
            try:
                if not (left := await self._flatten_own("unwind")):
                    return await self._end(CycleState.UNWOUND, why)
                problem = f"still open: {_exposure(left)}"
            except ActivityError as exc:
                problem = root_cause(exc)
            self._alert(Severity.CRITICAL, f"unwind attempt {attempt + 1} incomplete", problem)
            await workflow.sleep(UNWIND_BACKOFF_S * (attempt + 1))
        return await self._fail(f"{why}; unwind failed")

    async def _cancelled(self) -> CycleResult:
        """A Temporal cancel: finish the sends under way, cancel what rests, close what this cycle
        holds, and end CANCELLED (FAILED, alerted, if something stays open)."""
        if self.result is not None:  # it had ended; the cancel came during the last ledger write
            await self._flush()
            return self.result
        workflow.logger.info("cycle %s cancel requested in %s", workflow.info().workflow_id, self.state)
        if self.poll is not None:
            self.poll.cancel()
        self.reason = f"cancelled in {self.state}"
        self._enter(CycleState.CANCELLING)
        for key, (leg, role, side, fee_rate, handle) in list(self.inflight.items()):
            with contextlib.suppress(ActivityError):
                self._track(key, leg, role, side, await handle, fee_rate=fee_rate)
        try:
            left = await self._flatten_own("cancel")
            problem = f"still open: {_exposure(left)}" if left else ""
        except ActivityError as exc:
            problem = root_cause(exc)
        if problem:
            result = await self._fail(f"{self.reason}; closing own legs failed: {problem}")
            raise ApplicationError(result.reason, result, type="ExposureLeft", non_retryable=True)
        result = await self._end(CycleState.CANCELLED, f"{self.reason}: {self._closed_summary()}")
        workflow.set_current_details(f"CANCELLED: {result.reason}; realised {result.realized_pnl}")
        raise asyncio.CancelledError(result.reason)

    def _closed_summary(self) -> str:
        parts = [f"maker filled {self.tally.filled(Role.MAKER)}", f"hedged {self.tally.filled(Role.HEDGE)}"]
        parts.append(f"closed {self.tally.filled(Role.CLOSE)}")
        return ", ".join(parts) + ", both legs flat"

    async def _fail(self, why: str) -> CycleResult:
        self._alert(Severity.CRITICAL, "cycle FAILED with open exposure", why)
        return await self._end(CycleState.FAILED, why, exposure=self._own_positions())

    # -- activities ------------------------------------------------------------------------------

    async def _place(
        self,
        leg: LegAccount,
        step: str,
        *,
        side: Side,
        kind: OrderKind,
        tif: TimeInForce,
        size: Decimal,
        price: Decimal,
        role: Role,
        reduce_only: bool = False,
        deadline_s: float | None = None,
    ) -> OrderAck:
        wid = workflow.info().workflow_id
        intent = OrderIntent(
            key=names.order_key(wid, step),
            workflow_id=wid,
            venue=self._inp.venue,
            account_index=leg.account_index,
            market=self._inp.market,
            side=side,
            kind=kind,
            tif=tif,
            size=size,
            price=price,
            reduce_only=reduce_only,
        )
        options = dict(ORDER)
        if deadline_s is not None:
            options["schedule_to_close_timeout"] = timedelta(seconds=deadline_s)
        handle = workflow.start_activity(
            "place_order", intent, task_queue=self._send_queue(leg), result_type=OrderAck, **options
        )
        # A resting post-only order pays the maker fee; anything that crosses pays the taker fee.
        fee = self._market.maker_fee if tif is TimeInForce.POST_ONLY else self._market.taker_fee
        self.inflight[intent.key] = (leg, role, side, fee / 100, handle)  # fees are in percent
        try:
            # Shielded: a Temporal cancel must not abandon a send under way (it would rest unseen).
            ack: OrderAck = await asyncio.shield(handle)
        except ActivityError:
            del self.inflight[intent.key]
            raise
        del self.inflight[intent.key]
        self._track(intent.key, leg, role, side, ack, fee_rate=fee / 100)
        return ack

    def _track(
        self, key: str, leg: LegAccount, role: Role, side: Side, ack: OrderAck, *, fee_rate: Decimal
    ) -> None:
        if key not in self.orders:
            self.orders.append(key)
        self.tally.track(ack.client_order_index, key, role, leg.account_index, side, fee_rate=fee_rate)
        self._apply(ack)
        self._replay_unmatched()

    async def _send(self, leg: LegAccount, name: str, ref: OrderRef) -> OrderAck:
        ack: OrderAck = await unless_cancelled(
            workflow.execute_activity(
                name, ref, task_queue=self._send_queue(leg), result_type=OrderAck, **ORDER
            )
        )
        return ack

    async def _read(self, name: str, arg: Any, result_type: type[Any]) -> Any:
        return await unless_cancelled(
            workflow.execute_activity(name, arg, result_type=result_type, **VENUE_READ)
        )

    async def _mark(self) -> Decimal:
        book = (
            await self._read("get_book_top", BookQuery(market=self._inp.market, depth=1), BookSnapshot)
        ).book
        self.last_mark = book.mid or self.last_mark or self.tally.avg_price(Role.MAKER)
        assert self.last_mark is not None
        return self.last_mark

    def _alert(self, severity: Severity, title: str, detail: str) -> None:
        alert = Alert(severity=severity, source=workflow.info().workflow_id, title=title, detail=detail)
        self._beside("send_alert", alert)

    def _beside(self, activity: str, arg: Any) -> None:
        """Bookkeeping that must not hold up the orders: a few attempts, awaited at the end."""
        self.beside.append(workflow.start_activity(activity, arg, **BESIDE))

    async def _flush(self) -> None:
        """Wait for the ledger writes and alerts under way (a cancel does not interrupt them)."""
        pending = [t for t in (self.recorder, *self.beside) if t is not None]
        if pending:
            await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))

    def _ref(self, leg: LegAccount, coi: int) -> OrderRef:
        return OrderRef(account_index=leg.account_index, market=self._inp.market, client_order_index=coi)

    def _leg_of(self, account_index: int) -> LegAccount:
        return self._inp.maker if account_index == self._inp.maker.account_index else self._inp.taker

    def _send_queue(self, leg: LegAccount) -> str:
        return names.signer_queue(self._inp.venue, leg.account_index, leg.api_key_index)

    def _read_queue(self, leg: LegAccount) -> str:
        return names.signer_read_queue(self._inp.venue, leg.account_index, leg.api_key_index)

    @property
    def _inp(self) -> HedgeCycleInput:
        assert self.inp is not None
        return self.inp

    @property
    def _params(self) -> CycleParams:
        assert self.params is not None
        return self.params

    @property
    def _legs(self) -> tuple[LegAccount, LegAccount]:
        return self._inp.maker, self._inp.taker

    @property
    def _market(self) -> MarketInfo:
        assert self.market is not None
        return self.market

    # -- state -----------------------------------------------------------------------------------

    def _apply(self, ack: OrderAck) -> None:
        if ack.client_order_index in self.tally.orders:
            self.tally.polled(ack.client_order_index, ack.filled_size, ack.filled_quote, ack.status.final)

    def _replay_unmatched(self) -> None:
        waiting, self.unmatched = self.unmatched, []
        for fill in waiting:
            self._count(fill)

    def _count(self, fill: OrderFilled) -> None:
        if fill.client_order_index not in self.tally.orders:
            self.unmatched.append(fill)
            return
        if self.tally.signalled(fill.client_order_index, fill.fill_id, fill.size, fill.price, fill.fee):
            self.wake = True

    def _enter(self, state: CycleState) -> None:
        if state is not self.state and state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"illegal transition {self.state} -> {state}")
        if state is not self.state:
            workflow.logger.info("cycle %s %s -> %s", workflow.info().workflow_id, self.state, state)
        self.state = state
        workflow.upsert_search_attributes([names.CYCLE_STATE.value_set(state.value)])
        if state in RECORDED:
            self._record()

    def _record(self, result: CycleResult | None = None) -> None:
        """Ledger rows in order, beside the trading; the final one retries until it is written."""
        inp = self._inp
        rec = CycleRecord(
            workflow_id=workflow.info().workflow_id, fleet=inp.fleet, pair=inp.pair, seq=inp.seq,
            venue=inp.venue, market=inp.market, maker_account=inp.maker.account_index,
            taker_account=inp.taker.account_index, state=self.state, realized_pnl=self.tally.realized(),
            fees=self.tally.fees(), result=result,
        )  # fmt: skip
        previous = self.recorder

        async def write() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await workflow.execute_activity("record_cycle", rec, **(BESIDE if result is None else LEDGER))

        self.recorder = asyncio.ensure_future(write())

    async def _end(
        self, state: CycleState, reason: str, exposure: dict[LegAccount, Decimal] | None = None
    ) -> CycleResult:
        self.reason = reason
        self._enter(state)
        if self.poll is not None and not self.poll.done():
            self.poll.cancel()
        self.result = CycleResult(
            workflow_id=workflow.info().workflow_id,
            state=state,
            reason=reason,
            maker_filled=self.tally.filled(Role.MAKER),
            hedged=self.tally.filled(Role.HEDGE),
            realized_pnl=self.tally.realized() if not exposure else Decimal(0),
            fees=self.tally.fees(),
            open_exposure={str(leg.account_index): size for leg, size in (exposure or {}).items()},
        )
        if self.hold_until is not None:
            self._beside("deactivate_watches", DeactivateWatches(workflow_id=workflow.info().workflow_id))
        self._record(self.result)
        await self._flush()
        return self.result

    # -- messages --------------------------------------------------------------------------------

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: Any) -> None:
        try:
            fill = OrderFilled.model_validate(payload)
        except ValidationError as exc:
            self.commands.reject(ORDER_FILLED, payload, exc)
            return
        self._count(fill)

    @workflow.signal(name=PRICE_CROSSED)
    def price_crossed(self, payload: Any) -> None:
        self.wake = True  # the hold loop re-reads the mark at once

    @workflow.signal
    def pause(self, payload: Any = None) -> None:
        if self.commands.accept("pause", payload):
            self.paused = True

    @workflow.signal
    def resume(self, payload: Any = None) -> None:
        if self.commands.accept("resume", payload):
            self.paused = False

    @workflow.signal
    def flatten(self, payload: Any = None) -> None:
        if self.commands.accept("flatten", payload):
            self.flatten_requested = True

    @workflow.signal
    def stop(self, payload: Any = None) -> None:
        if self.commands.accept("stop", payload):
            self.stop_requested = True

    @workflow.update
    def adjust(self, change: Adjust) -> CycleParams:
        self.params = self._params.model_copy(update=change.model_dump(exclude_none=True))
        if change.stop_loss_usd is not None or change.take_profit_usd is not None:
            self.levels_stale, self.wake = True, True
        workflow.logger.info(
            "cycle %s adjusted %s", workflow.info().workflow_id, change.model_dump(exclude_none=True)
        )
        return self.params

    @adjust.validator
    def _validate_adjust(self, change: Adjust) -> None:
        if self.inp is None or self.state.final:
            raise ValueError(f"the cycle has ended ({self.state})")
        if not change.model_dump(exclude_none=True):
            raise ValueError("nothing to adjust")
        if change.size is not None and self.market is not None and change.size < self.market.min_base_amount:
            raise ValueError(f"size {change.size} is below the market minimum {self.market.min_base_amount}")

    @workflow.query
    def status(self) -> CycleStatus:
        inp = self._inp
        maker, taker = inp.maker.account_index, inp.taker.account_index
        return CycleStatus(
            workflow_id=workflow.info().workflow_id,
            state=self.state,
            paused=self.paused,
            stop_requested=self.stop_requested,
            params=self._params,
            maker=Leg(account_index=maker, position=self.tally.position(maker), cash=self.tally.cash(maker)),
            taker=Leg(account_index=taker, position=self.tally.position(taker), cash=self.tally.cash(taker)),
            maker_filled=self.tally.filled(Role.MAKER),
            hedged=self.tally.filled(Role.HEDGE),
            orders=self.orders,
            last_mark=self.last_mark,
            realized_pnl=self.tally.realized(),
            fees=self.tally.fees(),
            reason=self.reason,
            rejected_commands=self.commands.rejected,
        )

    @workflow.query(name=EXPOSURE_QUERY)
    def exposure(self) -> Exposure:
        """What this cycle owns on the venue, for the exposure reconciler."""
        inp = self._inp
        positions = [
            OwnedPosition(venue=inp.venue, account_index=leg.account_index, market=inp.market, size=size)
            for leg, size in self._own_positions().items()
        ]
        return Exposure(
            workflow_id=workflow.info().workflow_id, positions=positions, open_orders=self.tally.open_orders()
        )


def _history_full() -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT


def _timed_out_waiting(exc: ActivityError) -> bool:
    cause = exc.cause
    return isinstance(cause, TemporalTimeout) and cause.type is TimeoutType.SCHEDULE_TO_START


def _exposure(positions: dict[LegAccount, Decimal]) -> str:
    return ", ".join(f"account {leg.account_index}: {size}" for leg, size in positions.items())
