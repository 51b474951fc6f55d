"""HedgeCycleWorkflow: a post-only maker leg on A, every fill increment hedged on B at once,
a hold watched for stop-loss / take-profit, then both legs closed and verified flat.

A hedge that cannot be placed unwinds A: never a silent naked leg.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from perpflow import names
    from perpflow.hedge import pricing
    from perpflow.hedge.models import (
        TRANSITIONS,
        Adjust,
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
    from perpflow.notify import Alert, Severity
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
    from perpflow.signals import ORDER_FILLED, PRICE_CROSSED, OrderFilled
    from perpflow.venues.types import MarketInfo, OrderKind, Side, TimeInForce
    from workflows.commands import CommandLog
    from workflows.options import LEDGER, ORDER, VENUE_READ
    from workflows.validation import FAIL_ON_INVALID_INPUT

# Each long poll for fills returns at least this often, so history stays small but a lost
# signal is never waited on for longer.
POLL_WINDOW_S = 30.0
UNWIND_ATTEMPTS = 5
UNWIND_BACKOFF_S = 30.0
# Ledger rows are written at these transitions; QUOTING <-> HEDGING flips would only slow hedges.
RECORDED = frozenset({CycleState.QUOTING, CycleState.HOLDING, CycleState.CLOSING, CycleState.UNWINDING})


class HedgeImpossible(Exception):
    """The hedge could not be placed by its deadline (or was refused): unwind."""


class CloseIncomplete(Exception):
    """A leg is still open after closing: report the exposure, never exit silently."""


@workflow.defn(name="HedgeCycleWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class HedgeCycleWorkflow:
    @workflow.init
    def __init__(self, inp: HedgeCycleInput) -> None:
        self.inp = inp
        self.params: CycleParams = inp.params
        self.state = CycleState.QUOTING
        self.paused = False
        self.stop_requested = False
        self.flatten_requested = False
        self.wake = False
        self.tally = Tally()
        self.unmatched: list[OrderFilled] = []  # fills signalled before their order was tracked
        self.orders: list[str] = []
        self.commands = CommandLog("cycle")
        self.market: MarketInfo | None = None
        self.last_mark: Decimal | None = None
        self.reason = ""
        self.hedges = 0
        self.poll: asyncio.Task[OrderAck] | None = None
        self.poll_coi = 0

    # -- the business process ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: HedgeCycleInput) -> CycleResult:
        workflow.upsert_search_attributes([
            names.KIND.value_set(names.Kind.HEDGE_CYCLE), names.VENUE.value_set(inp.venue),
            names.ACCOUNT.value_set(str(inp.maker.account_index)), names.MARKET.value_set(inp.market),
        ])  # fmt: skip
        self.market = await self._read("get_market", MarketQuery(market=inp.market), MarketInfo)
        await self._enter(CycleState.QUOTING)
        try:
            await self._quote_and_hedge()
        except HedgeImpossible as exc:
            return await self._unwind(str(exc))
        if self.tally.filled(Role.MAKER) == 0:
            asked = self.stop_requested or self.flatten_requested
            return await self._end(
                CycleState.STOPPED if asked else CycleState.DONE, "the maker leg never filled"
            )
        await self._hold()
        try:
            await self._close()
        except CloseIncomplete as exc:
            return await self._fail(str(exc))
        return await self._end(CycleState.DONE, self.reason or "closed")

    async def _quote_and_hedge(self) -> None:
        for attempt in range(self.params.max_requotes + 1):
            await workflow.wait_condition(lambda: not self.paused or self.flatten_requested)
            remaining = self.params.size - self.tally.filled(Role.MAKER)
            if self._should_stop_quoting(remaining):
                break
            book = (
                await self._read(
                    "get_book_top", BookQuery(market=self.inp.market, depth=self.params.depth), BookSnapshot
                )
            ).book
            price = pricing.maker_price(book, self.inp.maker_side, self.params.depth)
            if price is None:
                await workflow.sleep(self.params.poll_s)
                continue
            size = pricing.round_size_down(self._market, remaining)
            ack = await self._place(
                self.inp.maker,
                f"maker-{attempt}",
                side=self.inp.maker_side,
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
        deadline = workflow.time() + self.params.maker_timeout_s
        ref = OrderRef(
            account_index=self.inp.maker.account_index,
            market=self.inp.market,
            client_order_index=ack.client_order_index,
        )
        while not self.tally.orders[ack.client_order_index].final:
            await self._hedge_outstanding(final=False)
            left = deadline - workflow.time()
            if left <= 0 or self.flatten_requested:
                break
            await self._wait_for_fills(ref, left)
        if not self.tally.orders[ack.client_order_index].final:
            # A fill that races the cancel still shows in the cancel's final state.
            self._apply(await self._send(self.inp.maker, "cancel_order", ref))
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
                poll_s=self.params.poll_s,
            )
            self.poll = workflow.start_activity(
                "await_fill",
                req,
                task_queue=self._read_queue(self.inp.maker),
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
                deadline = workflow.time() + self.params.hedge_deadline_s
                await self._enter(CycleState.HEDGING)
            left = deadline - workflow.time()
            if left <= 0:
                raise HedgeImpossible(f"could not hedge {need} within {self.params.hedge_deadline_s:g} s")
            await self._hedge(need, left)
        if final and (residue := self._unhedged()) > 0:
            self.reason = f"{residue} filled below the minimum order size could not be hedged"
            await self._alert(Severity.WARNING, "unhedgeable residue", self.reason)
        if self.state is CycleState.HEDGING:
            await self._enter(CycleState.QUOTING)

    def _unhedged(self) -> Decimal:
        return pricing.round_size_down(
            self._market, self.tally.filled(Role.MAKER) - self.tally.filled(Role.HEDGE)
        )

    async def _hedge(self, need: Decimal, left: float) -> None:
        reference = self.tally.avg_price(Role.MAKER)
        assert reference is not None
        side = self.inp.maker_side.opposite
        worst = pricing.worst_price(self._market, side, reference, self.params.max_slippage)
        try:
            ack = await self._place(
                self.inp.taker,
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
            raise HedgeImpossible(f"hedge of {need} refused: {_cause(exc)}") from None
        self.hedges += 1
        if ack.filled_size == 0:
            # Nothing within the slippage bound: look again shortly, until the deadline.
            await workflow.sleep(min(1.0, left))

    async def _hold(self) -> None:
        await self._enter(CycleState.HOLDING)
        started = workflow.time()
        while not self.flatten_requested:
            mark = await self._mark()
            if trigger := self._trigger(mark):
                self.reason = trigger
                break
            left = started + self.params.hold_s - workflow.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.flatten_requested or self.wake, timeout=min(self.params.poll_s, left)
                )
            self.wake = False

    def _trigger(self, mark: Decimal) -> str | None:
        """Per leg: the two legs sit on separately margined accounts."""
        pnls = [self.tally.floating_pnl(leg.account_index, mark) for leg in (self.inp.maker, self.inp.taker)]
        sl, tp = self.params.stop_loss_usd, self.params.take_profit_usd
        if sl is not None and min(pnls) <= -sl:
            return f"stop-loss: a leg's floating PnL {min(pnls):.2f} reached -{sl} at {mark}"
        if tp is not None and max(pnls) >= tp:
            return f"take-profit: a leg's floating PnL {max(pnls):.2f} reached {tp} at {mark}"
        return None

    async def _close(self) -> None:
        await self._enter(CycleState.CLOSING)
        if self.params.close_mode == "maker_then_market":
            await self._close_as_maker()
        for _ in range(2):  # a residue after the market close gets one more try
            open_legs = await self._venue_positions()
            if not open_legs:
                return
            for leg, size in open_legs.items():
                await self._market_close(leg, size, f"close-market-{leg.account_index}-{len(self.orders)}")
        if left := await self._venue_positions():
            raise CloseIncomplete(f"still open after closing: {_exposure(left)}")

    async def _close_as_maker(self) -> None:
        book = (
            await self._read("get_book_top", BookQuery(market=self.inp.market, depth=1), BookSnapshot)
        ).book
        acks = []
        for leg, size in (await self._venue_positions()).items():
            side = Side.SELL if size > 0 else Side.BUY
            price = pricing.maker_price(book, side, 1)
            if price is not None:
                ack = await self._place(
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
                acks.append((leg, ack))
        await workflow.sleep(self.params.close_maker_timeout_s)
        for leg, ack in acks:
            ref = OrderRef(
                account_index=leg.account_index,
                market=self.inp.market,
                client_order_index=ack.client_order_index,
            )
            self._apply(await self._send(leg, "cancel_order", ref))

    async def _market_close(self, leg: LegAccount, size: Decimal, step: str) -> None:
        side = Side.SELL if size > 0 else Side.BUY
        mark = await self._mark()
        worst = pricing.worst_price(self._market, side, mark, self.params.max_slippage)
        await self._place(
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

    async def _venue_positions(self) -> dict[LegAccount, Decimal]:
        """Each leg's position in this market as the venue reports it (the truth when closing)."""
        out = {}
        for leg in (self.inp.maker, self.inp.taker):
            snap = await workflow.execute_activity(
                "get_position",
                AccountQuery(account_index=leg.account_index, market=self.inp.market),
                task_queue=self._read_queue(leg),
                result_type=AccountSnapshot,
                **VENUE_READ,
            )
            size = snap.account.position(self.inp.market).size
            if size != 0:
                out[leg] = size
        return out

    async def _unwind(self, why: str) -> CycleResult:
        self.reason = why
        await self._enter(CycleState.UNWINDING)
        await self._alert(Severity.WARNING, "hedge failed: unwinding", why)
        for attempt in range(UNWIND_ATTEMPTS):
            try:
                await self._cancel_open_orders()
                for leg, size in (await self._venue_positions()).items():
                    await self._market_close(leg, size, f"unwind-{leg.account_index}-{attempt}")
                if not (left := await self._venue_positions()):
                    return await self._end(CycleState.UNWOUND, why)
                problem = f"still open: {_exposure(left)}"
            except ActivityError as exc:
                problem = _cause(exc)
            await self._alert(Severity.CRITICAL, f"unwind attempt {attempt + 1} incomplete", problem)
            await workflow.sleep(UNWIND_BACKOFF_S * (attempt + 1))
        return await self._fail(f"{why}; unwind failed")

    async def _cancel_open_orders(self) -> None:
        for coi, t in self.tally.orders.items():
            if not t.final:
                leg = self.inp.maker if t.account_index == self.inp.maker.account_index else self.inp.taker
                ref = OrderRef(account_index=t.account_index, market=self.inp.market, client_order_index=coi)
                self._apply(await self._send(leg, "cancel_order", ref))

    async def _fail(self, why: str) -> CycleResult:
        await self._alert(Severity.CRITICAL, "cycle FAILED with open exposure", why)
        return await self._end(CycleState.FAILED, why, exposure=await self._venue_positions())

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
            venue=self.inp.venue,
            account_index=leg.account_index,
            market=self.inp.market,
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
        ack: OrderAck = await workflow.execute_activity(
            "place_order", intent, task_queue=self._send_queue(leg), result_type=OrderAck, **options
        )
        self.orders.append(intent.key)
        self.tally.track(ack.client_order_index, intent.key, role, leg.account_index, side)
        self._apply(ack)
        self._replay_unmatched()
        return ack

    async def _send(self, leg: LegAccount, name: str, ref: OrderRef) -> OrderAck:
        ack: OrderAck = await workflow.execute_activity(
            name, ref, task_queue=self._send_queue(leg), result_type=OrderAck, **ORDER
        )
        return ack

    async def _read(self, name: str, arg: Any, result_type: type[Any]) -> Any:
        return await workflow.execute_activity(name, arg, result_type=result_type, **VENUE_READ)

    async def _mark(self) -> Decimal:
        book = (
            await self._read("get_book_top", BookQuery(market=self.inp.market, depth=1), BookSnapshot)
        ).book
        self.last_mark = book.mid or self.last_mark or self.tally.avg_price(Role.MAKER)
        assert self.last_mark is not None
        return self.last_mark

    async def _alert(self, severity: Severity, title: str, detail: str) -> None:
        alert = Alert(severity=severity, source=workflow.info().workflow_id, title=title, detail=detail)
        await workflow.execute_activity("send_alert", alert, **LEDGER)

    def _send_queue(self, leg: LegAccount) -> str:
        return names.signer_queue(self.inp.venue, leg.account_index, leg.api_key_index)

    def _read_queue(self, leg: LegAccount) -> str:
        return names.signer_read_queue(self.inp.venue, leg.account_index, leg.api_key_index)

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

    async def _enter(self, state: CycleState) -> None:
        if state is not self.state and state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"illegal transition {self.state} -> {state}")
        if state is not self.state:
            workflow.logger.info("cycle %s %s -> %s", workflow.info().workflow_id, self.state, state)
        self.state = state
        workflow.upsert_search_attributes([names.CYCLE_STATE.value_set(state.value)])
        if state in RECORDED:
            await self._record()

    async def _record(self, result: CycleResult | None = None) -> None:
        wid = workflow.info().workflow_id
        rec = CycleRecord(
            workflow_id=wid,
            fleet=self.inp.fleet,
            pair=self.inp.pair,
            seq=self.inp.seq,
            venue=self.inp.venue,
            market=self.inp.market,
            maker_account=self.inp.maker.account_index,
            taker_account=self.inp.taker.account_index,
            state=self.state,
            realized_pnl=self._realized(),
            fees=self.tally.fees(),
            result=result,
        )
        await workflow.execute_activity("record_cycle", rec, **LEDGER)

    def _realized(self) -> Decimal:
        return self.tally.cash(self.inp.maker.account_index) + self.tally.cash(self.inp.taker.account_index)

    async def _end(
        self, state: CycleState, reason: str, exposure: dict[LegAccount, Decimal] | None = None
    ) -> CycleResult:
        self.reason = reason
        await self._enter(state)
        if self.poll is not None and not self.poll.done():
            self.poll.cancel()
        result = CycleResult(
            workflow_id=workflow.info().workflow_id,
            state=state,
            reason=reason,
            maker_filled=self.tally.filled(Role.MAKER),
            hedged=self.tally.filled(Role.HEDGE),
            realized_pnl=self._realized() if not exposure else Decimal(0),
            fees=self.tally.fees(),
            open_exposure={str(leg.account_index): size for leg, size in (exposure or {}).items()},
        )
        await self._record(result)
        return result

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
        self.params = self.params.model_copy(update=change.model_dump(exclude_none=True))
        workflow.logger.info(
            "cycle %s adjusted %s", workflow.info().workflow_id, change.model_dump(exclude_none=True)
        )
        return self.params

    @adjust.validator
    def _validate_adjust(self, change: Adjust) -> None:
        if self.state.final:
            raise ValueError(f"the cycle has ended ({self.state})")
        if not change.model_dump(exclude_none=True):
            raise ValueError("nothing to adjust")
        if change.size is not None and self.market is not None and change.size < self.market.min_base_amount:
            raise ValueError(f"size {change.size} is below the market minimum {self.market.min_base_amount}")

    @workflow.query
    def status(self) -> CycleStatus:
        maker, taker = self.inp.maker.account_index, self.inp.taker.account_index
        return CycleStatus(
            workflow_id=workflow.info().workflow_id,
            state=self.state,
            paused=self.paused,
            stop_requested=self.stop_requested,
            params=self.params,
            maker=Leg(account_index=maker, position=self.tally.position(maker), cash=self.tally.cash(maker)),
            taker=Leg(account_index=taker, position=self.tally.position(taker), cash=self.tally.cash(taker)),
            maker_filled=self.tally.filled(Role.MAKER),
            hedged=self.tally.filled(Role.HEDGE),
            orders=self.orders,
            last_mark=self.last_mark,
            realized_pnl=self._realized(),
            reason=self.reason,
            rejected_commands=self.commands.rejected,
        )


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _exposure(positions: dict[LegAccount, Decimal]) -> str:
    return ", ".join(f"account {leg.account_index}: {size}" for leg, size in positions.items())
