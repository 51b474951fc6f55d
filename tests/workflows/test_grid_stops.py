"""Each stop condition and each stop action on the real stack (dev server, workers, sim, market
data): sessions side by side, one price path for all. A stop that cancels leaves none of its
session's orders on the venue; ``keep_orders`` leaves exactly its own; the venue holds the
position each session reports; two sessions on one account never touch each other's orders. Each
session's history replays with its tasks' times changed (its deadlines are timers, not the clock)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.grid.client import session_report
from perpflow.grid.config import StopAction
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, GridStatus, StopReason
from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.grid import Ladder, grid_orchestrator, until
from tests.plugins.hedge import ETH, signer_workers
from tests.plugins.marketdata import md_config, running
from tests.plugins.replay_clock import replays_on_every_clock
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, new_account, venue_for
from workflows.grid.deadlines import OFF_THE_CLOCK

WIDE = {"outside_range_pct": 50}  # no range stop on the path below, unless a session asks


@dataclass
class Case:
    label: str
    account: SimAccount
    stop: dict[str, Any]
    reason: StopReason
    action: StopAction
    handle: WorkflowHandle[Any, GridStatus] | None = None

    @property
    def session(self) -> WorkflowHandle[Any, GridStatus]:
        assert self.handle is not None
        return self.handle


async def orders_of(ledger: Ledger, workflow_id: str) -> set[int]:
    """Every order the session ever placed, by client order index, from the ledger."""
    async with ledger.session() as s:
        rows = await s.execute(select(t.Order.client_order_index).where(t.Order.workflow_id == workflow_id))
    return {coi for (coi,) in rows if coi is not None}


async def ended(case: Case) -> GridStatus:
    """The final status: the result, or the status query of a cancelled session."""
    try:
        return await case.session.result()
    except WorkflowFailureError:
        assert case.reason is StopReason.CANCELLED, f"{case.label} failed"
        status: GridStatus = await case.session.query("status", result_type=GridStatus)
        return status


async def all_ended_as_they_say(
    cases: list[Case], venues: dict[int, LighterVenue], ledger: Ledger, *, keeps_orders: SimAccount
) -> None:
    """Each session stopped for its reason; none of its orders left unless it kept them; each
    account holds what its sessions report."""
    by = {case.label: case for case in cases}
    positions: defaultdict[int, Decimal] = defaultdict(Decimal)
    for case in cases:
        final = await ended(case)
        assert (final.state, final.stop_reason) == (GridState.STOPPED, case.reason), case.label
        if case.action is StopAction.FLATTEN:
            assert final.position == 0, case.label
        if case.reason is StopReason.TAKE_PROFIT:
            assert final.pnl.round_trips >= 1 and final.net_pnl > 0
        positions[case.account.account_index] += final.position
        if case.action is not StopAction.KEEP_ORDERS:
            mine = await orders_of(ledger, case.session.id)
            left = await venues[case.account.account_index].open_orders("ETH")
            assert mine and not mine & {o.client_order_index for o in left}, case.label
    for a in {case.account.account_index: case.account for case in cases}.values():
        if a is not keeps_orders:  # keep-orders' orders went on filling after its stop
            held = (await venues[a.account_index].account()).position("ETH").size
            assert held == positions[a.account_index], a.account_index
    assert (await ended(by["keep-position"])).position > 0  # kept, beside the cancelled one's flatten


@pytest.mark.timeout(240)
async def test_each_stop_condition_and_action_leaves_only_what_it_says(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client, public = temporal_env.client, LighterVenue(sim.url, 0)
    ladder = await Ladder.around_the_book(public)
    round_trip = ladder.step * ladder.size  # a round trip's profit, before fees
    accounts = [await new_account(sim) for _ in range(7)]
    cases = [
        Case("max-position", accounts[0], {**WIDE, "max_position": str(ladder.size / 2)},
             StopReason.MAX_POSITION, StopAction.FLATTEN),
        Case("stop-loss", accounts[1], {**WIDE, "stop_loss_usd": str(round_trip / 4)},
             StopReason.STOP_LOSS, StopAction.FLATTEN),
        Case("take-profit", accounts[2],
             {**WIDE, "take_profit_usd": str(round_trip / 2), "action": "keep_position"},
             StopReason.TAKE_PROFIT, StopAction.KEEP_POSITION),
        Case("time-limit", accounts[3], {**WIDE, "max_duration_s": 20, "action": "keep_position"},
             StopReason.TIME_LIMIT, StopAction.KEEP_POSITION),
        Case("keep-orders", accounts[4], WIDE, StopReason.OPERATOR, StopAction.KEEP_ORDERS),
        Case("keep-position", accounts[5], WIDE, StopReason.OPERATOR, StopAction.KEEP_POSITION),
        Case("cancel", accounts[5], WIDE, StopReason.CANCELLED, StopAction.FLATTEN),  # the same account
        Case("range-exit", accounts[6], {"outside_range_pct": 1}, StopReason.RANGE_EXIT, StopAction.FLATTEN),
    ]  # fmt: skip
    by = {case.label: case for case in cases}
    venues = {a.account_index: venue_for(sim, a) for a in accounts}
    queue = f"grid-{uuid.uuid4()}"
    async with AsyncExitStack() as stack:
        stack.push_async_callback(public.close)
        for venue in venues.values():
            stack.push_async_callback(venue.close)
        await stack.enter_async_context(running(md_config(sim, tmp_path), client, pg_ledger))
        workers = [grid_orchestrator(client, queue, public, pg_ledger, tmp_path)]
        for a in accounts:
            workers += signer_workers(client, venues[a.account_index], a, pg_ledger)
        for worker in workers:
            await stack.enter_async_context(worker)

        for case in cases:
            config = ladder.config(f"stop-{case.label}-{uuid.uuid4().hex[:4]}", case.account, stop=case.stop)
            case.handle = await client.start_workflow(
                "GridSessionWorkflow", config, id=names.grid_session_id(config["name"]), task_queue=queue,
                result_type=GridStatus,
            )  # fmt: skip
        for case in cases:
            await until(
                case.session, lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6, "laid"
            )

        # Down through level 2: each buy there fills. Too long for max-position; a loss for stop-loss.
        await sim.admin.set_price(ETH, ladder.mid - ladder.step - ladder.step / 2)
        for label in ("max-position", "stop-loss"):
            await ended(by[label])
        # The operator's stops, each session long one level: keep-position and cancel share an account.
        for label in ("keep-orders", "keep-position", "cancel"):
            await until(by[label].session, lambda s: s.position > 0, f"{label} long")
        await by["keep-orders"].session.signal("stop", {"action": "keep_orders", "by": "test"})
        await by["keep-position"].session.signal("stop", {"action": "keep_position", "by": "test"})
        await by["cancel"].session.cancel()
        for label in ("keep-orders", "keep-position", "cancel"):
            await ended(by[label])
        # What the operator's `grid status` shows of the cancelled one: how its stop ended.
        report = await session_report(client, by["cancel"].session.id)
        assert report.execution == "CANCELED" and report.status is not None
        assert (report.status.stop_reason, report.status.position) == (StopReason.CANCELLED, 0)
        kept = await orders_of(pg_ledger, by["keep-orders"].session.id)
        resting = {o.client_order_index for o in await venues[accounts[4].account_index].open_orders("ETH")}
        assert len(resting) == 6 and resting <= kept  # its ladder, as it was at the stop
        # Back up through level 3: the re-armed sells fill, a round trip for take-profit.
        await sim.admin.set_price(ETH, ladder.mid + ladder.step / 2)
        await ended(by["take-profit"])
        # Far below the range: the range-exit session stops.
        await sim.admin.set_price(ETH, (ladder.mid - 3 * ladder.step) * Decimal("0.97"))

        await all_ended_as_they_say(cases, venues, pg_ledger, keeps_orders=accounts[4])
        for case in cases:  # reconciles, safety polls and the time limit: timers, not the clock
            await replays_on_every_clock(case.session, OFF_THE_CLOCK, tmp_path / "clocks" / case.label)
        for order in await venues[accounts[4].account_index].open_orders("ETH"):
            await venues[accounts[4].account_index].cancel("ETH", order.order_index)
