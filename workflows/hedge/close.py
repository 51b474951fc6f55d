"""Every way a cycle gets out: close after the hold, unwind a hedge that failed, flatten on a
Temporal cancel. Each acts on this cycle's own fills only, never on whatever else the accounts
hold, and ends flat or FAILED saying exactly what is open."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from perpflow.alerts.models import Severity
    from perpflow.hedge import pricing, sizing
    from perpflow.hedge.models import CycleResult, CycleState, LegAccount
    from perpflow.hedge.tally import Role
    from perpflow.orders import OrderAck
    from perpflow.venues.types import OrderKind, Side, TimeInForce
    from workflows.failures import root_cause
    from workflows.hedge.legs import cancel, cancel_open_orders, land_inflight, mark, place, read_book
    from workflows.hedge.run import CycleRun

UNWIND_ATTEMPTS = 5
UNWIND_BACKOFF_S = 30.0
# A market close is final at once on the venue; these looks cover an order not yet indexed.
FINAL_LOOKS = 3


async def close(run: CycleRun) -> CycleResult:
    run.enter(CycleState.CLOSING)
    try:
        if run.params.close_mode == "maker_then_market":
            await _close_as_maker(run)
        left = await _flatten_own(run, "close")
    except ActivityError as exc:
        return await run.fail(f"closing failed: {root_cause(exc)}")
    if left:
        return await run.fail(f"still open after closing: {_exposure(left)}")
    return await run.end(CycleState.DONE, run.s.reason or "closed")


async def unwind(run: CycleRun, why: str) -> CycleResult:
    run.s.reason = why
    run.enter(CycleState.UNWINDING)
    run.alert(Severity.WARNING, "hedge failed: unwinding", why)
    for attempt in range(UNWIND_ATTEMPTS):
        try:
            if not (left := await _flatten_own(run, "unwind")):
                return await run.end(CycleState.UNWOUND, why)
            problem = f"still open: {_exposure(left)}"
        except ActivityError as exc:
            problem = root_cause(exc)
        run.alert(Severity.CRITICAL, f"unwind attempt {attempt + 1} incomplete", problem)
        await workflow.sleep(UNWIND_BACKOFF_S * (attempt + 1))
    return await run.fail(f"{why}; unwind failed")


async def cancelled(run: CycleRun) -> CycleResult:
    """A Temporal cancel: finish the sends under way, cancel what rests, close what this cycle
    holds, and end CANCELLED (FAILED, alerted, if something stays open)."""
    if run.result is not None:  # it had ended; the cancel came during the last ledger write
        await run.flush()
        return run.result
    s = run.s
    workflow.logger.info("cycle %s cancel requested in %s", workflow.info().workflow_id, s.state)
    if run.poll is not None:
        run.poll.cancel()
    s.reason = f"cancelled in {s.state}"
    run.enter(CycleState.CANCELLING)
    await land_inflight(run)
    try:
        left = await _flatten_own(run, "cancel")
        problem = f"still open: {_exposure(left)}" if left else ""
    except ActivityError as exc:
        problem = root_cause(exc)
    if problem:
        result = await run.fail(f"{s.reason}; closing own legs failed: {problem}")
        raise ApplicationError(result.reason, result, type="ExposureLeft", non_retryable=True)
    result = await run.end(CycleState.CANCELLED, f"{s.reason}: {_closed_summary(run)}")
    workflow.set_current_details(f"CANCELLED: {result.reason}; realised {result.realized_pnl}")
    raise asyncio.CancelledError(result.reason)


async def trim_residue(run: CycleRun, residue: Decimal) -> Decimal:
    """A cross-venue cycle's maker fills that the hedge market cannot take (below its lot or
    minimums) are closed on the maker leg, reduce-only, when the maker's market takes that size,
    rather than left naked through the hold. What stays unhedged."""
    maker, tally = run.inp.maker, run.s.tally
    size = sizing.round_down(residue, run.market.size_decimals)
    if not sizing.tradable(run.market, size, run.price_floor(tally.avg_price(Role.MAKER))):
        return residue
    held = run.own_positions().get(maker, Decimal(0))
    try:
        await _market_close(run, maker, size if held > 0 else -size, f"trim-{maker.account_index}")
    except ActivityError as exc:
        run.alert(Severity.WARNING, "residue trim refused", root_cause(exc))
        return residue
    left = abs(sum(run.own_positions().values(), Decimal(0)))
    workflow.logger.info("cycle %s trimmed %s of the maker leg", workflow.info().workflow_id, residue - left)
    return left


async def _close_as_maker(run: CycleRun) -> None:
    """Each leg's close rests at the touch of its own market's book (one read on one market)."""
    book = await read_book(run, 1)
    for leg, size in run.own_positions().items():
        if run.inp.cross and not run.is_maker(leg):
            book = await read_book(run, 1, leg)
        price = pricing.maker_price(book, _closing(size), 1)
        if price is not None:
            step = f"close-maker-{leg.account_index}"
            await _close_order(
                run, leg, step, size, kind=OrderKind.LIMIT, tif=TimeInForce.POST_ONLY, price=price
            )
    await workflow.sleep(run.params.close_maker_timeout_s)
    # _flatten_own cancels what is still resting before it closes the rest at market.


async def _flatten_own(run: CycleRun, step: str) -> dict[LegAccount, Decimal]:
    """Cancel this cycle's resting orders, then close its own size on each leg (reduce-only,
    at market); what is still open afterwards, by the venue's final order states."""
    await cancel_open_orders(run)
    for _ in range(2):  # a residue after the market close gets one more try
        own = run.own_positions()
        if not own:
            break
        for leg, size in own.items():
            await _market_close(run, leg, size, f"{step}-{leg.account_index}-{len(run.s.orders)}")
    return run.own_positions()


async def _market_close(run: CycleRun, leg: LegAccount, size: Decimal, step: str) -> None:
    market, reference = run.market_of(leg), await mark(run, leg)
    worst = pricing.worst_price(market, _closing(size), reference, run.params.max_slippage)
    ack = await _close_order(run, leg, step, size, kind=OrderKind.MARKET, tif=TimeInForce.IOC, price=worst)
    for _ in range(FINAL_LOOKS):
        if run.s.tally.orders[ack.client_order_index].final:
            return
        await cancel(run, leg, ack.client_order_index)


async def _close_order(
    run: CycleRun,
    leg: LegAccount,
    step: str,
    size: Decimal,
    *,
    kind: OrderKind,
    tif: TimeInForce,
    price: Decimal,
) -> OrderAck:
    """A reduce-only order against ``size``, this cycle's own signed position on ``leg``."""
    return await place(
        run, leg, step, side=_closing(size), kind=kind, tif=tif, size=abs(size), price=price, role=Role.CLOSE,
        reduce_only=True,
    )  # fmt: skip


def _closing(size: Decimal) -> Side:
    return Side.SELL if size > 0 else Side.BUY


def _closed_summary(run: CycleRun) -> str:
    tally = run.s.tally
    parts = [f"maker filled {tally.filled(Role.MAKER)}", f"hedged {tally.filled(Role.HEDGE)}"]
    parts.append(f"closed {tally.filled(Role.CLOSE)}")
    return ", ".join(parts) + ", both legs flat"


def _exposure(positions: dict[LegAccount, Decimal]) -> str:
    return ", ".join(f"account {leg.account_index}: {size}" for leg, size in positions.items())
