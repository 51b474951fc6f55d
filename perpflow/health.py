"""Health probes: named endpoint checks, each timed and its failure reported as data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from perpflow.db.ledger import Ledger
from perpflow.models import Component, ComponentHealth
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


async def run_probe(component: Component, probe: Probe, timeout_s: float) -> ComponentHealth:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe.check(), timeout=timeout_s)
        healthy = True
    except TimeoutError:
        detail, healthy = f"no answer within {timeout_s:g} s", False
    except Exception as exc:
        detail, healthy = f"{type(exc).__name__}: {exc}", False
    return ComponentHealth(
        component=component,
        name=probe.name,
        healthy=healthy,
        detail=detail,
        latency_ms=(time.perf_counter() - started) * 1000,
    )
