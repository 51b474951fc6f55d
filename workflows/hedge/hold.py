"""The hold: both legs open until hold_s is over, a stop-loss / take-profit trigger or a flatten.

The market-data worker signals a crossing of a leg's stop-loss / take-profit price at once (band
watches registered here); a slow look at the book is the safety net. Each leg is valued at its own
market's mark (two books in a cross-venue cycle). A long hold continues as new, carrying the
cycle's ``CycleProgress`` whole.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.hedge import pricing
    from perpflow.hedge.models import LegAccount
    from perpflow.marketdata.models import WatchKind, WatchSpec
    from perpflow.signals import Direction
    from workflows.calls import REGISTER_WATCH
    from workflows.hedge.legs import marks
    from workflows.hedge.run import CycleRun
    from workflows.timers import timer_until

# A holding cycle continues as new past this many events (Temporal's hard limit is 51,200).
HISTORY_LIMIT = 10_000

# From this patch on the hold ends when a timer set for hold_until has fired, not when the clock
# says so (``workflows.timers``). Holds begun before it keep reading the clock.
HOLD_TIMER = "hedge-hold-timer"


async def hold(run: CycleRun) -> None:
    s = run.s
    assert s.hold_until is not None
    over = timer_until(s.hold_until) if workflow.patched(HOLD_TIMER) else None  # None: the clock
    while not s.flatten_requested:
        prices = await marks(run)
        if trigger := _trigger(run, prices):
            s.reason = trigger
            break
        left = (s.hold_until - workflow.now()).total_seconds()
        if over.done() if over is not None else left <= 0:
            break
        if s.levels_stale:
            _watch_levels(run, prices)
        if _history_full():
            await _continue_holding(run)
        poll = run.params.safety_poll_s
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: s.flatten_requested or s.wake or (over is not None and over.done()),
                timeout=poll if over is not None else min(poll, left),
            )
        s.wake = False
    if over is not None:  # ended by a trigger or a flatten: no wake-up from it during the close
        over.cancel()


def _trigger(run: CycleRun, prices: dict[LegAccount, Decimal]) -> str | None:
    """Per leg: the two legs sit on separately margined accounts (on two venues, maybe)."""
    pnls = {leg: run.s.tally.floating_pnl(leg.account_index, price) for leg, price in prices.items()}
    sl, tp = run.params.stop_loss_usd, run.params.take_profit_usd
    worst, best = min(pnls, key=pnls.__getitem__), max(pnls, key=pnls.__getitem__)
    if sl is not None and pnls[worst] <= -sl:
        return f"stop-loss: a leg's floating PnL {pnls[worst]:.2f} reached -{sl} at {prices[worst]}"
    if tp is not None and pnls[best] >= tp:
        return f"take-profit: a leg's floating PnL {pnls[best]:.2f} reached {tp} at {prices[best]}"
    return None


def _watch_levels(run: CycleRun, prices: dict[LegAccount, Decimal]) -> None:
    """Ask the market-data worker to signal when a leg's market crosses its SL or TP price."""
    s = run.s
    s.levels_stale = False
    for leg, price in prices.items():
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
                venue=run.venue_of(leg),
                market=run.symbol_of(leg),
                level=pricing.round_price(run.market_of(leg), level),
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
