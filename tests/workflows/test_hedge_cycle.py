"""HedgeCycleWorkflow on the real dev server, real signer activities, the sim and the real SDK."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpflow.hedge.models import CycleResult, CycleState
from perpflow.venues.types import Side
from tests.plugins.hedge import HedgeRig


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=["long-maker", "short-maker"])
async def test_full_cycle_hedges_holds_closes_and_ends_flat(hedge_rig: HedgeRig, side: Side) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(side))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(side)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE, result
    assert result.maker_filled == result.hedged == Decimal("0.05")
    assert await hedge_rig.positions() == (0, 0)
    assert result.open_exposure == {}
