"""Chain watcher: follows LeverageGuard logs and starts one payout workflow per event.

A supervised asyncio service and a Temporal client only (no worker, no key).

  python -m workers.chain_watcher [--metrics-port 9464] [--metrics-host 0.0.0.0]
"""

from __future__ import annotations

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.metrics import endpoint
from perpflow.metrics.chain import ChainGauges
from perpflow.metrics.names import Process
from perpflow.payouts.config import load_payouts_config
from perpflow.payouts.runtime import chain_client, follower_config
from perpflow.payouts.watcher import ChainWatcher, cursor_name
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from workers.common import start_metrics


async def main() -> None:
    metrics = endpoint.Endpoint(Process.CHAIN_WATCHER, endpoint.parse(prog="workers.chain_watcher"))
    metrics.install_sdk()  # before the first client connects
    settings = load_settings()
    cfg = load_payouts_config(settings)
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    chain = chain_client(cfg)
    try:
        policy = cfg.policy()
        cursor = cursor_name(policy.chain_id, policy.guard_address)
        start_metrics(metrics, chain=ChainGauges(chain, ledger.engine, policy.chain_id, cursor).read)
        client = await connect(settings)
        watcher = ChainWatcher(
            client,
            chain,
            PayoutRepository(ledger),
            policy,
            follower_config=follower_config(cfg),
            task_queue=cfg.orchestrator_queue or names.ORCHESTRATOR_QUEUE,
        )
        await watcher.run(stop)
    finally:
        metrics.close()
        await chain.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
