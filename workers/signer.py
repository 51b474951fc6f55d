"""Signer worker: holds venue API keys, one task queue and one activity slot per key.

One slot per key is what keeps nonces from colliding; one process may host several keys.
  python -m workers.signer CONFIG.yaml [ACCOUNT_NAME ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from temporalio.worker import Worker

from activities.orders import OrderActivities
from perpflow import names
from perpflow.config import load_yaml
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.risk import RiskStates
from perpflow.orders.config import SignerConfig
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from perpflow.venues.base import Venue
from perpflow.venues.config import VenueAccount
from perpflow.venues.registry import build_venue
from workers.common import BUILD_ID, run_workers


def selected(config: SignerConfig, only: list[str]) -> list[VenueAccount]:
    accounts = config.with_proxies()
    if not only:
        return accounts
    unknown = set(only) - {a.name for a in accounts}
    if unknown:
        raise SystemExit(f"signer: no account named {', '.join(sorted(unknown))} in the config")
    return [a for a in accounts if a.name in only]


async def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m workers.signer CONFIG.yaml [ACCOUNT_NAME ...]")
    settings = load_settings()
    config = load_yaml(Path(sys.argv[1]), SignerConfig)
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    venues: list[Venue] = []
    try:
        client = await connect(settings)
        workers = []
        for account in selected(config, sys.argv[2:]):
            venue = build_venue(account.venue, config.access(account, settings.state_dir))
            venues.append(venue)
            activities = OrderActivities(venue, Orders(ledger), RiskStates(ledger), config.risk)
            key = (account.venue, account.account_index, account.api_key_index)
            workers += [
                Worker(
                    client,
                    build_id=BUILD_ID,
                    task_queue=names.signer_queue(*key),
                    activities=activities.send_activities(),
                    max_concurrent_activities=1,
                ),
                Worker(
                    client,
                    build_id=BUILD_ID,
                    task_queue=names.signer_read_queue(*key),
                    activities=activities.read_activities(),
                ),
            ]
        await run_workers(workers, stop)
    finally:
        for venue in venues:
            await venue.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
