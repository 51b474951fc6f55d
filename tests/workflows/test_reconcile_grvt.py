"""The exposure reconciler on GRVT, with the real worker processes (orchestrator serving GRVT's
public reads on its market queue, one signer holding GRVT and Lighter keys, the market-data worker
streaming both venues) on the sim's two faces:

- a grid session on GRVT terminated with its ladder resting and a position leaves orphans that the
  reconciler, run on the orchestrator's queue as the Schedule runs it, alerts once each, cancels
  and flattens;
- a cross-venue hedge cycle (the maker on GRVT, the hedge on Lighter) is owned on both venues while
  it runs; terminated while holding, each venue's reconciler finds, reports and (under ``flatten``)
  closes the leg on its own venue, and only it."""

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
from perpflow.hedge.models import CycleResult, CycleState, CycleStatus
from perpflow.models import AccountRef
from perpflow.reconcile.models import (
    AccountReport,
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
    grvt_venue,
    new_grvt_account,
    workers_running,
)
from tests.plugins.hedge import record_history
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, new_account, venue_for
from tests.plugins.venues import best as lighter_best

ETH = 0  # the sim's market id behind ETH_USDT_Perp (and Lighter's ETH)
SIZE = Decimal("0.05")  # a cross-venue cycle's: on both lots, above both markets' minimums
ZERO = Decimal(0)


@dataclass
class Rig(ProcWaits):
    client: Client
    sim: SimHandle
    procs: list[Proc]
    account: GrvtSimAccount  # the grid's
    name: str  # the account's name in the ledger
    ledger: Ledger
    public: GrvtVenue
    cross_grvt: GrvtSimAccount  # a cross-venue cycle's maker
    cross_lighter: SimAccount  # and its hedge
    cross_names: dict[str, str]  # venue -> the name of its cross-venue account in the ledger

    async def reconcile(self, policy: Policy) -> ReconcileReport:
        """One run over the grid's GRVT account."""
        return await self.reconcile_account("grvt", self.name, policy)

    async def reconcile_account(
        self, venue: str, name: str, policy: Policy, record: str | None = None
    ) -> ReconcileReport:
        """One run as the Schedule starts it: on the orchestrator's queue, over this one account
        (other modules' accounts may be in the session's ledger, their signers gone). ``record``
        names its history for tests/replay (when recording)."""
        inp = ReconcileInput(venue=venue, accounts=[name], policies={name: policy}, settle_s=1)
        handle = await self.client.start_workflow(
            "ReconcileWorkflow",
            inp,
            id=f"reconcile-{venue}-test-{uuid.uuid4().hex[:8]}",
            task_queue=names.ORCHESTRATOR_QUEUE,
            result_type=ReconcileReport,
        )
        report: ReconcileReport = await asyncio.wait_for(handle.result(), JOB_WAIT_S)
        if record:
            await record_history(handle, record)
        return report


@pytest.fixture(scope="module")
async def rig(
    sim: SimHandle, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    """A dev server of its own (the orchestrator polls the fixed queues), the three workers as
    processes, fresh accounts managed in the ledger under names of their own: a GRVT account for
    the grid, a GRVT and a Lighter account for the cross-venue cycle."""
    env = await local_temporal()
    account, cross_grvt = await new_grvt_account(sim), await new_grvt_account(sim)
    cross_lighter = await new_account(sim)
    tag = uuid.uuid4().hex[:6]
    name = f"grvt-recon-{tag}"
    cross = {"grvt": f"grvt-cross-{tag}", "lighter": f"lighter-cross-{tag}"}
    ledger = Ledger(postgres_url)
    # Registered before the signer starts: it registers an account only when neither its
    # (venue, index) nor its config's name (grvt-0, maybe another module's) is in the ledger.
    for ref in (
        AccountRef(name=name, venue="grvt", account_index=account.account_index, api_key_index=0),
        AccountRef(name=cross["grvt"], venue="grvt", account_index=cross_grvt.account_index, api_key_index=0),
        AccountRef(name=cross["lighter"], venue="lighter", account_index=cross_lighter.account_index,
                   api_key_index=cross_lighter.api_key_index),
    ):  # fmt: skip
        await ledger.upsert_account(ref)
    state = tmp_path_factory.mktemp("grvt-reconcile")
    stack = grvt_stack(env, sim, postgres_url, state, [account, cross_grvt], [cross_lighter])
    public = GrvtVenue(grvt_url(sim), 0)
    try:
        async with workers_running(stack, ["ETH", ETH_GRVT], ["books", "grvt/books"]) as procs:
            yield Rig(env.client, sim, procs, account, name, ledger, public, cross_grvt, cross_lighter, cross)
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


def cross_cycle(rig: Rig) -> dict[str, Any]:
    """Plain JSON, as an operator starts one: the maker quotes on GRVT, the hedge trades on Lighter
    (the cycle's own venue and market); a long hold."""
    g, a = rig.cross_grvt, rig.cross_lighter
    params = {
        "size": str(SIZE), "maker_timeout_s": 60, "max_requotes": 0, "hold_s": 600, "close_mode": "market",
        "poll_s": 0.5, "hedge_deadline_s": 15,
    }  # fmt: skip
    return {
        "fleet": "recon", "pair": "x", "seq": 0, "venue": "lighter", "market": "ETH", "maker_side": "buy",
        "maker": {"account_index": g.account_index, "api_key_index": 0, "venue": "grvt", "market": ETH_GRVT},
        "taker": {"account_index": a.account_index, "api_key_index": a.api_key_index}, "params": params,
    }  # fmt: skip


async def test_a_cross_venue_cycle_is_owned_on_both_venues_and_once_terminated_each_venue_takes_its_leg(
    rig: Rig,
) -> None:
    g, a = rig.cross_grvt, rig.cross_lighter
    wid = names.hedge_cycle_id("recon", uuid.uuid4().hex[:8], "x", 0)
    handle = await rig.client.start_workflow(
        "HedgeCycleWorkflow", cross_cycle(rig), id=wid, task_queue=names.ORCHESTRATOR_QUEUE,
        result_type=CycleResult,
    )  # fmt: skip
    legs = grvt_venue(rig.sim, g), venue_for(rig.sim, a)

    async def state(check: Callable[[CycleStatus], bool]) -> CycleStatus | None:
        status = await handle.query("status", result_type=CycleStatus)
        return status if check(status) else None

    async def positions() -> tuple[Decimal, Decimal]:
        """(GRVT's leg, Lighter's leg) on the venues."""
        grvt, lighter = await asyncio.gather(legs[0].account(), legs[1].account())
        return grvt.position(ETH_GRVT).size, lighter.position("ETH").size

    try:
        await rig.until(lambda: state(lambda s: any("/maker-" in o for o in s.orders)), "the maker's quote")
        quoting = await rig.reconcile_account("grvt", rig.cross_names["grvt"], Policy.FLATTEN)
        [quote] = account_report(quoting, "grvt", g.account_index).judgement.orders
        assert (quote.owner, quote.owner_status, quoting.orphans) == (handle.id, OwnerStatus.RUNNING, [])

        bid, _ = await lighter_best(legs[1])
        await rig.sim.admin.set_price(ETH, bid - 5)  # through the GRVT maker's buy
        await rig.until(lambda: state(lambda s: s.state is CycleState.HOLDING), "holding")
        assert await positions() == (SIZE, -SIZE)
        for venue, index, market, size in (("grvt", g.account_index, ETH_GRVT, SIZE),
                                           ("lighter", a.account_index, "ETH", -SIZE)):  # fmt: skip
            report = await rig.reconcile_account(venue, rig.cross_names[venue], Policy.FLATTEN)
            acct = account_report(report, venue, index)
            assert (report.orphans, acct.judgement.deferred, acct.actions) == ([], "", []), venue
            [pos] = acct.judgement.positions
            assert (pos.market, pos.venue_size, pos.owned, pos.orphan_size, pos.owners) == (
                market, size, size, ZERO, [handle.id],
            ), venue  # fmt: skip

        await handle.terminate("operator pressed terminate")
        # Lighter's under alert: its leg reported and alerted, nothing closed on either venue.
        alerted = await first_orphans(rig, "lighter", Policy.ALERT)
        [orphan] = alerted.orphans
        assert (orphan.kind, orphan.venue, orphan.account_index, orphan.market, orphan.size) == (
            OrphanKind.POSITION, "lighter", a.account_index, "ETH", -SIZE,
        )  # fmt: skip
        assert alerted.alerted == [orphan.key]
        assert account_report(alerted, "lighter", a.account_index).actions == []
        assert await positions() == (SIZE, -SIZE)
        # GRVT's under flatten: its leg closed, Lighter's left to Lighter's reconciler.
        flattened = await first_orphans(
            rig, "grvt", Policy.FLATTEN, record="reconcile_grvt_cross_venue_leg_flattened"
        )
        [grvt_orphan] = flattened.orphans
        assert (grvt_orphan.venue, grvt_orphan.account_index, grvt_orphan.market, grvt_orphan.size) == (
            "grvt", g.account_index, ETH_GRVT, SIZE,
        )  # fmt: skip
        [close] = account_report(flattened, "grvt", g.account_index).actions
        assert (close.key, close.action, close.ok, close.size) == (
            grvt_orphan.key, ActionKind.FLATTEN, True, SIZE,
        )  # fmt: skip
        assert flattened.alerted == [grvt_orphan.key]
        assert await positions() == (ZERO, -SIZE)
        # Lighter's under flatten now: the episode alerted once already, its leg closed.
        closed = await first_orphans(rig, "lighter", Policy.FLATTEN)
        [close] = account_report(closed, "lighter", a.account_index).actions
        assert (close.key, close.action, close.ok, close.size) == (orphan.key, ActionKind.FLATTEN, True, SIZE)
        assert closed.alerted == []
        assert await positions() == (ZERO, ZERO)
    finally:
        with contextlib.suppress(Exception):
            await handle.terminate("test teardown")
        for leg in legs:
            await leg.close()


def account_report(report: ReconcileReport, venue: str, index: int) -> AccountReport:
    """The report's one account: the one asked for, read without error."""
    [acct] = report.accounts
    assert (report.venue, acct.account.venue, acct.account.account_index, acct.error) == (
        venue, venue, index, "",
    )  # fmt: skip
    return acct


async def first_orphans(rig: Rig, venue: str, policy: Policy, record: str | None = None) -> ReconcileReport:
    """Runs, as the Schedule would start them, until one confirms an orphan: a first run may defer
    positions while the terminated cycle's last orders count as in flight, or see them unsettled."""
    deadline = asyncio.get_running_loop().time() + JOB_WAIT_S
    while True:
        report = await rig.reconcile_account(venue, rig.cross_names[venue], policy, record)
        acct = report.accounts[0]
        if report.orphans:
            return report
        assert asyncio.get_running_loop().time() < deadline, (
            f"no orphan confirmed on {venue}: {acct.judgement}\n{rig.tails()}"
        )
