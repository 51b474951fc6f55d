"""Market-data worker settings: endpoints, timings, and where state and metrics go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from perpflow.marketdata.stream import StreamOptions
from perpflow.venues.lighter.client import Proxy


@dataclass(frozen=True)
class MarketDataConfig:
    rest_url: str  # http(s)://host:port of the venue
    ws_url: str  # ws(s)://host:port/stream
    venue: str = "lighter"
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

    @staticmethod
    def ws_url_for(rest_url: str) -> str:
        base = rest_url.rstrip("/")
        return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/stream"
