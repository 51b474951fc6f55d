"""What wakes a session besides its fills: the market-data worker signals the mid crossing a level
or the range's edges (``perpflow.grid.crossings``), and tells the feed's state (``feed_changed``:
frozen while down, a reconcile when it is back up). No tick reaches the history.

The watches are set once per ladder as one set (``set_watches``, one activity). A continued run
keeps its watches and only asks for the feed's state again.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.grid.crossings import Crossing, crossings
    from perpflow.marketdata.models import Watch, WatchKind, WatchSet, WatchSpec
    from workflows.calls import REGISTER_WATCH, SET_WATCHES
    from workflows.grid.run import GridRun


async def watch_ladder(run: GridRun) -> None:
    if not run.watch_sets:
        await _watch_every_level(run)
        return
    book = run.book
    if book.watched_version == book.version and run.feed_known:
        return
    hysteresis = _hysteresis(run)
    wanted = crossings(book.levels, run.config, book.market)
    req = WatchSet(workflow_id=book.workflow_id, specs=[_spec(run, c, hysteresis) for c in wanted])
    book.watched_version = book.version
    if run.feed_known:  # a rebuilt ladder
        run.watching = _after(run.watching, req)
        run.beside.append(run.watching)
        return
    done = await SET_WATCHES.run(req)
    run.seed_feed(done.feed_up, done.feed)
    run.feed_known = True


def _after(previous: asyncio.Future[object] | None, req: WatchSet) -> asyncio.Future[object]:
    """Sets land in the order they were made: a later set never lands before an earlier one."""

    async def set_() -> object:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        return await SET_WATCHES.run(req)

    return asyncio.ensure_future(set_())


def _hysteresis(run: GridRun) -> Decimal:
    """A crossing re-arms once the price went a quarter of the narrowest step back: a price that
    hovers at a level sends one signal, not one per tick (each is a signal and a workflow task)."""
    tick = Decimal(1).scaleb(-run.book.market.price_decimals)
    step = min((b - a for a, b in itertools.pairwise(lv.price for lv in run.book.levels)), default=tick)
    return max(tick, (step / 4).quantize(tick))


def _spec(run: GridRun, crossing: Crossing, hysteresis: Decimal) -> WatchSpec:
    tick = Decimal(1).scaleb(-run.book.market.price_decimals)
    return WatchSpec(
        workflow_id=run.book.workflow_id,
        name=crossing.name,
        kind=WatchKind.BAND,
        venue=run.config.venue,
        market=run.config.market,
        account_index=run.config.account.account_index,
        level=crossing.price.quantize(tick),
        direction=crossing.direction,
        hysteresis=hysteresis,
        reference_price=run.mark,
        wants_feed_state=True,
        fill_stands_in=True,
    )


async def _watch_every_level(run: GridRun) -> None:
    """Before ``run.watch_sets``: the levels' and edges' watches (no band's), each its own activity."""
    if run.watched_version == run.book.version and run.feed_known:
        return
    hysteresis = _hysteresis(run)
    wanted = crossings(run.book.levels, run.config, run.book.market, band=False)
    specs = [_spec(run, c, hysteresis) for c in wanted]
    first = await REGISTER_WATCH.run(specs[0])
    run.seed_feed(first.feed_up, first.feed)
    run.feed_known = True
    if run.watched_version != run.book.version:
        rest: list[asyncio.Future[Watch]] = [REGISTER_WATCH.start(spec) for spec in specs[1:]]
        run.beside.extend(rest)
        run.watched_version = run.book.version
