"""make run on a state dir kept from an earlier run: Temporal still has the earlier stack's jobs
running (the demos' grid sessions, hedge fleet and cycles, and any an operator started), but their
sim is gone (each stack starts an empty one). The stack's first step, before any worker polls,
finds those (``running_on_the_sim``), ends them (``end_carried_over``) and keeps a job this stack
started."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.devstack.carry_over import REASON, end_carried_over, running_on_the_sim
from perpflow.hedge.fleet import FleetInput, FleetStatus
from perpflow.hedge.fleet_client import start_fleet
from perpflow.hedge.models import CycleParams, CycleState, CycleStatus
from perpflow.reconcile.models import OwnersQuery
from perpflow.reconcile.owners import OwnerFinder
from perpflow.venues.types import Side
from tests.plugins.hedge import ETH, FleetRig, fleet_rig
from tests.plugins.sim import SimHandle
from tests.plugins.venues import best

T = TypeVar("T")


async def test_a_session_from_an_earlier_stack_is_ended_and_one_of_this_stack_is_kept(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = temporal_env.client
    # No worker polls this queue: the run stays RUNNING, as a session whose workers are gone.
    handle = await client.start_workflow(
        "GridSessionWorkflow", id=f"grid-demo-{uuid.uuid4()}", task_queue=task_queue
    )
    started = (await handle.describe()).start_time

    await end_carried_over(client, handle.id, stack_started=started - timedelta(seconds=5))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING

    await end_carried_over(client, handle.id, stack_started=started + timedelta(seconds=1))
    assert await terminated_because(handle) == REASON

    await end_carried_over(
        client, f"grid-none-{uuid.uuid4()}", stack_started=datetime.now(UTC)
    )  # none: nothing


async def test_every_job_on_the_sim_an_earlier_stack_left_running_is_found_fleets_first(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Found by the kind a job's first task sets (set here at the start: no worker polls the queue,
    as after a kill); a payout is not on the sim, and a job this stack started is not carried over."""
    client, tag = temporal_env.client, uuid.uuid4().hex[:8]
    ids: dict[names.Kind, str] = {}
    for kind in (names.Kind.GRID_SESSION, names.Kind.PAYOUT, names.Kind.HEDGE_CYCLE, names.Kind.HEDGE_FLEET):
        handle = await client.start_workflow(
            "GridSessionWorkflow", id=f"{kind}-{tag}", task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(names.KIND, kind.value)]),
        )  # fmt: skip
        ids[kind] = handle.id
    started = (await client.get_workflow_handle(ids[names.Kind.HEDGE_FLEET]).describe()).start_time
    expected = [ids[names.Kind.HEDGE_FLEET], ids[names.Kind.HEDGE_CYCLE], ids[names.Kind.GRID_SESSION]]

    async def ours() -> list[str]:
        return [i for i in await running_on_the_sim(client, started + timedelta(seconds=1)) if tag in i]

    try:
        assert await until(ours, lambda found: found == expected, "the three jobs on the sim") == expected
        this_stack = await running_on_the_sim(client, started - timedelta(seconds=5))
        assert not set(ids.values()) & set(this_stack)
    finally:
        for wid in ids.values():
            await client.get_workflow_handle(wid).terminate(reason="test over")


async def test_a_fleet_from_an_earlier_stack_is_ended_with_its_cycles_and_the_demo_starts_it_afresh(
    temporal_env: WorkflowEnvironment, fresh: SimHandle, pg_ledger: Ledger, task_queue: str
) -> None:
    async with fleet_rig(temporal_env, fresh, pg_ledger, pairs=2) as rig:
        fleet = FleetInput(name=f"demo-{uuid.uuid4().hex[:6]}", market="ETH", pairs=rig.pairs(), cycle=HOLD)
        fleet.pairs[:] = [p.model_copy(update={"maker_side": Side.BUY}) for p in fleet.pairs]
        fleet_id = await start_fleet(rig.client, fleet, task_queue=rig.queue)
        cycles = await holding_cycles(rig, fleet_id)
        old = await rig.client.get_workflow_handle(fleet_id).describe()
        maker = rig.accounts[0].account_index
        assert await claimed(rig.client, pg_ledger, maker) == [Decimal("0.05")]
    # The stack is killed: its workers and its sim are gone, its workflows run on in Temporal.
    await fresh.admin.reset()
    client = temporal_env.client
    stack_started = datetime.now(UTC)

    ended = await end_carried_over(client, fleet_id, stack_started)
    new_id = await start_fleet(client, fleet, reuse=True, task_queue=task_queue)  # the demo, afresh

    assert ended[0] == fleet_id and sorted(ended[1:]) == sorted(cycles) and new_id == fleet_id
    for wid, run_id in [(fleet_id, old.run_id), *((c, None) for c in cycles)]:
        assert await terminated_because(client.get_workflow_handle(wid, run_id=run_id)) == REASON
    new = await client.get_workflow_handle(fleet_id).describe()
    assert new.status is WorkflowExecutionStatus.RUNNING and new.run_id != old.run_id
    # What the ended cycles held went with their sim: the reconciler, which sets what live owners
    # say they own against the venue, sets nothing of theirs against the empty one.
    for account in rig.accounts:
        assert await claimed(client, pg_ledger, account.account_index) == []

    # The fleet this stack started is kept.
    assert await end_carried_over(client, fleet_id, stack_started) == []
    assert (await client.get_workflow_handle(fleet_id).describe()).run_id == new.run_id
    await client.get_workflow_handle(fleet_id).terminate(reason="test over")


# Cycles that hold (a position on both legs of each pair) until the stack is killed.
HOLD = CycleParams(size=Decimal("0.05"), maker_timeout_s=60, hold_s=3600, close_mode="market", poll_s=0.5)


async def holding_cycles(rig: FleetRig, fleet_id: str) -> list[str]:
    """Once every pair's maker quotes, the price moves through the quotes; the cycles, holding."""
    fleet = rig.client.get_workflow_handle(fleet_id)

    async def cycles() -> list[str]:
        status = await fleet.query("status", result_type=FleetStatus)
        return [p.running for p in status.pairs if p.running]

    async def states() -> set[CycleState]:
        """The states of the cycles whose maker quoted, once both run (a just-started one: none)."""
        try:
            found = [await cycle_status(rig, c) for c in await cycles()]
        except RPCError:
            return set()
        return {s.state for s in found if any("/maker-" in o for o in s.orders)} if len(found) == 2 else set()

    async def resting() -> list[bool]:
        return [bool(await v.open_orders("ETH")) for v in rig.venues[0::2]]

    await until(states, lambda s: s == {CycleState.QUOTING}, "both makers quoting")
    await until(resting, all, "both maker quotes on the book")
    bid, _ = await best(rig.public)
    await rig.sim.admin.set_price(ETH, bid - 5)
    await until(states, lambda s: s == {CycleState.HOLDING}, "both cycles holding")
    return await cycles()


async def claimed(client: Client, ledger: Ledger, account_index: int) -> list[Decimal]:
    """What live owners say they hold on the account, as the exposure reconciler asks them."""
    owners = await OwnerFinder(client, ledger).owners(
        OwnersQuery(venue="lighter", account_index=account_index)
    )
    assert all(o.exposure is not None for o in owners.live), owners
    held = [p for o in owners.live if o.exposure for p in o.exposure.positions]
    return [p.size for p in held if p.account_index == account_index]


async def cycle_status(rig: FleetRig, cycle_id: str) -> CycleStatus:
    status: CycleStatus = await rig.client.get_workflow_handle(cycle_id).query(
        "status", result_type=CycleStatus
    )
    return status


async def until(look: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    deadline = asyncio.get_running_loop().time() + 60
    while not done(seen := await look()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}: {seen}"
        await asyncio.sleep(0.1)
    return seen


async def terminated_because(handle: WorkflowHandle[Any, Any]) -> str:
    assert (await handle.describe()).status is WorkflowExecutionStatus.TERMINATED
    events = [e async for e in handle.fetch_history_events()]
    return events[-1].workflow_execution_terminated_event_attributes.reason
