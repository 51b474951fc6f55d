"""GridSessionWorkflow on the real stack: a dev server, the orchestrator's activities, a signer's
order activities on the sim, and the market-data service signalling fills and the feed state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_UP, Decimal
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.exposure import EXPOSURE_QUERY, Exposure
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, GridStatus
from perpflow.grid.orders import LOST_AFTER_S
from perpflow.signals import PRICE_CROSSED, Direction, PriceCrossed
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.grid import Ladder, grid_orchestrator, level, session_on_the_sim, until
from tests.plugins.hedge import ETH, record_history
from tests.plugins.sim import SimHandle
from tests.plugins.venues import account_again, new_account, venue_for

MANUAL_COI = 7_000_001


async def test_a_session_lays_its_ladder_re_arms_fills_and_stop_leaves_only_the_manual_order(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    account = await new_account(sim)
    venue, public = venue_for(sim, account), LighterVenue(sim.url, 0)
    ladder = await Ladder.around_the_book(public)
    mid, step, size, tick = ladder.mid, ladder.step, ladder.size, ladder.tick
    config = ladder.config(f"sim-{uuid.uuid4().hex[:6]}", account, stop={"outside_range_pct": 50})
    manual = OrderSpec(
        market="ETH", client_order_index=MANUAL_COI, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.POST_ONLY, size=size, price=(mid * Decimal("0.8")).quantize(tick),
    )  # fmt: skip
    await venue.submit(await venue.sign_order(manual))
    try:
        async with session_on_the_sim(client, sim, venue, account, pg_ledger, tmp_path, config) as handle:
            # Unfrozen: the account's stream may come up a moment after the market's (frozen until then).
            laid = await until(
                handle,
                lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6 and not s.frozen,
                "the ladder resting",
            )
            assert level(laid, 3).state is LevelState.IDLE
            resting = {o.client_order_index for o in await venue.open_orders("ETH")}
            assert len(resting) == 7 and MANUAL_COI in resting
            # The exposure reconciler sees the session's orders as its own, never the manual one.
            owned = await handle.query(EXPOSURE_QUERY, result_type=Exposure)
            assert set(owned.open_orders) == resting - {MANUAL_COI} and owned.positions == []

            # The price walks down through level 2: its buy fills, the sell one level up re-arms.
            await sim.admin.set_price(ETH, mid - step - step / 2)
            down = await until(
                handle, lambda s: s.fills >= 1 and level(s, 3).state is LevelState.OPEN, "the sell re-armed"
            )
            assert level(down, 3).side is Side.SELL and down.position > 0
            # Back up through level 3: the sell fills, the buy at level 2 re-arms, a round trip.
            await sim.admin.set_price(ETH, mid + step / 2)
            up = await until(
                handle,
                lambda s: s.pnl.round_trips >= 1 and level(s, 2).state is LevelState.OPEN,
                "the buy re-armed",
            )
            assert level(up, 2).side is Side.BUY and up.pnl.realized > 0

            await handle.signal("stop", {"by": "test", "reason": "done"})
            final = await handle.result()
            assert final.state is GridState.STOPPED and final.position == 0
            left = [o.client_order_index for o in await venue.open_orders("ETH")]
            assert left == [MANUAL_COI]
            assert (await venue.account()).position("ETH").size == 0
            await record_history(handle, "grid_session_stopped")
    finally:
        for order in await venue.open_orders("ETH"):
            await venue.cancel("ETH", order.order_index)
        await venue.close()
        await public.close()


async def test_a_partial_fill_at_the_minimum_size_re_arms_that_size_and_the_rest_keeps_resting(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    account, other = await new_account(sim), await new_account(sim)
    venue, taker, public = venue_for(sim, account), venue_for(sim, other), LighterVenue(sim.url, 0)
    ladder = await Ladder.around_the_book(public)
    market = await public.market("ETH")
    price = ladder.mid - ladder.step  # level 2's buy
    lot = Decimal(1).scaleb(-market.size_decimals)
    smallest = max(market.min_base_amount, (market.min_quote_amount / price).quantize(lot, ROUND_UP))
    config = ladder.config(
        f"part-{uuid.uuid4().hex[:6]}", account, size=str(2 * smallest), stop={"outside_range_pct": 50}
    )
    try:
        async with session_on_the_sim(client, sim, venue, account, pg_ledger, tmp_path, config) as handle:
            await until(handle, lambda s: level(s, 2).state is LevelState.OPEN, "level 2 resting")
            # The price at level 2: the market maker quotes around it, the level's buy is the best
            # bid; another trader sells it the smallest order the market takes.
            await sim.admin.set_price(ETH, price)
            hit = OrderSpec(
                market="ETH", client_order_index=7_000_002, side=Side.SELL, kind=OrderKind.LIMIT,
                tif=TimeInForce.IOC, size=smallest, price=price,
            )  # fmt: skip
            await taker.submit(await taker.sign_order(hit))
            part = await until(
                handle,
                lambda s: level(s, 3).state is LevelState.OPEN,
                "the partial fill re-armed one level up",
            )
            assert (level(part, 3).side, level(part, 3).order_size) == (Side.SELL, smallest)
            assert (level(part, 2).state, level(part, 2).filled) == (LevelState.PARTIALLY_FILLED, smallest)
            assert part.position == smallest
            resting = {o.client_order_index: o for o in await venue.open_orders("ETH")}
            rest = resting[level(part, 2).client_order_index or 0]
            assert rest.remaining_size == smallest  # the rest of the level's order still rests
            await handle.signal("stop", {"by": "test"})
            final = await handle.result()
            assert final.position == 0 and await venue.open_orders("ETH") == []
    finally:
        for v in (venue, taker, public):
            await v.close()


async def test_orders_the_venue_forgot_are_laid_again_and_a_cancel_then_ends_the_session(
    temporal_env: WorkflowEnvironment, fresh: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    """The venue loses every order of the session (the sim reset, the account seeded anew, as a
    restarted dev stack does): once the venue has shown them neither resting nor ended for
    LOST_AFTER_S they count as cancelled, the running ladder is laid again, and a Temporal cancel
    that meets the same loss still ends, leaving nothing on the venue."""
    client, sim = temporal_env.client, fresh
    account = await new_account(sim)
    venue, public = venue_for(sim, account), LighterVenue(sim.url, 0)
    ladder = await Ladder.around_the_book(public)
    config = ladder.config(f"lost-{uuid.uuid4().hex[:6]}", account, reconcile_every_s=2)

    def laid(s: GridStatus) -> bool:
        return sum(r.state is LevelState.OPEN for r in s.levels) == 6 and not s.frozen

    try:
        async with session_on_the_sim(client, sim, venue, account, pg_ledger, tmp_path, config) as handle:
            first = await until(handle, laid, "the ladder resting")
            await sim.admin.reset()
            await account_again(sim, account)
            again = await until(
                handle, lambda s: s.lost_orders == 6 and laid(s), "the ladder laid again", LOST_AFTER_S + 45
            )
            before = {r.client_order_index for r in first.levels} - {None}
            now = {r.client_order_index for r in again.levels} - {None}
            assert len(now) == 6 and not now & before
            assert {o.client_order_index for o in await venue.open_orders("ETH")} == now

            await sim.admin.reset()
            await account_again(sim, account)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            status = await handle.query("status", result_type=GridStatus)
            assert status.state is GridState.STOPPED and status.lost_orders == 12
            assert await venue.open_orders("ETH") == []
    finally:
        await venue.close()
        await public.close()


async def test_a_crossing_signal_older_than_the_last_taken_does_not_set_the_price_back(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    """Signals sent apart may land out of order (a retried one after a later one): the session
    plans at the newest crossing's price, not the last one to land."""
    client = temporal_env.client
    account = await new_account(sim)
    venue, public = venue_for(sim, account), LighterVenue(sim.url, 0)
    ladder = await Ladder.around_the_book(public)
    # No reconcile meanwhile: its read of the book would set the price too.
    config = ladder.config(f"order-{uuid.uuid4().hex[:6]}", account, reconcile_every_s=3600)
    try:
        async with session_on_the_sim(client, sim, venue, account, pg_ledger, tmp_path, config) as handle:
            await until(handle, lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6, "laid")
            now = datetime.now(UTC)
            newer, older = ladder.mid + ladder.tick, ladder.mid - ladder.tick  # both in the gap
            for price, at in ((newer, now), (older, now - timedelta(seconds=1))):
                crossed = PriceCrossed(
                    watch_id=0, venue="lighter", market="ETH", level=price, direction=Direction.UP,
                    price=price, at=at,
                )  # fmt: skip
                await handle.signal(PRICE_CROSSED, crossed)
            await handle.signal(PRICE_CROSSED, {"not": "a crossing"})  # taken after both, and rejected
            taken = await until(handle, lambda s: len(s.rejected_commands) == 1, "the crossings taken")
            assert taken.mark == newer
    finally:
        await venue.close()
        await public.close()


async def test_a_session_on_an_account_no_signer_serves_fails_naming_it_before_placing(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger, tmp_path: Path
) -> None:
    """The README's example account, say, on a stack that has no signer for it: the session fails
    within SIGNER_PRESENT, by name, leaving nothing behind, instead of sitting with its reads
    scheduled on a queue nobody polls."""
    client, public = temporal_env.client, LighterVenue(sim.url, 0)
    ladder = await Ladder.around_the_book(public)
    account = await new_account(sim)
    config = ladder.config(f"nobody-{uuid.uuid4().hex[:6]}", account)
    config["account"] = {"account_index": 999_999, "api_key_index": 3}
    queue = f"grid-{uuid.uuid4()}"
    async with grid_orchestrator(client, queue, public, pg_ledger, tmp_path):
        handle = await client.start_workflow(
            "GridSessionWorkflow", config, id=names.grid_session_id(config["name"]), task_queue=queue,
            result_type=GridStatus,
        )  # fmt: skip
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "UnknownAccount"
    assert "no signer serves lighter account 999999 API key 3" in cause.message
    history = await handle.fetch_history()
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert scheduled == {"get_position"}  # the check alone: no watch registered, nothing placed
