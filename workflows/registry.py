"""Every workflow class the orchestrator serves (and the replayer checks)."""

from __future__ import annotations

from workflows.health import HealthCheckWorkflow

ALL_WORKFLOWS: list[type] = [HealthCheckWorkflow]
