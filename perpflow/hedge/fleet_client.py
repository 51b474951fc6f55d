"""A hedge fleet seen from a Temporal client: start one, report on its runs.

The ``perpflow hedge`` commands and the dev stack's demo fleet both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import SearchAttributePair
from temporalio.exceptions import FailureError
from temporalio.service import RPCError

from perpflow import names
from perpflow.hedge.fleet import FleetInput, FleetResult, FleetStatus, PairStatus
from perpflow.hedge.models import CycleStatus
from perpflow.temporal_client import describe_run, start_job


async def start_fleet(
    client: Client, inp: FleetInput, *, reuse: bool = False, task_queue: str = names.ORCHESTRATOR_QUEUE
) -> str:
    wid = names.hedge_fleet_id(inp.name)
    listed_as = [
        SearchAttributePair(names.KIND, names.Kind.HEDGE_FLEET.value),
        SearchAttributePair(names.VENUE, inp.venue),
        SearchAttributePair(names.MARKET, inp.market),
    ]
    await start_job(
        client,
        "HedgeFleetWorkflow",
        inp,
        workflow_id=wid,
        listed_as=listed_as,
        task_queue=task_queue,
        reuse=reuse,
    )
    return wid


# The fleets `hedge status` lists beside the running ones: those that ended this recently.
RECENT = timedelta(hours=24)
# The orchestrator answers a status query in milliseconds; no answer in this time means no worker.
QUERY_TIMEOUT = timedelta(seconds=5)
# How a fleet ended when it returned no FleetResult (and so no mode of its own).
ENDED_WITHOUT_RESULT = {
    WorkflowExecutionStatus.FAILED: "FAILED",
    WorkflowExecutionStatus.CANCELED: "CANCELLED",
    WorkflowExecutionStatus.TERMINATED: "TERMINATED",
    WorkflowExecutionStatus.TIMED_OUT: "TIMED_OUT",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
}


@dataclass
class FleetReport:
    """One fleet run as `hedge status` shows it: Temporal's execution status beside the fleet's mode."""

    workflow_id: str
    run_id: str
    execution: str  # Temporal's: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT
    mode: str  # the fleet's FleetMode, or how it ended without one (ENDED_WITHOUT_RESULT)
    reason: str = ""
    cycles: int | None = None
    day_realized: Decimal | None = None
    total_realized: Decimal | None = None
    failed_pairs: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    pairs: list[list[str]] = field(default_factory=list)  # a running fleet's rows, one per pair


async def fleet_report(client: Client, fleet_id: str, run_id: str | None = None) -> FleetReport:
    """The latest run of ``fleet_id`` (or that run): queried while it runs, its end once it ended."""
    desc = await describe_run(client, fleet_id, run_id, missing=f"no fleet {fleet_id}")
    # Pinned to the described run: a fleet started again meanwhile is another run.
    handle = client.get_workflow_handle(fleet_id, run_id=desc.run_id, result_type=FleetResult)
    execution = desc.status.name if desc.status else "UNKNOWN"
    report = FleetReport(fleet_id, desc.run_id, execution, mode="?", closed_at=desc.close_time)
    if desc.status is WorkflowExecutionStatus.RUNNING:
        await _fill_running(client, handle, report)
    else:
        ended_as = ENDED_WITHOUT_RESULT.get(desc.status, execution) if desc.status else execution
        await _fill_ended(handle, report, ended_as)
    return report


async def _fill_running(
    client: Client, handle: WorkflowHandle[Any, FleetResult], report: FleetReport
) -> None:
    try:
        status = await handle.query("status", result_type=FleetStatus, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError) as exc:
        report.reason = f"status query unanswered ({_message(exc)}); is the orchestrator running?"
        return
    report.mode, report.cycles = status.mode, status.cycles
    report.day_realized, report.total_realized = status.day_realized, status.total_realized
    report.pairs = [await _pair_row(client, pair) for pair in status.pairs]


async def _fill_ended(handle: WorkflowHandle[Any, FleetResult], report: FleetReport, ended_as: str) -> None:
    """The FleetResult's mode and reason; else ``ended_as`` and why (failure, termination reason)."""
    try:
        result = await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        report.mode, report.reason = ended_as, _message(exc.cause)
        return
    except WorkflowContinuedAsNewError as exc:
        report.mode, report.reason = report.execution, f"continued as run {exc.new_execution_run_id}"
        return
    report.mode, report.reason, report.cycles = result.mode, result.reason, result.cycles
    report.total_realized, report.failed_pairs = result.total_realized, result.failed_pairs


async def _pair_row(client: Client, pair: PairStatus) -> list[str]:
    row = [pair.name, pair.running or "-", "-", "-", "-", "-", "-"]
    if pair.running:
        handle = client.get_workflow_handle(pair.running)
        try:
            cycle = await handle.query("status", result_type=CycleStatus, rpc_timeout=QUERY_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError):
            row[2] = "?"  # ended between the two queries, or no worker answered
        else:
            positions = [cycle.maker.position, cycle.taker.position, cycle.maker_filled, cycle.hedged]
            row[2:] = [cycle.state, *map(str, positions)]
    last = pair.last
    return [
        *row,
        f"{last.state} {last.reason}"[:60] if last else "-",
        f"{last.realized_pnl:.4f}" if last else "-",
    ]


def _message(exc: BaseException | None) -> str:
    """A failure and its causes, outermost first: ``Child Workflow execution failed: pair0 ...``."""
    parts = []
    while exc is not None:
        parts.append(exc.message if isinstance(exc, FailureError | RPCError) else str(exc))
        exc = exc.__cause__
    return ": ".join(p for p in parts if p)


def report_table(report: FleetReport) -> Table:
    """A running fleet's pairs under its title; an ended fleet's reason, failed pairs and end."""
    money = [
        f"{label} {value:.4f}"
        for label, value in (("day PnL", report.day_realized), ("total PnL", report.total_realized))
        if value is not None
    ]
    cycles = [] if report.cycles is None else [f"cycles {report.cycles}"]
    title = "  ".join([report.workflow_id, f"{report.mode} ({report.execution})", *cycles, *money])
    notes = [("reason", report.reason)] if report.reason else []
    if report.failed_pairs:
        notes.append(("failed pairs", ", ".join(report.failed_pairs)))
    if report.closed_at is not None:
        notes.append(("closed", f"{report.closed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"))
    if not report.pairs:
        table = Table.grid(padding=(0, 2))
        table.add_row(Text(title, style="bold"))
        for label, value in notes:
            table.add_row(Text(f"  {label}: {value}"))
        return table
    table = Table(
        title=Text(title), caption=Text("; ".join(f"{k}: {v}" for k, v in notes)) if notes else None
    )
    for col in ("pair", "cycle", "state", "maker", "taker", "filled", "hedged", "last result", "last PnL"):
        table.add_column(col, overflow="fold")
    for row in report.pairs:
        table.add_row(*row)
    return table


async def fleet_table(client: Client, fleet_id: str) -> Table:
    return report_table(await fleet_report(client, fleet_id))


async def fleet_reports(client: Client, now: datetime) -> list[FleetReport]:
    """Every fleet run that is running or closed within RECENT of ``now``."""
    since = (now - RECENT).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f'{names.KIND.name}="{names.Kind.HEDGE_FLEET}" AND ExecutionStatus != "ContinuedAsNew" '
        f'AND (ExecutionStatus="Running" OR CloseTime > "{since}")'
    )
    return [await fleet_report(client, wf.id, wf.run_id) async for wf in client.list_workflows(query)]
