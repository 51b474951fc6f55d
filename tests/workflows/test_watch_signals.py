"""Price bands on the live sim book: a hovering price signals once per crossing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.watches import WatchActivities
from perpflow.db.ledger import Ledger
from perpflow.marketdata.models import WatchKind, WatchSpec
from perpflow.marketdata.service import MarketDataService
from perpflow.signals import Direction
from tests.plugins.marketdata import eventually, md_config, recorded, recorder, running
from tests.plugins.sim import SimHandle

HYSTERESIS = Decimal(2)


async def move_to(svc: MarketDataService, sim: SimHandle, price: Decimal) -> None:
    """Set the reference and wait until our book's mid shows it (the maker quotes around it)."""
    await sim.admin.set_price(0, price)

    async def shown() -> bool:
        book = svc.book("ETH")
        return book is not None and book.mid is not None and abs(book.mid - price) < Decimal("0.05")

    await eventually(shown, f"mid at {price}")


async def test_a_price_hovering_at_a_band_signals_once_per_crossing(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    start = Decimal((await sim.admin.state())["markets"]["0"]["price"]).quantize(Decimal(1))
    level = start + 10
    async with recorder(client) as wf, running(md_config(sim, tmp_path), client, pg_ledger) as svc:
        await move_to(svc, sim, start)
        spec = WatchSpec(
            workflow_id=wf.id,
            name="take-profit",
            kind=WatchKind.BAND,
            market="ETH",
            level=level,
            direction=Direction.UP,
            hysteresis=HYSTERESIS,
            reference_price=start,
        )
        watch = await ActivityEnvironment().run(WatchActivities(pg_ledger).register_watch, spec)

        async def armed() -> bool:
            return watch.id in svc.bands["ETH"].bands

        await eventually(armed, "watch loaded")
        # Up through the level, then hover around it within the hysteresis: one crossing.
        for offset in ("0.5", "-0.5", "0.7", "-1.5", "1", "-1", "0.3"):
            await move_to(svc, sim, level + Decimal(offset))
        # Back below level - hysteresis re-arms; the next rise is a second crossing.
        await move_to(svc, sim, level - 3)
        await move_to(svc, sim, level + 1)

        async def two() -> bool:
            return len((await recorded(wf)).crossings) >= 2

        await eventually(two, "two crossings")
        await eventually(lambda: _settled(svc), "signals settled")
        crossings = (await recorded(wf)).crossings
        assert [(c.watch_id, c.direction, c.level) for c in crossings] == [
            (watch.id, Direction.UP, level)
        ] * 2
        assert crossings[0].price >= level
        assert crossings[1].price >= level


async def _settled(svc: MarketDataService) -> bool:
    return svc.signaller.pending == 0
