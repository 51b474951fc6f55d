"""Health probes: named checks, each timed and its outcome reported as data, never raised.

A probe's check returns a one-line detail when healthy and raises naming the problem otherwise;
``NotConfigured`` means there is nothing of that kind to check here (reported as skipped, not as
a problem). The orchestrator serves some of them through ``HealthCheckWorkflow``
(``run_probe``); ``perpflow doctor`` runs all of them side by side (``examine``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from perpflow.errors import PerpflowError
from perpflow.models import Component, ComponentHealth, Model

if TYPE_CHECKING:
    from temporalio.client import Client

    from perpflow.chain.client import ChainClient
    from perpflow.db.ledger import Ledger
    from perpflow.venues.base import Venue

WEI_PER_ETH = Decimal(10**18)


class NotConfigured(PerpflowError):
    """Nothing of this kind is configured where the probe runs: skipped, not a problem."""


class Unhealthy(PerpflowError):
    """A probe's finding: the text names what is wrong."""


@dataclass(frozen=True)
class Probe:
    """A named endpoint check; it returns a short detail text or raises."""

    name: str
    check: Callable[[], Awaitable[str]]


class Status(StrEnum):
    OK = "ok"
    PROBLEM = "problem"
    SKIPPED = "skipped"


class Finding(Model):
    part: str  # temporal, pollers, workflows, ledger, venue, market-data, chain, wallet, pool, ...
    name: str
    status: Status
    detail: str
    ms: float = 0


class Diagnosis(Model):
    ok: bool
    checked_at: datetime
    findings: list[Finding]

    @classmethod
    def of(cls, findings: list[Finding]) -> Diagnosis:
        ok = all(f.status is not Status.PROBLEM for f in findings)
        return cls(ok=ok, checked_at=datetime.now(UTC), findings=findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status is Status.PROBLEM]


async def _timed(probe: Probe, timeout_s: float) -> tuple[Status, str, float]:
    started = time.perf_counter()
    try:
        detail, status = await asyncio.wait_for(probe.check(), timeout=timeout_s), Status.OK
    except NotConfigured as exc:
        detail, status = str(exc), Status.SKIPPED
    except TimeoutError:
        detail, status = f"no answer within {timeout_s:g} s", Status.PROBLEM
    except Exception as exc:
        text = str(exc).strip().splitlines()
        shown = text[0] if text else ""
        known = isinstance(exc, PerpflowError)
        detail = shown if known and shown else f"{type(exc).__name__}: {shown}".rstrip(": ")
        status = Status.PROBLEM
    return status, detail, (time.perf_counter() - started) * 1000


async def examine(part: str, probe: Probe, timeout_s: float) -> Finding:
    status, detail, ms = await _timed(probe, timeout_s)
    return Finding(part=part, name=probe.name, status=status, detail=detail, ms=round(ms, 1))


async def run_probe(component: Component, probe: Probe, timeout_s: float) -> ComponentHealth:
    status, detail, ms = await _timed(probe, timeout_s)
    return ComponentHealth(
        component=component,
        name=probe.name,
        healthy=status is not Status.PROBLEM,
        detail=detail,
        latency_ms=ms,
    )


# -- the ledger, the venue, market data ------------------------------------------------------------


def venue_probe(venue: Venue) -> Probe:
    async def check() -> str:
        markets = await venue.markets()
        return f"{len(markets)} markets at {venue.url}"

    return Probe(name=venue.name, check=check)


def ledger_probe(ledger: Ledger) -> Probe:
    async def check() -> str:
        latency = await ledger.ping()
        revision = await ledger.schema_revision()
        if revision is None:
            raise Unhealthy("schema not migrated: run `perpflow db upgrade`")
        return f"{ledger.backend} schema {revision}, {latency:.1f} ms"

    return Probe(name=ledger.backend, check=check)


def orphans_probe(ledger: Ledger) -> Probe:
    """The exposure reconciler's open orphans (its ledger): a problem while there is one."""
    from perpflow.db.reconcile import Orphans

    orphans = Orphans(ledger)

    async def check() -> str:
        found = await orphans.open()
        if found:
            named = "; ".join(f"{o.orphan.describe()} since {o.opened_at:%H:%M:%S}" for o in found[:5])
            more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
            raise Unhealthy(f"{len(found)} open orphan(s): {named}{more}")
        return "no open orphans"

    return Probe(name="orphans", check=check)


def market_data_probe(state_dir: Path, *, required: bool = True) -> Probe:
    """The market-data worker's stream states from its status file in the shared state dir."""
    from perpflow.marketdata.status import read_status, status_path, verdict

    path = status_path(state_dir)

    async def check() -> str:
        if not required and not path.exists():
            raise NotConfigured(f"no status file at {path} (no venue configured here)")
        return verdict(read_status(path))

    return Probe(name="market-data", check=check)


# -- the chain, the wallet and the pool ------------------------------------------------------------


def head_probe(chain: ChainClient, chain_id: int, max_age_s: float) -> Probe:
    """The node answers for the configured chain and its newest block is recent."""

    async def check() -> str:
        found = await chain.chain_id()
        if found != chain_id:
            raise Unhealthy(f"node at {chain.rpc_url} is chain {found}, not {chain_id}")
        block = await chain.w3.eth.get_block("latest")
        age = time.time() - int(block["timestamp"])
        text = f"block {block['number']}, {age:.0f} s old"
        if age > max_age_s:
            raise Unhealthy(f"head {text} (over {max_age_s:g} s): the node is behind or the chain halted")
        return f"chain {chain_id} {text}"

    return Probe(name=f"rpc {chain.rpc_url}", check=check)


def wallet_probe(chain: ChainClient, address: str, payouts: int, gas_per_payout: int) -> Probe:
    """The hot wallet holds the gas of ``payouts`` payouts at the current fees."""

    async def check() -> str:
        balance, fees = await asyncio.gather(chain.balance(address), chain.suggest_fees())
        per_payout = gas_per_payout * fees.max_fee_per_gas
        covers = balance // per_payout if per_payout else payouts
        text = f"{_eth(balance)} ETH: gas for {covers} payout(s) at {fees.max_fee_per_gas / 1e9:.3g} gwei"
        if covers < payouts:
            raise Unhealthy(f"{address} holds {text}, fewer than {payouts}: top it up")
        return text

    return Probe(name=address, check=check)


def pool_probe(chain: ChainClient, largest_payout_eth: Decimal) -> Probe:
    """The guard's pool can pay at least the largest payout the rules allow."""

    async def check() -> str:
        balance = await chain.pool_balance()
        pays = int(Decimal(balance) / WEI_PER_ETH // largest_payout_eth)
        text = f"{_eth(balance)} ETH: {pays} payout(s) of {largest_payout_eth} ETH"
        if pays < 1:
            raise Unhealthy(f"pool {text}: payouts wait until it is funded")
        return text

    return Probe(name=chain.guard_address, check=check)


def _eth(wei: int) -> str:
    return f"{(Decimal(wei) / WEI_PER_ETH).quantize(Decimal('0.0001')).normalize():f}"


# -- Temporal ------------------------------------------------------------------------------------


def temporal_probe(client: Client) -> Probe:
    """The server answers and knows the namespace."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest

    async def check() -> str:
        service = client.workflow_service
        info = await service.get_system_info(GetSystemInfoRequest())
        await service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
        return f"server {info.server_version}, namespace {client.namespace}"

    return Probe(name=client.service_client.config.target_host, check=check)


def poller_probe(client: Client, queue: str, served_by: str, *, activities: bool, max_age_s: float) -> Probe:
    """A worker polls ``queue``: the server saw a poll within ``max_age_s``. An idle worker polls
    again when its long poll expires (a minute by default, ``matching.longPollExpirationInterval``),
    and the server forgets a stopped one only minutes later, so the age is what tells."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    kind = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY if activities else TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW

    async def check() -> str:
        request = DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind
        )
        pollers = (await client.workflow_service.describe_task_queue(request)).pollers
        now = datetime.now(UTC)
        ages = sorted((now - p.last_access_time.ToDatetime(UTC)).total_seconds() for p in pollers)
        live = [a for a in ages if a <= max_age_s]
        if not live:
            last = f"; last poll {ages[0]:.0f} s ago" if ages else ""
            raise Unhealthy(f"no poller: {served_by} is not running{last}")
        return f"{len(live)} poller(s), last poll {max(live[0], 0):.0f} s ago"

    return Probe(name=queue, check=check)


# Diagnostic runs: doctor's health checks (``names.health_check_id``) and look-only reconcile runs
# (``names.reconcile_dry_run_id``, also `perpflow accounts`). One that failed is reported by the
# probe that started it; counted here it would keep doctor red for ``since`` after the fault.
DIAGNOSTIC_RUN = re.compile(r"^(health-\d|reconcile-.+-look-\d)")


def failed_workflows_probe(client: Client, since: timedelta, *, scan: int = 500, show: int = 5) -> Probe:
    """Workflows that failed or timed out within ``since`` (visibility), diagnostic runs aside."""

    async def check() -> str:
        start = (datetime.now(UTC) - since).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = f'(ExecutionStatus="Failed" OR ExecutionStatus="TimedOut") AND CloseTime > "{start}"'
        failed = [w async for w in client.list_workflows(query, limit=scan) if not DIAGNOSTIC_RUN.match(w.id)]
        if failed:
            shown = [
                f"{w.id} ({w.workflow_type}, {w.status.name.lower() if w.status else '?'})" for w in failed
            ]
            more = f" and {len(failed) - show} more" if len(failed) > show else ""
            count = f"{len(failed)}{'+' if len(failed) >= scan else ''}"
            raise Unhealthy(f"{count} failed in the last {_span(since)}: {', '.join(shown[:show])}{more}")
        return f"none failed in the last {_span(since)}"

    return Probe(name="failed", check=check)


def stuck_workflows_probe(
    client: Client, attempts: int, waiting_s: float, *, scan: int = 200, show: int = 5
) -> Probe:
    """Running workflows that make no progress: their workflow task keeps failing (the server's
    ``TemporalReportedProblems``), an activity is on its ``attempts``-th try, or one has waited
    ``waiting_s`` for a worker to take it (a queue nobody polls, whichever it is)."""

    async def check() -> str:
        reported = 'ExecutionStatus="Running" AND TemporalReportedProblems IS NOT NULL'
        stuck = [f"{w.id} (workflow task failing)" async for w in client.list_workflows(reported, limit=show)]
        running = [w.id async for w in client.list_workflows('ExecutionStatus="Running"', limit=scan)]
        pending = await asyncio.gather(*(_pending(client, wid, attempts, waiting_s) for wid in running))
        stuck += [p for p in pending if p]
        if stuck:
            more = f" and {len(stuck) - show} more" if len(stuck) > show else ""
            raise Unhealthy(f"{len(stuck)} stuck: {'; '.join(stuck[:show])}{more}")
        return f"none of {len(running)} running is stuck"

    return Probe(name="stuck", check=check)


async def _pending(client: Client, workflow_id: str, attempts: int, waiting_s: float) -> str:
    """Why the workflow's pending activities say it is stuck, or ""."""
    from temporalio.api.enums.v1 import PendingActivityState, PendingWorkflowTaskState

    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except Exception:  # ended or gone since it was listed: not stuck
        return ""
    now = datetime.now(UTC)
    raw = desc.raw_description
    task = raw.pending_workflow_task
    if (
        raw.HasField("pending_workflow_task")
        and task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
    ):
        waited = (now - task.original_scheduled_time.ToDatetime(UTC)).total_seconds()
        if waited > waiting_s:
            queue = raw.execution_config.task_queue.name or desc.task_queue
            return f"{workflow_id} (workflow task waiting {waited:.0f} s for a worker on {queue})"
    for act in raw.pending_activities:
        name = act.activity_type.name
        if act.attempt >= attempts:
            lines = act.last_failure.message.splitlines()
            why = f": {lines[0][:120]}" if lines else ""
            return f"{workflow_id} ({name} attempt {act.attempt}{why})"
        scheduled = act.scheduled_time.ToDatetime(UTC) if act.HasField("scheduled_time") else now
        waited = (now - scheduled).total_seconds()
        if act.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and waited > waiting_s:
            queue = act.activity_options.task_queue.name or "its queue"
            return f"{workflow_id} ({name} waiting {waited:.0f} s for a worker on {queue})"
    return ""


def _span(since: timedelta) -> str:
    seconds = since.total_seconds()
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"
