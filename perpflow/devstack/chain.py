"""The payout half of ``perpflow dev``: anvil, the LeverageGuard set-up, wallet worker, watcher, demo.

``chain_setup_units`` go before the orchestrator (it serves payout activities only when
``payouts.yaml`` exists); ``chain_service_units`` after it. Keys are generated once into the
state dir's secrets store (0600) and referenced as ``secrets:NAME``; only the wallet worker and
the demo reporter resolve them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from eth_account import Account
from temporalio.api.enums.v1 import TaskQueueType

from perpflow import names
from perpflow.chain.client import ChainClient
from perpflow.chain.wallet import HotWallet
from perpflow.devstack import chain_admin
from perpflow.devstack.anvil import AnvilConfig, find_anvil, probe_chain_id
from perpflow.devstack.anvil_state import check_state_file
from perpflow.devstack.options import ANVIL_PORT, DevOptions, child_env
from perpflow.devstack.probes import queue_has_pollers
from perpflow.devstack.supervisor import Service, Step, Unit
from perpflow.secrets import read_store, resolve, write_store
from perpflow.settings import Settings

log = logging.getLogger("perpflow.dev")

WALLET_SECRET, REPORTER_SECRET = "payout_wallet", "payout_reporter"
DEMO_FILE = "payout-demo.json"
ETH = 10**18
POOL_WEI = 50 * ETH
DEV_BALANCE_WEI = 1_000 * ETH
# Interval mining in the demo: confirmations then take real (short) time, as on a real chain.
BLOCK_TIME_S = 1.0


@functools.cache  # asked by several units; one warning when missing
def anvil_available() -> bool:
    try:
        find_anvil()
    except Exception as exc:  # no npm ci yet: the rest of the stack still runs
        log.warning("payouts disabled: %s", exc)
        return False
    return True


def anvil_config(settings: Settings, opts: DevOptions) -> AnvilConfig:
    """On ``opts.anvil_port`` (DevOptions.resolve: 8545 when free, another port when taken)."""
    port = opts.anvil_port or ANVIL_PORT
    state = settings.state_dir.resolve() / "anvil-state.json"
    return AnvilConfig(host=opts.host, port=port, state_file=state, block_time_s=BLOCK_TIME_S)


def chain_setup_units(settings: Settings, opts: DevOptions) -> list[Unit]:
    if not anvil_available():
        return []
    cfg = anvil_config(settings, opts)
    url = f"http://{cfg.host}:{cfg.port}"

    async def ready() -> bool:
        return probe_chain_id(url) is not None

    anvil = Service(name="anvil", command=cfg.argv(find_anvil()), ready=ready, ports=[("rpc", cfg.port)])

    async def check_state() -> None:
        # A SIGKILL mid-dump leaves the file cut off, and anvil would refuse to start.
        assert cfg.state_file is not None
        await asyncio.to_thread(check_state_file, cfg.state_file)

    async def setup() -> None:
        await set_up_guard(settings, url, f"ws://{cfg.host}:{cfg.port}")

    return [Step("anvil state file", check_state), anvil, Step("payout contract", setup)]


def chain_service_units(settings: Settings, opts: DevOptions) -> list[Unit]:
    if not anvil_available():
        return []
    env = child_env(settings, opts)

    async def wallet_ready() -> bool:
        data = yaml.safe_load((settings.state_dir / "payouts.yaml").read_text())
        queue = names.wallet_queue(data["chain"]["chain_id"], data["wallet"]["address"])
        return await queue_has_pollers(
            opts.temporal_address, settings.temporal_namespace, queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        )

    def python(module: str, name: str) -> list[str]:
        return [sys.executable, "-m", module, *opts.metrics_args(name)]

    return [
        Service(
            name="wallet",
            command=python("workers.wallet", "wallet"),
            ready=wallet_ready,
            env=env,
            ports=opts.metrics_bind("wallet"),
        ),
        Service(
            name="chain-watcher",
            command=python("workers.chain_watcher", "chain-watcher"),
            env=env,
            ports=opts.metrics_bind("chain-watcher"),
        ),
        Service(name="liquidator", command=python("perpflow.devstack.demo_liquidator", "demo"), env=env),
    ]


async def set_up_guard(settings: Settings, url: str, ws_url: str) -> None:
    """Keys, guard, pool, whitelist and payouts.yaml. The guard the demo state names is reused when
    the chain holds its code; a fresh or older chain (anvil_state.py's fall-backs) that does not
    gets a new one, and the demo state then names it."""
    state = settings.state_dir
    _ensure_keys(state)
    owner = HotWallet(resolve(f"secrets:{WALLET_SECRET}", state))
    reporter = HotWallet(resolve(f"secrets:{REPORTER_SECRET}", state))
    demo = _demo_state(state)
    async with ChainClient(url) as client, chain_admin.DevNode(url) as node:
        if demo.get("guard") and await client.w3.eth.get_code(demo["guard"]) not in (b"", "0x"):
            log.info("payout guard reused address=%s", demo["guard"])
            guard = client.with_guard(demo["guard"])
        else:
            for wallet in (owner, reporter):
                await node.set_balance(wallet.address, DEV_BALANCE_WEI)
            demo["start_block"] = await client.head_number() + 1
            guard = await chain_admin.deploy(client, owner)
            await chain_admin.fund(guard, owner, POOL_WEI)
            await chain_admin.set_reporter(guard, owner, reporter.address)
            for user in demo["users"]:
                await chain_admin.whitelist(guard, owner, user)
            demo["guard"] = guard.guard_address
            log.info("payout guard deployed address=%s users=%d", guard.guard_address, len(demo["users"]))
        chain_id = await client.chain_id()
    (state / DEMO_FILE).write_text(json.dumps(demo, indent=1))
    chain = {"chain_id": chain_id, "rpc_url": url, "ws_url": ws_url}
    _write_config(
        state, {**chain, "guard_address": demo["guard"], "start_block": demo["start_block"]}, owner.address
    )


def _ensure_keys(state: Path) -> None:
    store = read_store(state / "secrets.json")
    missing = [name for name in (WALLET_SECRET, REPORTER_SECRET) if name not in store]
    if missing:
        write_store(state / "secrets.json", {name: Account.create().key.to_0x_hex() for name in missing})


def _demo_state(state: Path) -> dict[str, Any]:
    path = state / DEMO_FILE
    if path.is_file():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"users": [Account.create().address for _ in range(4)]}


def _write_config(state: Path, chain: dict[str, Any], wallet: str) -> None:
    config = {
        "chain": chain,
        "wallet": {"address": wallet, "key": f"secrets:{WALLET_SECRET}"},
        "rules": {"approval_threshold_eth": str(Decimal("0.015")), "approval_timeout_s": 120},
        "timing": {"confirmations": 2, "tx_confirmations": 2, "stuck_after_s": 15},
    }
    (state / "payouts.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
