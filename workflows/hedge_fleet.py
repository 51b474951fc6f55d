"""HedgeFleetWorkflow: cycle after cycle for many account pairs, one cycle per pair at a time."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.hedge.fleet import FleetInput, FleetMode, FleetResult, FleetStatus, PairSpec, PairStatus
    from perpflow.hedge.models import CycleResult, CycleState, HedgeCycleInput
    from perpflow.notify import Alert, Severity
    from perpflow.venues.types import Side
    from workflows.commands import CommandLog
    from workflows.hedge_cycle import HedgeCycleWorkflow
    from workflows.options import LEDGER
    from workflows.validation import FAIL_ON_INVALID_INPUT

ENDING = frozenset({FleetMode.STOPPING, FleetMode.REDUCING, FleetMode.HALTED})


@workflow.defn(name="HedgeFleetWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class HedgeFleetWorkflow:
    @workflow.init
    def __init__(self, inp: FleetInput) -> None:
        self.inp = inp
        self.carry = inp.carry.model_copy(deep=True)
        self.pairs = {p.name: PairStatus(name=p.name) for p in inp.pairs}
        self.paused = self.carry.mode is FleetMode.PAUSED
        self.run_cycles = 0
        self.commands = CommandLog("fleet")

    @workflow.run  # noqa: RET503 - the last line, continue_as_new, raises
    async def run(self, inp: FleetInput) -> FleetResult:
        workflow.upsert_search_attributes(
            [
                names.KIND.value_set(names.Kind.HEDGE_FLEET),
                names.VENUE.value_set(inp.venue),
                names.MARKET.value_set(inp.market),
            ]
        )
        await asyncio.gather(*(self._pair_loop(p) for p in inp.pairs))
        if self.carry.mode in ENDING or (self.carry.mode is FleetMode.ACTIVE and self._all_done()):
            return self._finish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        carry = self.carry.model_copy(update={"mode": FleetMode.PAUSED if self.paused else self.carry.mode})
        workflow.continue_as_new(inp.model_copy(update={"carry": carry}))

    async def _pair_loop(self, pair: PairSpec) -> None:
        while not self._pair_done(pair):
            await workflow.wait_condition(lambda: not self.paused or self.carry.mode in ENDING)
            if self.carry.mode in ENDING or self._run_full():
                return
            result = await self._one_cycle(pair)
            self._account(pair, result)
            if self.inp.pause_between_s:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self.carry.mode in ENDING, timeout=timedelta(seconds=self.inp.pause_between_s)
                    )

    async def _one_cycle(self, pair: PairSpec) -> CycleResult:
        seq = self.carry.seq.get(pair.name, 0)
        self.carry.seq[pair.name] = seq + 1
        side = pair.maker_side or (Side.BUY if seq % 2 == 0 else Side.SELL)
        cycle = HedgeCycleInput(
            fleet=self.inp.name,
            pair=pair.name,
            seq=seq,
            venue=self.inp.venue,
            market=self.inp.market,
            maker=pair.maker,
            taker=pair.taker,
            maker_side=side,
            params=self.inp.cycle,
        )
        cycle_id = names.hedge_cycle_id(self.inp.name, pair.name, seq)
        self.pairs[pair.name].running = cycle_id
        # ABANDON: a cycle holding positions always runs to flat, whatever happens to its fleet.
        result: CycleResult = await workflow.execute_child_workflow(
            HedgeCycleWorkflow.run, cycle, id=cycle_id, parent_close_policy=ParentClosePolicy.ABANDON
        )
        self.pairs[pair.name].running = None
        return result

    def _account(self, pair: PairSpec, result: CycleResult) -> None:
        status = self.pairs[pair.name]
        status.cycles += 1
        status.last = result
        self.run_cycles += 1
        self.carry.cycles += 1
        today = workflow.now().date().isoformat()
        if today != self.carry.day:
            self.carry.day, self.carry.day_realized = today, result.realized_pnl * 0
        self.carry.day_realized += result.realized_pnl
        self.carry.total_realized += result.realized_pnl
        workflow.logger.info(
            "fleet %s pair %s cycle %s %s pnl=%s day=%s",
            self.inp.name,
            pair.name,
            result.workflow_id,
            result.state,
            result.realized_pnl,
            self.carry.day_realized,
        )
        if result.state is CycleState.FAILED:
            self.carry.failed_pairs.append(pair.name)
            self._alert(Severity.CRITICAL, f"pair {pair.name} halted: cycle FAILED", result.reason)
        limit = self.inp.daily_loss_limit_usd
        if limit is not None and self.carry.day_realized <= -limit and self.carry.mode not in ENDING:
            self.carry.mode = FleetMode.REDUCING
            self._alert(Severity.WARNING, "daily loss limit reached: REDUCING", f"{self.carry.day_realized}")

    def _pair_done(self, pair: PairSpec) -> bool:
        limit = self.inp.max_cycles_per_pair
        return pair.name in self.carry.failed_pairs or (
            limit is not None and self.carry.seq.get(pair.name, 0) >= limit
        )

    def _all_done(self) -> bool:
        return all(self._pair_done(p) for p in self.inp.pairs)

    def _run_full(self) -> bool:
        return self.run_cycles >= self.inp.cycles_per_run or workflow.info().is_continue_as_new_suggested()

    def _finish(self) -> FleetResult:
        ended = {FleetMode.STOPPING: FleetMode.STOPPED, FleetMode.REDUCING: FleetMode.HALTED}
        self.carry.mode = ended.get(self.carry.mode, self.carry.mode)
        if self.carry.mode is FleetMode.ACTIVE:
            self.carry.mode = FleetMode.COMPLETED
        workflow.logger.info(
            "fleet %s ends %s after %d cycles", self.inp.name, self.carry.mode, self.carry.cycles
        )
        return FleetResult(
            name=self.inp.name,
            mode=self.carry.mode,
            cycles=self.carry.cycles,
            total_realized=self.carry.total_realized,
            failed_pairs=self.carry.failed_pairs,
        )

    def _alert(self, severity: Severity, title: str, detail: str) -> None:
        alert = Alert(severity=severity, source=workflow.info().workflow_id, title=title, detail=detail)
        workflow.start_activity("send_alert", alert, **LEDGER)

    # -- operator commands ---------------------------------------------------------------------

    @workflow.signal
    def pause(self, payload: Any = None) -> None:
        if self.commands.accept("pause", payload):
            self.paused = True

    @workflow.signal
    def resume(self, payload: Any = None) -> None:
        if self.commands.accept("resume", payload):
            self.paused = False

    @workflow.signal
    async def stop(self, payload: Any = None) -> None:
        if self.commands.accept("stop", payload) and self.carry.mode not in ENDING:
            self.carry.mode = FleetMode.STOPPING

    @workflow.signal
    async def kill(self, payload: Any = None) -> None:
        """Flatten every open cycle, then halt."""
        if not self.commands.accept("kill", payload):
            return
        self.carry.mode = FleetMode.HALTED
        for status in self.pairs.values():
            if status.running:
                await workflow.get_external_workflow_handle(status.running).signal(
                    "flatten", {"by": "fleet kill"}
                )

    @workflow.query
    def status(self) -> FleetStatus:
        return FleetStatus(
            name=self.inp.name,
            mode=FleetMode.PAUSED if self.paused and self.carry.mode is FleetMode.ACTIVE else self.carry.mode,
            pairs=list(self.pairs.values()),
            day=self.carry.day,
            day_realized=self.carry.day_realized,
            total_realized=self.carry.total_realized,
            cycles=self.carry.cycles,
            rejected_commands=self.commands.rejected,
        )
