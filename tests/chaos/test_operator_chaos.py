"""Chaos with the operators' tools (issue 11's acceptance): two fleets run >= 20 hedge cycles on the
sim while random cycles are cancelled or terminated (one terminated while QUOTING, one while
HOLDING), one whole fleet is terminated mid-run, and the orchestrator and signer processes are
SIGKILLed and restarted; the exposure reconciler's Schedule (policy flatten) runs throughout.

After the last action, once the surviving fleet has finished, within two reconcile periods
(``CLEARED_S``, counted from the end of the recovery from the last SIGKILL): every account is flat
with no resting order whose owner is closed; every cycle the fleets started has its ledger row, in a
state that agrees with its Temporal outcome, under its own (fleet, pair, seq); every orphan episode
was alerted exactly once (one outbox row, one audit row), and every terminated cycle that left an
order or a position behind produced one, alerted within one period and gone within two.

The plan (which actions, in which order, the gaps, how long a killed process stays down) comes from
the seed, printed; set OPERATOR_CHAOS_SEED to replay it. Which cycle is hit depends on timing.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.hedge.fleet import FleetInput, FleetMode, FleetResult, FleetStatus, PairSpec
from perpflow.hedge.models import (
    CycleParams,
    CycleResult,
    CycleState,
    CycleStatus,
    HedgeCycleInput,
    LegAccount,
)
from perpflow.models import AccountRef
from perpflow.reconcile.models import OrphanKind, Policy, ReconcileInput
from perpflow.reconcile.schedule import ensure_schedule
from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.chaos import Proc, WorkerProcs, wiggle, worker_procs
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, new_account, venue_for

T = TypeVar("T")
SENDS = ("place_order", "cancel_order")

DEFAULT_SEED = 20261130
# The reconciler's Schedule: a short period so the test waits little; settle well under a third.
PERIOD_S = 8.0
SETTLE_S = 2.5
# One reconcile run after it starts: two looks settle_s apart, then its cancels / flattens (each a
# signer round trip) and the ledger writes and alerts.
RUN_S = 6.0
# A SIGKILLed worker's tasks come back only when they time out: workflow tasks after 10 s, the
# reconciler's reads (RECONCILE_READ) and orders (ORDER) after 10 s, the VENUE_READ after 15 s;
# a reconcile run caught in that is late, and the Schedule (overlap SKIP) skips starts until it ends.
RECOVERY_S = 15.0
# Two reconcile periods, plus a run's own time. The first scheduled run that starts after an orphan
# appears does so within one period (an interval spec, no jitter) and cancels orphan orders and
# flattens orphan positions settle_s after its first look. An orphan order that fills while being
# cancelled leaves a position the next run (a second period) flattens. Counted from the end of the
# recovery from any SIGKILL in between (Chaos.judged_from).
CLEARED_S = 2 * PERIOD_S + SETTLE_S + RUN_S
# The alert goes out in the run that confirms the orphan: within one period.
ALERTED_S = PERIOD_S + SETTLE_S + RUN_S
# Fleet A survives and must run its cycles to the end; fleet B is terminated mid-run, so it is
# given more cycles than it can reach. Both cycle terminations hit B (each halts its pair).
PAIRS_A, CYCLES_A = 3, 8
PAIRS_B, CYCLES_B = 3, None  # B runs until the plan terminates it, however slow the machine
MIN_CYCLES = 20
CYCLE = CycleParams(
    size=Decimal("0.05"),
    maker_timeout_s=6,
    max_requotes=3,
    hold_s=3,  # long enough to catch a cycle HOLDING
    close_mode="market",
    poll_s=0.5,
    hedge_deadline_s=30,
)


class Step(StrEnum):
    TERMINATE_QUOTING = "terminate a cycle QUOTING with its maker order resting"
    TERMINATE_HOLDING = "terminate a cycle HOLDING both legs"
    CANCEL_QUOTING = "cancel a cycle QUOTING"
    CANCEL_HOLDING = "cancel a cycle HOLDING"
    CANCEL_ANY = "cancel a running cycle"
    KILL_ORCHESTRATOR = "SIGKILL and restart the orchestrator"
    KILL_SIGNER = "SIGKILL and restart the signer"
    TERMINATE_FLEET = "terminate fleet B"


@dataclass(frozen=True)
class Planned:
    step: Step
    gap_s: float  # waited before the step
    down_s: float  # a killed process stays down this long


def plan(rng: random.Random) -> list[Planned]:
    """Every step once (a third kill of either process), shuffled; the fleet after both cycle
    terminations, which need it running."""
    steps: list[Step] = [s for s in Step if s is not Step.TERMINATE_FLEET]
    steps.append(rng.choice([Step.KILL_ORCHESTRATOR, Step.KILL_SIGNER]))
    rng.shuffle(steps)
    after = max(steps.index(Step.TERMINATE_QUOTING), steps.index(Step.TERMINATE_HOLDING)) + 1
    steps.insert(rng.randint(after, len(steps)), Step.TERMINATE_FLEET)
    return [Planned(s, rng.uniform(1.5, 4.0), rng.uniform(0.2, 1.5)) for s in steps]


def resting_maker(s: CycleStatus) -> bool:
    return s.state is CycleState.QUOTING and s.maker_filled == 0 and any("/maker-" in o for o in s.orders)


def holding(s: CycleStatus) -> bool:
    return s.state is CycleState.HOLDING


WANTED: dict[Step, Callable[[CycleStatus], bool]] = {
    Step.TERMINATE_QUOTING: resting_maker,
    Step.TERMINATE_HOLDING: holding,
    Step.CANCEL_QUOTING: resting_maker,
    Step.CANCEL_HOLDING: holding,
    Step.CANCEL_ANY: lambda s: not s.state.final,
}


@dataclass
class Terminated:
    """A cycle terminated by the test, and what it left right after (the venue, its ledger orders)."""

    cycle_id: str
    at: float  # wall clock (the reconciler's ledger times are the server's, on this host)
    seen: CycleState
    legs: tuple[int, int]
    positions: dict[int, Decimal]  # account index -> venue position
    resting: dict[int, int]  # client order index -> account index: its orders still on the book
    # Order activities a worker had started: they finish after the terminate (it only drops the
    # ones not started), so what was left may still change without the reconciler.
    sending: list[str]


@dataclass
class Stage:
    client: Client
    ledger: Ledger
    procs: WorkerProcs
    venues: dict[int, LighterVenue]  # account index -> its venue (keys held by the test)
    fleets: dict[str, WorkflowHandle[Any, Any]]  # "A" / "B" -> the fleet

    async def query(self, handle: WorkflowHandle[Any, Any], name: str, result_type: type[T]) -> T | None:
        """A query of an open workflow; None when it is closed or no worker answers in time."""
        try:
            result: T = await handle.query(
                name,
                result_type=result_type,
                reject_condition=QueryRejectCondition.NOT_OPEN,
                rpc_timeout=timedelta(seconds=3),
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
            return None
        return result

    async def running_cycles(self, fleets: list[str]) -> list[tuple[str, CycleStatus]]:
        found = []
        for fleet in fleets:
            status = await self.query(self.fleets[fleet], "status", FleetStatus)
            for pair in status.pairs if status else []:
                handle = self.client.get_workflow_handle(pair.running) if pair.running else None
                cycle = await self.query(handle, "status", CycleStatus) if handle else None
                if cycle is not None and not cycle.state.final:
                    found.append((cycle.workflow_id, cycle))
        return found

    async def leftovers(self, cycle_id: str, seen: CycleStatus, at: float, sending: list[str]) -> Terminated:
        legs = (seen.maker.account_index, seen.taker.account_index)
        async with self.ledger.session() as s:
            query = select(t.Order.client_order_index).where(t.Order.workflow_id == cycle_id)
            own = set((await s.scalars(query)).all())
        positions = {a: (await self.venues[a].account()).position("ETH").size for a in legs}
        resting = {
            o.client_order_index: a
            for a in legs
            for o in await self.venues[a].open_orders("ETH")
            if o.client_order_index in own
        }
        return Terminated(cycle_id, at, seen.state, legs, positions, resting, sending)

    async def cleared(self, legs: tuple[int, int]) -> float:
        """When both accounts of a terminated cycle (its pair is halted: nothing else trades them)
        are flat with nothing resting: what the reconciler left of its orphans."""
        while True:
            for a in legs:
                venue = self.venues[a]
                if (await venue.account()).position("ETH").size != 0 or await venue.open_orders("ETH"):
                    break
            else:
                return time.time()
            await asyncio.sleep(0.5)


@dataclass
class Chaos:
    stage: Stage
    victims: random.Random  # apart from the plan's: which cycle is hit depends on timing
    terminated: list[Terminated] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fleet_terminated_at: float = 0.0
    orphaned_children: set[str] = field(default_factory=set)  # B's cycles running as B was terminated
    last_action: float = 0.0  # wall clock, as every time here
    outages: list[tuple[float, float]] = field(default_factory=list)  # (SIGKILL, polling again)
    # Terminated cycle id -> when its accounts were flat with nothing resting.
    clearing: dict[str, asyncio.Task[float]] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)

    async def run(self, steps: list[Planned]) -> None:
        for planned in steps:
            await asyncio.sleep(planned.gap_s)
            await self.do(planned)
            self.last_action = time.time()

    async def do(self, planned: Planned) -> None:
        step = planned.step
        if step in (Step.KILL_ORCHESTRATOR, Step.KILL_SIGNER):
            procs = self.stage.procs
            await self.kill(procs.orchestrator if step is Step.KILL_ORCHESTRATOR else procs.signer, planned)
        elif step is Step.TERMINATE_FLEET:
            fleet = self.stage.fleets["B"]
            described = await fleet.describe()
            assert described.status is WorkflowExecutionStatus.RUNNING, f"fleet B ended early: {described}"
            ended = await statuses(self.stage.client, sorted(await children(self.stage.client, fleet)))
            await fleet.terminate("operator chaos: the whole fleet terminated mid-run")
            self.fleet_terminated_at = time.time()
            self.orphaned_children = {w for w, st in ended.items() if st is WorkflowExecutionStatus.RUNNING}
            self.note(f"terminated fleet {fleet.id} with cycles {sorted(self.orphaned_children)} running")
        else:
            await self.hit(step)

    async def kill(self, proc: Proc, planned: Planned) -> None:
        killed = time.time()
        proc.kill()
        self.note(f"SIGKILLed {proc.name}")
        await asyncio.sleep(planned.down_s)
        proc.start()
        took = await proc.polling()
        self.outages.append((killed, time.time()))
        self.note(f"{proc.name} restarted after {planned.down_s:.1f}s down, polling {took:.1f}s later")

    async def hit(self, step: Step) -> None:
        """Cancel or terminate a running cycle in the state the step wants; one that completed
        between the look and the blow is passed over for another."""
        while True:
            try:
                return await self.hit_one(step)
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
                self.note(f"{step.value}: the cycle completed first ({exc.message}); another")

    async def hit_one(self, step: Step) -> None:
        terminate = step in (Step.TERMINATE_QUOTING, Step.TERMINATE_HOLDING)
        # Terminating a cycle halts its pair: B takes them, so A still runs all its cycles.
        fleets = ["B"] if terminate else [f for f in ("A", "B") if f != "B" or not self.fleet_terminated_at]
        cycle_id, seen = await self.find(fleets, WANTED[step], step.value)
        handle = self.stage.client.get_workflow_handle(cycle_id)
        if terminate:
            sending = await order_activities_started(handle)
            at = time.time()
            await handle.terminate(f"operator chaos: {step.value}")
            left = await self.stage.leftovers(cycle_id, seen, at, sending)
            self.terminated.append(left)
            self.clearing[cycle_id] = asyncio.create_task(self.stage.cleared(left.legs))
            self.note(
                f"terminated {cycle_id} in {seen.state}: left positions {left.positions}, resting cois "
                f"{left.resting}, order activities under way {sending}"
            )
        else:
            await handle.cancel()
            self.cancelled.append(cycle_id)
            self.note(f"cancelled {cycle_id} in {seen.state}")

    async def find(
        self, fleets: list[str], wanted: Callable[[CycleStatus], bool], what: str, timeout: float = 60
    ) -> tuple[str, CycleStatus]:
        deadline = time.monotonic() + timeout
        while True:
            hit = {*self.cancelled, *(x.cycle_id for x in self.terminated)}
            running = await self.stage.running_cycles(fleets)
            found = sorted((c for c in running if c[0] not in hit and wanted(c[1])), key=lambda c: c[0])
            if found:
                return self.victims.choice(found)
            assert time.monotonic() < deadline, f"no cycle of fleet(s) {fleets} to {what} in {timeout}s"
            await asyncio.sleep(0.2)

    def judged_from(self, start: float, end: float) -> float:
        """When the reconciler can be held to its bound for something that appeared at ``start``
        and was gone at ``end``: after the recovery from any SIGKILL before ``end``."""
        return max([start, *(ready + RECOVERY_S for killed, ready in self.outages if killed < end)])

    def note(self, what: str) -> None:
        line = f"{datetime.now(UTC):%H:%M:%S.%f} {what}"
        self.done.append(line)
        print(line)


@pytest.fixture
async def chaos_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own: the real orchestrator polls the fixed orchestrator queue, and the
    reconciler's Schedule has a fixed id."""
    env = await local_temporal()
    yield env
    await env.shutdown()


def legs(accounts: list[SimAccount]) -> list[LegAccount]:
    return [LegAccount(account_index=a.account_index, api_key_index=a.api_key_index) for a in accounts]


def fleet_input(name: str, accounts: list[SimAccount], cycles: int | None) -> FleetInput:
    pair_legs = legs(accounts)
    return FleetInput(
        name=name,
        market="ETH",
        pause_between_s=0,
        max_cycles_per_pair=cycles,
        pairs=[
            PairSpec(name=f"p{i}", maker=pair_legs[2 * i], taker=pair_legs[2 * i + 1])
            for i in range(len(pair_legs) // 2)
        ],
        cycle=CYCLE,
    )


async def manage(ledger: Ledger, client: Client, accounts: list[SimAccount]) -> None:
    """The accounts in the ledger (what the reconciler reads; the signer registers those it
    serves under its config's names) and its Schedule, policy flatten."""
    known = {a.account_index: a.name for a in await ledger.accounts("lighter")}
    managed = {known.get(a.account_index, f"chaos-{a.account_index}"): a for a in accounts}
    for name, a in managed.items():
        if a.account_index not in known:
            ref = AccountRef(
                name=name, venue="lighter", account_index=a.account_index, api_key_index=a.api_key_index
            )
            await ledger.upsert_account(ref)
    inp = ReconcileInput(
        period_s=PERIOD_S, settle_s=SETTLE_S, policies=dict.fromkeys(managed, Policy.FLATTEN)
    )
    assert await ensure_schedule(client, inp) == "created"


async def children(client: Client, fleet: WorkflowHandle[Any, Any]) -> dict[str, HedgeCycleInput]:
    """Every cycle the fleet started, with its input, from the fleet's history."""
    started: dict[str, HedgeCycleInput] = {}
    async for event in fleet.fetch_history_events():
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            attrs = event.start_child_workflow_execution_initiated_event_attributes
            [inp] = await client.data_converter.decode(list(attrs.input.payloads), [HedgeCycleInput])
            started[attrs.workflow_id] = inp
    return started


async def statuses(client: Client, ids: list[str]) -> dict[str, WorkflowExecutionStatus | None]:
    described = await asyncio.gather(*(client.get_workflow_handle(i).describe() for i in ids))
    return {i: d.status for i, d in zip(ids, described, strict=True)}


async def eventually(check: Callable[[], Awaitable[list[str]]], deadline: float, what: str) -> None:
    """Poll ``check`` (a list of problems) until it has none, or fail at ``deadline`` with them."""
    while True:
        problems = await check()
        if not problems:
            return
        if time.time() > deadline:
            pytest.fail(f"{what}: still {len(problems)} problem(s) at the deadline:\n" + "\n".join(problems))
        await asyncio.sleep(0.5)


async def exposure_left(stage: Stage) -> list[str]:
    """Positions on any account, and resting orders whose owner (the ledger's workflow id for the
    client order index) is not running."""
    problems = []
    for account, venue in stage.venues.items():
        size = (await venue.account()).position("ETH").size
        if size != 0:
            problems.append(f"account {account} holds {size} ETH")
        for order in await venue.open_orders("ETH"):
            owner = await owner_of(stage.ledger, account, order.client_order_index)
            status = (await stage.client.get_workflow_handle(owner).describe()).status if owner else None
            if status is not WorkflowExecutionStatus.RUNNING:
                problems.append(
                    f"account {account} order coi {order.client_order_index} rests ({order.remaining_size} "
                    f"{order.side} @ {order.price}); owner {owner} is {status}"
                )
    return problems


async def owner_of(ledger: Ledger, account: int, coi: int) -> str | None:
    query = select(t.Order.workflow_id).where(
        t.Order.venue == "lighter", t.Order.account_index == account, t.Order.client_order_index == coi
    )
    async with ledger.session() as s:
        owner: str | None = await s.scalar(query)
    return owner


async def episodes(ledger: Ledger) -> list[t.ReconcileOrphan]:
    async with ledger.session() as s:
        return list((await s.scalars(select(t.ReconcileOrphan).order_by(t.ReconcileOrphan.id))).all())


async def open_episodes(ledger: Ledger) -> list[str]:
    return [f"episode {e.id} {e.key} still open" for e in await episodes(ledger) if e.resolved_at is None]


async def check_cycle_rows(
    stage: Stage, started: dict[str, HedgeCycleInput], chaos: Chaos, fleet_b: set[str]
) -> list[str]:
    """Every cycle started has its own row, in a state that agrees with how it ended in Temporal."""
    async with stage.ledger.session() as s:
        query = select(t.HedgeCycle).where(t.HedgeCycle.fleet.in_({i.fleet for i in started.values()}))
        rows = {r.workflow_id: r for r in (await s.scalars(query)).all()}
    problems = [f"cycle {w} has no ledger row" for w in sorted(started.keys() - rows.keys())]
    problems += [
        f"ledger row {w} names no cycle a fleet started" for w in sorted(rows.keys() - started.keys())
    ]
    twice = Counter((r.fleet, r.pair, r.seq) for r in rows.values())
    problems += [f"{key} has {n} cycle ids" for key, n in twice.items() if n > 1]
    ended = await statuses(stage.client, sorted(started))
    terminated = {x.cycle_id for x in chaos.terminated}
    for wid, inp in sorted(started.items()):
        row = rows.get(wid)
        if row is None:
            continue
        if (row.fleet, row.pair, row.seq) != (inp.fleet, inp.pair, inp.seq):
            problems.append(
                f"row {wid} says {row.fleet}/{row.pair}/{row.seq}, "
                f"the cycle is {inp.fleet}/{inp.pair}/{inp.seq}"
            )
        problems += await outcome_agrees(
            stage, wid, row, ended[wid], terminated, set(chaos.cancelled) | fleet_b
        )
    return problems + await parent_close_cancelled(stage.client, chaos)


async def parent_close_cancelled(client: Client, chaos: Chaos) -> list[str]:
    """The cycles fleet B was running when terminated were asked to cancel (parent close policy
    REQUEST_CANCEL) and did, unless they had just completed on their own."""
    problems = []
    for wid in sorted(chaos.orphaned_children):
        desc = await client.get_workflow_handle(wid).describe()
        closed = desc.close_time.timestamp() if desc.close_time else float("inf")
        ended_alone = (
            desc.status is WorkflowExecutionStatus.COMPLETED and closed < chaos.fleet_terminated_at + 1
        )
        if desc.status is not WorkflowExecutionStatus.CANCELED and not ended_alone:
            ended = desc.status.name if desc.status else None
            problems.append(f"{wid} was running as its fleet was terminated and ended {ended}")
    return problems


async def outcome_agrees(
    stage: Stage,
    wid: str,
    row: t.HedgeCycle,
    status: WorkflowExecutionStatus | None,
    terminated: set[str],
    cancellable: set[str],
) -> list[str]:
    if status is WorkflowExecutionStatus.COMPLETED:
        result = await stage.client.get_workflow_handle(wid, result_type=CycleResult).result()
        kept = CycleResult.model_validate(row.result) if row.result else None
        if (row.state, kept) != (result.state.value, result):
            return [f"{wid} completed {result}, its row {row.state} holds {kept}"]
        if result.state is CycleState.FAILED:
            return [f"{wid} completed FAILED: {result.reason} (exposure {result.open_exposure})"]
        return []
    if status is WorkflowExecutionStatus.CANCELED:
        ok = row.state == CycleState.CANCELLED and wid in cancellable
        return [] if ok else [f"{wid} CANCELED (asked: {wid in cancellable}), row {row.state}"]
    if status is WorkflowExecutionStatus.TERMINATED:
        # Terminate runs no code: the row keeps its last recorded state, final or not.
        return [] if wid in terminated else [f"{wid} terminated, but not by the test (row {row.state})"]
    detail = f"row {row.state} {row.result}"
    return [
        f"{wid} ended {status.name if status else None}, expected completed/cancelled/terminated; {detail}"
    ]


async def check_orphans(stage: Stage, chaos: Chaos, failed_legs: set[int]) -> list[str]:
    """One alert (outbox row and audit row) per episode; episodes only where a terminated cycle (or a
    cycle that ended FAILED with exposure) left something; each such leftover has one."""
    found = await episodes(stage.ledger)
    async with stage.ledger.session() as s:
        outbox = Counter((await s.scalars(select(t.AlertOutbox.key))).all())
        audits = (await s.scalars(select(t.Audit).where(t.Audit.action == "alert.critical"))).all()
    audited = Counter(str(a.detail.get("key")) for a in audits)
    problems = []
    for e in found:
        key = f"reconcile-orphan-{e.id}"
        if e.alerted_at is None or outbox[key] != 1 or audited[key] != 1:
            problems.append(
                f"episode {e.id} {e.key}: alerted_at {e.alerted_at}, "
                f"{outbox[key]} outbox row(s), {audited[key]} audit row(s)"
            )
    alerts = sum(n for k, n in outbox.items() if k.startswith("reconcile-orphan-"))
    if alerts != len(found):
        problems.append(f"{alerts} orphan alerts in the outbox for {len(found)} episodes")
    per_order = Counter(e.key for e in found if e.kind == OrphanKind.ORDER)
    problems += [f"order orphan {k} opened {n} episodes" for k, n in per_order.items() if n > 1]
    problems += unexpected(found, chaos, failed_legs)
    for x in chaos.terminated:
        problems += missing_episodes(found, x)
    return problems


def unexpected(found: list[t.ReconcileOrphan], chaos: Chaos, failed_legs: set[int]) -> list[str]:
    """Orphans the operators did not make: a live cycle's exposure judged an orphan, or a cancelled
    cycle's order left resting."""
    terminated = {x.cycle_id for x in chaos.terminated}
    touched = {a for x in chaos.terminated for a in x.legs} | failed_legs
    problems = []
    for e in found:
        if e.kind == OrphanKind.ORDER and e.owner_workflow_id not in terminated:
            problems.append(
                f"episode {e.id}: order coi {e.client_order_index} of {e.owner_workflow_id} "
                f"({e.owner_status}) orphaned"
            )
        if e.kind == OrphanKind.POSITION and e.account_index not in touched:
            problems.append(
                f"episode {e.id}: position {e.size} on account {e.account_index} no terminated cycle traded"
            )
    return problems


async def order_activities_started(handle: WorkflowHandle[Any, Any]) -> list[str]:
    pending = (await handle.describe()).raw_description.pending_activities
    started = (PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
               PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED)  # fmt: skip
    return [a.activity_type.name for a in pending if a.state in started and a.activity_type.name in SENDS]


def missing_episodes(found: list[t.ReconcileOrphan], x: Terminated) -> list[str]:
    if x.sending:
        return []  # what it left may have changed under its own orders: only the end state counts
    later = [e for e in found if _aware(e.opened_at).timestamp() >= x.at - 1]
    position_on = {e.account_index for e in later if e.kind == OrphanKind.POSITION}
    owned = {
        e.client_order_index
        for e in later
        if e.kind == OrphanKind.ORDER and e.owner_workflow_id == x.cycle_id
    }
    problems = [
        f"{x.cycle_id} left {size} on account {a}: no position episode"
        for a, size in x.positions.items()
        if size != 0 and a not in position_on
    ]
    # An order that filled before the reconciler confirmed it shows as the maker's position instead.
    problems += [
        f"{x.cycle_id} left order coi {coi} resting on account {a}: no episode"
        for coi, a in x.resting.items()
        if coi not in owned and a not in position_on
    ]
    return problems


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def evidence(stage: Stage, chaos: Chaos) -> str:
    """What a failure report needs: the actions, the episodes, the last reconcile runs, the logs."""
    lines = ["actions:", *chaos.done, "episodes:"]
    lines += [
        f"  {e.id} {e.key} {e.reason} size {e.size} owner {e.owner_workflow_id} "
        f"opened {e.opened_at:%H:%M:%S} by {e.opened_by} alerted {e.alerted_at} resolved {e.resolved_at}"
        for e in await episodes(stage.ledger)
    ]
    runs = [wf async for wf in stage.client.list_workflows('WorkflowType="ReconcileWorkflow"')]
    lines += ["reconcile runs:", *(f"  {r.id} {r.status} {r.close_time}" for r in runs[:8])]
    for proc in stage.procs.all:
        lines += [f"{proc.name} log ({proc.log}):", proc.tail(25)]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_cancels_terminates_and_sigkills_end_flat_with_rows_kept_and_each_orphan_alerted_once(
    chaos_env: WorkflowEnvironment, sim: SimHandle, postgres_url: str, pg_ledger: Ledger, tmp_path: Path
) -> None:
    seed = int(os.environ.get("OPERATOR_CHAOS_SEED", DEFAULT_SEED))
    print(f"operator chaos: seed {seed} (OPERATOR_CHAOS_SEED to replay), logs in {tmp_path}")
    started_at = time.time()
    client = chaos_env.client
    accounts = [await new_account(sim) for _ in range(2 * (PAIRS_A + PAIRS_B))]
    procs = worker_procs(chaos_env, sim, postgres_url, accounts, tmp_path)
    for p in procs.all:
        p.start()
    # A cycle gives up on a signer queue nobody polls within 10 s: start trading once every
    # worker polls (importing a worker takes over 10 s on a loaded machine).
    await asyncio.gather(*(p.polling(timeout=120) for p in procs.all))
    await manage(pg_ledger, client, accounts)
    tag = uuid.uuid4().hex[:6]
    inputs = {
        "A": fleet_input(f"opsa{tag}", accounts[: 2 * PAIRS_A], CYCLES_A),
        "B": fleet_input(f"opsb{tag}", accounts[2 * PAIRS_A :], CYCLES_B),
    }
    venues = {a.account_index: venue_for(sim, a) for a in accounts}
    public, stop = LighterVenue(sim.url, 0), asyncio.Event()
    background = asyncio.create_task(wiggle(sim, public, stop, random.Random(seed + 1)))
    chaos: Chaos | None = None
    try:
        fleets = {
            k: await client.start_workflow(
                "HedgeFleetWorkflow", inp, id=names.hedge_fleet_id(inp.name),
                task_queue=names.ORCHESTRATOR_QUEUE, result_type=FleetResult,
            )
            for k, inp in inputs.items()
        }  # fmt: skip
        stage = Stage(client, pg_ledger, procs, venues, fleets)
        chaos = Chaos(stage, random.Random(seed + 2))
        await chaos.run(plan(random.Random(seed)))
        chaos.note(f"last action done; {sum(p.kills for p in procs.all)} SIGKILLs")

        result: FleetResult = await asyncio.wait_for(fleets["A"].result(), timeout=240)
        chaos.note(f"fleet A ended {result.mode} after {result.cycles} cycles: {result.reason}")
        started = {**await children(client, fleets["A"]), **await children(client, fleets["B"])}
        await reconciled(stage, chaos, started)

        problems = await end_state_problems(stage, chaos, started, set(await children(client, fleets["B"])))
        if problems:
            print(await evidence(stage, chaos))
            await keep_histories(client, problems, tmp_path / "histories")
        assert not problems, "\n".join(problems)
        assert (result.mode, result.cycles) == (FleetMode.COMPLETED, PAIRS_A * CYCLES_A), result
        assert len(started) >= MIN_CYCLES, f"only {len(started)} cycles ran"
        assert (len(chaos.terminated), len(chaos.cancelled)) == (2, 3), chaos.done
        assert sum(p.kills for p in procs.all) == 3, chaos.done
        print(f"operator chaos seed {seed}: {len(started)} cycles, {time.time() - started_at:.0f}s")
    finally:
        stop.set()
        background.cancel()
        for task in chaos.clearing.values() if chaos else []:
            task.cancel()
        for p in procs.all:
            p.kill()
        for v in (*venues.values(), public):
            await v.close()


async def reconciled(stage: Stage, chaos: Chaos, started: dict[str, HedgeCycleInput]) -> None:
    """Every cycle closes (fleet B's were asked to cancel); then, within two reconcile periods of
    the last action (or the recovery from the last SIGKILL), the accounts are flat with no orphan
    order, and one period later every orphan episode is resolved."""

    async def cycles_running() -> list[str]:
        ended = await statuses(stage.client, sorted(started))
        return [f"{w} still running" for w, s in ended.items() if s is WorkflowExecutionStatus.RUNNING]

    await eventually(cycles_running, time.time() + 60, "cycles ending after their fleets")
    quiet = chaos.judged_from(max(time.time(), chaos.last_action), time.time())
    chaos.note(
        f"every cycle closed; waiting for the reconciler, at most {quiet + CLEARED_S - time.time():.1f}s"
    )
    try:
        await eventually(
            lambda: exposure_left(stage), quiet + CLEARED_S, "exposure after two reconcile periods"
        )
        settled = time.time()
        chaos.note(f"flat and no orphan order {settled - quiet:.1f}s after the last action / cycle")
        # The run after the one that acted sees nothing left and resolves the episodes.
        await eventually(lambda: open_episodes(stage.ledger), settled + PERIOD_S + RUN_S, "episodes resolved")
    except BaseException:
        print(await evidence(stage, chaos))
        raise


async def end_state_problems(
    stage: Stage, chaos: Chaos, started: dict[str, HedgeCycleInput], fleet_b: set[str]
) -> list[str]:
    """Rows kept and agreeing with Temporal, orphans alerted once and in time, cycles findable."""
    problems = await check_cycle_rows(stage, started, chaos, fleet_b)
    problems += await check_orphans(stage, chaos, await legs_of_failed(stage.client, started))
    problems += await not_visible(stage.client, started)
    return problems + await too_slow(stage, chaos)


async def legs_of_failed(client: Client, started: dict[str, HedgeCycleInput]) -> set[int]:
    """Accounts of cycles that ended FAILED (the workflow, or its result): they may leave exposure
    to the reconciler. Each such cycle is a problem of its own; its orphans are not another."""
    out: set[int] = set()
    for wid, inp in started.items():
        handle = client.get_workflow_handle(wid, result_type=CycleResult)
        status = (await handle.describe()).status
        if status is WorkflowExecutionStatus.FAILED or (
            status is WorkflowExecutionStatus.COMPLETED and (await handle.result()).state is CycleState.FAILED
        ):
            out |= {inp.maker.account_index, inp.taker.account_index}
    return out


async def not_visible(client: Client, started: dict[str, HedgeCycleInput]) -> list[str]:
    """Every cycle is findable by its kind (``workflows list --kind hedge-cycle``)."""
    query = f'{names.KIND.name}="{names.Kind.HEDGE_CYCLE.value}"'
    end = time.time() + 10
    while True:
        listed = {wf.id async for wf in client.list_workflows(query)}
        missing = sorted(started.keys() - listed)
        if not missing or time.time() > end:
            return [f"{w} not listed under {query}" for w in missing]
        await asyncio.sleep(0.5)


async def keep_histories(client: Client, problems: list[str], into: Path) -> None:
    """The histories of the workflows the problems name, for the report (and replay)."""
    into.mkdir(exist_ok=True)
    for wid in sorted({w for p in problems for w in re.findall(r"hedge-[\w.-]+-\d+", p)}):
        history = await client.get_workflow_handle(wid).fetch_history()
        (into / f"{wid}.json").write_text(history.to_json())
    print(f"histories of the workflows named above: {into}")


async def too_slow(stage: Stage, chaos: Chaos) -> list[str]:
    """Each terminated cycle's leftovers were alerted within one period and gone within two."""
    problems = []
    found = await episodes(stage.ledger)
    for x in chaos.terminated:
        cleared = await chaos.clearing[x.cycle_id]  # done: every account is flat, nothing rests
        took = cleared - chaos.judged_from(x.at, cleared)
        chaos.note(f"{x.cycle_id}: accounts {x.legs} clear {cleared - x.at:.1f}s after the terminate")
        if took > CLEARED_S:
            problems.append(
                f"{x.cycle_id}: its leftovers went {took:.1f}s after the last disruption, > {CLEARED_S}s"
            )
        for e in first_episodes(found, x):
            alerted = _aware(e.alerted_at).timestamp() if e.alerted_at else float("inf")
            late = alerted - chaos.judged_from(x.at, alerted)
            if late > ALERTED_S:
                problems.append(
                    f"{x.cycle_id}: episode {e.id} {e.key} alerted {late:.1f}s after, > {ALERTED_S}s"
                )
    return problems


def first_episodes(found: list[t.ReconcileOrphan], x: Terminated) -> list[t.ReconcileOrphan]:
    """The episodes of what the terminated cycle left as it was seen right after the terminate."""
    if x.sending:
        return []
    later = [e for e in found if _aware(e.opened_at).timestamp() >= x.at - 1]
    firsts = []
    for a, size in x.positions.items():
        firsts += (
            [e for e in later if e.kind == OrphanKind.POSITION and e.account_index == a][:1] if size else []
        )
    for coi in x.resting:
        firsts += [e for e in later if e.kind == OrphanKind.ORDER and e.client_order_index == coi][:1]
    return firsts
