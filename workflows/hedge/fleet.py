"""HedgeFleetWorkflow: cycle after cycle for many account pairs, one cycle per pair at a time.

Cycles are children with parent close policy REQUEST_CANCEL: if the fleet is terminated (or
times out), Temporal asks each running cycle to cancel, and each cancels its orders and closes
its own legs. A Temporal cancel of the fleet does the same and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TerminatedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.alerts.models import Severity
    from perpflow.hedge.commands import OperatorCommand
    from perpflow.hedge.fleet import (
        FleetCarry,
        FleetInput,
        FleetMode,
        FleetResult,
        FleetStatus,
        PairSpec,
        PairStatus,
    )
    from perpflow.hedge.models import CycleResult, CycleState, HedgeCycleInput
    from perpflow.metrics.names import FLEET_DAILY_LOSS_LIMIT
    from perpflow.venues.types import Side
    from workflows.alerts import raise_alert
    from workflows.commands import CommandLog
    from workflows.controls import OperatorControls
    from workflows.failures import unless_cancelled
    from workflows.hedge.cycle import HedgeCycleWorkflow
    from workflows.timers import timer_until
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input

ENDING = frozenset({FleetMode.STOPPING, FleetMode.REDUCING, FleetMode.HALTED})

# From this patch on the day whose realized PnL the daily loss limit reads turns at a timer set
# for the next UTC midnight (the day carried), not at the clock of the task that accounts a cycle
# (``workflows.timers``: a cycle ending about midnight could count to another day in a replay);
# the first day and the epoch in the cycle ids come from the run's start time. Fleets begun
# before read the clock.
OFF_THE_CLOCK = "fleet-off-the-clock"


@workflow.defn(name="HedgeFleetWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class HedgeFleetWorkflow(OperatorControls):
    def __init__(self) -> None:
        self.inp: FleetInput | None = None
        self.carry = FleetCarry()
        self.pairs: dict[str, PairStatus] = {}
        self.paused = False
        self.run_cycles = 0
        self.commands = CommandLog("fleet")
        self.days_by_timer = False

    @workflow.run  # noqa: RET503 - the last line, continue_as_new, raises
    async def run(self, raw: Any = None) -> FleetResult:
        inp = self.inp = parse_input(FleetInput, raw, names.Kind.HEDGE_FLEET)
        self.carry = inp.carry.model_copy(deep=True)
        self.days_by_timer = workflow.patched(OFF_THE_CLOCK)
        started = workflow.info().workflow_start_time if self.days_by_timer else workflow.now()
        self.carry.epoch = self.carry.epoch or names.fleet_epoch(started)
        if self.days_by_timer:
            self._begin_day(started.date().isoformat())
        self.pairs = {p.name: PairStatus(name=p.name) for p in inp.pairs}
        self.paused = self.paused or self.carry.mode is FleetMode.PAUSED
        workflow.upsert_search_attributes([
            names.KIND.value_set(names.Kind.HEDGE_FLEET), names.VENUE.value_set(inp.venue),
            names.MARKET.value_set(inp.market),
        ])  # fmt: skip
        self._publish_limit()
        try:
            await asyncio.gather(*(self._pair_loop(p) for p in inp.pairs))
        except asyncio.CancelledError:
            # Each running cycle was asked to cancel too; gather returned once all had ended.
            self.carry.mode, self.carry.reason = FleetMode.CANCELLED, "cancelled (Temporal cancel)"
            workflow.logger.info("fleet %s cancelled after %d cycles", inp.name, self.carry.cycles)
            raise
        finally:
            await workflow.wait_condition(workflow.all_handlers_finished)
        if self.carry.mode in ENDING or (self.carry.mode is FleetMode.ACTIVE and self._all_done()):
            return self._finish()
        carry = self.carry.model_copy(update={"mode": FleetMode.PAUSED if self.paused else self.carry.mode})
        workflow.continue_as_new(inp.model_copy(update={"carry": carry}))

    @property
    def _inp(self) -> FleetInput:
        assert self.inp is not None
        return self.inp

    async def _pair_loop(self, pair: PairSpec) -> None:
        while not self._pair_done(pair):
            await workflow.wait_condition(lambda: not self.paused or self.carry.mode in ENDING)
            if self.carry.mode in ENDING or self._run_full():
                return
            result = await self._one_cycle(pair)
            self._account(pair, result)
            if self._inp.pause_between_s:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self.carry.mode in ENDING,
                        timeout=timedelta(seconds=self._inp.pause_between_s),
                    )

    async def _one_cycle(self, pair: PairSpec) -> CycleResult:
        inp = self._inp
        seq = self.carry.seq.get(pair.name, 0)
        self.carry.seq[pair.name] = seq + 1
        side = pair.maker_side or (Side.BUY if seq % 2 == 0 else Side.SELL)
        cycle = HedgeCycleInput(
            fleet=inp.name,
            pair=pair.name,
            seq=seq,
            venue=inp.venue,
            market=inp.market,
            maker=pair.maker,
            taker=pair.taker,
            maker_side=side,
            params=inp.cycle,
        )
        cycle_id = names.hedge_cycle_id(inp.name, self.carry.epoch, pair.name, seq)
        self.pairs[pair.name].running = cycle_id
        try:
            # The fleet's own cancel, which cancels the cycle with it, comes out as CancelledError.
            result = await unless_cancelled(
                workflow.execute_child_workflow(
                    HedgeCycleWorkflow.run,
                    cycle,
                    id=cycle_id,
                    parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                )
            )
        except ChildWorkflowError as exc:
            result = _ended_abnormally(cycle_id, exc)
        self.pairs[pair.name].running = None
        return result

    def _account(self, pair: PairSpec, result: CycleResult) -> None:
        status = self.pairs[pair.name]
        status.cycles += 1
        status.last = result
        self.run_cycles += 1
        self.carry.cycles += 1
        if not self.days_by_timer and (today := workflow.now().date().isoformat()) != self.carry.day:
            self.carry.day, self.carry.day_realized = today, result.realized_pnl * 0
        self.carry.day_realized += result.realized_pnl
        self.carry.total_realized += result.realized_pnl
        workflow.logger.info(
            "fleet %s pair %s cycle %s %s pnl=%s day=%s",
            self._inp.name,
            pair.name,
            result.workflow_id,
            result.state,
            result.realized_pnl,
            self.carry.day_realized,
        )
        if result.state is CycleState.FAILED:
            self.carry.failed_pairs.append(pair.name)
            raise_alert(Severity.CRITICAL, f"pair {pair.name} halted: cycle FAILED", result.reason)
        self._publish_limit()
        limit = self._inp.daily_loss_limit_usd
        if limit is not None and self.carry.day_realized <= -limit and self.carry.mode not in ENDING:
            self.carry.mode = FleetMode.REDUCING
            self.carry.reason = f"daily loss limit {limit} reached: {self.carry.day_realized} (net of fees)"
            raise_alert(Severity.WARNING, "daily loss limit reached: REDUCING", self.carry.reason)

    def _begin_day(self, day: str) -> None:
        """``day`` (UTC) begins when it is after the carried one; it ends at a timer at its midnight."""
        if day > self.carry.day:  # ISO dates sort as days; "" before any
            self.carry.day, self.carry.day_realized = day, Decimal(0)
        end = datetime.combine(date.fromisoformat(self.carry.day) + timedelta(days=1), time(), UTC)
        timer = timer_until(end)
        timer.add_done_callback(lambda t: None if t.cancelled() else self._begin_day(end.date().isoformat()))

    def _publish_limit(self) -> None:
        """The daily loss limit as a metric, for the alert that warns before it is reached (the
        SDK's metric meter records nothing while a history replays)."""
        if (limit := self._inp.daily_loss_limit_usd) is not None:
            m = FLEET_DAILY_LOSS_LIMIT
            gauge = workflow.metric_meter().create_gauge_float(m.name, m.help, "USD")
            gauge.set(float(limit), {"fleet": self._inp.name})

    def _pair_done(self, pair: PairSpec) -> bool:
        limit = self._inp.max_cycles_per_pair
        return pair.name in self.carry.failed_pairs or (
            limit is not None and self.carry.seq.get(pair.name, 0) >= limit
        )

    def _all_done(self) -> bool:
        return all(self._pair_done(p) for p in self._inp.pairs)

    def _run_full(self) -> bool:
        return self.run_cycles >= self._inp.cycles_per_run or workflow.info().is_continue_as_new_suggested()

    def _finish(self) -> FleetResult:
        ended = {FleetMode.STOPPING: FleetMode.STOPPED, FleetMode.REDUCING: FleetMode.HALTED}
        self.carry.mode = ended.get(self.carry.mode, self.carry.mode)
        if self.carry.mode is FleetMode.ACTIVE:
            self.carry.mode = FleetMode.COMPLETED
            failed = ", ".join(self.carry.failed_pairs)
            self.carry.reason = f"pairs failed: {failed}" if failed else "every pair ran its cycles"
        workflow.logger.info(
            "fleet %s ends %s after %d cycles: %s",
            self._inp.name,
            self.carry.mode,
            self.carry.cycles,
            self.carry.reason,
        )
        return FleetResult(
            name=self._inp.name,
            mode=self.carry.mode,
            cycles=self.carry.cycles,
            total_realized=self.carry.total_realized,
            failed_pairs=self.carry.failed_pairs,
            reason=self.carry.reason,
        )

    # -- operator commands ---------------------------------------------------------------------

    def _pause(self, paused: bool) -> None:
        self.paused = paused

    def _stop(self, cmd: OperatorCommand) -> None:
        if self.carry.mode not in ENDING:
            self.carry.mode, self.carry.reason = FleetMode.STOPPING, cmd.said("stopped")

    @workflow.signal
    async def kill(self, payload: Any = None) -> None:
        """Flatten every open cycle, then halt."""
        cmd = self.commands.accept("kill", payload)
        if cmd is None:
            return
        self.carry.mode, self.carry.reason = FleetMode.HALTED, cmd.said("killed")
        running = [s.running for s in self.pairs.values() if s.running]
        for cycle_id in running:
            try:
                cycle = workflow.get_external_workflow_handle_for(HedgeCycleWorkflow.run, cycle_id)
                await cycle.signal(HedgeCycleWorkflow.flatten, {"by": "fleet kill"})
            except FailureError as exc:  # it completed in the meantime: nothing left to flatten
                workflow.logger.info("fleet kill: %s already ended (%s)", cycle_id, exc)

    @workflow.query
    def status(self) -> FleetStatus:
        mode = self.carry.mode
        return FleetStatus(
            name=self._inp.name,
            mode=FleetMode.PAUSED if self.paused and mode is FleetMode.ACTIVE else mode,
            reason=self.carry.reason,
            epoch=self.carry.epoch,
            pairs=list(self.pairs.values()),
            day=self.carry.day,
            day_realized=self.carry.day_realized,
            total_realized=self.carry.total_realized,
            cycles=self.carry.cycles,
            rejected_commands=self.commands.rejected,
        )


def _ended_abnormally(cycle_id: str, exc: ChildWorkflowError) -> CycleResult:
    """A cycle cancelled, terminated or failed outright: what the fleet can know of it."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details:  # ExposureLeft carries the result
        with contextlib.suppress(ValueError, TypeError):
            return CycleResult.model_validate(cause.details[0])
    if isinstance(cause, CancelledError):
        state, reason = CycleState.CANCELLED, "cancelled by an operator"
    elif isinstance(cause, TerminatedError):
        state, reason = CycleState.FAILED, "terminated: the exposure reconciler handles what it left"
    else:
        state, reason = CycleState.FAILED, str(cause or exc)
    zero = Decimal(0)  # what it realised is in its ledger row, not known here
    return CycleResult(
        workflow_id=cycle_id, state=state, reason=reason, maker_filled=zero, hedged=zero,
        realized_pnl=zero, fees=zero,
    )  # fmt: skip
