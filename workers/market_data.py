"""Market-data worker: venue websockets -> books, fills, bands -> signals. A Temporal client only.

  python -m workers.market_data [--signer-config signer.yaml] [--markets ETH,BTC]
                                [--metrics-port 9464] [--metrics-host 0.0.0.0]

The venue URL is ``PERPFLOW_LIGHTER_URL``. Accounts and markets come from the ledger (accounts
table and active watches); ``--signer-config`` only supplies each account's proxy (with its
credentials), never a key.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from perpflow.config import load_yaml
from perpflow.db.ledger import Ledger
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.service import MarketDataService
from perpflow.metrics import endpoint
from perpflow.metrics.names import Process
from perpflow.orders.config import SignerConfig
from perpflow.process import main_entry, stop_event
from perpflow.settings import Settings, load_settings
from perpflow.temporal_client import connect
from perpflow.venues.registry import build_feed
from perpflow.venues.types import Proxy
from workers.common import start_metrics

log = logging.getLogger("perpflow.worker")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workers.market_data")
    parser.add_argument("--signer-config", type=Path, help="signer YAML: account proxies only")
    parser.add_argument("--markets", default="", help="books to keep without a watch, e.g. ETH,BTC")
    endpoint.add_arguments(parser)
    return parser.parse_args()


def proxies(path: Path | None, settings: Settings) -> dict[int, Proxy]:
    if path is None:
        return {}
    config = load_yaml(path, SignerConfig)
    return {
        a.account_index: a.proxy.resolve(settings.state_dir)
        for a in config.with_proxies()
        if a.proxy is not None
    }


def build_config(args: argparse.Namespace, settings: Settings, metrics_port: int) -> MarketDataConfig:
    return MarketDataConfig(
        markets=tuple(m for m in args.markets.split(",") if m),
        state_dir=settings.state_dir,
        proxies=proxies(args.signer_config, settings),
        metrics_port=metrics_port or None,
    )


async def main() -> None:
    args = parse_args()
    endpoint_settings = endpoint.from_arguments(args)
    served = endpoint.Endpoint(Process.MARKET_DATA, endpoint_settings)
    served.install_sdk()  # before the first client connects
    settings = load_settings()
    if not settings.lighter_url:
        raise SystemExit("market data: set PERPFLOW_LIGHTER_URL to the venue's base URL")
    config = build_config(args, settings, endpoint_settings.port)
    feed = build_feed(config.venue, settings.lighter_url)
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    try:
        metrics = Metrics()
        served.add(metrics.registry)  # type: ignore[arg-type]  # a registry is a collector
        start_metrics(served)
        client = await connect(settings)
        await MarketDataService(config, feed, client, ledger, metrics).run(stop)
    finally:
        served.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
