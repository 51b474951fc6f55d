"""Ledger and alert activities of hedge cycles (orchestrator queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from perpflow.db.hedge import HedgeCycles
from perpflow.hedge.models import CycleRecord
from perpflow.notify import Alert, Notifier


class HedgeActivities:
    def __init__(self, cycles: HedgeCycles, notifier: Notifier) -> None:
        self.cycles = cycles
        self.notifier = notifier

    @activity.defn(name="record_cycle")
    async def record_cycle(self, rec: CycleRecord) -> None:
        await self.cycles.save(rec)

    @activity.defn(name="send_alert")
    async def send_alert(self, alert: Alert) -> None:
        await self.notifier.send(alert)

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_cycle, self.send_alert]
