"""What the GRVT benches share beyond bench.harness: accounts on both faces of the sim, grvt-pysdk's
raw async client pointed at the sim (the baselines' own client), perpflow's worker processes configured
and awaited as production runs them (bench.harness starts them), and "Temporal alone" served from a
process of its own."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import secrets as random_secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import lighter
import yaml
from eth_account import Account
from pysdk.grvt_raw_async import GrvtRawAsync
from pysdk.grvt_raw_base import GrvtApiConfig
from pysdk.grvt_raw_env import GrvtEnv
from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench import harness
from bench.harness import until
from perpflow import secrets
from perpflow.devstack.probes import queue_has_pollers
from perpflow.marketdata.status import read_status, status_path
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.feed import StreamState

ETH = 0  # the engine's market behind Lighter's ETH and GRVT's ETH_USDT_Perp
ETH_GRVT = "ETH_USDT_Perp"
LIGHTER_KEY = 3
GRVT_KEY = 0  # perpflow's api_key_index of a GRVT account: one signing key each
# The benches measure latency, not the client-side request budget: GRVT's standard budget (6000
# units a minute) would hold the signer back once a run has spent its first minute's burst.
REQUESTS_PER_MINUTE = 10_000_000
NOOP = "bench_noop_started"


def utc() -> None:
    """grvt-pysdk reads the cookie's GMT expiry as local time (grvt-api.md §4): run it in UTC."""
    os.environ["TZ"] = "UTC"
    time.tzset()


# -- accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrvtAccount:
    name: str
    engine_index: int  # the sim engine's account: the Lighter face's index of it
    sub_account_id: int  # GRVT's sub-account id: perpflow's account index on GRVT
    signer_key: str  # the private key the API key is tagged to: it signs the orders
    api_key: str  # the API key that logs in (trade + view)


@dataclass(frozen=True)
class LighterAccount:
    name: str
    index: int
    private_key: str


async def new_grvt_account(url: str, name: str, collateral: str = "1000000") -> GrvtAccount:
    """A funded engine account reached through the GRVT face, under a 16-digit sub-account id
    (as GRVT's are), so it never equals a Lighter index."""
    signer, api_key = Account.create(), f"{name}-{uuid.uuid4().hex[:10]}"
    sub = 10**15 + random_secrets.randbelow(8 * 10**15)
    body = {
        "collateral": collateral, "grvt_sub_account_id": str(sub),
        "grvt_api_keys": [{"api_key": api_key, "signer": signer.address, "permissions": ["trade", "view"]}],
    }  # fmt: skip
    async with (
        aiohttp.ClientSession(trust_env=False) as http,
        http.post(f"{url}/_sim/accounts", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()
        engine = int((await resp.json())["account_index"])
    return GrvtAccount(name, engine, sub, signer.key.hex(), api_key)


async def new_lighter_account(admin: SimAdmin, name: str, collateral: str = "1000000") -> LighterAccount:
    private_key, public_key, err = lighter.create_api_key()
    assert err is None, err
    return LighterAccount(
        name, await admin.create_account(collateral, {LIGHTER_KEY: public_key}), private_key
    )


def grvt_url(url: str) -> str:
    return f"{url}/grvt"


def raw_client(url: str, account: GrvtAccount) -> GrvtRawAsync:
    """grvt-pysdk's raw async client for ``account``, its hosts set to the sim's after construction
    (grvt-api.md §3); it logs in by itself on its first private call. Build it in a running loop."""
    config = GrvtApiConfig(
        GrvtEnv.TESTNET, str(account.sub_account_id), account.signer_key, account.api_key,
        logging.getLogger("bench.grvt-pysdk"),
    )  # fmt: skip
    raw = GrvtRawAsync(config)
    base = grvt_url(url)
    raw.env.edge.rpc_endpoint, raw.td_rpc, raw.md_rpc = f"{base}/edge", f"{base}/td", f"{base}/md"
    return raw


# -- perpflow's worker processes -------------------------------------------------------------------


def signer_config(
    url: str, state_dir: Path, grvt: list[GrvtAccount], lighter_accounts: list[LighterAccount]
) -> Path:
    """The signer YAML (keys in the state dir's secrets store, as ``perpflow dev`` keeps them)."""
    keys: dict[str, str] = {}
    accounts: list[dict[str, Any]] = []
    for g in grvt:
        keys |= {f"{g.name}-signer": g.signer_key, f"{g.name}-login": g.api_key}
        accounts.append({
            "name": g.name, "venue": "grvt", "account_index": g.sub_account_id, "api_key_index": GRVT_KEY,
            "api_key": f"secrets:{g.name}-signer", "session_key": f"secrets:{g.name}-login",
            "requests_per_minute": REQUESTS_PER_MINUTE,
        })  # fmt: skip
    for a in lighter_accounts:
        keys[a.name] = a.private_key
        accounts.append({
            "name": a.name, "account_index": a.index, "api_key_index": LIGHTER_KEY,
            "api_key": f"secrets:{a.name}", "requests_per_minute": REQUESTS_PER_MINUTE,
        })  # fmt: skip
    secrets.write_store(state_dir / "secrets.json", keys)
    path = state_dir / "signer.yaml"
    config = {"lighter": {"url": url}, "grvt": {"url": grvt_url(url)}, "accounts": accounts}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def stack_env(client: Client, url: str, ledger_url: str, state_dir: Path) -> dict[str, str]:
    """The harness's worker environment with the sim's GRVT face too."""
    return {
        **harness.stack_env(client, url, ledger_url, state_dir),
        "PERPFLOW_GRVT_URL": grvt_url(url),
        "TZ": "UTC",
    }


async def polled(client: Client, workflow_queues: list[str], activity_queues: list[str]) -> None:
    """Until a worker polls each of these queues."""
    address, ns = client.service_client.config.target_host, client.namespace
    act = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY

    async def ready() -> bool:
        checks = [queue_has_pollers(address, ns, q) for q in workflow_queues]
        checks += [queue_has_pollers(address, ns, q, act) for q in activity_queues]
        return all(await asyncio.gather(*checks))

    await until(ready, f"pollers on {workflow_queues + activity_queues}")


async def streams_connected(state_dir: Path, wanted: set[str]) -> None:
    """Until the market-data worker's status file says these streams are connected."""
    path = status_path(state_dir)

    async def up() -> bool:
        if not path.exists():
            return False
        status = read_status(path)
        return wanted <= {s.name for s in status.streams if s.state is StreamState.CONNECTED}

    await until(up, f"market-data streams {sorted(wanted)} connected")


# -- Temporal alone, in a process of its own ----------------------------------------------------------


def noop_process(target: str, namespace: str, queue: str, conn: Connection) -> None:
    """A one-slot worker whose activity only says when it started; "ready", then serves until told."""
    asyncio.run(_serve_noop(target, namespace, queue, conn))


@activity.defn(name=NOOP)
async def noop_started(sample: int) -> float:
    return time.time()


async def _serve_noop(target: str, namespace: str, queue: str, conn: Connection) -> None:
    client = await Client.connect(target, namespace=namespace, data_converter=pydantic_data_converter)
    async with Worker(client, task_queue=queue, activities=[noop_started], max_concurrent_activities=1):
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)


@asynccontextmanager
async def noop_worker(client: Client) -> AsyncIterator[str]:
    """Yields the queue that a one-slot worker in another process serves ``bench_noop_started`` on:
    the signer's shape with nothing to do, so what is left is Temporal's own dispatch."""
    queue = f"bench-noop-{uuid.uuid4()}"
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(
        target=noop_process, args=(client.service_client.config.target_host, client.namespace, queue, there)
    )
    proc.start()
    loop = asyncio.get_running_loop()
    try:
        assert await loop.run_in_executor(None, here.recv) == "ready"
        yield queue
        here.send("stop")
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
