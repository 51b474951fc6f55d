"""The embedded stack's venue: the simulated exchange, demo accounts, and their signer worker.

Demo API keys are generated at run time with lighter-sdk's key generator (the GRVT demo account's
with eth-account, perpflow/devstack/grvt.py) and kept only in ``<state dir>/secrets.json`` (mode
0600); configs refer to them as ``secrets:NAME``. One signer process holds both venues' keys.
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp
import lighter
import yaml
from temporalio.api.enums.v1 import TaskQueueType

from perpflow import names, secrets
from perpflow.db.ledger import Ledger
from perpflow.devstack.grvt import create_grvt_demo_account, grvt_url
from perpflow.devstack.options import DevOptions
from perpflow.devstack.probes import queue_has_pollers
from perpflow.devstack.supervisor import Service, Step, Unit
from perpflow.marketdata.fill_log import fill_log_path
from perpflow.models import AccountRef
from perpflow.settings import Settings
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.base import VenueName

DEMO_GRID_ACCOUNT = "demo-grid-1"  # the demo grid session's own: never one of the fleet's pairs
DEMO_ACCOUNTS = ("demo-maker-1", "demo-taker-1", "demo-maker-2", "demo-taker-2", DEMO_GRID_ACCOUNT)
DEMO_COLLATERAL = Decimal(100_000)
DEMO_KEY_INDEX = 3


def signer_config_path(settings: Settings) -> str:
    return str((settings.state_dir / "signer.yaml").resolve())


def sim_service(url: str, port: int, host: str) -> Service:
    async def ready() -> bool:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_sim/health") as resp:
            return resp.status == 200

    command = [
        sys.executable,
        "-m",
        "perpflow.sim",
        "--host",
        host,
        "--port",
        str(port),
        "--price-path",
        "random",
    ]
    return Service(name="sim", command=command, ready=ready, ports=[("http", port)])


def forget_delivered_fills(state_dir: Path) -> None:
    """The sim starts empty and numbers its trades from 1 again: the fill ids market data kept as
    delivered from an earlier sim would come again, and the new sim's fills be dropped as repeats."""
    for venue in VenueName:
        fill_log_path(state_dir, venue).unlink(missing_ok=True)


async def create_demo_accounts(settings: Settings, sim_url: str) -> list[AccountRef]:
    """Fresh sim accounts (the sim keeps no state across restarts), keys, signer config, ledger:
    the Lighter ones, then the GRVT one."""
    keys: dict[str, str] = {}
    refs = []
    async with SimAdmin(sim_url) as admin:
        for name in DEMO_ACCOUNTS:
            private_key, public_key, err = lighter.create_api_key()
            if err is not None:
                raise RuntimeError(f"lighter key generation failed: {err}")
            index = await admin.create_account(DEMO_COLLATERAL, {DEMO_KEY_INDEX: public_key})
            keys[name] = private_key
            refs.append(
                AccountRef(name=name, venue="lighter", account_index=index, api_key_index=DEMO_KEY_INDEX)
            )
    grvt = await create_grvt_demo_account(sim_url, DEMO_COLLATERAL)
    secrets.write_store(settings.secrets_file, {**keys, **grvt.secrets})
    config = {
        "lighter": {"url": sim_url},
        "grvt": {"url": grvt_url(sim_url)},
        "accounts": [
            *({"name": r.name, "account_index": r.account_index, "api_key_index": r.api_key_index,
               "api_key": f"secrets:{r.name}", "tier": "premium"}
              for r in refs),
            grvt.signer_entry,
        ],
    }  # fmt: skip
    refs.append(grvt.ref)
    (settings.state_dir / "signer.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ledger = Ledger(settings.ledger_url)
    try:
        for ref in refs:
            await ledger.upsert_account(ref)
    finally:
        await ledger.close()
    return refs


def venue_units(settings: Settings, opts: DevOptions, env: dict[str, str]) -> list[Unit]:
    """The sim, then the demo accounts, then one signer process holding their keys."""
    sim_url, temporal_address = opts.sim_url, opts.temporal_address
    queues: list[str] = []

    async def accounts() -> None:
        forget_delivered_fills(settings.state_dir)  # before market data starts
        refs = await create_demo_accounts(settings, sim_url)
        queues.extend(names.signer_queue(r.venue, r.account_index, r.api_key_index or 0) for r in refs)

    async def signer_ready() -> bool:
        activity_tasks = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        ns = settings.temporal_namespace
        polled = await asyncio.gather(
            *(queue_has_pollers(temporal_address, ns, q, activity_tasks) for q in queues)
        )
        return all(polled)

    return [
        sim_service(sim_url, opts.sim_port, opts.host),
        Step("demo accounts", accounts),
        Service(
            name="signer",
            command=[
                *(sys.executable, "-m", "workers.signer", signer_config_path(settings)),
                *opts.metrics_args("signer"),
            ],
            ready=signer_ready,
            env=env,
            ports=opts.metrics_bind("signer"),
        ),
    ]
