"""The embedded stack's sim starts empty each time: market data's delivered fills of an earlier sim
are forgotten before it starts (their ids come again from the new sim)."""

from __future__ import annotations

from pathlib import Path

from perpflow.devstack.venue import forget_delivered_fills
from perpflow.marketdata.fill_log import fill_log_path
from perpflow.venues.base import VenueName


def test_each_venues_fill_log_is_forgotten_and_nothing_else(tmp_path: Path) -> None:
    logs = [fill_log_path(tmp_path, venue) for venue in VenueName]
    kept = tmp_path / "secrets.json"
    for path in [*logs, kept]:
        path.write_text("{}")
    forget_delivered_fills(tmp_path)
    assert [p.exists() for p in logs] == [False] * len(logs) and kept.exists()
    forget_delivered_fills(tmp_path)  # none there: nothing to do
