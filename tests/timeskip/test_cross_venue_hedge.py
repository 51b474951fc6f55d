"""Cross-venue hedge cycles on the time-skipping server: the maker quoting on one venue (GRVT or
Lighter), each fill increment hedged on the other, each leg sized, priced, closed, valued and
reported on its own venue and market, a refused hedge unwound on the maker's venue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.exposure import Exposure
from perpflow.hedge.fleet import FleetInput, FleetMode, FleetResult, PairSpec
from perpflow.hedge.models import CycleParams, CycleResult, CycleState, CycleStatus, HedgeCycleInput
from perpflow.venues.base import VenueName
from perpflow.venues.types import Side
from tests.timeskip.conftest import until
from tests.timeskip.cross_hedge_fakes import GRVT_ETH, CrossRig, cross_rig, placed
from tests.timeskip.fakes import is_close, is_hedge, is_maker

D = Decimal
SIZE = D("0.05")
GRVT, LIGHTER = VenueName.GRVT, VenueName.LIGHTER


def cycle(rig: CrossRig, side: Side = Side.BUY, **params: Any) -> HedgeCycleInput:
    """The cycle's venue is Lighter (market ETH); the GRVT leg names its own."""
    defaults: dict[str, Any] = {
        "size": SIZE, "maker_timeout_s": 3600, "max_requotes": 0, "hold_s": 60, "close_mode": "market",
        "poll_s": 0.5, "hedge_deadline_s": 30,
    }  # fmt: skip
    return HedgeCycleInput(
        fleet="ts", pair="x", seq=0, market="ETH", maker=rig.maker, taker=rig.taker, maker_side=side,
        params=CycleParams(**{**defaults, **params}),
    )  # fmt: skip


async def start(rig: CrossRig, inp: HedgeCycleInput) -> WorkflowHandle[Any, CycleResult]:
    wid = names.hedge_cycle_id(inp.fleet, uuid.uuid4().hex[:8], inp.pair, inp.seq)
    rig.started.append(wid)
    return await rig.client.start_workflow(
        "HedgeCycleWorkflow", inp, id=wid, task_queue=rig.queue, result_type=CycleResult
    )


async def status(handle: WorkflowHandle[Any, Any]) -> CycleStatus:
    result: CycleStatus = await handle.query("status", result_type=CycleStatus)
    return result


async def until_status(handle: WorkflowHandle[Any, Any], check: Any, what: str) -> CycleStatus:
    async def looks() -> CycleStatus | None:
        s = await status(handle)
        return s if check(s) else None

    found: CycleStatus = await until(looks, what)
    return found


async def maker_quote(rig: CrossRig) -> int:
    order = await until(rig.maker_venue.resting, "the maker quote on the maker's venue")
    return int(order[0].coi)


@pytest.fixture
async def grvt_maker(skipping_env: WorkflowEnvironment) -> AsyncIterator[CrossRig]:
    async with cross_rig(skipping_env.client, maker_on=GRVT) as rig:
        yield rig


@pytest.fixture
async def lighter_maker(skipping_env: WorkflowEnvironment) -> AsyncIterator[CrossRig]:
    async with cross_rig(skipping_env.client, maker_on=LIGHTER) as rig:
        yield rig


async def test_a_grvt_makers_fill_is_hedged_on_lighter_and_each_leg_closes_on_its_own_venue(
    grvt_maker: CrossRig,
) -> None:
    rig = grvt_maker
    handle = await start(rig, cycle(rig, Side.BUY))
    rig.maker_venue.fill(await maker_quote(rig))
    result = await handle.result()
    assert (result.state, result.maker_filled, result.hedged, result.open_exposure) == (
        CycleState.DONE,
        SIZE,
        SIZE,
        {},
    )
    maker, taker = rig.maker.account_index, rig.taker.account_index
    [quote] = rig.grvt.venue.placed(is_maker)
    assert (quote.venue, quote.market, quote.price) == (GRVT, GRVT_ETH.symbol, D("2000.5"))  # GRVT's bid
    assert placed(rig.lighter.venue, is_hedge) == [(taker, "sell", SIZE, False)]
    [hedge] = rig.lighter.venue.placed(is_hedge)
    assert (hedge.venue, hedge.market, hedge.price) == (LIGHTER, "ETH", D("1980.50"))  # 1 % off, on the tick
    assert placed(rig.grvt.venue, is_close) == [(maker, "sell", SIZE, True)]
    assert placed(rig.lighter.venue, is_close) == [(taker, "buy", SIZE, True)]
    assert rig.grvt.venue.positions[maker] == rig.lighter.venue.positions[taker] == 0
    assert not rig.grvt.venue.placed(is_hedge) and not rig.lighter.venue.placed(is_maker)
    # GRVT's market and books were read on GRVT's market queue, Lighter's on the workflow's.
    assert set(rig.grvt_reads.reads) == {GRVT_ETH.symbol}
    assert {q.market for q in rig.lighter.called("get_book_top")} == {"ETH"}
    final = rig.lighter.records_of(handle.id)[-1]
    assert (final.venue, final.market, final.taker_venue, final.taker_market) == (
        "grvt",
        GRVT_ETH.symbol,
        "lighter",
        "ETH",
    )
    attrs = (await handle.describe()).typed_search_attributes
    assert (attrs.get(names.VENUE), attrs.get(names.MARKET), attrs.get(names.ACCOUNT)) == (
        "grvt",
        GRVT_ETH.symbol,
        str(maker),
    )


async def test_lighter_maker_fills_are_hedged_on_grvt_in_its_lots_and_minimums_and_the_rest_trimmed(
    lighter_maker: CrossRig,
) -> None:
    """GRVT's lot is 0.01 and its minimum notional 50 USD (0.025 ETH at 2000): a part fill too
    small to hedge there waits for more; what stays below it at the end is closed on Lighter."""
    rig = lighter_maker
    handle = await start(rig, cycle(rig, Side.BUY, stop_loss_usd=D(500)))
    coi = await maker_quote(rig)
    rig.maker_venue.fill(coi, D("0.0134"))
    seen = await until_status(handle, lambda s: s.maker_filled == D("0.0134"), "the first part fill")
    assert (seen.state, seen.hedged) == (CycleState.QUOTING, D(0))  # 0.01 ETH is 20 USD on GRVT
    assert rig.grvt.venue.placed(is_hedge) == []
    rig.maker_venue.fill(coi, D("0.0166"))
    await until_status(handle, lambda s: s.hedged == D("0.03"), "the hedge of 0.03")
    rig.maker_venue.fill(coi)  # the last 0.02: 40 USD, below GRVT's minimum
    held = await until_status(handle, lambda s: s.state is CycleState.HOLDING, "holding")
    maker, taker = rig.maker.account_index, rig.taker.account_index
    assert placed(rig.grvt.venue, is_hedge) == [(taker, "sell", D("0.03"), False)]
    assert placed(rig.lighter.venue, is_close) == [(maker, "sell", D("0.02"), True)]  # the trim
    assert (held.maker.position, held.taker.position) == (D("0.03"), D("-0.03"))
    assert (held.maker.venue, held.taker.venue, held.taker.market) == ("lighter", "grvt", GRVT_ETH.symbol)
    assert rig.lighter.alerts == []  # nothing left unhedged
    await handle.signal("flatten", {"by": "test"})
    result = await handle.result()
    assert (result.state, result.maker_filled, result.hedged) == (CycleState.DONE, SIZE, D("0.03"))
    assert rig.lighter.venue.positions[maker] == rig.grvt.venue.positions[taker] == 0


async def test_a_hedge_the_other_venue_refuses_unwinds_the_maker_fill_on_the_makers_venue(
    grvt_maker: CrossRig,
) -> None:
    rig = grvt_maker
    maker = rig.maker.account_index
    rig.grvt.venue.positions[maker] = D(3)  # held before the cycle: not the cycle's to close
    rig.lighter.venue.refuse(is_hedge)
    handle = await start(rig, cycle(rig, Side.BUY))
    rig.maker_venue.fill(await maker_quote(rig))
    result = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert "refused" in result.reason
    assert (result.maker_filled, result.hedged, result.open_exposure) == (SIZE, D(0), {})
    assert placed(rig.grvt.venue, is_close) == [(maker, "sell", SIZE, True)]
    assert rig.lighter.venue.placed() == []
    assert rig.grvt.venue.positions[maker] == 3
    assert [a.title for a in rig.lighter.alerts] == ["hedge failed: unwinding"]


async def test_each_leg_is_watched_owned_and_valued_on_its_own_venue_while_holding(
    grvt_maker: CrossRig,
) -> None:
    """Lighter's price alone moves against the short hedge there: only a cycle valuing that leg on
    Lighter's book stops out (the hold is an hour; the result skips to it otherwise)."""
    rig = grvt_maker
    handle = await start(rig, cycle(rig, Side.BUY, hold_s=3600, stop_loss_usd=D(5)))
    rig.maker_venue.fill(await maker_quote(rig))
    await until_status(handle, lambda s: s.state is CycleState.HOLDING, "holding")
    maker, taker = rig.maker.account_index, rig.taker.account_index
    exposure: Exposure = await handle.query("exposure", result_type=Exposure)
    assert {(p.venue, p.account_index, p.market, p.size) for p in exposure.positions} == {
        ("grvt", maker, GRVT_ETH.symbol, SIZE),
        ("lighter", taker, "ETH", -SIZE),
    }
    watches = await until(lambda: len(rig.lighter.watches) == 2 and rig.lighter.watches, "both legs' watches")
    assert {(w.name, w.venue, w.market) for w in watches} == {
        (f"sl-{maker}", "grvt", GRVT_ETH.symbol),
        (f"sl-{taker}", "lighter", "ETH"),
    }
    assert all(w.level % (D("0.1") if w.venue == "grvt" else D("0.01")) == 0 for w in watches)
    rig.lighter.venue.mark += 200
    await handle.signal("price_crossed", {})
    result = await handle.result()
    assert result.state is CycleState.DONE
    assert result.reason.startswith("stop-loss"), result.reason
    assert "at 2200" in result.reason  # Lighter's mid, not GRVT's 2001
    assert rig.grvt.venue.positions[maker] == rig.lighter.venue.positions[taker] == 0


async def test_a_temporal_cancel_closes_each_leg_on_its_own_venue(lighter_maker: CrossRig) -> None:
    rig = lighter_maker
    handle = await start(rig, cycle(rig, Side.SELL, hold_s=3600))
    rig.maker_venue.fill(await maker_quote(rig))
    # Cancelled once the hold has read both legs' books and waits, not while a read is in flight:
    # the time-skipping server refuses a cancel of an activity whose completion it holds back
    # behind the cancel's workflow task (ACTIVITY_UNKNOWN, temporalio/sdk-java#2391) and never
    # finishes that task, so the cycle would hang there. A real server records the cancel request
    # and goes on; only this test's timing was wrong, not the cycle's cancel.
    settled = await until_status(handle, lambda s: s.taker_mark is not None, "the hold's look at both books")
    assert settled.state is CycleState.HOLDING
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    maker, taker = rig.maker.account_index, rig.taker.account_index
    assert placed(rig.lighter.venue, is_close) == [(maker, "buy", SIZE, True)]
    assert placed(rig.grvt.venue, is_close) == [(taker, "sell", SIZE, True)]
    assert rig.lighter.venue.positions[maker] == rig.grvt.venue.positions[taker] == 0
    assert rig.lighter.records_of(handle.id)[-1].state is CycleState.CANCELLED


async def test_a_fleet_cycles_a_cross_venue_pair_alternating_sides(grvt_maker: CrossRig) -> None:
    rig = grvt_maker
    rig.grvt.venue.fill_makers_at_once = True
    params = cycle(rig).params.model_copy(update={"hold_s": 5})
    pair = PairSpec(name="p", maker=rig.maker, taker=rig.taker)
    fleet = FleetInput(
        name=f"x{uuid.uuid4().hex[:6]}", market="ETH", pairs=[pair], cycle=params, pause_between_s=0,
        max_cycles_per_pair=2,
    )  # fmt: skip
    handle = await rig.client.start_workflow(
        "HedgeFleetWorkflow", fleet, id=names.hedge_fleet_id(fleet.name), task_queue=rig.queue,
        result_type=FleetResult,
    )  # fmt: skip
    rig.started.append(handle.id)
    result = await handle.result()
    assert (result.mode, result.cycles, result.failed_pairs) == (FleetMode.COMPLETED, 2, [])
    maker, taker = rig.maker.account_index, rig.taker.account_index
    assert placed(rig.grvt.venue, is_maker) == [(maker, "buy", SIZE, False), (maker, "sell", SIZE, False)]
    assert placed(rig.lighter.venue, is_hedge) == [(taker, "sell", SIZE, False), (taker, "buy", SIZE, False)]
    assert rig.grvt.venue.positions[maker] == rig.lighter.venue.positions[taker] == 0


async def test_a_maker_close_rests_each_leg_at_its_own_venues_touch(grvt_maker: CrossRig) -> None:
    rig = grvt_maker
    handle = await start(rig, cycle(rig, Side.BUY, close_mode="maker_then_market", close_maker_timeout_s=5))
    rig.maker_venue.fill(await maker_quote(rig))
    result = await handle.result()
    assert result.state is CycleState.DONE, result
    closes = [*rig.grvt.venue.placed(is_close), *rig.lighter.venue.placed(is_close)]
    resting_closes = [(i.venue, i.side.value, i.price) for i in closes if "/close-maker-" in i.key]
    # GRVT's long closes at GRVT's ask; Lighter's short at Lighter's bid (a dollar apart).
    assert resting_closes == [(GRVT, "sell", D("2001.5")), (LIGHTER, "buy", D("1999.5"))]
    maker, taker = rig.maker.account_index, rig.taker.account_index
    assert rig.grvt.venue.positions[maker] == rig.lighter.venue.positions[taker] == 0
