"""The hold: both legs open until hold_s is over, a stop-loss / take-profit trigger or a flatten.

The market-data worker signals a crossing of a leg's stop-loss / take-profit price at once (band
watches registered here); a slow look at the book is the safety net. A long hold continues as
new, carrying the cycle's ``CycleProgress`` whole.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.hedge import pricing
    from perpflow.marketdata.models import WatchKind, WatchSpec
    from perpflow.signals import Direction
    from workflows.calls import REGISTER_WATCH
    from workflows.hedge.legs import mark
    from workflows.hedge.run import CycleRun

# A holding cycle continues as new past this many events (Temporal's hard limit is 51,200).
HISTORY_LIMIT = 10_000


async def hold(run: CycleRun) -> None:
    s = run.s
    assert s.hold_until is not None
    while not s.flatten_requested:
        price = await mark(run)
        if trigger := _trigger(run, price):
            s.reason = trigger
            break
        left = (s.hold_until - workflow.now()).total_seconds()
        if left <= 0:
            break
        if s.levels_stale:
            _watch_levels(run, price)
        if _history_full():
            await _continue_holding(run)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: s.flatten_requested or s.wake, timeout=min(run.params.safety_poll_s, left)
            )
        s.wake = False


def _trigger(run: CycleRun, price: Decimal) -> str | None:
    """Per leg: the two legs sit on separately margined accounts."""
    pnls = [run.s.tally.floating_pnl(leg.account_index, price) for leg in run.legs]
    sl, tp = run.params.stop_loss_usd, run.params.take_profit_usd
    if sl is not None and min(pnls) <= -sl:
        return f"stop-loss: a leg's floating PnL {min(pnls):.2f} reached -{sl} at {price}"
    if tp is not None and max(pnls) >= tp:
        return f"take-profit: a leg's floating PnL {max(pnls):.2f} reached {tp} at {price}"
    return None


def _watch_levels(run: CycleRun, price: Decimal) -> None:
    """Ask the market-data worker to signal when the mark crosses a leg's SL or TP price."""
    s = run.s
    s.levels_stale = False
    for leg in run.legs:
        acct = leg.account_index
        position = s.tally.position(acct)
        cash = s.tally.cash(acct) - s.tally.fees(acct)
        sl, tp = run.params.stop_loss_usd, run.params.take_profit_usd
        for name, pnl in (("sl", None if sl is None else -sl), ("tp", tp)):
            level = None if pnl is None else pricing.crossing_price(position, cash, pnl)
            if level is None:
                continue
            losing_down = (position > 0) == (name == "sl")
            spec = WatchSpec(
                workflow_id=workflow.info().workflow_id,
                name=f"{name}-{acct}",
                kind=WatchKind.BAND,
                venue=run.inp.venue,
                market=run.inp.market,
                level=pricing.round_price(run.market, level),
                direction=Direction.DOWN if losing_down else Direction.UP,
                reference_price=price,
            )
            run.beside.append(REGISTER_WATCH.start(spec))


def _history_full() -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT


async def _continue_holding(run: CycleRun) -> None:
    await run.flush()
    workflow.logger.info("cycle %s continues as new while holding", workflow.info().workflow_id)
    await workflow.wait_condition(workflow.all_handlers_finished)
    workflow.continue_as_new(run.inp.model_copy(update={"carry": run.s}))
