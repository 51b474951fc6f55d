"""What wakes a session besides its fills: the market-data worker signals the mid crossing a level
(a level re-arms when the price returns to it) or the range's stop and rebuild prices, and tells
the feed's state (``feed_changed``: frozen while down, a reconcile when it is back up). No tick
reaches the history: the watches are registered once per ladder and re-arm by themselves.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.marketdata.models import Watch, WatchKind, WatchSpec
    from perpflow.signals import Direction
    from workflows.calls import REGISTER_WATCH
    from workflows.grid.run import GridRun


async def watch_ladder(run: GridRun) -> None:
    """Band watches both ways at every level and at the range's edges, each starting on the
    mark's side (nothing fires at once), once per ladder: a continued run keeps its watches and
    only asks the first again for the feed's state (every one of them asks for its changes)."""
    if run.watched_version == run.book.version and run.feed_known:
        return
    hysteresis = _hysteresis(run)
    specs = [_spec(run, name, price, way, hysteresis) for name, price in _prices(run) for way in Direction]
    first = await REGISTER_WATCH.run(specs[0])
    run.seed_feed(first.feed_up, first.feed)
    run.feed_known = True
    if run.watched_version != run.book.version:
        rest: list[asyncio.Future[Watch]] = [REGISTER_WATCH.start(spec) for spec in specs[1:]]
        run.beside.extend(rest)
        run.watched_version = run.book.version


def _prices(run: GridRun) -> list[tuple[str, Decimal]]:
    c = run.config
    prices = [(f"L{lv.index}", lv.price) for lv in run.book.levels]
    edges = [c.rebuild_trigger_pct] + ([c.stop.outside_range_pct] if c.stop.outside_range_pct else [])
    for pct in edges:
        prices += [(f"below-{pct}", c.lower * (1 - pct / 100)), (f"above-{pct}", c.upper * (1 + pct / 100))]
    return prices


def _hysteresis(run: GridRun) -> Decimal:
    """A crossing re-arms once the price went a quarter of the narrowest step back: a price that
    hovers at a level sends one signal, not one per tick (each is a signal and a workflow task)."""
    tick = Decimal(1).scaleb(-run.book.market.price_decimals)
    step = min((b - a for a, b in itertools.pairwise(lv.price for lv in run.book.levels)), default=tick)
    return max(tick, (step / 4).quantize(tick))


def _spec(run: GridRun, name: str, price: Decimal, way: Direction, hysteresis: Decimal) -> WatchSpec:
    tick = Decimal(1).scaleb(-run.book.market.price_decimals)
    return WatchSpec(
        workflow_id=run.book.workflow_id,
        name=f"{name}-{way.value}",
        kind=WatchKind.BAND,
        venue=run.config.venue,
        market=run.config.market,
        account_index=run.config.account.account_index,
        level=price.quantize(tick),
        direction=way,
        hysteresis=hysteresis,
        reference_price=run.mark,
        wants_feed_state=True,
    )
