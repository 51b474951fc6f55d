"""Market-data worker settings: the venue, timings, and where state and metrics go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from perpflow.venues.base import VenueName
from perpflow.venues.feed import StreamOptions
from perpflow.venues.types import Proxy


@dataclass(frozen=True)
class MarketDataConfig:
    venue: VenueName = VenueName.LIGHTER
    markets: tuple[str, ...] = ()  # books kept even when no watch asks for them
    stream: StreamOptions = field(default_factory=StreamOptions)
    # How often the ledger's watches and accounts are re-read: a new workflow's watch is
    # live within this long (its orders' fills are routed from the first message regardless).
    refresh_interval_s: float = 1.0
    status_interval_s: float = 2.0
    state_dir: Path | None = None  # fill log and status file; None keeps both in memory
    proxies: dict[int, Proxy] = field(default_factory=dict)  # account index -> its proxy
    # REST backfill after an account stream (re)connects: recent trades per watched market.
    backfill_limit: int = 100
    metrics_port: int | None = None
    # How long a crossing waits for a fill to the same workflow that makes it redundant (hold.py).
    crossing_hold_s: float = 0.05
    # How often the watches of workflows no longer running (terminated, failed: ended without
    # deactivating them) are found with one Temporal visibility query and deactivated (sweep.py).
    sweep_every_s: float = 30.0
    # A watch registered less than this long ago is never swept: its just-started workflow may not
    # be visible to the query yet.
    sweep_grace_s: float = 60.0
