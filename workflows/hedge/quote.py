"""The maker leg: post-only quotes on A at book depth N, requoted until the size is filled, and
every fill increment hedged on B at once (IOC within the slippage bound, by the hedge deadline).
A and B may trade on two venues: quotes are sized so both markets take them, each hedge is sized
and priced on B's market."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from perpflow.alerts.models import Severity
    from perpflow.hedge import pricing
    from perpflow.hedge.models import CycleState
    from perpflow.hedge.tally import Role
    from perpflow.orders import AwaitFill, OrderAck, OrderRef
    from perpflow.venues.types import OrderKind, TimeInForce
    from workflows.calls import AWAIT_FILL
    from workflows.failures import root_cause
    from workflows.hedge.close import trim_residue
    from workflows.hedge.legs import cancel, place, read_book
    from workflows.hedge.run import CycleRun

# Each long poll for fills returns at least this often, so history stays small but a lost
# signal is never waited on for longer.
POLL_WINDOW_S = 30.0


class HedgeImpossible(Exception):
    """The hedge could not be placed by its deadline (or was refused): unwind."""


async def quote_and_hedge(run: CycleRun) -> None:
    s = run.s
    for attempt in range(run.params.max_requotes + 1):
        await workflow.wait_condition(lambda: not s.paused or s.flatten_requested)
        size = run.sizes.quote(run.params.size - s.tally.filled(Role.MAKER))
        if s.flatten_requested or s.stop_requested or size == 0:
            break
        book = await read_book(run, run.params.depth)
        price = pricing.maker_price(book, run.inp.maker_side, run.params.depth)
        if price is None:
            await workflow.sleep(run.params.poll_s)
            continue
        if run.sizes.quote(size, run.price_floor(price)) == 0:
            break  # too small in notional for a market; what has filled is hedged below
        ack = await place(
            run,
            run.inp.maker,
            f"maker-{attempt}",
            side=run.inp.maker_side,
            kind=OrderKind.LIMIT,
            tif=TimeInForce.POST_ONLY,
            size=size,
            price=price,
            role=Role.MAKER,
        )
        await _work_maker_order(run, ack)
    await hedge_outstanding(run, final=True)


async def _work_maker_order(run: CycleRun, ack: OrderAck) -> None:
    """Hedge each fill as it comes until the order is done or its timeout; then cancel it."""
    deadline = workflow.time() + run.params.maker_timeout_s
    coi = ack.client_order_index
    while not run.s.tally.orders[coi].final:
        await hedge_outstanding(run, final=False)
        left = deadline - workflow.time()
        if left <= 0 or run.s.flatten_requested:
            break
        await _wait_for_fills(run, run.ref(run.inp.maker, coi), left)
    if not run.s.tally.orders[coi].final:
        # A fill that races the cancel still shows in the cancel's final state.
        await cancel(run, run.inp.maker, coi)
    await hedge_outstanding(run, final=False)


async def _wait_for_fills(run: CycleRun, ref: OrderRef, left: float) -> None:
    """Whichever comes first: a fill signal (fast path) or the polling activity (safety net)."""
    s, coi = run.s, ref.client_order_index
    assert coi is not None
    if run.poll is not None and run.poll_coi != coi:
        run.poll.cancel()  # a poll of an earlier (now final) quote
        run.poll = None
    if run.poll is None or run.poll.done():
        run.poll_coi = coi
        req = AwaitFill(
            order=ref, known_filled=s.tally.orders[coi].size, timeout_s=min(left, POLL_WINDOW_S),
            poll_s=run.params.poll_s,
        )  # fmt: skip
        run.poll = AWAIT_FILL.start(
            req,
            task_queue=run.read_queue(run.inp.maker),
            start_to_close_timeout=timedelta(seconds=req.timeout_s + 15),
            heartbeat_timeout=timedelta(seconds=10),
        )
    s.wake = False
    signalled = asyncio.ensure_future(workflow.wait_condition(lambda: s.wake or s.flatten_requested))
    await workflow.wait([run.poll, signalled], timeout=left, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if run.poll.done():
        poll, run.poll = run.poll, None
        s.apply(poll.result())


async def hedge_outstanding(run: CycleRun, *, final: bool) -> None:
    """Hedge on B whatever A has filled beyond what B already holds, by the hedge deadline."""
    deadline: float | None = None
    while (need := _unhedged(run)) > 0:
        if deadline is None:
            deadline = workflow.time() + run.params.hedge_deadline_s
            run.enter(CycleState.HEDGING)
        left = deadline - workflow.time()
        if left <= 0:
            raise HedgeImpossible(f"could not hedge {need} within {run.params.hedge_deadline_s:g} s")
        await _hedge(run, need, left)
    if final and (residue := _naked(run)) > 0:
        if run.inp.cross:  # what the hedge market cannot take, the maker's may: closed there
            residue = await trim_residue(run, residue)
        if residue > 0:
            run.s.reason = (
                f"{residue} filled below the hedge market's minimum order or lot could not be hedged"
            )
            run.alert(Severity.WARNING, "unhedgeable residue", run.s.reason)
    if run.s.state is CycleState.HEDGING:
        run.enter(CycleState.QUOTING)


def _naked(run: CycleRun) -> Decimal:
    """The size the two legs' own positions do not offset (while quoting: A's fills B has not hedged)."""
    return abs(sum(run.own_positions().values(), Decimal(0)))


def _unhedged(run: CycleRun) -> Decimal:
    """What one hedge order on B's market can carry of A's unhedged fills (0: too little yet)."""
    tally = run.s.tally
    price = run.price_floor(tally.avg_price(Role.MAKER))
    return run.sizes.hedge(tally.filled(Role.MAKER) - tally.filled(Role.HEDGE), price)


async def _hedge(run: CycleRun, need: Decimal, left: float) -> None:
    reference = run.s.tally.avg_price(Role.MAKER)
    assert reference is not None
    side = run.inp.maker_side.opposite
    worst = pricing.worst_price(run.market_of(run.inp.taker), side, reference, run.params.max_slippage)
    try:
        ack = await place(
            run,
            run.inp.taker,
            f"hedge-{run.s.hedges}",
            side=side,
            kind=OrderKind.MARKET,
            tif=TimeInForce.IOC,
            size=need,
            price=worst,
            role=Role.HEDGE,
            deadline_s=left,
            hedges_fill_at=run.s.fill_at or workflow.now(),  # polled, not signalled: when seen
        )
    except ActivityError as exc:
        raise HedgeImpossible(f"hedge of {need} refused: {root_cause(exc)}") from None
    run.s.hedges, run.s.fill_at = run.s.hedges + 1, None
    if ack.filled_size == 0:
        # Nothing within the slippage bound: look again shortly, until the deadline.
        await workflow.sleep(min(1.0, left))
