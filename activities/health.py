"""Health probes as an activity: each registered probe is timed and its failure reported as data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio import activity

from perpflow.db.ledger import Ledger
from perpflow.models import Component, ComponentHealth, ComponentReport, HealthCheckRequest
from perpflow.venues.base import Venue


@dataclass(frozen=True)
class Probe:
    """A named endpoint check; it returns a short detail text or raises."""

    name: str
    check: Callable[[], Awaitable[str]]


def venue_probe(venue: Venue) -> Probe:
    async def check() -> str:
        markets = await venue.markets()
        return f"{len(markets)} markets at {venue.url}"

    return Probe(name=venue.name, check=check)


def ledger_probe(ledger: Ledger) -> Probe:
    async def check() -> str:
        latency = await ledger.ping()
        revision = await ledger.schema_revision()
        if revision is None:
            raise RuntimeError("schema not migrated")
        return f"{ledger.backend} schema {revision}, {latency:.1f} ms"

    return Probe(name=ledger.backend, check=check)


class HealthActivities:
    def __init__(self, probes: dict[Component, list[Probe]]) -> None:
        self._probes = probes

    @activity.defn(name="check_component")
    async def check_component(self, req: HealthCheckRequest) -> ComponentReport:
        probes = self._probes.get(req.component, [])
        if not probes and not req.required:
            return ComponentReport(checks=[])
        if not probes:
            return ComponentReport(
                checks=[
                    ComponentHealth(
                        component=req.component,
                        name="-",
                        healthy=False,
                        detail="nothing of this kind is configured on the orchestrator",
                        latency_ms=0,
                    )
                ]
            )
        checks = await asyncio.gather(*(_run(req, p) for p in probes))
        return ComponentReport(checks=list(checks))


async def _run(req: HealthCheckRequest, probe: Probe) -> ComponentHealth:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe.check(), timeout=req.timeout_seconds)
        healthy = True
    except TimeoutError:
        detail, healthy = f"no answer within {req.timeout_seconds:g} s", False
    except Exception as exc:
        detail, healthy = f"{type(exc).__name__}: {exc}", False
    return ComponentHealth(
        component=req.component,
        name=probe.name,
        healthy=healthy,
        detail=detail,
        latency_ms=(time.perf_counter() - started) * 1000,
    )
