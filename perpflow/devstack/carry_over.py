"""Jobs carried over from an earlier dev stack.

``make run`` on a state dir kept from an earlier run finds that stack's jobs still running in
Temporal (the demos, and any fleet, cycle or grid an operator started), but not their sim: each
stack starts an empty one. Left running, a job trades on a book it never had: its closes are
refused (reduce-only on a flat account), it ends FAILED with critical alerts, and the reconciler
sets what it says it owns against the empty venue as orphans. The stack's first step after its
migrations, before any worker polls (so no worker races the end), ends such a job and every child
it runs, with nothing to clean up (what they held went with the sim); the demos then start theirs
afresh. Payouts are left alone: the chain is kept across stacks.
"""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from perpflow import names

REASON = "carried over from an earlier dev stack, whose sim is gone"
# The jobs that trade on the sim, fleets first: their cycles are ended with them.
ON_THE_SIM = (names.Kind.HEDGE_FLEET, names.Kind.HEDGE_CYCLE, names.Kind.GRID_SESSION)


async def running_on_the_sim(client: Client, stack_started: datetime) -> list[str]:
    """The ids of the jobs on the sim that were running before ``stack_started``, fleets first."""
    ids: list[str] = []
    for kind in ON_THE_SIM:
        query = (
            f"{names.KIND.name} = '{kind}' AND ExecutionStatus = 'Running'"
            f" AND StartTime < '{stack_started.isoformat()}'"
        )
        ids += [w.id async for w in client.list_workflows(query)]
    return ids


async def end_carried_over(client: Client, workflow_id: str, stack_started: datetime) -> list[str]:
    """End ``workflow_id`` if it has run since before ``stack_started``, then each child it has
    running (a fleet's hedge cycles); the ids ended, the job first.

    The children are terminated, not left to the parent close policy: a fleet's cycles are
    REQUEST_CANCEL children, and a cancelled cycle closes its legs on the venue, where the empty
    sim refuses the closes (FAILED, critical alerts). The parent goes first: a child ended first
    is reported to its parent, whose next task (on a running orchestrator, at once) halts the pair
    with a critical alert; ended after it, a child has at most the policy's cancel request, whose
    closes take its worker several round trips, while its terminate follows at once."""
    described = await _describe(client, workflow_id)
    if described is None or described.status is not WorkflowExecutionStatus.RUNNING:
        return []
    if described.start_time >= stack_started:  # started by this stack: kept
        return []
    if not await _terminate(client, workflow_id, described.run_id):  # not a run started since
        return []
    # Its children as the ended run lists them: a cycle started since the first look is there too.
    closed = await _describe(client, workflow_id, described.run_id) or described
    children = [c.workflow_id for c in closed.raw_description.pending_children]
    ended = [workflow_id]
    for child in children:
        if await _terminate(client, child):
            ended.append(child)
    return ended


async def _describe(
    client: Client, workflow_id: str, run_id: str | None = None
) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _terminate(client: Client, workflow_id: str, run_id: str | None = None) -> bool:
    """False when it had ended meanwhile (Temporal answers NOT_FOUND: nothing runs to end)."""
    try:
        await client.get_workflow_handle(workflow_id, run_id=run_id).terminate(reason=REASON)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
