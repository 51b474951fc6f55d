"""``perpflow dev``: the embedded stack (Temporal dev server, ledger, sim, anvil, workers, demos)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from perpflow.settings import load_settings


def dev(
    *,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    host: str = "127.0.0.1",
    temporal_port: int = 7233,
    ui_port: int = 8233,
    sim_port: int = 8787,
    metrics_port: int = 9464,
) -> None:
    """Start the embedded stack: Temporal dev server, ledger, workers (Ctrl+C stops all)."""
    # Imported here: the stack's modules load the venue SDK and web3, which no other command needs.
    from perpflow.devstack.options import DevOptions
    from perpflow.devstack.run import run_dev

    opts = DevOptions(
        host=host, temporal_port=temporal_port, ui_port=ui_port, sim_port=sim_port, metrics_port=metrics_port
    )
    raise typer.Exit(asyncio.run(run_dev(load_settings(), opts, duration)))
