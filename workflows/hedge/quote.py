"""The maker leg: post-only quotes on A at book depth N, requoted until the size is filled, and
every fill increment hedged on B at once (IOC within the slippage bound, by the hedge deadline).
A and B may trade on two venues: quotes are sized so both markets take them, each hedge is sized
and priced on B's market."""

from __future__ import annotations

import asyncio
import contextlib
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
    from workflows.timers import SHORTEST_S, start_timer

# Each long poll for fills returns at least this often, so history stays small but a lost
# signal is never waited on for longer.
POLL_WINDOW_S = 30.0

# From these patches on, a maker order's timeout and the hedge deadline are timers that fired,
# not the clock against a deadline (``workflows.timers``). Cycles begun before read the clock.
MAKER_TIMEOUT_TIMER = "hedge-maker-timeout-timer"
# Started only when a second round is needed: a hedge filled at once adds no command.
HEDGE_DEADLINE_TIMER = "hedge-deadline-timer"


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
    timeout_s = run.params.maker_timeout_s
    deadline = workflow.time() + timeout_s
    expired = start_timer(timeout_s) if workflow.patched(MAKER_TIMEOUT_TIMER) else None  # None: the clock
    coi = ack.client_order_index
    while not run.s.tally.orders[coi].final:
        await hedge_outstanding(run, final=False)
        left = deadline - workflow.time()
        if (expired.done() if expired is not None else left <= 0) or run.s.flatten_requested:
            break
        await _wait_for_fills(run, run.ref(run.inp.maker, coi), left, expired)
    if expired is not None:  # a filled order's timeout wakes nothing later
        expired.cancel()
    if not run.s.tally.orders[coi].final:
        # A fill that races the cancel still shows in the cancel's final state.
        await cancel(run, run.inp.maker, coi)
    await hedge_outstanding(run, final=False)


async def _wait_for_fills(
    run: CycleRun, ref: OrderRef, left: float, expired: asyncio.Task[None] | None
) -> None:
    """Whichever comes first: a fill signal (fast path), the polling activity (safety net) or the
    order's timeout (``expired``; before its patch, ``left`` seconds by the clock)."""
    s, coi = run.s, ref.client_order_index
    assert coi is not None
    if run.poll is not None and run.poll_coi != coi:
        run.poll.cancel()  # a poll of an earlier (now final) quote
        run.poll = None
    if run.poll is None or run.poll.done():
        run.poll_coi = coi
        # The clock may be past the timeout the timer has not reached: at least one poll's look.
        window = min(left if expired is None else max(left, run.params.poll_s), POLL_WINDOW_S)
        req = AwaitFill(
            order=ref, known_filled=s.tally.orders[coi].size, timeout_s=window, poll_s=run.params.poll_s
        )
        run.poll = AWAIT_FILL.start(
            req,
            task_queue=run.read_queue(run.inp.maker),
            start_to_close_timeout=timedelta(seconds=req.timeout_s + 15),
            heartbeat_timeout=timedelta(seconds=10),
        )
    s.wake = False
    signalled = asyncio.ensure_future(workflow.wait_condition(lambda: s.wake or s.flatten_requested))
    if expired is None:
        await workflow.wait([run.poll, signalled], timeout=left, return_when=asyncio.FIRST_COMPLETED)
    else:
        await workflow.wait([run.poll, signalled, expired], return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if run.poll.done():
        poll, run.poll = run.poll, None
        s.apply(poll.result())


async def hedge_outstanding(run: CycleRun, *, final: bool) -> None:
    """Hedge on B whatever A has filled beyond what B already holds, by the hedge deadline."""
    deadline: _HedgeDeadline | None = None
    try:
        while (need := _unhedged(run)) > 0:
            if deadline is None:
                deadline = _HedgeDeadline(run)
                run.enter(CycleState.HEDGING)
            elif deadline.passed():
                raise HedgeImpossible(f"could not hedge {need} within {run.params.hedge_deadline_s:g} s")
            left = deadline.left()
            if not await _hedge(run, need, left):
                await deadline.pause(left)  # nothing within the slippage bound: look again shortly
    finally:
        if deadline is not None:
            deadline.stop()
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


class _HedgeDeadline:
    """When hedging must be done. The first round needs no look at it (the whole deadline is
    left); from a second round on it is a timer that fired (``HEDGE_DEADLINE_TIMER``), or before
    that patch the clock. ``left`` sizes the hedge's schedule-to-close and the pauses only."""

    def __init__(self, run: CycleRun) -> None:
        self.at = workflow.time() + run.params.hedge_deadline_s
        self.timer: asyncio.Task[None] | None = None
        self.timed: bool | None = None  # the patch, asked on a second round only

    def left(self) -> float:
        left = self.at - workflow.time()
        return max(left, SHORTEST_S) if self.timed else left  # before the patch: > 0 when asked

    def passed(self) -> bool:
        return self._started().done() if self._timed() else self.at - workflow.time() <= 0

    async def pause(self, left: float) -> None:
        """A second, or the rest of the deadline when sooner."""
        if not self._timed():
            await workflow.sleep(min(1.0, left))
            return
        timer = self._started()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(timer.done, timeout=1.0)

    def _timed(self) -> bool:
        if self.timed is None:
            self.timed = workflow.patched(HEDGE_DEADLINE_TIMER)
        return self.timed

    def _started(self) -> asyncio.Task[None]:
        if self.timer is None:
            self.timer = start_timer(self.at - workflow.time())
        return self.timer

    def stop(self) -> None:
        if self.timer is not None:  # a hedge done before its deadline wakes nothing later
            self.timer.cancel()


def _naked(run: CycleRun) -> Decimal:
    """The size the two legs' own positions do not offset (while quoting: A's fills B has not hedged)."""
    return abs(sum(run.own_positions().values(), Decimal(0)))


def _unhedged(run: CycleRun) -> Decimal:
    """What one hedge order on B's market can carry of A's unhedged fills (0: too little yet)."""
    tally = run.s.tally
    price = run.price_floor(tally.avg_price(Role.MAKER))
    return run.sizes.hedge(tally.filled(Role.MAKER) - tally.filled(Role.HEDGE), price)


async def _hedge(run: CycleRun, need: Decimal, left: float) -> bool:
    """One IOC on B within the slippage bound; False: nothing filled."""
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
    return ack.filled_size > 0
