"""HedgeCycleWorkflow: a post-only maker leg on A, every fill increment hedged on B at once,
a hold watched for stop-loss / take-profit, then both legs closed and verified flat. A and B
trade on one venue and market, or each on its own (a cross-venue cycle: GRVT <-> Lighter).

A hedge that cannot be placed unwinds A: never a silent naked leg. Every close, unwind, flatten
and cancel acts on this cycle's own fills only, never on whatever else the accounts hold, and
records and alerts run beside those orders, never before them. A Temporal cancel is a clean
stop: resting orders cancelled, own legs closed, CANCELLED with the amounts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from perpflow import names
    from perpflow.exposure import EXPOSURE_QUERY, Exposure, OwnedPosition
    from perpflow.hedge.commands import OperatorCommand
    from perpflow.hedge.models import (
        Adjust,
        CycleParams,
        CycleProgress,
        CycleResult,
        CycleState,
        CycleStatus,
        HedgeCycleInput,
        Leg,
        LegAccount,
    )
    from perpflow.hedge.tally import Role
    from perpflow.signals import ORDER_FILLED, PRICE_CROSSED, OrderFilled
    from workflows.commands import CommandLog
    from workflows.controls import OperatorControls
    from workflows.hedge.close import cancelled, close, unwind
    from workflows.hedge.hold import hold
    from workflows.hedge.legs import check_signers, read_markets
    from workflows.hedge.quote import HedgeImpossible, quote_and_hedge
    from workflows.hedge.run import CycleRun
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input


@workflow.defn(name="HedgeCycleWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class HedgeCycleWorkflow(OperatorControls):
    def __init__(self) -> None:
        self.s = CycleProgress()
        self.commands = CommandLog("cycle", self.s.rejected_commands)
        self.cycle: CycleRun | None = None

    @workflow.run
    async def run(self, raw: Any = None) -> CycleResult:
        inp = parse_input(HedgeCycleInput, raw, names.Kind.HEDGE_CYCLE)
        self.s.params = inp.params
        if inp.carry is not None:
            self.s.resume(inp.carry)
            self.commands.rejected = self.s.rejected_commands
        else:
            # Venue, Account and Market name where the maker quotes, one venue or two: the hedge
            # leg's venue and market are in the status, the exposure and the ledger row.
            maker = inp.maker
            workflow.upsert_search_attributes(
                [
                    names.KIND.value_set(names.Kind.HEDGE_CYCLE),
                    names.VENUE.value_set(inp.venue_of(maker)),
                    names.ACCOUNT.value_set(str(maker.account_index)),
                    names.MARKET.value_set(inp.market_of(maker)),
                ]
            )
        self.cycle = CycleRun(inp, self.s)
        try:
            return await _trade(self.cycle)
        except asyncio.CancelledError:
            return await cancelled(self.cycle)

    # -- messages --------------------------------------------------------------------------------

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: Any) -> None:
        try:
            fill = OrderFilled.model_validate(payload)
        except ValidationError as exc:
            self.commands.reject(ORDER_FILLED, payload, exc)
            return
        self.s.count(fill)

    @workflow.signal(name=PRICE_CROSSED)
    def price_crossed(self, payload: Any) -> None:
        self.s.wake = True  # the hold loop re-reads the mark at once

    @workflow.signal
    def flatten(self, payload: Any = None) -> None:
        if self.commands.accept("flatten", payload):
            self.s.flatten_requested = True

    def _pause(self, paused: bool) -> None:
        self.s.paused = paused

    def _stop(self, cmd: OperatorCommand) -> None:
        self.s.stop_requested = True

    @workflow.update
    def adjust(self, change: Adjust) -> CycleParams:
        params = self._cycle.params.model_copy(update=change.model_dump(exclude_none=True))
        self.s.params = params
        if change.stop_loss_usd is not None or change.take_profit_usd is not None:
            self.s.levels_stale, self.s.wake = True, True
        workflow.logger.info(
            "cycle %s adjusted %s", workflow.info().workflow_id, change.model_dump(exclude_none=True)
        )
        return params

    @adjust.validator
    def _validate_adjust(self, change: Adjust) -> None:
        s = self.s
        if self.cycle is None or s.state.final:
            raise ValueError(f"the cycle has ended ({s.state})")
        if not change.model_dump(exclude_none=True):
            raise ValueError("nothing to adjust")
        if change.size is not None and self._cycle.markets_known:
            least = self._cycle.sizes.smallest_quote()
            if change.size < least:
                raise ValueError(f"size {change.size} is below the market minimum {least}")

    @workflow.query
    def status(self) -> CycleStatus:
        cycle, s = self._cycle, self.s

        def leg(of: LegAccount) -> Leg:
            acct = of.account_index
            return Leg(
                account_index=acct, position=s.tally.position(acct), cash=s.tally.cash(acct),
                venue=cycle.venue_of(of), market=cycle.symbol_of(of),
            )  # fmt: skip

        return CycleStatus(
            workflow_id=workflow.info().workflow_id,
            state=s.state,
            paused=s.paused,
            stop_requested=s.stop_requested,
            params=cycle.params,
            maker=leg(cycle.inp.maker),
            taker=leg(cycle.inp.taker),
            maker_filled=s.tally.filled(Role.MAKER),
            hedged=s.tally.filled(Role.HEDGE),
            orders=s.orders,
            last_mark=s.last_mark,
            taker_mark=s.taker_mark,
            realized_pnl=s.tally.realized(),
            fees=s.tally.fees(),
            reason=s.reason,
            rejected_commands=s.rejected_commands,
        )

    @workflow.query(name=EXPOSURE_QUERY)
    def exposure(self) -> Exposure:
        """What this cycle owns on each leg's venue, for the exposure reconciler of that venue."""
        cycle = self._cycle
        positions = [
            OwnedPosition(
                venue=cycle.venue_of(leg),
                account_index=leg.account_index,
                market=cycle.symbol_of(leg),
                size=size,
            )
            for leg, size in cycle.own_positions().items()
        ]
        return Exposure(
            workflow_id=workflow.info().workflow_id,
            positions=positions,
            open_orders=self.s.tally.open_orders(),
        )

    @property
    def _cycle(self) -> CycleRun:
        assert self.cycle is not None
        return self.cycle


async def _trade(run: CycleRun) -> CycleResult:
    """Quote and hedge, hold, close: the business process (a continued run resumes holding)."""
    s = run.s
    if s.hold_until is None:
        await read_markets(run)
        await check_signers(run)
        run.enter(CycleState.QUOTING)
        try:
            await quote_and_hedge(run)
        except HedgeImpossible as exc:
            return await unwind(run, str(exc))
        if s.tally.filled(Role.MAKER) == 0:
            asked = s.stop_requested or s.flatten_requested
            return await run.end(
                CycleState.STOPPED if asked else CycleState.DONE, "the maker leg never filled"
            )
        run.enter(CycleState.HOLDING)
        s.hold_until = workflow.now() + timedelta(seconds=run.params.hold_s)
    await hold(run)
    return await close(run)
