"""The exposure reconciler on GRVT, with the real worker processes (orchestrator serving GRVT's
public reads on its market queue, one signer holding a GRVT key, the market-data worker) on the
sim's GRVT face: a grid session on GRVT terminated with its ladder resting and a position leaves
orphans that the reconciler, run on the orchestrator's queue as the Schedule runs it, alerts once
each, cancels and flattens."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client

from perpflow import names
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridStatus
from perpflow.models import AccountRef
from perpflow.reconcile.models import (
    ActionKind,
    ActionOutcome,
    OrphanKind,
    OrphanReason,
    OwnerStatus,
    Policy,
    ReconcileInput,
    ReconcileReport,
)
from perpflow.venues.grvt.client import GrvtVenue
from tests.plugins.chaos import Proc
from tests.plugins.grvt_stack import (
    ETH_GRVT,
    JOB_WAIT_S,
    GrvtSimAccount,
    ProcWaits,
    best,
    grvt_stack,
    grvt_url,
    new_grvt_account,
    workers_running,
)
from tests.plugins.sim import SimHandle

ETH = 0  # the sim's market id behind ETH_USDT_Perp


@dataclass
class Rig(ProcWaits):
    client: Client
    sim: SimHandle
    procs: list[Proc]
    account: GrvtSimAccount
    name: str  # the account's name in the ledger
    ledger: Ledger
    public: GrvtVenue

    async def reconcile(self, policy: Policy) -> ReconcileReport:
        """One run as the Schedule starts it: on the orchestrator's queue, over this account only
        (other modules' GRVT accounts may be in the session's ledger, their signers gone)."""
        inp = ReconcileInput(venue="grvt", accounts=[self.name], policies={self.name: policy}, settle_s=1)
        report: ReconcileReport = await self.client.execute_workflow(
            "ReconcileWorkflow",
            inp,
            id=f"reconcile-grvt-test-{uuid.uuid4().hex[:8]}",
            task_queue=names.ORCHESTRATOR_QUEUE,
            result_type=ReconcileReport,
        )
        return report


@pytest.fixture(scope="module")
async def rig(
    sim: SimHandle, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    """A dev server of its own (the orchestrator polls the fixed queues), the three workers as
    processes, one fresh GRVT account managed in the ledger under a name of its own."""
    env = await local_temporal()
    account = await new_grvt_account(sim)
    name = f"grvt-recon-{uuid.uuid4().hex[:6]}"
    ledger = Ledger(postgres_url)
    # Registered before the signer starts: it registers an account only when neither its
    # (venue, index) nor its config's name (grvt-0, maybe another module's) is in the ledger.
    await ledger.upsert_account(AccountRef(name=name, venue="grvt", account_index=account.account_index,
                                           api_key_index=0))  # fmt: skip
    stack = grvt_stack(env, sim, postgres_url, tmp_path_factory.mktemp("grvt-reconcile"), [account])
    public = GrvtVenue(grvt_url(sim), 0)
    try:
        async with workers_running(stack, [ETH_GRVT], ["grvt/books"]) as procs:
            yield Rig(env.client, sim, procs, account, name, ledger, public)
    finally:
        await public.close()
        await ledger.close()
        await env.shutdown()


async def grid_on_grvt(rig: Rig) -> tuple[dict[str, Any], Decimal, Decimal]:
    """A 7-level ETH_USDT_Perp ladder around the GRVT book's mid, sizes on GRVT's lot and notional
    minimums; (config, mid, step)."""
    market = await rig.public.market(ETH_GRVT)
    tick = Decimal(1).scaleb(-market.price_decimals)
    bid, ask = await best(rig.public)
    mid = ((bid + ask) / 2).quantize(tick)
    await rig.sim.admin.set_price(ETH, mid)  # other modules moved it
    bid, ask = await best(rig.public)
    step = max((ask - bid) * 4, mid * Decimal("0.004")).quantize(tick)
    lots = (market.min_quote_amount * 2 / mid / market.min_base_amount).to_integral_value(ROUND_UP)
    config = {
        "name": f"grvt-orphans-{uuid.uuid4().hex[:6]}", "venue": "grvt", "market": ETH_GRVT,
        "account": {"account_index": rig.account.account_index, "api_key_index": 0},
        "lower": str(mid - 3 * step), "upper": str(mid + 3 * step), "levels": 7,
        "size": str(market.min_base_amount * max(lots, 1)), "stop": {"outside_range_pct": 50},
        "reconcile_every_s": 3600,
    }  # fmt: skip
    return config, mid, step


async def test_a_terminated_grvt_grid_sessions_orders_and_position_are_alerted_cancelled_and_flattened(
    rig: Rig,
) -> None:
    config, mid, step = await grid_on_grvt(rig)
    handle = await rig.client.start_workflow(
        "GridSessionWorkflow", config, id=names.grid_session_id(config["name"]),
        task_queue=names.ORCHESTRATOR_QUEUE, result_type=GridStatus,
    )  # fmt: skip
    venue = GrvtVenue(
        grvt_url(rig.sim), rig.account.account_index, api_key_index=0,
        private_key=rig.account.signer, session_key=rig.account.trade_key,
    )  # fmt: skip

    async def status_when(check: Callable[[GridStatus], bool]) -> GridStatus | None:
        status = await handle.query("status", result_type=GridStatus)
        return status if check(status) else None

    try:
        await rig.until(
            lambda: status_when(lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6),
            "the ladder",
        )
        await rig.sim.admin.set_price(ETH, mid - step - step / 2)  # through the buy a step below the mid
        held = await rig.until(
            lambda: status_when(lambda s: s.position > 0 and s.levels[3].state is LevelState.OPEN),
            "a filled buy and the sell above it re-armed",
        )
        await handle.terminate("operator pressed terminate")
        resting = await venue.open_orders(ETH_GRVT)
        position = (await venue.account()).position(ETH_GRVT).size
        assert resting and position == held.position > 0

        reports = await reconcile_until_clean(rig)
        orphans = {o.key: o for r in reports for o in r.orphans}
        orders = [o for o in orphans.values() if o.kind is OrphanKind.ORDER]
        assert sorted(o.client_order_index or 0 for o in orders) == sorted(
            o.client_order_index for o in resting
        )
        assert {(o.reason, o.owner, o.owner_status) for o in orders} == {
            (OrphanReason.OWNER_TERMINATED, handle.id, OwnerStatus.TERMINATED)
        }
        [pos] = [o for o in orphans.values() if o.kind is OrphanKind.POSITION]
        assert (pos.venue, pos.market, pos.size) == ("grvt", ETH_GRVT, position)

        actions = [a for r in reports for acct in r.accounts for a in acct.actions]
        cancels = [a for a in actions if a.action is ActionKind.CANCEL_ORDER]
        assert sorted(a.key for a in cancels) == sorted(o.key for o in orders)
        assert all(a.ok for a in cancels), cancels
        [flatten] = [a for a in actions if a.action is ActionKind.FLATTEN]
        assert (flatten.key, flatten.ok, flatten.size) == (pos.key, True, position), flatten

        alerted = [key for r in reports for key in r.alerted]
        assert sorted(alerted) == sorted(orphans)  # each orphan alerted, once
        assert await venue.open_orders(ETH_GRVT) == []
        assert (await venue.account()).position(ETH_GRVT).size == 0
        await the_close_was_grvts_reduce_only_ioc(rig, reports, position)

        after = await rig.reconcile(Policy.FLATTEN)
        assert (after.orphans, after.alerted) == ([], [])
    finally:
        with contextlib.suppress(Exception):
            await venue.cancel_all(ETH_GRVT)
        await venue.close()


async def reconcile_until_clean(rig: Rig) -> list[ReconcileReport]:
    """Runs, as the Schedule would start them, until one finds no orphan; every run's report.
    A first run may defer the position (the terminated session's last orders in flight for a
    while) and close it in a later run, as the Schedule's next period would."""
    reports: list[ReconcileReport] = []
    deadline = asyncio.get_running_loop().time() + JOB_WAIT_S
    while not reports or reports[-1].orphans:
        assert asyncio.get_running_loop().time() < deadline, (
            f"orphans left after {len(reports)} runs: {last_actions(reports)}\n{rig.tails()}"
        )
        reports.append(report := await rig.reconcile(Policy.FLATTEN))
        [acct] = report.accounts
        assert not acct.error, acct.error
    return reports


def last_actions(reports: list[ReconcileReport]) -> list[ActionOutcome]:
    return [a for acct in reports[-1].accounts for a in acct.actions] if reports else []


async def the_close_was_grvts_reduce_only_ioc(
    rig: Rig, reports: list[ReconcileReport], size: Decimal
) -> None:
    ids = [r.workflow_id for r in reports]
    async with rig.ledger.session() as s:
        [close] = (await s.scalars(select(t.Order).where(t.Order.workflow_id.in_(ids)).where(
            t.Order.reduce_only.is_(True)))).all()  # fmt: skip
    assert (close.venue, close.market, close.side, close.size, close.time_in_force) == (
        "grvt", ETH_GRVT, "sell", size, "ioc",
    )  # fmt: skip
