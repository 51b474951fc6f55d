"""Operator alerts: always the log and the ledger's audit table, plus an optional webhook.

A chat or email integration is one more channel here; workflows only ever ask for an alert.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum

import aiohttp

from perpflow.db.ledger import Ledger
from perpflow.models import AuditEntry, Model

log = logging.getLogger("perpflow.alerts")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(Model):
    severity: Severity
    source: str  # the workflow id (or process) raising it
    title: str
    detail: str = ""
    # Deduplication key: one alert per key, ever (e.g. one per orphan). None: the alert activity
    # derives one from its workflow and activity id, so a retried activity never alerts twice.
    key: str | None = None


_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}


class Notifier:
    def __init__(self, ledger: Ledger, webhook_url: str | None = None) -> None:
        self.ledger = ledger
        self.webhook_url = webhook_url

    async def send(self, alert: Alert) -> None:
        log.log(
            _LEVELS[alert.severity],
            "ALERT %s %s: %s %s",
            alert.severity,
            alert.source,
            alert.title,
            alert.detail,
        )
        await self.ledger.record_audit(
            AuditEntry(at=datetime.now(UTC), actor="perpflow", action=f"alert.{alert.severity}",
                       target=alert.source, detail={"title": alert.title, "detail": alert.detail})
        )  # fmt: skip
        if self.webhook_url:
            # A failed webhook raises: the alert activity retries rather than losing the alert.
            async with aiohttp.ClientSession() as http:
                resp = await http.post(self.webhook_url, json=alert.model_dump(mode="json"))
                resp.raise_for_status()
