"""Operator alerts: the log at once, then the audit table and the outbox in one transaction.

Raising an alert never touches a channel: ``perpflow.alerts.delivery`` posts the outbox on its
own, so a webhook outage delays the message and blocks nothing. ``Alert`` and ``Severity`` live in
``perpflow.alerts.models`` (pure; workflows import that) and are re-exported here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from perpflow.alerts.models import Alert, Severity
from perpflow.db.alerts import AlertOutbox
from perpflow.db.ledger import Ledger

__all__ = ["Alert", "Notifier", "Severity"]

log = logging.getLogger("perpflow.alerts")

_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}


class Notifier:
    def __init__(self, ledger: Ledger, on_enqueued: Callable[[], None] | None = None) -> None:
        """``on_enqueued``: called after a new alert is recorded (a delivery loop's ``wake``)."""
        self.outbox = AlertOutbox(ledger)
        self._on_enqueued = on_enqueued

    async def send(self, alert: Alert) -> bool:
        """Record the alert once per key; False when its key was recorded before (nothing done).

        Activities always pass a key (theirs, kept across retries); a caller outside one that
        passes none sends a new alert on each call."""
        keyed = alert if alert.key is not None else alert.model_copy(update={"key": uuid.uuid4().hex})
        try:
            fresh = await self.outbox.enqueue(keyed, datetime.now(UTC))
        except Exception:
            # The log is a channel too, and it works when the ledger does not (an activity retries).
            self._log(keyed, "NOT RECORDED: ledger write failed")
            raise
        if fresh:
            self._log(keyed, "")
            if self._on_enqueued is not None:
                self._on_enqueued()
        return fresh

    @staticmethod
    def _log(alert: Alert, note: str) -> None:
        log.log(_LEVELS[alert.severity], "ALERT %s %s: %s %s (key %s)%s", alert.severity, alert.source,
                alert.title, alert.detail, alert.key, f" {note}" if note else "")  # fmt: skip
