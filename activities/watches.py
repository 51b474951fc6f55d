"""Watch registration as activities: workflows tell the market-data worker what to signal.

Thin shim over ``perpflow.db.watches``; run it on the orchestrator queue with the ``LEDGER``
preset. Registering is idempotent per (workflow, watch name). A watch that wants the feed state
comes back with the worker's current one, read from its status file in ``state_dir``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity

from perpflow.db.ledger import Ledger
from perpflow.db.watches import Watches
from perpflow.marketdata.liveness import with_feed
from perpflow.marketdata.models import (
    DeactivatedWatches,
    DeactivateWatches,
    Watch,
    WatchSet,
    WatchSetResult,
    WatchSpec,
    WorkerStatus,
)
from perpflow.marketdata.status import MarketDataUnhealthy, read_status, status_path


class WatchActivities:
    def __init__(self, ledger: Ledger, state_dir: Path | None = None) -> None:
        self.watches = Watches(ledger)
        self.state_dir = state_dir  # the market-data worker's, for its status file

    @activity.defn(name="register_watch")
    async def register_watch(self, spec: WatchSpec) -> Watch:
        watch = await self.watches.register(spec)
        if spec.wants_feed_state:
            watch = with_feed(watch, self._worker_status(), datetime.now(UTC))
        activity.logger.info(
            "watch %d registered workflow=%s name=%s kind=%s market=%s",
            watch.id,
            spec.workflow_id,
            spec.name,
            spec.kind.value,
            spec.market,
        )
        return watch

    @activity.defn(name="set_watches")
    async def set_watches(self, watches: WatchSet) -> WatchSetResult:
        """One workflow's watches, whole: a ladder's many in one activity and one transaction."""
        registered = await self.watches.replace(watches)
        first = registered[0]
        if first.spec.wants_feed_state:
            first = with_feed(first, self._worker_status(), datetime.now(UTC))
        activity.logger.info("watches set workflow=%s count=%d", watches.workflow_id, len(registered))
        return WatchSetResult(count=len(registered), feed_up=first.feed_up, feed=first.feed)

    def _worker_status(self) -> WorkerStatus | None:
        if self.state_dir is None:
            return None
        try:
            return read_status(status_path(self.state_dir))
        except (MarketDataUnhealthy, OSError, ValueError):  # never ran, or a torn file: the feed is down
            return None

    @activity.defn(name="deactivate_watches")
    async def deactivate_watches(self, req: DeactivateWatches) -> DeactivatedWatches:
        count = await self.watches.deactivate(req)
        activity.logger.info("watches deactivated workflow=%s count=%d", req.workflow_id, count)
        return DeactivatedWatches(count=count)

    def all(self) -> list[Callable[..., object]]:
        return [self.register_watch, self.set_watches, self.deactivate_watches]
