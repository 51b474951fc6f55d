"""`perpflow hedge status` reports a fleet's real status: the query while it runs, and once it
ended its FleetResult (mode, reason) or how Temporal ended it (failed, cancelled, terminated)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

import pytest
from rich.console import Console
from rich.table import Table
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.errors import PerpflowError
from perpflow.hedge.fleet import FleetCarry, FleetInput, FleetMode, FleetResult, FleetStatus
from perpflow.hedge.fleet_client import FleetReport, fleet_report, fleet_reports, report_table, start_fleet
from perpflow.hedge.models import CycleParams, CycleStatus
from perpflow.models import Model
from perpflow.venues.types import Side
from tests.plugins.hedge import ETH, FleetRig, fleet_rig
from tests.plugins.sim import SimHandle
from tests.plugins.venues import best

ONE_CYCLE = CycleParams(
    size=Decimal("0.05"), maker_timeout_s=20, max_requotes=1, hold_s=1, close_mode="market", poll_s=0.5
)
T = TypeVar("T")


async def until(
    get: Callable[[], Awaitable[T]], check: Callable[[T], bool], what: str, timeout: float = 30
) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await get()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}; last {value}"
        await asyncio.sleep(0.2)


def text(table: Table) -> str:
    console = Console(record=True, width=250)
    console.print(table)
    return console.export_text()


def one_pair_fleet(rig: FleetRig, **fields: object) -> FleetInput:
    pair = rig.pairs()[0].model_copy(update={"maker_side": Side.BUY})
    base = {"name": f"st{uuid.uuid4().hex[:6]}", "market": "ETH", "pairs": [pair], "cycle": ONE_CYCLE}
    return FleetInput.model_validate({**base, **fields})


async def fill_the_maker_quote(rig: FleetRig, fleet_id: str) -> None:
    """Once the fleet's cycle rests its maker bid, move the price through it."""
    fleet = rig.client.get_workflow_handle(fleet_id)

    async def running_cycle() -> str | None:
        status: FleetStatus = await fleet.query("status", result_type=FleetStatus)
        return status.pairs[0].running

    cycle_id = await until(running_cycle, lambda c: c is not None, "a running cycle")
    cycle = rig.client.get_workflow_handle(str(cycle_id))

    async def cycle_orders() -> list[str]:
        try:
            status: CycleStatus = await cycle.query("status", result_type=CycleStatus)
        except RPCError as exc:  # the fleet names its cycle a moment before the child starts
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            return []
        return status.orders

    await until(cycle_orders, lambda orders: any("/maker-" in o for o in orders), "the maker quote")
    bid, _ = await best(rig.public)
    await rig.sim.admin.set_price(ETH, bid - 5)


async def test_a_fleet_that_ran_its_cycles_reports_completed_with_its_results_reason(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger
) -> None:
    async with fleet_rig(temporal_env, sim, pg_ledger, pairs=1) as rig:
        fleet = one_pair_fleet(rig, pause_between_s=0, max_cycles_per_pair=1)
        wid = await start_fleet(rig.client, fleet, task_queue=rig.queue)
        await fill_the_maker_quote(rig, wid)
        handle = rig.client.get_workflow_handle(wid, result_type=FleetResult)
        result = await asyncio.wait_for(handle.result(), timeout=90)
        report = await fleet_report(rig.client, wid)
    assert (report.execution, report.mode, report.cycles) == ("COMPLETED", "COMPLETED", 1)
    assert (report.reason, report.total_realized) == (result.reason, result.total_realized)
    assert report.closed_at is not None
    assert f"{wid}  COMPLETED (COMPLETED)  cycles 1" in text(report_table(report))


async def test_a_terminated_fleet_reports_terminated_with_the_termination_reason(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger
) -> None:
    async with fleet_rig(temporal_env, sim, pg_ledger, pairs=1) as rig:
        # Started paused (as after continue-as-new): it runs, but opens no cycle to leave behind.
        fleet = one_pair_fleet(rig, carry=FleetCarry(mode=FleetMode.PAUSED))
        wid = await start_fleet(rig.client, fleet, task_queue=rig.queue)
        running = await until(lambda: fleet_report(rig.client, wid), lambda r: r.mode == "PAUSED", "PAUSED")
        assert (running.execution, running.cycles, running.pairs[0][:2]) == ("RUNNING", 0, ["pair0", "-"])
        await rig.client.get_workflow_handle(wid).terminate(reason="operator pulled the plug")
        report = await fleet_report(rig.client, wid)
    assert (report.execution, report.mode) == ("TERMINATED", "TERMINATED")
    assert report.reason == "operator pulled the plug"
    assert "reason: operator pulled the plug" in text(report_table(report))


# -- how a fleet ends, with a stand-in registered under the fleet's name (no venue needed) -------


class Ending(Model):
    how: Literal["result", "fail", "wait"]
    reason: str = ""


@workflow.defn(name="HedgeFleetWorkflow")
class EndingFleet:
    """Ends as told: a FleetResult, a failure, or not at all (until cancelled)."""

    @workflow.run
    async def run(self, ending: Ending) -> FleetResult:
        if ending.how == "fail":
            raise ApplicationError(ending.reason, non_retryable=True)
        if ending.how == "wait":
            await workflow.wait_condition(lambda: False)
        return FleetResult(
            name="stand-in",
            mode=FleetMode.HALTED,
            cycles=3,
            total_realized=Decimal("-0.25"),
            failed_pairs=["pair1"],
            reason=ending.reason,
        )


@pytest.fixture
async def stand_in(temporal_env: WorkflowEnvironment) -> AsyncIterator[Callable[[Ending], Awaitable[str]]]:
    client, queue = temporal_env.client, f"fleet-status-{uuid.uuid4()}"

    async def start(ending: Ending) -> str:
        wid = names.hedge_fleet_id(f"st{uuid.uuid4().hex[:8]}")
        attributes = TypedSearchAttributes([SearchAttributePair(names.KIND, names.Kind.HEDGE_FLEET.value)])
        await client.start_workflow(
            "HedgeFleetWorkflow", ending, id=wid, task_queue=queue, search_attributes=attributes
        )
        return wid

    worker = Worker(
        client, task_queue=queue, workflows=[EndingFleet], workflow_runner=UnsandboxedWorkflowRunner()
    )
    async with worker:
        yield start


async def ended(client: Client, wid: str) -> FleetReport:
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(client.get_workflow_handle(wid).result(), timeout=30)
    return await fleet_report(client, wid)


async def test_a_fleet_result_gives_the_ended_fleets_mode_reason_and_failed_pairs(
    temporal_env: WorkflowEnvironment, stand_in: Callable[[Ending], Awaitable[str]]
) -> None:
    wid = await stand_in(Ending(how="result", reason="killed by alice"))
    await asyncio.wait_for(temporal_env.client.get_workflow_handle(wid).result(), timeout=30)
    report = await fleet_report(temporal_env.client, wid)
    assert (report.execution, report.mode, report.reason) == ("COMPLETED", "HALTED", "killed by alice")
    assert (report.cycles, report.total_realized, report.failed_pairs) == (3, Decimal("-0.25"), ["pair1"])
    shown = [line.strip() for line in text(report_table(report)).splitlines()]
    assert shown[:3] == [
        f"{wid}  HALTED (COMPLETED)  cycles 3  total PnL -0.2500",
        "reason: killed by alice",
        "failed pairs: pair1",
    ]
    assert shown[3].startswith("closed: ")


async def test_a_failed_fleet_reports_failed_with_the_failure_message(
    temporal_env: WorkflowEnvironment, stand_in: Callable[[Ending], Awaitable[str]]
) -> None:
    wid = await stand_in(Ending(how="fail", reason="pair0: cycle FAILED with 0.05 ETH open"))
    report = await ended(temporal_env.client, wid)
    assert (report.execution, report.mode) == ("FAILED", "FAILED")
    assert report.reason == "pair0: cycle FAILED with 0.05 ETH open"


async def test_a_cancelled_fleet_reports_cancelled(
    temporal_env: WorkflowEnvironment, stand_in: Callable[[Ending], Awaitable[str]]
) -> None:
    wid = await stand_in(Ending(how="wait"))
    await until(lambda: fleet_report(temporal_env.client, wid), lambda r: r.execution == "RUNNING", "RUNNING")
    await temporal_env.client.get_workflow_handle(wid).cancel()
    report = await ended(temporal_env.client, wid)
    assert (report.execution, report.mode) == ("CANCELED", "CANCELLED")


async def test_the_listing_has_running_fleets_and_those_ended_within_24_hours(
    temporal_env: WorkflowEnvironment, stand_in: Callable[[Ending], Awaitable[str]]
) -> None:
    client = temporal_env.client
    running = await stand_in(Ending(how="wait"))
    done = await stand_in(Ending(how="result", reason="every pair ran its cycles"))
    await asyncio.wait_for(client.get_workflow_handle(done).result(), timeout=30)

    async def listed(now: datetime) -> dict[str, str]:
        return {r.workflow_id: r.execution for r in await fleet_reports(client, now)}

    now = await until(lambda: listed(datetime.now(UTC)), lambda ids: done in ids and running in ids, "both")
    assert (now[running], now[done]) == ("RUNNING", "COMPLETED")
    later = await listed(datetime.now(UTC) + timedelta(hours=25))
    assert running in later and done not in later
    await client.get_workflow_handle(running).terminate(reason="test over")


async def test_status_of_a_fleet_that_never_ran_is_an_error_naming_it(
    temporal_env: WorkflowEnvironment,
) -> None:
    with pytest.raises(PerpflowError, match="no fleet fleet-nosuch"):
        await fleet_report(temporal_env.client, "fleet-nosuch")
