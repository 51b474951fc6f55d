"""Alert payloads: pure data, safe to import from workflow code (no I/O, no heavy imports)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from perpflow.models import Model


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


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


class AlertRole(StrEnum):
    """What an outbox row is to the delivery loop (None until a loop first looks at an alert)."""

    LEAD = "lead"  # sent to the channels; opens a repeat window for its severity and title
    REPEAT = "repeat"  # same severity and title within the window: counted, not sent
    SUMMARY = "summary"  # the count of a lead's repeats, sent when its window ends
    REPORT = "report"  # the daily status report, sent to the e-mail channels


class OutboxEntry(Model):
    """One alert in the ledger's outbox and how far its delivery got."""

    id: int
    alert: Alert  # its key always set
    created_at: datetime
    attempts: int  # rounds of delivery that took the row (each tries its channels still due)
    next_attempt_at: datetime
    delivered_at: datetime | None  # every channel took it (or it was a repeat: none had to)
    last_error: str | None
    role: AlertRole | None = None
    lead_id: int | None = None  # a repeat's or a summary's lead


class ChannelState(Model):
    """How far one alert got on one channel: a channel that took it is never sent it again."""

    channel: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
