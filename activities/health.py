"""Health probes as an activity: every probe of the asked component, side by side."""

from __future__ import annotations

import asyncio

from temporalio import activity

from perpflow.health import Probe, run_probe
from perpflow.models import Component, ComponentHealth, ComponentReport, HealthCheckRequest

NOT_CONFIGURED = "nothing of this kind is configured on the orchestrator"


class HealthActivities:
    def __init__(self, probes: dict[Component, list[Probe]]) -> None:
        self._probes = probes

    @activity.defn(name="check_component")
    async def check_component(self, req: HealthCheckRequest) -> ComponentReport:
        probes = self._probes.get(req.component, [])
        if not probes:
            missing = ComponentHealth(
                component=req.component, name="-", healthy=False, detail=NOT_CONFIGURED, latency_ms=0
            )
            return ComponentReport(checks=[missing] if req.required else [])
        checks = await asyncio.gather(*(run_probe(req.component, p, req.timeout_seconds) for p in probes))
        return ComponentReport(checks=list(checks))
