"""The exposure reconciler on the real dev server: real signer workers, the sim, the Postgres ledger.

Orphans are made the way operators make them: a hedge cycle terminated mid-way, a position placed
through ``place_order`` by a workflow that has ended, a manual order straight on the venue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleOverlapPolicy,
    WorkflowFailureError,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.hedge import HedgeActivities
from activities.market import MarketActivities
from activities.reconcile import ReconcileActivities
from perpflow import names
from perpflow.alerts.notifier import Notifier
from perpflow.cli.accounts import look, report_tables
from perpflow.db import tables as t
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.db.reconcile import Orphans
from perpflow.exposure import EXPOSURE_QUERY, Exposure, OwnedPosition
from perpflow.hedge import pricing
from perpflow.hedge.models import CycleResult, CycleState
from perpflow.models import AccountRef, AuditEntry
from perpflow.orders import OrderAck, OrderIntent
from perpflow.reconcile.models import (
    AccountReport,
    ActionKind,
    OrphanKind,
    OrphanReason,
    OwnerStatus,
    Policy,
    ReconcileInput,
    ReconcileReport,
)
from perpflow.reconcile.schedule import ensure_schedule
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.hedge import HedgeRig, record_history
from tests.plugins.marketdata import eventually
from tests.plugins.sim import SimHandle
from tests.plugins.venues import best
from workflows.reconcile import ReconcileWorkflow

SETTLE_S = 1.0


class OwnerInput(BaseModel):
    account_index: int
    api_key_index: int
    size: Decimal
    worst: Decimal
    hold: bool


@workflow.defn(name="ReconcileTestOwner", sandboxed=False)
class OwnerWorkflow:
    """Buys through ``place_order`` and owns the fill: while held it answers ``exposure`` with it;
    unheld it ends at once, leaving the position to nobody."""

    def __init__(self) -> None:
        self.inp: OwnerInput | None = None
        self.filled = Decimal(0)
        self.released = False

    @workflow.run
    async def run(self, inp: OwnerInput) -> str:
        self.inp = inp
        wid = workflow.info().workflow_id
        intent = OrderIntent(
            key=names.order_key(wid, "buy"), workflow_id=wid, account_index=inp.account_index,
            market="ETH", side=Side.BUY, kind=OrderKind.MARKET, tif=TimeInForce.IOC, size=inp.size,
            price=inp.worst,
        )  # fmt: skip
        ack: OrderAck = await workflow.execute_activity(
            "place_order",
            intent,
            task_queue=names.signer_queue("lighter", inp.account_index, inp.api_key_index),
            result_type=OrderAck,
            start_to_close_timeout=timedelta(seconds=10),
        )
        self.filled = ack.filled_size
        if inp.hold:
            await workflow.wait_condition(lambda: self.released)
        return str(self.filled)

    @workflow.query(name=EXPOSURE_QUERY)
    def exposure(self) -> Exposure:
        wid = workflow.info().workflow_id
        if self.inp is None or not self.filled:
            return Exposure(workflow_id=wid)
        pos = OwnedPosition(
            venue="lighter", account_index=self.inp.account_index, market="ETH", size=self.filled
        )
        return Exposure(workflow_id=wid, positions=[pos])

    @workflow.signal
    def release(self) -> None:
        self.released = True


@dataclass
class Reconciler:
    client: Client
    queue: str
    ledger: Ledger
    rig: HedgeRig
    maker: str
    taker: str

    async def run(self, record: str | None = None, **fields: Any) -> ReconcileReport:
        """One reconcile run; ``record`` names its history for tests/replay (when recording)."""
        inp = ReconcileInput.model_validate({"settle_s": SETTLE_S, **fields})
        handle = await self.client.start_workflow(
            "ReconcileWorkflow",
            inp,
            id=f"reconcile-test-{uuid.uuid4().hex[:8]}",
            task_queue=self.queue,
            result_type=ReconcileReport,
            execution_timeout=timedelta(seconds=60),
        )
        report: ReconcileReport = await handle.result()
        if record:
            await record_history(handle, record)
        return report

    def of(self, report: ReconcileReport, name: str) -> AccountReport:
        return next(a for a in report.accounts if a.account.name == name)

    async def own(self, size: str, *, hold: bool) -> Any:
        _, ask = await best(self.rig.public)
        worst = pricing.worst_price(await self.rig.public.market("ETH"), Side.BUY, ask, Decimal("0.05"))
        inp = OwnerInput(
            account_index=self.rig.maker.account_index, api_key_index=self.rig.maker.api_key_index,
            size=Decimal(size), worst=worst, hold=hold,
        )  # fmt: skip
        handle = await self.client.start_workflow(
            "ReconcileTestOwner",
            inp,
            id=f"owner-{uuid.uuid4().hex[:8]}",
            task_queue=self.queue,
            result_type=str,
        )
        if not hold:
            await handle.result()
            return handle

        async def holds_its_fill() -> bool:
            return bool((await handle.query(EXPOSURE_QUERY, result_type=Exposure)).positions)

        await eventually(holds_its_fill, "the held owner holding its fill", timeout=30)
        return handle

    async def audit(self, action: str) -> list[AuditEntry]:
        return [e for e in await self.ledger.audit_log(500) if e.action == action]


async def reconcile_worker(
    env: WorkflowEnvironment, ledger: Ledger, public: LighterVenue, queue: str
) -> Worker:
    market = MarketActivities(public)
    alerts = HedgeActivities(HedgeCycles(ledger), Notifier(ledger))
    return Worker(
        env.client,
        task_queue=queue,
        workflows=[ReconcileWorkflow, OwnerWorkflow],
        activities=[
            *ReconcileActivities(env.client, ledger, Notifier(ledger)).all(),
            market.get_book_top,
            market.get_market,
            alerts.send_alert,
        ],
    )


@pytest.fixture
async def recon(
    temporal_env: WorkflowEnvironment, hedge_rig: HedgeRig, pg_ledger: Ledger
) -> AsyncIterator[Reconciler]:
    """The rig's two accounts managed in the ledger, and a worker serving the reconciler."""
    maker, taker = f"maker-{hedge_rig.maker.account_index}", f"taker-{hedge_rig.taker.account_index}"
    for name, acct in ((maker, hedge_rig.maker), (taker, hedge_rig.taker)):
        await pg_ledger.upsert_account(
            AccountRef(
                name=name, venue="lighter", account_index=acct.account_index, api_key_index=acct.api_key_index
            )
        )
    queue = f"reconcile-{uuid.uuid4()}"
    async with await reconcile_worker(temporal_env, pg_ledger, hedge_rig.public, queue):
        yield Reconciler(temporal_env.client, queue, pg_ledger, hedge_rig, maker, taker)


async def manual_sell(venue: LighterVenue, size: Decimal) -> None:
    """An order straight on the venue (no intent in the ledger): what a person does by hand."""
    bid, _ = await best(venue)
    worst = pricing.worst_price(await venue.market("ETH"), Side.SELL, bid, Decimal("0.05"))
    spec = OrderSpec(
        market="ETH", client_order_index=4242, side=Side.SELL, kind=OrderKind.LIMIT, tif=TimeInForce.IOC,
        size=size, price=worst,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))


async def test_a_cycle_terminated_while_quoting_leaves_an_orphan_order_alerted_once_then_cancelled(
    recon: Reconciler,
) -> None:
    rig = recon.rig
    handle = await rig.start(rig.cycle(Side.BUY, maker_timeout_s=300, depth=3))
    await rig.quoting(handle)
    await handle.terminate("operator pressed terminate")
    [resting] = await rig.maker_venue.open_orders("ETH")

    first = await recon.run(default_policy=Policy.ALERT)
    [orphan] = first.orphans
    assert (orphan.kind, orphan.reason, orphan.owner, orphan.owner_status) == (
        OrphanKind.ORDER, OrphanReason.OWNER_TERMINATED, handle.id, OwnerStatus.TERMINATED,
    )  # fmt: skip
    assert orphan.client_order_index == resting.client_order_index
    assert first.alerted == [orphan.key]

    second = await recon.run(default_policy=Policy.ALERT)
    assert [o.key for o in second.orphans] == [orphan.key]
    assert second.alerted == []
    alerts = await recon.audit("alert.critical")
    assert len(alerts) == 1, alerts
    assert str(resting.client_order_index) in str(alerts[0].detail)
    assert await rig.maker_venue.open_orders("ETH") == [resting]  # policy alert: untouched

    third = await recon.run(policies={recon.maker: Policy.CANCEL_ORDERS})
    [action] = recon.of(third, recon.maker).actions
    assert (action.action, action.ok, action.key) == (ActionKind.CANCEL_ORDER, True, orphan.key)
    assert await rig.maker_venue.open_orders("ETH") == []
    assert len(await recon.audit("reconcile.cancel-order")) == 1

    fourth = await recon.run()
    assert fourth.orphans == []
    assert fourth.resolved == [orphan.key]
    assert await Orphans(recon.ledger).open() == []
    assert len(await recon.audit("alert.critical")) == 1


async def test_an_orphan_position_is_flattened_by_exactly_the_orphan_and_a_manual_one_only_alerted(
    recon: Reconciler,
) -> None:
    rig = recon.rig
    live = await recon.own("0.03", hold=True)  # a live owner of 0.03 on the maker account
    ended = await recon.own("0.05", hold=False)  # 0.05 whose owner has ended
    await manual_sell(rig.taker_venue, Decimal("0.02"))
    assert await rig.positions() == (Decimal("0.08"), Decimal("-0.02"))

    report = await recon.run(policies={recon.maker: Policy.FLATTEN, recon.taker: Policy.ALERT})
    maker, taker = recon.of(report, recon.maker), recon.of(report, recon.taker)
    [orphan] = maker.judgement.orphans
    assert (orphan.kind, orphan.size) == (OrphanKind.POSITION, Decimal("0.05"))
    [view] = maker.judgement.positions
    assert (view.venue_size, view.owned, view.owners) == (Decimal("0.08"), Decimal("0.03"), [live.id])
    [flatten] = maker.actions
    assert (flatten.action, flatten.ok, flatten.size) == (ActionKind.FLATTEN, True, Decimal("0.05"))
    [manual] = taker.judgement.orphans
    assert (manual.kind, manual.size, taker.actions) == (OrphanKind.POSITION, Decimal("-0.02"), [])
    assert sorted(report.alerted) == sorted([orphan.key, manual.key])
    assert await rig.positions() == (Decimal("0.03"), Decimal("-0.02"))

    async with recon.ledger.session() as s:
        [close] = (await s.scalars(select(t.Order).where(t.Order.workflow_id == report.workflow_id))).all()
    assert (close.side, close.size, close.reduce_only, close.time_in_force) == (
        "sell",
        Decimal("0.05"),
        True,
        "ioc",
    )
    assert ended.id not in view.owners

    again = await recon.run(policies={recon.maker: Policy.FLATTEN, recon.taker: Policy.ALERT})
    assert [o.key for o in again.orphans] == [manual.key]
    assert (again.alerted, again.resolved) == ([], [orphan.key])
    assert await rig.positions() == (Decimal("0.03"), Decimal("-0.02"))
    assert len(await recon.audit("alert.critical")) == 2
    assert len(await recon.audit("reconcile.flatten")) == 1
    await live.signal("release")


async def test_a_cycle_terminated_while_holding_leaves_both_legs_orphaned_and_flatten_closes_them(
    recon: Reconciler,
) -> None:
    rig = recon.rig
    handle = await rig.start(rig.cycle(Side.SELL, hold_s=300))
    await rig.quoting(handle)
    await rig.move_through(Side.SELL)
    await rig.until(handle, lambda s: s.state is CycleState.HOLDING, "holding")
    await handle.terminate("operator pressed terminate")
    assert await rig.positions() == (Decimal("-0.05"), Decimal("0.05"))

    report = await recon.run("reconcile_flattened_orphans", default_policy=Policy.FLATTEN)
    assert sorted((o.account, o.size) for o in report.orphans) == [
        (recon.maker, Decimal("-0.05")), (recon.taker, Decimal("0.05")),
    ]  # fmt: skip
    for acct in report.accounts:
        [action] = acct.actions
        assert (action.action, action.ok, action.size) == (ActionKind.FLATTEN, True, Decimal("0.05"))
    assert await rig.positions() == (0, 0)
    assert len(report.alerted) == 2
    assert sorted((await recon.run(default_policy=Policy.FLATTEN)).resolved) == sorted(
        o.key for o in report.orphans
    )


async def test_a_live_cycles_resting_order_and_position_are_never_orphans(recon: Reconciler) -> None:
    rig = recon.rig
    handle = await rig.start(rig.cycle(Side.BUY, maker_timeout_s=60, hold_s=300))
    await rig.quoting(handle)
    quoting = await recon.run(default_policy=Policy.FLATTEN)
    assert quoting.orphans == []
    [view] = recon.of(quoting, recon.maker).judgement.orders
    assert (view.owner, view.owner_status) == (handle.id, OwnerStatus.RUNNING)

    await rig.move_through(Side.BUY)
    await rig.until(handle, lambda s: s.state is CycleState.HOLDING, "holding")
    holding = await recon.run(default_policy=Policy.FLATTEN)
    assert holding.orphans == []
    for acct in holding.accounts:
        [position] = acct.judgement.positions
        assert (acct.judgement.deferred, position.owners, position.orphan_size) == ("", [handle.id], 0)
        assert position.owned == position.venue_size != 0
        assert acct.actions == []
    assert await rig.positions() == (Decimal("0.05"), Decimal("-0.05"))

    await handle.signal("flatten", {"by": "pytest"})
    result: CycleResult = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.state is CycleState.DONE
    assert await rig.positions() == (0, 0)


async def test_perpflow_accounts_shows_each_orders_owner_and_highlights_orphans(recon: Reconciler) -> None:
    rig = recon.rig
    handle = await rig.start(rig.cycle(Side.BUY, maker_timeout_s=300, depth=3))
    await rig.quoting(handle)
    await handle.terminate("operator pressed terminate")
    report = await look(recon.client, "lighter", settle=SETTLE_S, timeout=60, task_queue=recon.queue)
    assert report.dry_run
    [orphan] = report.orphans
    assert orphan.owner == handle.id
    # A look writes nothing: no episode, no alert, no action.
    assert await Orphans(recon.ledger).open() == []
    assert await recon.audit("alert.critical") == []
    assert len(await rig.maker_venue.open_orders("ETH")) == 1
    out = Console(record=True, width=400)
    for table in report_tables(report):
        out.print(table)
    text = out.export_text()
    [row] = [line for line in text.splitlines() if str(orphan.client_order_index) in line]
    assert handle.id in row and "terminated" in row and "ORPHAN" in row


async def test_the_schedule_runs_the_reconciler_every_period(recon: Reconciler) -> None:
    client = recon.client
    inp = ReconcileInput(period_s=2, settle_s=0.5)
    assert await ensure_schedule(client, inp, task_queue=recon.queue) == "created"
    handle = client.get_schedule_handle(names.reconcile_schedule_id("lighter"))
    try:
        assert await ensure_schedule(client, inp, task_queue=recon.queue) == "updated"
        desc = await handle.describe()
        assert desc.schedule.spec.intervals[0].every == timedelta(seconds=2)
        assert desc.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
        deadline = asyncio.get_running_loop().time() + 30
        while not (desc := await handle.describe()).info.recent_actions:
            assert asyncio.get_running_loop().time() < deadline, "the schedule never started a run"
            await asyncio.sleep(0.2)
        action = desc.info.recent_actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        run = client.get_workflow_handle(
            action.workflow_id, run_id=action.first_execution_run_id, result_type=ReconcileReport
        )
        report: ReconcileReport = await asyncio.wait_for(run.result(), 30)
        assert report.workflow_id.startswith(names.reconcile_schedule_id("lighter"))
        assert {a.account.name for a in report.accounts} == {recon.maker, recon.taker}
        assert (report.orphans, report.dry_run) == ([], False)
    finally:
        await handle.delete()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"default_policy": "burn-it-all"}, "default_policy"),
        ({"policies": {"maker": "nuke"}}, "policies"),
        ({"period_s": 10, "settle_s": 6}, "settle_s"),
        (None, "no input"),
        ([1, 2], "got list"),
    ],
)
async def test_bad_start_input_fails_the_reconciler_at_once_naming_the_field(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, payload: Any, field: str
) -> None:
    queue = f"reconcile-{uuid.uuid4()}"
    public = LighterVenue(sim.url, 0)
    try:
        async with await reconcile_worker(temporal_env, pg_ledger, public, queue):
            handle = await temporal_env.client.start_workflow(
                "ReconcileWorkflow", *([] if payload is None else [payload]), task_queue=queue,
                id=f"reconcile-bad-{uuid.uuid4().hex[:8]}", result_type=ReconcileReport,
            )  # fmt: skip
            with pytest.raises(WorkflowFailureError) as failure:
                await asyncio.wait_for(handle.result(), timeout=10)
            assert field in str(failure.value.cause)
            described = await handle.describe()
            assert described.typed_search_attributes.get(names.KIND) == names.Kind.RECONCILE
    finally:
        await public.close()
