"""``perpflow sim``: run the simulated venue in this process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated

import typer

from perpflow.sim.markets import select_markets
from perpflow.sim.server import PortUnavailable, serve
from perpflow.sim.venue import SimConfig


def sim(  # noqa: PLR0917 - typer maps each parameter to an option
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP + WebSocket port.")] = 8787,
    seed: Annotated[int, typer.Option(help="Seed of the random-walk price path.")] = 1,
    markets: Annotated[str | None, typer.Option(help="Comma-separated symbols, e.g. ETH,BTC.")] = None,
    price_path: Annotated[
        str, typer.Option(help="random | manual | path to a timestamp,price CSV.")
    ] = "random",
    volatility: Annotated[float, typer.Option(help="Log-return stdev per sqrt(second).")] = 0.0005,
    tick_interval: Annotated[float, typer.Option(help="Seconds between price-path steps.")] = 1.0,
    book_interval_ms: Annotated[int, typer.Option(help="WebSocket update batching, ms.")] = 50,
    rate_limit: Annotated[int | None, typer.Option(help="Weighted requests/min per account.")] = None,
    grvt_cookie_ttl: Annotated[float, typer.Option(help="GRVT session cookie lifetime, s.")] = 86400.0,
    grvt_chain_id: Annotated[int, typer.Option(help="Chain id GRVT orders are signed for.")] = 326,
    log_level: Annotated[str, typer.Option(help="Python logging level.")] = "INFO",
) -> None:
    """Run the simulated perp venue (Lighter and GRVT faces, admin API under /_sim) on HOST:PORT."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = SimConfig(
            host=host,
            port=port,
            seed=seed,
            markets=select_markets(markets.split(",") if markets else None),
            price_path=price_path,
            volatility=volatility,
            tick_interval_s=tick_interval,
            book_interval_ms=book_interval_ms,
            rate_limit_per_minute=rate_limit,
            grvt_cookie_ttl_s=grvt_cookie_ttl,
            grvt_chain_id=grvt_chain_id,
        )
        asyncio.run(serve(config))
    except (PortUnavailable, ValueError, OSError) as exc:
        print(f"perpflow sim: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
