"""Market-data worker: venue websockets -> books, fills, bands -> signals. A Temporal client only.

  python -m workers.market_data [--signer-config signer.yaml] [--markets ETH,ETH_USDT_Perp]
                                [--metrics-port 9464] [--metrics-host 0.0.0.0]

Each venue whose URL is set is streamed, all in this one process: ``PERPFLOW_LIGHTER_URL``,
``PERPFLOW_GRVT_URL``. Accounts and markets come from the ledger (accounts table and active
watches); ``--signer-config`` supplies each account's proxy (with its credentials) and, for a GRVT
account, the API key its fill stream logs in with (``session_key``; View permission is enough),
never a signing key. ``--markets`` names books to keep on whichever venue lists them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pydantic import SecretStr

from perpflow.config import load_yaml
from perpflow.db.ledger import Ledger
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.venues import MarketDataVenues
from perpflow.metrics import endpoint
from perpflow.metrics.names import Process
from perpflow.orders.config import SignerConfig
from perpflow.process import main_entry, stop_event
from perpflow.secrets import resolve
from perpflow.settings import Settings, load_settings
from perpflow.temporal_client import connect
from perpflow.venues.base import VenueName
from perpflow.venues.config import VenueAccount
from perpflow.venues.feed import VenueFeed
from perpflow.venues.registry import build_feed
from perpflow.venues.types import Proxy
from workers.common import start_metrics, venue_urls

log = logging.getLogger("perpflow.worker")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workers.market_data")
    parser.add_argument("--signer-config", type=Path, help="signer YAML: proxies and GRVT login keys only")
    parser.add_argument("--markets", default="", help="books to keep without a watch, e.g. ETH,ETH_USDT_Perp")
    endpoint.add_arguments(parser)
    return parser.parse_args()


def signer_accounts(path: Path | None) -> list[VenueAccount]:
    return load_yaml(path, SignerConfig).with_proxies() if path is not None else []


def proxies(accounts: list[VenueAccount], venue: VenueName, settings: Settings) -> dict[int, Proxy]:
    return {
        a.account_index: a.proxy.resolve(settings.state_dir)
        for a in accounts
        if a.venue is venue and a.proxy is not None
    }


def logins(accounts: list[VenueAccount], venue: VenueName, settings: Settings) -> dict[int, SecretStr]:
    """Each account's login key, for a venue whose account streams log in (GRVT)."""
    return {
        a.account_index: resolve(a.session_key, settings.state_dir)
        for a in accounts
        if a.venue is venue and a.session_key is not None
    }


def build_venues(
    args: argparse.Namespace, settings: Settings, metrics_port: int
) -> list[tuple[MarketDataConfig, VenueFeed]]:
    urls = venue_urls(settings)
    if not urls:
        raise SystemExit("market data: set PERPFLOW_LIGHTER_URL and/or PERPFLOW_GRVT_URL to the venues' URLs")
    accounts = signer_accounts(args.signer_config)
    for venue in sorted({a.venue for a in accounts} - set(urls)):
        log.warning("the signer config has %s accounts but PERPFLOW_%s_URL is not set: no fills of "
                    "theirs are routed by this worker", venue, venue.value.upper())  # fmt: skip
    built = []
    for venue, url in urls.items():
        config = MarketDataConfig(
            venue=venue,
            markets=tuple(m for m in args.markets.split(",") if m),
            state_dir=settings.state_dir,
            proxies=proxies(accounts, venue, settings),
            metrics_port=metrics_port or None,
            sweep_every_s=settings.marketdata_sweep_every_s,
        )
        built.append((config, build_feed(venue, url, logins(accounts, venue, settings))))
        log.info("market data venue=%s url=%s", venue, url)
    return built


async def main() -> None:
    args = parse_args()
    endpoint_settings = endpoint.from_arguments(args)
    served = endpoint.Endpoint(Process.MARKET_DATA, endpoint_settings)
    served.install_sdk()  # before the first client connects
    settings = load_settings()
    venues = build_venues(args, settings, endpoint_settings.port)
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    try:
        metrics = Metrics()
        served.add(metrics.registry)  # type: ignore[arg-type]  # a registry is a collector
        start_metrics(served)
        client = await connect(settings)
        await MarketDataVenues(venues, client, ledger, metrics).run(stop)
    finally:
        served.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
