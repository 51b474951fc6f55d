"""Wallet worker: the only process holding the hot wallet's key; one slot = the nonce lane.

It serves ``perpflow-wallet-{chain}-{address}`` with ``max_concurrent_activities=1``, so nonces
are allocated, signed and broadcast strictly one after the other (receipts are awaited on the
orchestrator, so the lane never waits for one).

  python -m workers.wallet [--metrics-port 9464] [--metrics-host 0.0.0.0]
"""

from __future__ import annotations

import logging

from temporalio.worker import Worker

from activities.wallet import WalletActivities
from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.metrics import endpoint
from perpflow.metrics.chain import WalletGauges
from perpflow.metrics.names import Process
from perpflow.payouts.config import load_payouts_config
from perpflow.payouts.lane import FaultHook, WalletLane
from perpflow.payouts.runtime import chain_client, check_owner, load_wallet
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from workers.common import BUILD_ID, run_workers, start_metrics

log = logging.getLogger("perpflow.wallet")


async def main(fault: FaultHook | None = None) -> None:
    """Serve the lane; `fault` is a chaos test's crash-point hook (none in production): that test's
    own arguments are not ours, so its metrics settings come from the environment alone."""
    metrics_settings = endpoint.MetricsSettings() if fault else endpoint.parse(prog="workers.wallet")
    metrics = endpoint.Endpoint(Process.WALLET, metrics_settings)
    metrics.install_sdk()  # before the first client connects
    settings = load_settings()
    cfg = load_payouts_config(settings)
    stop = stop_event()
    wallet = load_wallet(cfg, settings)
    ledger = Ledger(settings.ledger_url)
    chain = chain_client(cfg)
    try:
        start_metrics(
            metrics, wallet=WalletGauges(chain, ledger.engine, cfg.chain.chain_id, wallet.address).read
        )
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
        metrics.close()
        await chain.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
