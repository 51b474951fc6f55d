"""A hedge that cannot be placed unwinds the maker leg (only the cycle's own fill); an unwind that
keeps failing ends FAILED with the exposure and critical alerts; one that fails and then works
ends UNWOUND. The unwind's back-off waits are skipped time."""

from __future__ import annotations

from decimal import Decimal

from perpflow.alerts.models import Severity
from perpflow.hedge.models import CycleResult, CycleState
from perpflow.venues.types import Side
from tests.timeskip.conftest import CycleRig
from tests.timeskip.fakes import is_close, is_hedge
from workflows.hedge.close import UNWIND_ATTEMPTS

SIZE = Decimal("0.05")
ZERO = Decimal(0)


def unwind_closes(rig: CycleRig) -> list[tuple[int, Side, Decimal, bool]]:
    """Close orders the venue accepted: (account, side, size, reduce-only)."""
    return [(o.account_index, o.side, o.size, o.reduce_only) for o in rig.fake.venue.placed(is_close)]


async def test_refused_hedge_unwinds_the_maker_fill_reduce_only_and_ends_unwound(cycle_rig: CycleRig) -> None:
    venue = cycle_rig.fake.venue
    maker = cycle_rig.maker.account_index
    venue.positions[maker] = Decimal(2)  # held before the cycle: not the cycle's to close
    venue.refuse(is_hedge)
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    venue.fill(await cycle_rig.maker_resting())
    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert "refused" in result.reason
    assert (result.maker_filled, result.hedged, result.open_exposure) == (SIZE, ZERO, {})
    assert unwind_closes(cycle_rig) == [(maker, Side.SELL, SIZE, True)]
    assert venue.positions[maker] == 2
    assert [a.title for a in cycle_rig.fake.alerts] == ["hedge failed: unwinding"]
    assert cycle_rig.fake.alerts[0].severity is Severity.WARNING
    assert cycle_rig.fake.records_of(handle.id)[-1].state is CycleState.UNWOUND


async def test_hedge_finding_no_price_within_slippage_until_its_deadline_unwinds(cycle_rig: CycleRig) -> None:
    venue = cycle_rig.fake.venue
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY, hedge_deadline_s=20))
    coi = await cycle_rig.maker_resting()
    venue.mark -= 200  # 10% below the maker's price: a sell hedge bounded at 1% finds no bid
    venue.fill(coi)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert "could not hedge" in result.reason
    hedges = venue.placed(is_hedge)
    assert len(hedges) > 1 and all(o.size == SIZE for o in hedges)  # retried until the deadline
    assert unwind_closes(cycle_rig) == [(cycle_rig.maker.account_index, Side.SELL, SIZE, True)]
    assert (
        venue.positions[cycle_rig.maker.account_index] == venue.positions[cycle_rig.taker.account_index] == 0
    )


async def test_unwind_failing_every_attempt_ends_failed_with_the_exposure_and_critical_alerts(
    cycle_rig: CycleRig,
) -> None:
    venue = cycle_rig.fake.venue
    venue.refuse(is_hedge)
    venue.refuse(is_close)
    handle = await cycle_rig.start(cycle_rig.cycle(Side.BUY))
    venue.fill(await cycle_rig.maker_resting())
    result: CycleResult = await handle.result()
    assert result.state is CycleState.FAILED, result
    assert "unwind failed" in result.reason
    assert result.open_exposure == {str(cycle_rig.maker.account_index): SIZE}
    assert len([i for i in cycle_rig.fake.called("place_order") if is_close(i)]) == UNWIND_ATTEMPTS
    critical = [a.title for a in cycle_rig.fake.critical()]
    assert critical == [f"unwind attempt {n} incomplete" for n in range(1, UNWIND_ATTEMPTS + 1)] + [
        "cycle FAILED with open exposure"
    ]
    assert cycle_rig.fake.records_of(handle.id)[-1].state is CycleState.FAILED
    assert venue.positions[cycle_rig.maker.account_index] == SIZE


async def test_unwind_failing_once_is_retried_and_ends_unwound(cycle_rig: CycleRig) -> None:
    venue = cycle_rig.fake.venue
    venue.refuse(is_hedge)
    venue.refuse(is_close, times=1)
    handle = await cycle_rig.start(cycle_rig.cycle(Side.SELL))
    venue.fill(await cycle_rig.maker_resting())
    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert len([i for i in cycle_rig.fake.called("place_order") if is_close(i)]) == 2
    assert unwind_closes(cycle_rig) == [(cycle_rig.maker.account_index, Side.BUY, SIZE, True)]
    assert [a.title for a in cycle_rig.fake.critical()] == ["unwind attempt 1 incomplete"]
    assert venue.positions[cycle_rig.maker.account_index] == 0
