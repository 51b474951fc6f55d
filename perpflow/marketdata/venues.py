"""Several venues in one market-data process: a service per venue, one status file, one registry.

Each venue's service keeps its own streams, books, fill log and signals (accounts, markets and
fill ids are each venue's own); they share the Temporal client, the ledger, the metrics registry
and the telemetry, so ``perpflow doctor`` and ``register_watch`` read every venue's streams from
the one status file (each ``feed_changed`` names its venue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio.client import Client

from perpflow.db.ledger import Ledger
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.service import MarketDataService
from perpflow.marketdata.telemetry import Telemetry
from perpflow.venues.base import VenueName
from perpflow.venues.feed import VenueFeed


class MarketDataVenues:
    def __init__(
        self,
        venues: Sequence[tuple[MarketDataConfig, VenueFeed]],
        client: Client,
        ledger: Ledger,
        metrics: Metrics | None = None,
    ) -> None:
        if not venues:
            raise ValueError("market data needs at least one venue")
        first = venues[0][0]
        if any(c.state_dir != first.state_dir for c, _ in venues):
            raise ValueError("one process keeps one state dir: its venues' configs must share it")
        self.metrics = metrics or Metrics()
        self.telemetry = Telemetry(
            self.metrics, state_dir=first.state_dir, interval_s=first.status_interval_s
        )
        self.services: dict[VenueName, MarketDataService] = {}
        for config, feed in venues:
            if config.venue in self.services:
                raise ValueError(f"{config.venue} is configured twice")
            self.services[config.venue] = MarketDataService(
                config, feed, client, ledger, self.metrics, telemetry=self.telemetry
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Every venue's service and the telemetry until ``stop``; a service that fails ends the
        others (the process exits and its supervisor restarts it)."""
        try:
            async with asyncio.TaskGroup() as group:
                for service in self.services.values():
                    group.create_task(service.run(stop))
                group.create_task(self.telemetry.run(stop))
        finally:
            self.telemetry.write()  # every stream stopped, for doctor and the next run's watches
