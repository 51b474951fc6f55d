"""``perpflow dev``: the embedded stack (Temporal dev server, ledger, sim, anvil, workers, demos)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from perpflow.settings import load_settings


def _port(what: str, low: int = 1) -> Any:
    return typer.Option(min=low, max=65535, help=what)


def dev(
    *,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    host: Annotated[str, typer.Option(help="Interface every service binds.")] = "127.0.0.1",
    temporal_port: Annotated[int, _port("Temporal gRPC (frontend).")] = 7233,
    ui_port: Annotated[int, _port("Temporal Web UI.")] = 8233,
    sim_port: Annotated[int, _port("Simulated venue: HTTP, WebSocket, admin API.")] = 8787,
    anvil_port: Annotated[int | None, _port("anvil JSON-RPC and WS [default: 8545, or a free one].")] = None,
    metrics_port: Annotated[
        int, _port("First Prometheus port: each process takes the next free one; 0: none.", low=0)
    ] = 9464,
) -> None:
    """Start the embedded stack: Temporal dev server, ledger, workers (Ctrl+C stops all)."""
    # Imported here: the stack's modules load the venue SDK and web3, which no other command needs.
    from perpflow.devstack.options import DevOptions
    from perpflow.devstack.run import run_dev

    opts = DevOptions(
        host=host,
        temporal_port=temporal_port,
        ui_port=ui_port,
        sim_port=sim_port,
        anvil_port=anvil_port,
        metrics_port=metrics_port,
    )
    raise typer.Exit(asyncio.run(run_dev(load_settings(), opts, duration)))
