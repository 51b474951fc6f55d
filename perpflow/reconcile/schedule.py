"""The reconciler's Temporal Schedules: one per venue, created or updated (idempotent).

One Schedule per venue, not per account: every run reads the managed accounts from the ledger, so
an account added there is reconciled from the next period on with no Schedule to create, and one
run's history holds the whole venue's picture (``perpflow accounts`` shows it).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from perpflow import names
from perpflow.errors import PerpflowError
from perpflow.models import AccountRef
from perpflow.reconcile.models import Policy, ReconcileInput

WORKFLOW = "ReconcileWorkflow"
# A run that hangs past this is ended by Temporal, so the Schedule (overlap SKIP) starts the next.
MIN_RUN_TIMEOUT = timedelta(seconds=60)


def run_timeout(period_s: float) -> timedelta:
    return max(MIN_RUN_TIMEOUT, timedelta(seconds=4 * period_s))


def reconcile_schedule(inp: ReconcileInput, task_queue: str = names.ORCHESTRATOR_QUEUE) -> Schedule:
    period = timedelta(seconds=inp.period_s)
    action = ScheduleActionStartWorkflow(
        WORKFLOW,
        inp,
        id=names.reconcile_schedule_id(inp.venue),
        task_queue=task_queue,
        execution_timeout=run_timeout(inp.period_s),
        typed_search_attributes=TypedSearchAttributes(
            [SearchAttributePair(names.KIND, names.Kind.RECONCILE.value),
             SearchAttributePair(names.VENUE, inp.venue)]
        ),
    )  # fmt: skip
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=period)]),
        # One run at a time; after an outage, one catch-up run rather than every missed one.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(period, timedelta(seconds=10))
        ),
        state=ScheduleState(note="perpflow exposure reconciler"),
    )


async def ensure_schedule(
    client: Client, inp: ReconcileInput, task_queue: str = names.ORCHESTRATOR_QUEUE
) -> str:
    """Create the venue's Schedule, or update it in place (kept paused if an operator paused it).
    Returns "created" or "updated"."""
    schedule_id = names.reconcile_schedule_id(inp.venue)
    schedule = reconcile_schedule(inp, task_queue)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(keep_state)
        return "updated"
    return "created"


async def current_input(client: Client, venue: str) -> ReconcileInput | None:
    """The input the venue's Schedule starts its runs with, or None when there is no Schedule."""
    handle = client.get_schedule_handle(names.reconcile_schedule_id(venue))
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    action = desc.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.args:
        return None
    [inp] = await client.data_converter.decode(list(action.args), [ReconcileInput])  # type: ignore[arg-type]
    return inp if isinstance(inp, ReconcileInput) else None


def inputs_for(
    accounts: list[AccountRef],
    *,
    default: Policy = Policy.ALERT,
    policies: dict[str, Policy] | None = None,
    **options: object,
) -> list[ReconcileInput]:
    """One input per venue with managed accounts; each account's policy goes to its venue."""
    policies = policies or {}
    known = {a.name: a.venue for a in accounts}
    if unknown := sorted(set(policies) - set(known)):
        raise PerpflowError(f"no managed account named {', '.join(unknown)} (see the ledger's accounts)")
    venues = sorted(set(known.values()))
    return [
        ReconcileInput.model_validate({
            "venue": venue,
            "default_policy": default,
            "policies": {n: p for n, p in policies.items() if known[n] == venue},
            **options,
        })
        for venue in venues
    ]  # fmt: skip
