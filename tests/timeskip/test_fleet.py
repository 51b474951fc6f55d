"""HedgeFleetWorkflow with fake activities on the time-skipping server: pause, kill, continue-as-new,
and what a Temporal cancel or terminate of the fleet does to its running cycle."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from perpflow.hedge.fleet import FleetMode, FleetResult
from perpflow.hedge.models import CycleState
from perpflow.venues.types import Side
from tests.timeskip.conftest import CycleRig, ended, history_lengths, open_rig, until
from tests.timeskip.fakes import is_close, is_maker

SIZE = Decimal("0.05")


def fleet_name() -> str:
    return f"ts{uuid.uuid4().hex[:8]}"


def own_closes(rig: CycleRig, cycle_id: str) -> list[tuple[int, Side, Decimal]]:
    return [
        (o.account_index, o.side, o.size)
        for o in rig.fake.venue.placed(lambda i: is_close(i) and i.workflow_id == cycle_id)
    ]


async def test_paused_fleet_starts_no_new_cycle_until_resumed(cycle_rig: CycleRig) -> None:
    fleet = await cycle_rig.start_fleet(cycle_rig.fleet(fleet_name(), cycle={"hold_s": 1}))
    first = await cycle_rig.running_cycle(fleet)
    coi = await cycle_rig.maker_resting()
    await fleet.signal("pause")

    async def paused() -> bool:
        return (await cycle_rig.fleet_status(fleet)).mode is FleetMode.PAUSED

    await until(paused, "the fleet PAUSED")
    cycle_rig.fake.venue.fill(coi)  # the running cycle goes on while paused
    assert (await cycle_rig.handle(first).result()).state is CycleState.DONE

    async def first_counted() -> bool:
        status = await cycle_rig.fleet_status(fleet)
        return (status.cycles, status.pairs[0].running) == (1, None)

    await until(first_counted, "the fleet counting the first cycle")
    await cycle_rig.env.sleep(timedelta(hours=6))  # time passes while paused
    status = await cycle_rig.fleet_status(fleet)
    assert (status.cycles, status.pairs[0].running) == (1, None)
    assert len(cycle_rig.fake.venue.placed(is_maker)) == 1
    await fleet.signal("resume")
    second = await cycle_rig.running_cycle(fleet, other_than=first)
    assert second == first.removesuffix("-0") + "-1"


async def test_kill_flattens_the_running_cycle_and_halts_the_fleet(cycle_rig: CycleRig) -> None:
    fleet = await cycle_rig.start_fleet(cycle_rig.fleet(fleet_name()))
    cycle_id = await cycle_rig.running_cycle(fleet)
    await cycle_rig.hedged_and_holding(cycle_rig.handle(cycle_id))
    await fleet.signal("kill", {"by": "ops", "reason": "drill"})
    result: FleetResult = await fleet.result()
    assert (result.mode, result.cycles, result.reason) == (FleetMode.HALTED, 1, "killed by ops: drill")
    assert (await cycle_rig.handle(cycle_id).result()).state is CycleState.DONE
    maker, taker = cycle_rig.maker.account_index, cycle_rig.taker.account_index
    assert sorted(own_closes(cycle_rig, cycle_id)) == sorted(
        [(maker, Side.SELL, SIZE), (taker, Side.BUY, SIZE)]
    )
    assert cycle_rig.fake.venue.positions[maker] == cycle_rig.fake.venue.positions[taker] == 0
    assert len(cycle_rig.fake.venue.placed(is_maker)) == 1  # no cycle after the kill


class HoldingRunner(WorkflowRunner):
    """Holds one workflow type's signal activations while ``opened`` is clear, so that events
    arriving meanwhile (a child's completion, another signal) reach it in one later task."""

    def __init__(self, workflow_type: str) -> None:
        self.inner = SandboxedWorkflowRunner()
        self.workflow_type = workflow_type
        self.opened = threading.Event()
        self.opened.set()
        self.holding = threading.Event()

    def prepare_workflow(self, defn: Any) -> None:
        self.inner.prepare_workflow(defn)

    def set_worker_level_failure_exception_types(self, types: Any) -> None:
        self.inner.set_worker_level_failure_exception_types(types)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = self.inner.create_instance(det)
        return _Held(instance, self) if det.defn.name == self.workflow_type else instance


class _Held(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance, runner: HoldingRunner) -> None:
        self.inner, self.runner = inner, runner

    def activate(self, act: Any) -> Any:
        if not self.runner.opened.is_set() and any(job.HasField("signal_workflow") for job in act.jobs):
            self.runner.holding.set()
            self.runner.opened.wait(timeout=1.5)  # under the SDK's 2 s deadlock detection
        return self.inner.activate(act)

    def get_serialization_context(self, command_info: Any) -> Any:
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self.inner.get_external_store_context(command_info)

    def get_info(self) -> Any:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()


async def test_kill_arriving_with_the_completion_of_the_cycle_it_names_still_halts_the_fleet(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The kill handler runs before the fleet sees the cycle's completion in the same task, so it
    signals a cycle that has already closed: that is nothing left to flatten, not a failure."""
    runner = HoldingRunner("HedgeFleetWorkflow")
    async with open_rig(skipping_env, workflow_runner=runner) as rig:
        rig.fake.final_record_gate = asyncio.Event()
        fleet = await rig.start_fleet(rig.fleet(fleet_name()))
        cycle_id = await rig.running_cycle(fleet)
        cycle = rig.handle(cycle_id)
        await rig.hedged_and_holding(cycle)
        await cycle.signal("flatten", {"by": "ops"})
        await until(lambda: any(r.result for r in rig.fake.called("record_cycle")), "the cycle's last write")
        runner.opened.clear()
        await fleet.signal("resume")  # a no-op command: a fleet task to hold
        await until(runner.holding.is_set, "the fleet's task held")
        rig.fake.final_record_gate.set()
        await until(lambda: ended(cycle), "the cycle closed")
        await fleet.signal("kill", {"by": "ops"})
        runner.opened.set()
        result: FleetResult = await fleet.result()
        assert (result.mode, result.cycles) == (FleetMode.HALTED, 1)
        kinds = [e.event_type for e in (await fleet.fetch_history()).events]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds  # held under the deadlock timeout
        assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED in kinds  # the race happened


async def test_fleet_continuing_as_new_keeps_its_sequence_and_epoch_so_cycle_ids_never_repeat(
    cycle_rig: CycleRig,
) -> None:
    cycle_rig.fake.venue.fill_makers_at_once = True
    name = fleet_name()
    inp = cycle_rig.fleet(name, cycles_per_run=2, max_cycles_per_pair=5, cycle={"hold_s": 0})
    fleet = await cycle_rig.start_fleet(inp)
    result: FleetResult = await fleet.result()
    assert (result.mode, result.cycles) == (FleetMode.COMPLETED, 5)
    assert len(await history_lengths(cycle_rig.client, fleet.id, fleet.result_run_id or "")) == 3
    cycle_ids = list(dict.fromkeys(r.workflow_id for r in cycle_rig.fake.records))
    assert len(cycle_ids) == 5
    epoch = cycle_ids[0].removeprefix(f"hedge-{name}-").split("-")[0]
    assert cycle_ids == [f"hedge-{name}-{epoch}-p0-{seq}" for seq in range(5)]
    assert all(cycle_rig.fake.records_of(c)[-1].state is CycleState.DONE for c in cycle_ids)


async def test_fleet_cancel_cancels_its_running_cycle_which_closes_only_its_own_legs(
    cycle_rig: CycleRig,
) -> None:
    fleet = await cycle_rig.start_fleet(cycle_rig.fleet(fleet_name()))
    cycle_id = await cycle_rig.running_cycle(fleet)
    await cycle_rig.hedged_and_holding(cycle_rig.handle(cycle_id))
    await fleet.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await cycle_rig.handle(cycle_id).result()
    assert isinstance(failure.value.cause, CancelledError), failure.value.cause
    assert cycle_rig.fake.records_of(cycle_id)[-1].state is CycleState.CANCELLED
    maker, taker = cycle_rig.maker.account_index, cycle_rig.taker.account_index
    assert sorted(own_closes(cycle_rig, cycle_id)) == sorted(
        [(maker, Side.SELL, SIZE), (taker, Side.BUY, SIZE)]
    )
    assert cycle_rig.fake.venue.positions[maker] == cycle_rig.fake.venue.positions[taker] == 0


async def test_fleet_cancel_ends_the_fleet_cancelled_and_starts_no_other_cycle(cycle_rig: CycleRig) -> None:
    fleet = await cycle_rig.start_fleet(cycle_rig.fleet(fleet_name()))
    cycle_id = await cycle_rig.running_cycle(fleet)
    await cycle_rig.hedged_and_holding(cycle_rig.handle(cycle_id))
    await fleet.cancel()
    await until(lambda: ended(cycle_rig.handle(cycle_id)), "the running cycle ended")

    async def fleet_ended_or_cycled() -> bool:
        return len(cycle_rig.fake.venue.placed(is_maker)) > 1 or await ended(fleet)

    await until(fleet_ended_or_cycled, "the fleet ending, or starting another cycle")
    assert len(cycle_rig.fake.venue.placed(is_maker)) == 1, "a cycle started after the fleet was cancelled"
    assert (await fleet.describe()).status is WorkflowExecutionStatus.CANCELED
    assert (await cycle_rig.fleet_status(fleet)).mode is FleetMode.CANCELLED


async def test_fleet_terminate_asks_its_running_cycle_to_cancel_and_it_ends_cancelled(
    temporal_env: WorkflowEnvironment,
) -> None:
    """On the dev server: the time-skipping server records the parent close policy but never
    applies it (the child of a terminated parent runs on, no cancel request)."""
    async with open_rig(temporal_env) as rig:
        fleet = await rig.start_fleet(rig.fleet(fleet_name()))
        cycle_id = await rig.running_cycle(fleet)
        await rig.hedged_and_holding(rig.handle(cycle_id))
        await fleet.terminate("operator terminate")
        with pytest.raises(WorkflowFailureError) as failure:
            await rig.handle(cycle_id).result()
        assert isinstance(failure.value.cause, CancelledError), failure.value.cause
        assert rig.fake.records_of(cycle_id)[-1].state is CycleState.CANCELLED
        maker, taker = rig.maker.account_index, rig.taker.account_index
        assert sorted(own_closes(rig, cycle_id)) == sorted(
            [(maker, Side.SELL, SIZE), (taker, Side.BUY, SIZE)]
        )
        assert rig.fake.venue.positions[maker] == rig.fake.venue.positions[taker] == 0
