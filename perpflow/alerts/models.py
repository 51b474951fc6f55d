"""Alert payloads: pure data, safe to import from workflow code (no I/O, no heavy imports)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from perpflow.models import Model


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


def activity_key(workflow_id: str | None, run_id: str | None, activity_id: str) -> str:
    """The key of an alert raised by one activity: a retry keeps it, another activity does not.

    The run id is part of it because activity ids restart at 1 after continue-as-new. (Both are
    None only for an activity started outside any workflow, whose own id is unique.)"""
    return "/".join(part for part in (workflow_id, run_id, activity_id) if part)


class OutboxEntry(Model):
    """One alert in the ledger's outbox and how far its delivery got."""

    id: int
    alert: Alert  # its key always set
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
