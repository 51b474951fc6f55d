"""A Temporal cancel of a hedge cycle in each state: its resting orders cancelled, only its own
legs closed (reduce-only), Temporal CANCELED, ``status`` and the last ledger row CANCELLED with
the amounts; a close the venue refuses ends Temporal FAILED (ExposureLeft) with the exposure."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from perpflow.hedge.models import CycleResult, CycleState
from perpflow.signals import PRICE_CROSSED
from perpflow.venues.types import OrderStatus, Side
from tests.timeskip.conftest import CycleRig, until
from tests.timeskip.fakes import is_close, is_hedge, is_maker

SIZE = Decimal("0.05")
ZERO = Decimal(0)


async def ends_cancelled(rig: CycleRig, handle: WorkflowHandle[Any, Any]) -> CycleResult:
    """Temporal CANCELED, ``status`` CANCELLED, and the final ledger row's result."""
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError), failure.value.cause
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    assert (await rig.status(handle)).state is CycleState.CANCELLED
    final = rig.fake.records_of(handle.id)[-1]
    assert final.state is CycleState.CANCELLED and final.result is not None
    assert final.result.state is CycleState.CANCELLED
    return final.result


async def cancel_reached_the_read(handle: WorkflowHandle[Any, Any]) -> bool:
    events = (await handle.fetch_history()).events
    return any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED for e in events)


def closes(rig: CycleRig) -> list[tuple[int, Side, Decimal]]:
    return [(o.account_index, o.side, o.size) for o in rig.fake.venue.placed(is_close)]


async def test_cancel_while_quoting_cancels_the_resting_maker_order_and_places_nothing_else(
    cycle_rig: CycleRig,
) -> None:
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    coi = await cycle_rig.maker_resting()
    await handle.cancel()
    result = await ends_cancelled(cycle_rig, handle)
    assert [o.key.rsplit("/", 1)[1] for o in cycle_rig.fake.venue.placed()] == ["maker-0"]
    assert [ref.client_order_index for ref in cycle_rig.fake.called("cancel_order")] == [coi]
    assert cycle_rig.fake.venue.resting() == []
    assert (result.maker_filled, result.hedged, result.realized_pnl) == (ZERO, ZERO, ZERO)
    assert result.open_exposure == {}


async def test_cancel_while_paused_before_quoting_places_no_order(cycle_rig: CycleRig) -> None:
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY), start_signal="pause")
    await cycle_rig.until_status(
        handle, lambda s: s.paused and s.state is CycleState.QUOTING, "paused in QUOTING"
    )
    # QUOTING is also the state before the cycle has begun: wait until it recorded entering it.
    await until(lambda: cycle_rig.fake.records_of(handle.id), "the QUOTING record")
    await handle.cancel()
    result = await ends_cancelled(cycle_rig, handle)
    assert cycle_rig.fake.called("place_order") == []
    assert (result.maker_filled, result.hedged) == (ZERO, ZERO)


async def test_cancel_with_a_hedge_in_flight_waits_for_it_then_closes_both_partial_legs(
    cycle_rig: CycleRig,
) -> None:
    """Maker partly filled, its hedge still in flight when the cancel arrives: the cancel tracks
    the hedge's fill, cancels the rest of the quote and closes exactly the partial size per leg."""
    venue = cycle_rig.fake.venue
    hedge_sent = venue.hold(is_hedge)
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    venue.fill(await cycle_rig.maker_resting(), Decimal("0.02"))
    await cycle_rig.in_state(handle, CycleState.HEDGING)
    await until(lambda: any(is_hedge(i) for i in cycle_rig.fake.called("place_order")), "the hedge sent")
    await handle.cancel()
    await cycle_rig.in_state(handle, CycleState.CANCELLING)
    hedge_sent.set()
    result = await ends_cancelled(cycle_rig, handle)
    assert (result.maker_filled, result.hedged) == (Decimal("0.02"), Decimal("0.02"))
    assert sorted(closes(cycle_rig)) == sorted(
        [
            (cycle_rig.maker.account_index, Side.SELL, Decimal("0.02")),
            (cycle_rig.taker.account_index, Side.BUY, Decimal("0.02")),
        ]
    )
    assert venue.resting() == []
    assert (
        venue.positions[cycle_rig.maker.account_index] == venue.positions[cycle_rig.taker.account_index] == 0
    )


async def test_cancel_while_holding_closes_only_the_cycles_own_size_on_accounts_holding_more(
    cycle_rig: CycleRig,
) -> None:
    venue = cycle_rig.fake.venue
    maker, taker = cycle_rig.maker.account_index, cycle_rig.taker.account_index
    venue.positions[maker], venue.positions[taker] = Decimal("1.5"), Decimal("-0.7")  # not the cycle's
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    await cycle_rig.hedged_and_holding(handle)
    await handle.cancel()
    result = await ends_cancelled(cycle_rig, handle)
    assert sorted(closes(cycle_rig)) == sorted([(maker, Side.SELL, SIZE), (taker, Side.BUY, SIZE)])
    assert all(o.reduce_only for o in venue.placed(lambda i: "/cancel-" in i.key))
    assert (venue.positions[maker], venue.positions[taker]) == (Decimal("1.5"), Decimal("-0.7"))
    assert (result.maker_filled, result.hedged) == (SIZE, SIZE)
    assert result.realized_pnl < 0  # paid the spread twice, nothing else
    assert "both legs flat" in result.reason


async def test_cancel_while_holding_with_a_book_read_in_flight_still_closes_the_cycles_legs(
    cycle_rig: CycleRig,
) -> None:
    fake = cycle_rig.fake
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    await cycle_rig.hedged_and_holding(handle)
    fake.book_gate = asyncio.Event()
    reads = len(fake.called("get_book_top"))
    await handle.signal(PRICE_CROSSED, {})  # the hold loop looks at the book at once
    await until(lambda: len(fake.called("get_book_top")) > reads, "a book read in flight")
    await handle.cancel()
    await until(lambda: cancel_reached_the_read(handle), "the workflow asking the read to cancel")
    fake.book_gate.set()  # only now: a read answering with the cancel would hide the problem
    await ends_cancelled(cycle_rig, handle)
    maker, taker = cycle_rig.maker.account_index, cycle_rig.taker.account_index
    assert sorted(closes(cycle_rig)) == sorted([(maker, Side.SELL, SIZE), (taker, Side.BUY, SIZE)])


async def test_cancel_while_closing_cancels_the_resting_close_quotes_and_closes_at_market(
    cycle_rig: CycleRig,
) -> None:
    venue = cycle_rig.fake.venue
    inp = cycle_rig.cycle(Side.SELL, hold_s=0, close_mode="maker_then_market", close_maker_timeout_s=3600)
    handle = await cycle_rig.start(inp)
    venue.fill(await cycle_rig.maker_resting())
    await cycle_rig.in_state(handle, CycleState.CLOSING)
    close_quotes = await until(lambda: len(venue.resting()) == 2 and venue.resting(), "two close quotes")
    await handle.cancel()
    await ends_cancelled(cycle_rig, handle)
    assert all(o.intent.reduce_only and o.status is OrderStatus.CANCELED for o in close_quotes)
    assert venue.resting() == []
    at_market = [
        (o.account_index, o.side, o.size, o.reduce_only) for o in venue.placed(lambda i: "/cancel-" in i.key)
    ]
    assert sorted(at_market) == sorted(
        [
            (cycle_rig.maker.account_index, Side.BUY, SIZE, True),
            (cycle_rig.taker.account_index, Side.SELL, SIZE, True),
        ]
    )
    assert (
        venue.positions[cycle_rig.maker.account_index] == venue.positions[cycle_rig.taker.account_index] == 0
    )


async def test_cancel_while_unwinding_closes_the_naked_maker_leg_and_ends_cancelled(
    cycle_rig: CycleRig,
) -> None:
    venue = cycle_rig.fake.venue
    venue.refuse(is_hedge)
    venue.refuse(is_close)  # the unwind's first attempt fails; it waits before the next
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    venue.fill(await cycle_rig.maker_resting())
    await until(
        lambda: any("unwind attempt 1" in a.title for a in cycle_rig.fake.critical()), "a failed unwind"
    )
    assert (await cycle_rig.status(handle)).state is CycleState.UNWINDING
    venue.stop_refusing()
    await handle.cancel()
    result = await ends_cancelled(cycle_rig, handle)
    assert (result.maker_filled, result.hedged) == (SIZE, ZERO)
    assert [(o.account_index, o.side, o.size) for o in venue.placed(lambda i: "/cancel-" in i.key)] == [
        (cycle_rig.maker.account_index, Side.SELL, SIZE)
    ]
    assert venue.positions[cycle_rig.maker.account_index] == 0


async def test_cancel_whose_close_is_refused_fails_with_exposure_left_and_a_critical_alert(
    cycle_rig: CycleRig,
) -> None:
    venue = cycle_rig.fake.venue
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    await cycle_rig.hedged_and_holding(handle)
    venue.refuse(is_close)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ExposureLeft", cause
    assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    result = CycleResult.model_validate(cause.details[0])
    assert result.state is CycleState.FAILED
    assert result.open_exposure == {
        str(cycle_rig.maker.account_index): SIZE,
        str(cycle_rig.taker.account_index): -SIZE,
    }
    assert any("FAILED with open exposure" in a.title for a in cycle_rig.fake.critical())
    assert cycle_rig.fake.records_of(handle.id)[-1].state is CycleState.FAILED
    assert not venue.placed(is_maker)[0].reduce_only
