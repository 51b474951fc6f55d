"""Payload models: one pydantic model in and one out for every workflow, activity and message.

They are pure data (no I/O), so workflow code can import them freely. Money and sizes are
``Decimal``; times are timezone-aware ``datetime``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Strict base: an unknown field in a payload is an error naming that field."""

    model_config = ConfigDict(extra="forbid")


class RejectedCommand(Model):
    """A signal a workflow could not take (malformed payload, unknown name), kept in its state."""

    name: str
    payload: str
    error: str
    at: AwareDatetime


class Component(StrEnum):
    LEDGER = "ledger"
    VENUE = "venue"
    CHAIN = "chain"


class HealthCheckInput(Model):
    # None: every component the orchestrator has configured. Listed ones must be configured.
    components: list[Component] | None = Field(default=None, min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class HealthCheckRequest(Model):
    component: Component
    timeout_seconds: float = Field(gt=0)
    required: bool = True  # unconfigured and required: reported unhealthy; else left out


class ComponentHealth(Model):
    component: str
    name: str
    healthy: bool
    detail: str
    latency_ms: float = Field(ge=0)


class ComponentReport(Model):
    checks: list[ComponentHealth]


class HealthReport(Model):
    healthy: bool
    checked_at: AwareDatetime
    components: list[ComponentHealth]

    @classmethod
    def of(cls, at: datetime, components: list[ComponentHealth]) -> HealthReport:
        return cls(healthy=all(c.healthy for c in components), checked_at=at, components=components)


class AccountRef(Model):
    """A venue account known to the ledger (no secrets: keys live with the signer)."""

    name: str
    venue: str
    account_index: int
    api_key_index: int | None = None
    proxy_url: str | None = None


class AuditEntry(Model):
    at: AwareDatetime
    actor: str
    action: str
    target: str
    detail: dict[str, object] = Field(default_factory=dict)
