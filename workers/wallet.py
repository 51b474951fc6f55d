"""Wallet worker: the only process holding the hot wallet's key; one slot = the nonce lane.

It serves ``perpflow-wallet-{chain}-{address}`` with ``max_concurrent_activities=1``, so nonces
are allocated, signed and broadcast strictly one after the other (receipts are awaited on the
orchestrator, so the lane never waits for one).
"""

from __future__ import annotations

import logging

from temporalio.worker import Worker

from activities.wallet import WalletActivities
from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.payouts.config import load_payouts_config
from perpflow.payouts.lane import FaultHook, WalletLane
from perpflow.payouts.runtime import chain_client, check_owner, load_wallet
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from workers.common import BUILD_ID, run_workers

log = logging.getLogger("perpflow.wallet")


async def main(fault: FaultHook | None = None) -> None:
    """Serve the lane; `fault` is a chaos test's crash-point hook (none in production)."""
    settings = load_settings()
    cfg = load_payouts_config(settings)
    stop = stop_event()
    wallet = load_wallet(cfg, settings)
    ledger = Ledger(settings.ledger_url)
    chain = chain_client(cfg)
    try:
        await check_owner(chain, wallet, cfg)
        lane = WalletLane(chain, wallet, PayoutRepository(ledger), cfg.chain.chain_id, fault)
        await lane.reconcile()  # a node restart or rollback may have lost stored txs
        client = await connect(settings)
        worker = Worker(
            client,
            build_id=BUILD_ID,
            task_queue=names.wallet_queue(cfg.chain.chain_id, wallet.address),
            activities=WalletActivities(lane).all(),
            max_concurrent_activities=1,  # the nonce lane
        )
        log.info("wallet lane wallet=%s chain_id=%s", wallet.address, cfg.chain.chain_id)
        await run_workers([worker], stop)
    finally:
        await chain.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
