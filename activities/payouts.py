"""Orchestrator-side payout activities (waits as activities, writes as local activities).

Thin shims over ``PayoutTracker`` and ``PayoutBook``: chain reads, the workflow's recorded
moves and notifications. Nothing here holds a key; sends go through ``activities/wallet.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from temporalio import activity

from perpflow.alerts.models import Alert, Severity, activity_key
from perpflow.alerts.notifier import Notifier
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.payouts import models as m
from perpflow.payouts.book import PayoutBook
from perpflow.payouts.config import maybe_payouts_config
from perpflow.payouts.runtime import chain_client
from perpflow.payouts.tracker import PayoutTracker
from perpflow.settings import Settings

log = logging.getLogger(__name__)


class PayoutActivities:
    def __init__(self, tracker: PayoutTracker, book: PayoutBook, notifier: Notifier) -> None:
        self._tracker, self._book, self._notifier = tracker, book, notifier

    @activity.defn(name="payout_check_event")
    async def check_event(self, req: m.CheckEventRequest) -> m.CheckEventResult:
        return await self._tracker.check_event(req)

    @activity.defn(name="payout_await_tx")
    async def await_tx(self, req: m.AwaitTxRequest) -> m.AwaitTxResult:
        return await self._tracker.await_tx(req)

    @activity.defn(name="payout_record_state")
    async def record_state(self, req: m.RecordStateRequest) -> None:
        await self._book.record(req)

    @activity.defn(name="payout_notify")
    async def notify(self, notice: m.Notice) -> None:
        """Into the alert outbox, once per local activity however often it is retried."""
        info = activity.info()
        await self._notifier.send(
            Alert(
                severity=Severity.WARNING if notice.kind == "escalation" else Severity.CRITICAL,
                source=notice.workflow_id,
                title=f"payout {notice.kind}",
                detail=notice.message,
                key=activity_key(info.workflow_id, info.workflow_run_id, info.activity_id),
            )
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.check_event, self.await_tx, self.record_state, self.notify]


def orchestrator_payout_activities(
    settings: Settings, ledger: Ledger, notifier: Notifier
) -> list[Callable[..., Any]]:
    """The payout activities the orchestrator serves, or none when no payout config exists.

    The chain client lives as long as the worker process (closed by process exit)."""
    cfg = maybe_payouts_config(settings)
    if cfg is None:
        log.info("no payout config: payout activities not served")
        return []
    repo = PayoutRepository(ledger)
    return PayoutActivities(PayoutTracker(chain_client(cfg), repo), PayoutBook(repo), notifier).all()
