"""GridSessionWorkflow on the time-skipping server with the fake venue: the ladder laid, each fill
re-armed on the other side exactly once, partial fills, frozen while the feed is down, every stop
action, an adjust rebuilt once, sizes off the market's lot refused at the start and in an adjust, a
Temporal cancel, continue-as-new carrying the book."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from perpflow.grid import ladder
from perpflow.grid.config import GridConfig, StopAction
from perpflow.grid.errors import LadderError
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, GridStatus, StopReason
from perpflow.signals import FeedState
from perpflow.venues.types import MarketInfo, Side
from tests.timeskip.conftest import history_lengths, until
from tests.timeskip.fake_grid import GridRig, grid_rig
from tests.timeskip.fakes import legs

LEVEL = Decimal(10)
MID = Decimal(2000)
SIZE = Decimal("0.01")


@pytest.fixture
async def rig(skipping_env: WorkflowEnvironment) -> AsyncIterator[GridRig]:
    async with grid_rig(skipping_env) as rig:
        yield rig


async def laid(rig: GridRig, config: dict[str, Any] | None = None) -> WorkflowHandle[Any, GridStatus]:
    """A session started, its 20 levels resting (10 buys below 2000, 10 sells above)."""
    handle = await rig.start(config or rig.config())
    await until(lambda: len(rig.resting()) == 20, "the ladder resting")
    return handle


def account_position(rig: GridRig) -> Decimal:
    return rig.fake.venue.positions[rig.account.account_index]


async def test_the_ladder_rests_one_order_per_level_and_the_gap_at_the_price(rig: GridRig) -> None:
    handle = await laid(rig)
    status = await rig.until_status(handle, lambda s: s.state is GridState.RUNNING, "running")
    assert sorted((o.intent.side, o.intent.price) for o in rig.resting()) == sorted(
        [(Side.BUY, MID - LEVEL * i) for i in range(1, 11)]
        + [(Side.SELL, MID + LEVEL * i) for i in range(1, 11)]
    )
    assert len({o.intent.key for o in rig.resting()}) == 20
    assert all(o.intent.size == SIZE and o.intent.tif.value == "post_only" for o in rig.resting())
    rows = {row.price: row for row in status.levels}
    assert rows[MID].state is LevelState.IDLE
    # Crossings at each level re-arm a quarter of a step away: a price hovering there signals once.
    bands = [w for w in rig.fake.watches if w.workflow_id == handle.id]
    assert bands and {w.hysteresis for w in bands} == {LEVEL / 4}
    assert await rig.until_status(
        handle, lambda s: all(r.state is not LevelState.PLACING for r in s.levels), "acked"
    )


async def test_a_fill_re_arms_the_opposite_level_exactly_once_even_signalled_twice(rig: GridRig) -> None:
    handle = await laid(rig)
    [bid] = rig.resting(MID - LEVEL)
    await rig.fill(handle, bid, signals=2)
    await until(lambda: rig.resting(MID), "the sell one level up")
    await rig.until_status(handle, lambda s: s.fills == 1 and s.position == SIZE, "one fill counted")
    await asyncio.sleep(1)
    [sell] = rig.placed_at(MID)
    assert (sell.side, sell.size) == (Side.SELL, SIZE)
    assert len(rig.fake.venue.placed()) == 21
    # The sell fills: the level below re-arms its buy (once), the round trip's profit is realised.
    [ask] = rig.resting(MID)
    await rig.fill(handle, ask, signals=2)
    await until(lambda: rig.resting(MID - LEVEL), "the buy re-armed")
    status = await rig.until_status(handle, lambda s: s.fills == 2, "two fills")
    await asyncio.sleep(1)
    assert len(rig.placed_at(MID - LEVEL)) == 2 and len(rig.fake.venue.placed()) == 22
    assert status.position == 0 and status.pnl.realized == SIZE * LEVEL


async def test_a_partial_fill_re_arms_the_filled_quantity_and_the_rest_keeps_resting(rig: GridRig) -> None:
    handle = await laid(rig)
    [bid] = rig.resting(MID - LEVEL)
    await rig.fill(handle, bid, Decimal("0.004"))
    await until(lambda: rig.resting(MID), "the sell for the filled part")
    [sell] = rig.resting(MID)
    assert (sell.intent.side, sell.intent.size) == (Side.SELL, Decimal("0.004"))
    status = await rig.until_status(handle, lambda s: s.position == Decimal("0.004"), "the partial fill")
    row = next(r for r in status.levels if r.price == MID - LEVEL)
    assert row.state is LevelState.PARTIALLY_FILLED and row.filled == Decimal("0.004")
    assert rig.resting(MID - LEVEL) == [bid]


async def test_frozen_while_the_feed_is_down_then_the_reconcile_catches_up(rig: GridRig) -> None:
    handle = await laid(rig)
    await rig.feed(handle, FeedState.DOWN)
    await rig.until_status(handle, lambda s: s.frozen, "frozen")
    reads = len(rig.fake.called("get_open_orders"))
    [bid] = rig.resting(MID - LEVEL)
    rig.fake.venue.mark = bid.intent.price
    rig.fake.venue.fill(bid.coi)  # its signal was lost with the feed
    await asyncio.sleep(1)
    assert rig.resting(MID) == [] and (await rig.status(handle)).frozen
    await rig.feed(handle, FeedState.UP)
    await until(lambda: rig.resting(MID), "the sell placed after the reconcile")
    status = await rig.until_status(handle, lambda s: not s.frozen and s.position == SIZE, "caught up")
    assert len(rig.fake.called("get_open_orders")) > reads
    assert status.fills == 1 and len(rig.placed_at(MID)) == 1


@pytest.mark.parametrize("action", list(StopAction))
async def test_stop_carries_out_its_action_and_leaves_the_manual_order_alone(
    rig: GridRig, action: StopAction
) -> None:
    handle = await laid(rig)
    [bid] = rig.resting(MID - LEVEL)
    await rig.fill(handle, bid)
    await until(lambda: rig.resting(MID), "the re-armed sell")
    manual = await rig.manual_order(Decimal(1500))
    await rig.until_status(handle, lambda s: s.position == SIZE, "the fill counted")
    await handle.signal("stop", {"action": action.value, "by": "test", "reason": "done"})
    status = await handle.result()
    assert status.state is GridState.STOPPED and status.stop_reason is StopReason.OPERATOR
    own = [o for o in rig.resting() if o.coi != manual.coi]
    if action is StopAction.KEEP_ORDERS:
        assert len(own) == 20 and status.position == SIZE
    else:
        assert own == []
        expected = 0 if action is StopAction.FLATTEN else SIZE
        assert status.position == expected and account_position(rig) == expected
    assert rig.resting()[-1] is manual or manual in rig.resting()
    assert all(ref.client_order_index != manual.coi for ref in rig.fake.called("cancel_order"))
    assert rig.fake.sessions[-1].state is GridState.STOPPED
    assert {f.fill_id for f in rig.fake.fills} >= {"fill-1"}


async def test_adjust_rebuilds_once_even_when_the_update_is_retried(rig: GridRig) -> None:
    handle = await laid(rig)
    old = {o.coi for o in rig.resting()}
    for _ in range(2):
        await handle.execute_update("adjust", {"levels": 11})
    status = await rig.until_status(
        handle, lambda s: s.version == 1 and s.state is GridState.RUNNING and len(s.levels) == 11, "rebuilt"
    )
    await until(lambda: len(rig.resting()) == 10, "the new ladder resting")
    assert not old & {o.coi for o in rig.resting()}
    assert sorted(o.intent.price for o in rig.resting())[:2] == [Decimal(1900), Decimal(1920)]
    await asyncio.sleep(1)
    assert (await rig.status(handle)).version == 1 == status.version
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("adjust", {"lower": "2200"})
    assert "lower" in str(refused.value.cause)


async def test_a_size_off_the_lot_fails_the_start_at_once_naming_size_and_lot(rig: GridRig) -> None:
    handle = await rig.start(rig.config(size="0.01234"))  # the fake's ETH has 4 size decimals
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "LadderError" and cause.non_retryable
    assert "size 0.01234 base is not a multiple of the lot (the market's lot is 0.0001" in cause.message
    assert not rig.fake.venue.placed()


async def test_an_adjust_the_market_cannot_take_is_refused_in_one_line_and_changes_nothing(
    rig: GridRig,
) -> None:
    handle = await laid(rig)
    refusals = []
    for change in ({"size": "0.00015"}, {"lower": "2200"}, {"levls": 11}):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("adjust", change)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        refusals.append(cause.message)
    assert "not a multiple of the lot (the market's lot is 0.0001" in refusals[0]
    assert refusals[1] == "upper (2100) must be above lower (2200)"
    assert refusals[2] == "levls: Extra inputs are not permitted"
    assert not any("input_value" in r or "errors.pydantic.dev" in r for r in refusals)
    status = await rig.status(handle)
    assert (status.state, status.version, len(status.levels)) == (GridState.RUNNING, 0, 21)
    assert {o.intent.size for o in rig.resting()} == {SIZE} and len(rig.resting()) == 20


def test_grvt_lot_is_its_minimum_size_lighter_its_size_decimals() -> None:
    """GRVT ETH_USDT_Perp (lot 0.005, given as its minimum size): 0.0123 and 0.012 are refused,
    not cut to 0.012; a quote size rounds down to the lot. On Lighter 0.0123 is on the lot."""
    grvt = MarketInfo(symbol="ETH_USDT_Perp", market_id=1, size_decimals=3, price_decimals=2,
                      min_base_amount=Decimal("0.005"), min_quote_amount=Decimal(0))  # fmt: skip
    account, _ = legs()
    base = {"name": "g", "account": account.model_dump(), "market": "ETH_USDT_Perp", "lower": "1900",
            "upper": "2100", "levels": 3}  # fmt: skip
    for size in ("0.0123", "0.012"):
        config = GridConfig.model_validate({**base, "venue": "grvt", "size": size})
        off_lot = f"size {size} base is not a multiple of the lot .*lot is 0.005"
        with pytest.raises(LadderError, match=off_lot):
            ladder.level_size(config, grvt, Decimal(2000))
    on_lot = GridConfig.model_validate({**base, "venue": "grvt", "size": "0.015"})
    assert ladder.level_size(on_lot, grvt, Decimal(2000)) == Decimal("0.015")
    quote = GridConfig.model_validate({**base, "venue": "grvt", "size": "25", "size_unit": "quote"})
    assert ladder.level_size(quote, grvt, Decimal(2000)) == Decimal("0.010")  # 0.0125 down to the lot
    lighter = grvt.model_copy(update={"size_decimals": 4})
    config = GridConfig.model_validate({**base, "venue": "lighter", "size": "0.0123"})
    assert ladder.level_size(config, lighter, Decimal(2000)) == Decimal("0.0123")


async def test_a_temporal_cancel_stops_with_the_configured_action_and_ends_cancelled(rig: GridRig) -> None:
    handle = await laid(rig)
    [bid] = rig.resting(MID - LEVEL)
    await rig.fill(handle, bid)
    await rig.until_status(handle, lambda s: s.position == SIZE, "the fill counted")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    status = await rig.status(handle)
    assert status.state is GridState.STOPPED and status.stop_reason is StopReason.CANCELLED
    assert rig.resting() == [] and account_position(rig) == 0 and status.position == 0
    assert rig.fake.sessions[-1].stop_reason is StopReason.CANCELLED


async def continued(handle: WorkflowHandle[Any, Any], first_run: str | None) -> bool:
    return (await handle.describe()).run_id != first_run


async def round_trips(rig: GridRig, handle: WorkflowHandle[Any, Any], fills: int) -> None:
    """Fill the bid below the mark, then the ask it re-armed, and so on: one fill at a time, each
    after the order it re-armed rests."""
    for n in range(fills):
        price = MID - LEVEL if n % 2 == 0 else MID
        [order] = await until(lambda p=price: rig.resting(p), f"the order at {price} (fill {n})")  # type: ignore[misc]
        await rig.fill(handle, order)


async def test_continue_as_new_carries_the_book_and_the_rejected_commands(rig: GridRig) -> None:
    handle = await laid(rig, rig.config(fills_per_run=10))
    first_run = (await handle.describe()).run_id
    await handle.signal("pauze", {"by": "test"})  # misspelled: rejected, shown, not dropped
    await round_trips(rig, handle, 12)
    status = await rig.until_status(handle, lambda s: s.fills == 12, "12 fills")
    assert status.pnl.round_trips == 6 and status.pnl.realized == 6 * SIZE * LEVEL
    assert [c.name for c in status.rejected_commands] == ["pauze"]
    assert status.state is GridState.RUNNING
    # A run continues as new once its plan is empty: a fill that came meanwhile is carried out first.
    await until(lambda: continued(handle, first_run), "the run continued as new")
    await until(lambda: len(rig.resting()) == 20, "the last re-armed buy resting")
    assert len({o.key for o in rig.fake.venue.placed()}) == 32
    assert len(await history_lengths(rig.client, handle.id, first_run or "")) == 2


async def test_paused_places_nothing_new_and_resume_re_arms(rig: GridRig) -> None:
    handle = await laid(rig)
    await handle.signal("pause", {"by": "test"})
    await rig.until_status(handle, lambda s: s.state is GridState.PAUSED, "paused")
    [bid] = rig.resting(MID - LEVEL)
    await rig.fill(handle, bid)
    await rig.until_status(handle, lambda s: s.fills == 1, "the fill counted while paused")
    await asyncio.sleep(1)
    assert rig.placed_at(MID) == []
    await handle.signal("resume", {"by": "test"})
    await until(lambda: rig.resting(MID), "the sell re-armed after resume")
    assert len(rig.placed_at(MID)) == 1


async def test_a_refused_level_is_tried_again_later_under_a_new_key(rig: GridRig) -> None:
    rig.fake.venue.refuse(lambda i: i.price == MID - LEVEL, times=2, error="InvalidOrder")
    handle = await rig.start(rig.config())
    await until(lambda: rig.resting(MID - LEVEL), "the refused level placed at last")
    keys = [i.key for i in rig.fake.called("place_order") if i.price == MID - LEVEL]
    assert [k.rsplit("-g", 1)[1] for k in keys] == ["0", "1", "2"]
    assert len(rig.resting()) == 20
    await handle.signal("stop", {"action": "keep_position"})
    status = await handle.result()
    assert status.state is GridState.STOPPED and rig.resting() == []


@pytest.mark.parametrize(
    ("change", "says"),
    [({"levels": 1}, "levels"), ({"account": None}, "account"), ({"size": "0.0001"}, "")],
    ids=["too-few-levels", "no-account", "below-the-market-minimum"],
)
async def test_a_config_that_cannot_run_fails_at_once_placing_nothing(
    rig: GridRig, change: dict[str, Any], says: str
) -> None:
    config = {k: v for k, v in {**rig.config(), **change}.items() if v is not None}
    handle = await rig.start(config)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, ApplicationError), failure.value.cause
    assert failure.value.cause.type in ("InvalidInput", "LadderError") and says in str(failure.value.cause)
    assert rig.fake.called("place_order") == []
