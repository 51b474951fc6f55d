"""Signer worker: holds venue API keys, one task queue and one activity slot per key.

One slot per key is what keeps nonces from colliding; one process may host several keys.
  python -m workers.signer CONFIG.yaml [ACCOUNT_NAME ...] [--metrics-port 9464] [--metrics-host 0.0.0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from pathlib import Path

from temporalio.worker import Worker

from activities.orders import OrderActivities
from perpflow import names
from perpflow.chain.backoff import Backoff
from perpflow.config import load_yaml
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.metrics import endpoint
from perpflow.metrics.accounts import AccountGauges
from perpflow.metrics.names import Process
from perpflow.models import AccountRef
from perpflow.orders import observe
from perpflow.orders.config import SignerConfig
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from perpflow.venues.base import AccountFollower, Venue
from perpflow.venues.config import VenueAccount
from perpflow.venues.registry import build_venue
from workers.common import BUILD_ID, run_workers, start_metrics

log = logging.getLogger("perpflow.signer")
# An account view that ran this long before it ended was healthy: its restart starts at 1 s again.
VIEW_STABLE_S = 60.0


def selected(config: SignerConfig, only: list[str]) -> list[VenueAccount]:
    accounts = config.with_proxies()
    if not only:
        return accounts
    unknown = set(only) - {a.name for a in accounts}
    if unknown:
        raise SystemExit(f"signer: no account named {', '.join(sorted(unknown))} in the config")
    return [a for a in accounts if a.name in only]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workers.signer")
    parser.add_argument("config", type=Path, help="signer YAML: accounts and their keys")
    parser.add_argument("accounts", nargs="*", help="serve only these accounts of the config")
    endpoint.add_arguments(parser)
    return parser.parse_args()


async def register(ledger: Ledger, accounts: list[VenueAccount]) -> None:
    """The accounts this signer serves, made known to the ledger if they are not yet (the
    reconciler and ``perpflow doctor`` look for orphans on the ledger's accounts); an account
    already there, under any name, keeps what the operator set for it."""
    rows = await ledger.accounts()
    known, names = {(r.venue, r.account_index) for r in rows}, {r.name for r in rows}
    for a in accounts:
        if (a.venue.value, a.account_index) in known:
            continue
        if a.name in names:  # the name is another account's: never overwrite it
            log.warning("account %s (%s %d): the ledger names another account so; not registered",
                        a.name, a.venue, a.account_index)  # fmt: skip
        else:
            ref = AccountRef(
                name=a.name, venue=a.venue, account_index=a.account_index, api_key_index=a.api_key_index
            )
            await ledger.upsert_account(ref)
            log.info("account %s (%s %d) registered in the ledger", a.name, a.venue, a.account_index)


async def keep_following(venue: AccountFollower, stop: asyncio.Event, backoff: Backoff | None = None) -> None:
    """Run the venue's account view until ``stop``, restarting it (with back-off) whenever it ends
    before: while it is down its reads go by REST, and a view left down would keep them there."""
    backoff = backoff or Backoff(1.0, 60.0)
    while not stop.is_set():
        started = time.monotonic()
        try:
            await venue.follow(stop)
            reason = "it returned"
        except Exception as exc:  # a bug or a refused auth token: logged, and the view restarted
            reason = repr(exc)
        if stop.is_set():
            return
        if time.monotonic() - started >= VIEW_STABLE_S:
            backoff.reset()
        delay = backoff.next_delay()
        log.error("account view ended (%s); restarting in %.1f s, reads go by REST meanwhile", reason, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def main() -> None:
    args = parse_args()
    metrics = endpoint.Endpoint(Process.SIGNER, endpoint.from_arguments(args))
    metrics.install_sdk()  # before the first client connects
    settings = load_settings()
    config = load_yaml(args.config, SignerConfig)
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    venues: list[Venue] = []
    views: list[asyncio.Task[None]] = []
    try:
        accounts = selected(config, args.accounts)
        await register(ledger, accounts)
        for account in accounts:
            venues.append(build_venue(account.venue, config.access(account, settings.state_dir)))
            observe.prepare(venues[-1])
        # Each account's live view (one websocket through its proxy): the risk check's position and
        # the fate of each order just sent come from it, without a request, while it is live.
        views = [
            asyncio.create_task(keep_following(v, stop)) for v in venues if isinstance(v, AccountFollower)
        ]
        start_metrics(metrics, accounts=AccountGauges(venues).read)
        client = await connect(settings)
        workers = []
        for account, venue in zip(accounts, venues, strict=True):
            activities = OrderActivities(venue, Orders(ledger), config.risk)
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
        metrics.close()
        for view in views:
            view.cancel()
        await asyncio.gather(*views, return_exceptions=True)
        for venue in venues:
            await venue.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
