"""Band crossings: edge-triggered, one signal per crossing, re-armed only past the hysteresis."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from perpflow.marketdata.bands import Band, MarketBands
from perpflow.marketdata.models import Watch, WatchKind, WatchSpec
from perpflow.signals import Direction


def band_watch(direction: Direction, *, level: str = "100", h: str = "1", ref: str | None = None) -> Watch:
    spec = WatchSpec(
        workflow_id="wf",
        name=f"band-{direction.value}",
        kind=WatchKind.BAND,
        market="ETH",
        level=D(level),
        direction=direction,
        hysteresis=D(h),
        reference_price=D(ref) if ref else None,
    )
    return Watch(id=1, spec=spec)


def fires(band: Band, prices: list[str]) -> list[str]:
    return [p for p in prices if band.observe(D(p))]


def test_a_price_hovering_at_an_up_level_fires_once_per_crossing() -> None:
    band = Band(band_watch(Direction.UP))
    path = ["99", "100", "99.5", "100.2", "99.1", "100", "98.9", "100.1", "100.5"]
    assert fires(band, path) == ["100", "100.1"]  # re-armed only below 99 (level - hysteresis)


def test_a_down_level_mirrors_the_up_level() -> None:
    band = Band(band_watch(Direction.DOWN))
    assert fires(band, ["101", "100", "100.9", "99", "101.1", "99.9"]) == ["100", "99.9"]


def test_the_first_price_only_arms_unless_a_reference_price_says_where_we_started() -> None:
    assert fires(Band(band_watch(Direction.UP)), ["105", "106"]) == []
    assert fires(Band(band_watch(Direction.UP, ref="95")), ["105"]) == ["105"]


def test_market_bands_skip_unchanged_prices_and_keep_state_across_a_resync() -> None:
    bands = MarketBands()
    watch = band_watch(Direction.UP)
    bands.sync([watch])
    assert bands.evaluate(D("99")) == []
    assert [c.price for c in bands.evaluate(D("100"))] == [D("100")]
    bands.sync([watch])  # same watch from the ledger again: stays disarmed
    assert bands.evaluate(D("100")) == []


def test_a_band_without_level_or_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="level and a direction"):
        WatchSpec(workflow_id="wf", name="x", kind=WatchKind.BAND, market="ETH")
