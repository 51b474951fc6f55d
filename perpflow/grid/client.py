"""A grid session seen from a Temporal client: start one, steer it, report on it.

The ``perpflow grid`` commands and the dev stack's demo grid both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from perpflow import names
from perpflow.errors import PerpflowError
from perpflow.grid.config import Adjust, GridConfig
from perpflow.grid.models import GridState, GridStatus
from perpflow.temporal_client import describe_run, start_job

WORKFLOW_TYPE = "GridSessionWorkflow"
# The orchestrator answers a status query in milliseconds; no answer in this time means no worker.
QUERY_TIMEOUT = timedelta(seconds=5)
KIND_QUERY = f'{names.KIND.name}="{names.Kind.GRID_SESSION}" AND ExecutionStatus != "ContinuedAsNew"'


async def start_session(
    client: Client, config: GridConfig, *, reuse: bool = False, task_queue: str = names.ORCHESTRATOR_QUEUE
) -> str:
    """Start ``grid-{name}``; a session of that name already running is an error (``reuse``: it is it)."""
    wid = names.grid_session_id(config.name)
    listed_as = [
        SearchAttributePair(names.KIND, names.Kind.GRID_SESSION.value),
        SearchAttributePair(names.VENUE, config.venue.value),
        SearchAttributePair(names.MARKET, config.market),
        SearchAttributePair(names.ACCOUNT, str(config.account.account_index)),
    ]
    try:
        await start_job(
            client,
            WORKFLOW_TYPE,
            config,
            workflow_id=wid,
            listed_as=listed_as,
            task_queue=task_queue,
            reuse=reuse,
        )
    except WorkflowAlreadyStartedError:
        raise PerpflowError(
            f"grid session {wid} is already running (stop it first, or pick another name)"
        ) from None
    return wid


async def send(client: Client, name: str, signal: str, payload: dict[str, Any]) -> str:
    """Signal a running session (``pause``, ``resume``, ``stop``, ``flatten``); its id."""
    wid = names.grid_session_id(name)
    try:
        await client.get_workflow_handle(wid).signal(signal, payload)
    except RPCError as exc:
        raise _not_running(exc, wid) from None
    return wid


async def adjust(client: Client, name: str, change: Adjust) -> GridConfig:
    """The ``adjust`` update: the session's config after it; its validator refuses a change that
    does not fit."""
    wid = names.grid_session_id(name)
    try:
        config: GridConfig = await client.get_workflow_handle(wid).execute_update(
            "adjust", change, result_type=GridConfig
        )
    except RPCError as exc:
        raise _not_running(exc, wid) from None
    except WorkflowUpdateFailedError as exc:
        raise PerpflowError(f"{wid} refused the adjust: {_one_line(str(exc.cause))}") from None
    return config


def _one_line(message: str) -> str:
    """A validation failure's lines joined, without pydantic's input echo and links."""
    lines = (re.sub(r"\s*\[type=.*", "", line.strip()) for line in message.splitlines())
    return ": ".join(line for line in lines if line and not line.startswith("For further information"))


def _not_running(exc: RPCError, wid: str) -> Exception:
    if exc.status is RPCStatusCode.NOT_FOUND:
        return PerpflowError(f"no running grid session {wid}")
    return exc


@dataclass
class GridReport:
    """One session run as ``grid status`` shows it: Temporal's status beside the session's own."""

    workflow_id: str
    execution: str  # Temporal's: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, ...
    status: GridStatus | None = None  # None: the query went unanswered
    reason: str = ""


async def session_report(client: Client, workflow_id: str, run_id: str | None = None) -> GridReport:
    """The latest run of ``workflow_id`` (or that run): queried while it runs, its result once ended."""
    desc = await describe_run(client, workflow_id, run_id, missing=f"no grid session {workflow_id}")
    # Pinned to the described run: a session started again meanwhile is another run.
    handle = client.get_workflow_handle(workflow_id, run_id=desc.run_id, result_type=GridStatus)
    report = GridReport(workflow_id, desc.status.name if desc.status else "UNKNOWN")
    if desc.status is WorkflowExecutionStatus.RUNNING:
        try:
            report.status = await handle.query("status", result_type=GridStatus, rpc_timeout=QUERY_TIMEOUT)
        except WorkflowQueryFailedError as exc:  # the session answered: it cannot say yet
            report.reason = str(exc)
        except RPCError as exc:
            report.reason = f"status query unanswered ({exc}); is the orchestrator running?"
        return report
    try:
        report.status = await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:  # cancelled, terminated, failed: no result
        report.reason = str(exc.cause)
        report.status = await _last_status(handle)
    except WorkflowContinuedAsNewError as exc:
        report.reason = f"continued as run {exc.new_execution_run_id}"
    return report


async def _last_status(handle: WorkflowHandle[Any, GridStatus]) -> GridStatus | None:
    """What an ended run's book said last (a closed run answers a query from its history, when
    an orchestrator is up): a cancelled session's stop and position, a terminated one's orders."""
    try:
        status: GridStatus = await handle.query("status", result_type=GridStatus, rpc_timeout=QUERY_TIMEOUT)
    except (WorkflowQueryFailedError, RPCError):
        return None
    return status


async def running_reports(client: Client) -> list[GridReport]:
    query = f'{KIND_QUERY} AND ExecutionStatus="Running"'
    return [await session_report(client, wf.id, wf.run_id) async for wf in client.list_workflows(query)]


async def session_rows(client: Client, limit: int = 50) -> list[list[str]]:
    """Sessions newest first, from Temporal's visibility: id, status, GridState, venue, market,
    account, start."""
    rows = []
    async for wf in client.list_workflows(KIND_QUERY, limit=limit):
        attrs = wf.typed_search_attributes
        rows.append([
            wf.id,
            wf.status.name if wf.status else "?",
            grid_state_shown(wf.status, attrs.get(names.GRID_STATE)),
            attrs.get(names.VENUE) or "",
            attrs.get(names.MARKET) or "",
            attrs.get(names.ACCOUNT) or "",
            f"{wf.start_time.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        ])  # fmt: skip
    return rows


def grid_state_shown(status: WorkflowExecutionStatus | None, state: str | None) -> str:
    """The session's GridState as listed: a run that ended without winding down (terminated,
    timed out, failed) keeps the state it had then, which is not what it is now."""
    if state is None:
        return "-"
    ended = status not in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)
    return f"{state} when it ended" if ended and not GridState(state).final else state


def report_view(report: GridReport, *, active_only: bool = False) -> Group:
    """The session's state and PnL over its level table, top price first (``active_only``: the
    levels with an order on the venue or a hold)."""
    lines = [Text(f"{report.workflow_id}  ({report.execution})", style="bold")]
    if report.reason:
        lines.append(Text(f"  {report.reason}"))
    st = report.status
    if st is None:
        return Group(*lines)
    stopped = f"  stop {st.stop_reason}" if st.stop_reason else ""
    lines[0].append(
        f"  {st.state}{'  FROZEN (venue feed down)' if st.frozen else ''}  v{st.version}{stopped}"
    )
    pnl = st.pnl
    lines += [
        Text(f"  mark {st.mark if st.mark is not None else '-'}  position {st.position}  fills {st.fills}"),
        Text(
            f"  PnL net {st.net_pnl:.4f} = realised {pnl.realized:.4f} ({pnl.round_trips} round trips)"
            f" - fees {pnl.fees:.4f} - funding {pnl.funding:.4f} + unrealised {st.unrealized:.4f}"
        ),
    ]
    if st.lost_orders:
        lines.append(
            Text(f"  {st.lost_orders} orders the venue stopped showing, counted cancelled", style="yellow")
        )
    lines += [
        Text(f"  rejected {c.name} at {c.at:%H:%M:%S}: {c.error}  payload {c.payload}", style="yellow")
        for c in st.rejected_commands[-3:]
    ]
    places = max((_places(row.price) for row in st.levels), default=0)
    table = Table()
    for col in ("level", "price", "side", "state", "order", "size", "filled", "hold"):
        table.add_column(col, justify="right" if col not in ("side", "state") else "left")
    rows = [r for r in st.levels if r.state.live or r.hold] if active_only else st.levels
    for row in sorted(rows, key=lambda r: r.price, reverse=True):
        table.add_row(
            str(row.index), f"{row.price:.{places}f}", row.side or "-", row.state,
            str(row.client_order_index) if row.client_order_index is not None else "-",
            str(row.order_size), str(row.filled), str(row.hold),
        )  # fmt: skip
    return Group(*lines, table)


def _places(price: Decimal) -> int:
    exponent = price.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


async def session_view(client: Client, workflow_id: str, *, active_only: bool = False) -> Group:
    return report_view(await session_report(client, workflow_id), active_only=active_only)
