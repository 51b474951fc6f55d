"""HedgeCycleWorkflow on the real dev server, real signer activities, the sim and the real SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from perpflow.db.ledger import Ledger
from perpflow.hedge.models import Adjust, CycleParams, CycleResult, CycleState
from perpflow.venues.types import Side
from tests.plugins.hedge import ETH, HedgeRig, record_history, sell_into_bid
from tests.plugins.marketdata import eventually, md_config, running
from tests.plugins.sim import SimHandle
from tests.plugins.venues import best


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=["long-maker", "short-maker"])
async def test_full_cycle_hedges_holds_closes_and_ends_flat(hedge_rig: HedgeRig, side: Side) -> None:
    latency = {"venue": "lighter", "account": str(hedge_rig.taker.account_index)}

    def hedges_timed() -> float:
        return REGISTRY.get_sample_value("perpflow_hedge_latency_seconds_count", latency) or 0.0

    timed = hedges_timed()
    handle = await hedge_rig.start(hedge_rig.cycle(side))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(side)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE, result
    assert result.maker_filled == result.hedged == Decimal("0.05")
    assert await hedge_rig.positions() == (0, 0)
    assert result.open_exposure == {}
    assert hedges_timed() > timed  # the signer timed the hedge from the maker's fill
    await record_history(handle, f"hedge_cycle_completed_{side.value}")


async def test_partial_fills_are_each_hedged(fresh: SimHandle, hedge_rig: HedgeRig) -> None:
    """``fresh``: no other test's resting bid shares our price level."""
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, size=Decimal("0.05"), maker_timeout_s=30))
    await hedge_rig.quoting(handle)
    price = (await hedge_rig.public.book("ETH", 1)).bids[0].price
    # Re-quote the market maker at the same reference: its bids now queue behind ours, so a
    # sale at our price fills our order first, in the parts we choose.
    reference = (await fresh.admin.state())["markets"][str(ETH)]["price"]
    await fresh.admin.set_price(ETH, reference)
    await sell_into_bid(hedge_rig.sim, Decimal("0.02"), price)
    first = await hedge_rig.until(handle, lambda s: s.hedged > 0, "the first hedge")
    assert first.hedged <= first.maker_filled  # never ahead of the fills it covers
    if first.maker_filled < Decimal("0.05"):
        await sell_into_bid(hedge_rig.sim, Decimal("0.05") - first.maker_filled, price)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE
    assert result.maker_filled == result.hedged == Decimal("0.05")
    status = await hedge_rig.status(handle)
    # Each increment the cycle saw was hedged by its own order, and nothing twice.
    assert len([o for o in status.orders if "/hedge-" in o]) >= 2
    assert await hedge_rig.positions() == (0, 0)


async def test_maker_timeout_cancels_and_requotes(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, maker_timeout_s=1.5, max_requotes=1, depth=3))
    result: CycleResult = await handle.result()
    assert (result.state, result.maker_filled) == (CycleState.DONE, 0)
    status = await hedge_rig.status(handle)
    assert [o.rsplit("/", 1)[1] for o in status.orders] == ["maker-0", "maker-1"]
    assert await hedge_rig.maker_venue.open_orders("ETH") == []


async def test_rejected_hedge_unwinds_the_maker_leg(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY))
    await hedge_rig.quoting(handle)
    await hedge_rig.sim.admin.inject_fault("reject_orders", count=1)  # the hedge, and only it
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert "refused" in result.reason
    assert (result.maker_filled, result.hedged) == (Decimal("0.05"), 0)
    assert await hedge_rig.positions() == (0, 0)
    await record_history(handle, "hedge_cycle_unwound")


async def test_venue_down_during_the_hedge_recovers_before_the_deadline(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.SELL, hedge_deadline_s=20))
    await hedge_rig.quoting(handle)
    await hedge_rig.sim.admin.inject_fault("http_5xx", seconds=3, path="/api/v1/sendTx")
    await hedge_rig.move_through(Side.SELL)
    result: CycleResult = await handle.result()
    assert (result.state, result.hedged) == (CycleState.DONE, Decimal("0.05")), result
    assert await hedge_rig.positions() == (0, 0)


async def test_venue_down_past_the_deadline_unwinds(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, hedge_deadline_s=3))
    await hedge_rig.quoting(handle)
    await hedge_rig.sim.admin.inject_fault("http_5xx", seconds=6, path="/api/v1/sendTx")
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert await hedge_rig.positions() == (0, 0)


@pytest.mark.parametrize(
    ("move", "limit", "word"),
    [
        (Decimal(-150), {"stop_loss_usd": Decimal(5)}, "stop-loss"),
        (Decimal(150), {"take_profit_usd": Decimal(5)}, "take-profit"),
    ],
    ids=["stop-loss", "take-profit"],
)
async def test_hold_closes_on_stop_loss_and_take_profit(
    hedge_rig: HedgeRig,
    pg_ledger: Ledger,
    tmp_path: Path,
    move: Decimal,
    limit: dict[str, Decimal],
    word: str,
) -> None:
    """The market-data worker's price watch signals the crossing: with an hour's hold and the
    safety poll ten minutes away, only that signal can close the cycle within the test."""
    config = md_config(hedge_rig.sim, tmp_path)
    async with running(config, hedge_rig.client, pg_ledger) as svc:
        handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, hold_s=3600, **limit))
        await hedge_rig.quoting(handle)
        await hedge_rig.move_through(Side.BUY)
        await hedge_rig.until(handle, lambda s: s.state is CycleState.HOLDING, "holding")

        async def watched() -> bool:
            return any(b.watch.spec.workflow_id == handle.id for b in svc.bands["ETH"].bands.values())

        await eventually(watched, "the cycle's stop-loss / take-profit watch loaded")
        bid, _ = await best(hedge_rig.public)
        await hedge_rig.sim.admin.set_price(ETH, bid + move)
        result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE
    assert result.reason.startswith(word), result.reason
    assert await hedge_rig.positions() == (0, 0)
    await record_history(handle, f"hedge_cycle_{word}")


def temporal_cli(env: WorkflowEnvironment, *args: str) -> subprocess.CompletedProcess[str]:
    target = env.client.service_client.config.target_host
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            *args,
            "--address",
            target,
            "-n",
            env.client.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_operator_signals_with_plain_json_from_the_temporal_cli(
    hedge_rig: HedgeRig, temporal_env: WorkflowEnvironment
) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, maker_timeout_s=60, depth=3))
    await hedge_rig.quoting(handle)

    def signal(name: str, payload: str | None = None) -> None:
        extra = ["--input", payload] if payload is not None else []
        done = temporal_cli(temporal_env, "workflow", "signal", "-w", handle.id, "--name", name, *extra)
        assert done.returncode == 0, done.stderr

    signal("pause", '{"by": "ops", "reason": "news"}')
    await hedge_rig.until(handle, lambda s: s.paused, "paused")
    signal("resume")
    await hedge_rig.until(handle, lambda s: not s.paused, "resumed")
    signal("pause", '"not an object"')
    signal("order_filled", '{"bogus": 1}')
    status = await hedge_rig.until(handle, lambda s: len(s.rejected_commands) == 2, "two rejected commands")
    assert [r.name for r in status.rejected_commands] == ["pause", "order_filled"]
    assert not status.paused
    signal("flatten", '{"by": "ops"}')
    result: CycleResult = await handle.result()
    assert result.state is CycleState.STOPPED
    assert await hedge_rig.maker_venue.open_orders("ETH") == []


async def test_flatten_during_the_hold_closes_at_once(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.SELL, hold_s=600))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(Side.SELL)
    await hedge_rig.until(handle, lambda s: s.state is CycleState.HOLDING, "holding")
    await handle.signal("flatten", {"by": "pytest"})
    result: CycleResult = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.state is CycleState.DONE
    assert await hedge_rig.positions() == (0, 0)


async def test_adjust_is_validated_before_it_reaches_history(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, maker_timeout_s=60, depth=3))
    await hedge_rig.quoting(handle)
    for bad, why in (
        (Adjust(size=Decimal("0.001")), "below the market minimum"),
        (Adjust(), "nothing to adjust"),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await handle.execute_update("adjust", bad, result_type=CycleParams)
        assert why in str(exc.value.cause)
    params = await handle.execute_update("adjust", Adjust(hold_s=5, depth=2), result_type=CycleParams)
    assert (params.hold_s, params.depth) == (5, 2)
    await handle.signal("stop")
    await handle.signal("flatten")
    assert (await handle.result()).state is CycleState.STOPPED


async def test_a_fill_racing_the_cancel_is_still_hedged(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, maker_timeout_s=2, max_requotes=0, poll_s=30))
    await hedge_rig.quoting(handle)
    # Hold the cancel's own order lookups, then fill the order while the cancel is under way.
    await hedge_rig.sim.admin.inject_fault("latency", count=2, path="/api/v1/accountOrders", latency_ms=2500)

    async def cancel_scheduled() -> bool:
        async for event in handle.fetch_history_events():
            attrs = event.activity_task_scheduled_event_attributes
            if (
                event.HasField("activity_task_scheduled_event_attributes")
                and attrs.activity_type.name == "cancel_order"
            ):
                return True
        return False

    deadline = asyncio.get_running_loop().time() + 20
    while not await cancel_scheduled():
        assert asyncio.get_running_loop().time() < deadline, "the cancel was never scheduled"
        await asyncio.sleep(0.1)
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert (result.state, result.maker_filled, result.hedged) == (
        CycleState.DONE,
        Decimal("0.05"),
        Decimal("0.05"),
    )
    assert await hedge_rig.positions() == (0, 0)
