"""Who owns what on an account: the ledger names each order's workflow, Temporal says whether that
workflow still runs, and each live one answers the ``exposure`` query with what it holds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from perpflow.db.ledger import Ledger
from perpflow.db.reconcile import OrderOwnership
from perpflow.exposure import EXPOSURE_QUERY, Exposure
from perpflow.reconcile.models import LiveOwner, OrderOwner, Owners, OwnersQuery, OwnerStatus

# How long an order row not yet seen settled defers the account's position judgement. A live
# owner's send may be retrying (a signer down): its fill may be on the venue and not in its state
# yet. An ended owner sends nothing more: its last attempt ends within the ORDER preset's 10 s and
# the venue shows the order seconds later. An older row must not defer judgement forever.
IN_FLIGHT_LIVE = timedelta(minutes=2)
IN_FLIGHT_ENDED = timedelta(seconds=30)
# An intent never sent (claimed, then unsignable, risk-denied or refused outright) is on no venue:
# it counts only while the attempt that claimed or released it may still sign and send it. A place
# attempt lasts the ORDER preset's 10 s (a grid's batch 10 s + 0.1 s an order: 30 s for 200); 60 s
# covers that with room for the signer's and the reconciler's clocks to differ. A later retry
# writes ``submitting`` before it sends, so its order counts again from then.
IN_FLIGHT_UNSENT = timedelta(seconds=60)
QUERY_TIMEOUT = timedelta(seconds=5)
_PARALLEL = 16  # describe / query calls at once per account

_STATUSES = {
    WorkflowExecutionStatus.RUNNING: OwnerStatus.RUNNING,
    WorkflowExecutionStatus.COMPLETED: OwnerStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED: OwnerStatus.FAILED,
    WorkflowExecutionStatus.CANCELED: OwnerStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED: OwnerStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT: OwnerStatus.TIMED_OUT,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: OwnerStatus.CONTINUED_AS_NEW,
}
_RUNNING = 'ExecutionStatus="Running"'


@dataclass(frozen=True)
class Run:
    status: OwnerStatus
    closed_at: datetime | None = None  # when Temporal closed it (a run still open: None)


async def run_of(client: Client, workflow_id: str) -> Run:
    """What Temporal says of the workflow's latest run (a chain of continue-as-new: the current one)."""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return Run(OwnerStatus.NOT_FOUND)
        return Run(OwnerStatus.UNREACHABLE)
    status = _STATUSES.get(desc.status, OwnerStatus.UNREACHABLE) if desc.status else OwnerStatus.UNREACHABLE
    return Run(status, desc.close_time)


class OwnerFinder:
    def __init__(self, client: Client, ledger: Ledger) -> None:
        self.client = client
        self.ownership = OrderOwnership(ledger)
        self._gate = asyncio.Semaphore(_PARALLEL)

    async def owners(self, q: OwnersQuery) -> Owners:
        by_coi = await self.ownership.owners_of(q.venue, q.account_index, q.client_order_indexes)
        candidates = await self.ownership.workflows_on(q.venue, q.account_index, await self._running())
        ids = sorted(set(by_coi.values()) | candidates)
        runs = await asyncio.gather(*(self.run(w) for w in ids))
        statuses = {w: r.status for w, r in zip(ids, runs, strict=True)}
        orders = [
            OrderOwner(
                client_order_index=coi,
                workflow_id=by_coi.get(coi),
                status=statuses[by_coi[coi]] if coi in by_coi else OwnerStatus.UNKNOWN_ORDER,
            )
            for coi in q.client_order_indexes
        ]
        live_ids = [w for w in sorted(candidates) if statuses[w] is OwnerStatus.RUNNING]
        now = datetime.now(UTC)
        in_flight = await self.ownership.in_flight(
            q.venue, q.account_index, live=set(live_ids), live_since=now - IN_FLIGHT_LIVE,
            ended_since=now - IN_FLIGHT_ENDED, unsent_since=now - IN_FLIGHT_UNSENT,
        )  # fmt: skip
        answers = await asyncio.gather(*(self._exposure(w) for w in live_ids))
        live = [owner for owner in answers if owner is not None]
        return Owners(orders=orders, live=live, in_flight=in_flight)

    async def _running(self) -> set[str]:
        """Every running workflow's id (visibility; a lag here is caught by the second look)."""
        return {wf.id async for wf in self.client.list_workflows(_RUNNING)}

    async def run(self, workflow_id: str) -> Run:
        """``run_of``, a few at a time (the finder's describes and queries share one gate)."""
        async with self._gate:
            return await run_of(self.client, workflow_id)

    async def _exposure(self, workflow_id: str) -> LiveOwner | None:
        """What a live owner says it holds; None when it closed meanwhile (it owns nothing now)."""
        handle = self.client.get_workflow_handle(workflow_id)
        async with self._gate:
            try:
                exposure: Exposure = await handle.query(
                    EXPOSURE_QUERY,
                    result_type=Exposure,
                    reject_condition=QueryRejectCondition.NOT_OPEN,
                    rpc_timeout=QUERY_TIMEOUT,
                )
            except WorkflowQueryRejectedError:
                return None
            except (WorkflowQueryFailedError, RPCError) as exc:
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return LiveOwner(workflow_id=workflow_id, exposure=None, error=error[:300])
        return LiveOwner(workflow_id=workflow_id, exposure=exposure)
