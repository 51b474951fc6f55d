"""Ledger and alert activities of hedge cycles (orchestrator queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from perpflow.alerts.models import Alert, activity_key
from perpflow.alerts.notifier import Notifier
from perpflow.db.hedge import HedgeCycles
from perpflow.hedge.models import CycleRecord


class HedgeActivities:
    def __init__(self, cycles: HedgeCycles, notifier: Notifier) -> None:
        self.cycles = cycles
        self.notifier = notifier

    @activity.defn(name="record_cycle")
    async def record_cycle(self, rec: CycleRecord) -> None:
        await self.cycles.save(rec)

    @activity.defn(name="send_alert")
    async def send_alert(self, alert: Alert) -> None:
        """Records the alert for the delivery loop and returns: a channel that is down never fails
        it, and a retry of it (same activity, same key) records nothing twice."""
        if alert.key is None:
            info = activity.info()
            alert = alert.model_copy(
                update={"key": activity_key(info.workflow_id, info.workflow_run_id, info.activity_id)}
            )
        await self.notifier.send(alert)

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_cycle, self.send_alert]
