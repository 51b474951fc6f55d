"""Operator actions on a real hedge cycle (dev server, signer workers, the sim): a Temporal cancel
is a clean stop, and a cycle only ever closes the exposure it owns."""

from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from perpflow.hedge.models import CycleResult, CycleState, LegAccount
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.hedge import HedgeRig
from tests.plugins.venues import best

MANUAL = Decimal("0.02")  # a position on the maker's account that no cycle owns


async def _manual_long(rig: HedgeRig) -> None:
    """Someone else's position on the maker's account: a market buy outside any workflow."""
    _, ask = await best(rig.public)
    spec = OrderSpec(
        market="ETH", client_order_index=7, side=Side.BUY, kind=OrderKind.MARKET, tif=TimeInForce.IOC,
        size=MANUAL, price=(ask * Decimal("1.05")).quantize(Decimal("0.01")),
    )  # fmt: skip
    await rig.maker_venue.submit(await rig.maker_venue.sign_order(spec))
    assert (await rig.positions())[0] == MANUAL


async def test_a_closed_cycle_leaves_the_accounts_other_position_alone(hedge_rig: HedgeRig) -> None:
    await _manual_long(hedge_rig)
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE, result
    assert await hedge_rig.positions() == (MANUAL, 0)


async def test_cancel_while_holding_closes_only_the_cycles_own_legs(hedge_rig: HedgeRig) -> None:
    await _manual_long(hedge_rig)
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, hold_s=3600))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(Side.BUY)
    await hedge_rig.until(handle, lambda s: s.state is CycleState.HOLDING, "HOLDING")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    status = await hedge_rig.status(handle)
    assert status.state is CycleState.CANCELLED
    assert status.maker.position == status.taker.position == 0
    assert "cancelled in HOLDING" in status.reason
    assert await hedge_rig.positions() == (MANUAL, 0)


async def test_cancel_while_quoting_takes_the_resting_order_off_the_book(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, maker_timeout_s=600, depth=3))
    await hedge_rig.quoting(handle)
    assert await hedge_rig.maker_venue.open_orders("ETH")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await hedge_rig.status(handle)).state is CycleState.CANCELLED
    assert await hedge_rig.maker_venue.open_orders("ETH") == []
    assert await hedge_rig.positions() == (0, 0)


async def test_a_cycle_on_an_account_without_a_signer_fails_naming_it(hedge_rig: HedgeRig) -> None:
    inp = hedge_rig.cycle(Side.BUY)
    inp = inp.model_copy(update={"maker": LegAccount(account_index=999_999, api_key_index=3)})
    handle = await hedge_rig.start(inp)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UnknownAccount"
    assert "no signer serves account 999999 API key 3" in cause.message


async def test_a_cycle_on_an_unknown_market_fails_naming_it(hedge_rig: HedgeRig) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY).model_copy(update={"market": "DOGE"}))
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, ApplicationError)
    assert "DOGE" in failure.value.cause.message
