"""Chain watcher: follows LeverageGuard logs and starts one payout workflow per event.

A supervised asyncio service and a Temporal client only (no worker, no key).
"""

from __future__ import annotations

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.payouts.config import load_payouts_config
from perpflow.payouts.runtime import chain_client, follower_config
from perpflow.payouts.watcher import ChainWatcher
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect


async def main() -> None:
    settings = load_settings()
    cfg = load_payouts_config(settings)
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    chain = chain_client(cfg)
    try:
        client = await connect(settings)
        watcher = ChainWatcher(
            client,
            chain,
            PayoutRepository(ledger),
            cfg.policy(),
            follower_config=follower_config(cfg),
            task_queue=cfg.orchestrator_queue or names.ORCHESTRATOR_QUEUE,
        )
        await watcher.run(stop)
    finally:
        await chain.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
