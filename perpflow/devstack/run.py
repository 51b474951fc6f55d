"""``perpflow dev``: start the embedded stack, print where things are, stop cleanly."""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from perpflow.devstack.options import DevOptions
from perpflow.devstack.stack import units
from perpflow.devstack.supervisor import Supervisor
from perpflow.settings import Settings

console = Console()


def banner(settings: Settings, opts: DevOptions) -> None:
    ns = settings.temporal_namespace
    console.print(
        f"\n[bold green]perpflow embedded stack is up[/]\n"
        f"  Temporal Web UI  {opts.ui_url}/namespaces/{ns}/workflows\n"
        f"  Temporal gRPC    {opts.temporal_address}  (namespace {ns})\n"
        f"  ledger           {settings.ledger_url}\n"
        f"  try              PERPFLOW_TEMPORAL_ADDRESS={opts.temporal_address} perpflow doctor\n"
        f"  stop             Ctrl+C\n"
    )


async def run_dev(settings: Settings, opts: DevOptions, duration: float | None) -> int:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(units(settings, opts), host=opts.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await supervisor.start()
        banner(settings, opts)
        await supervisor.wait(stop, duration)
    finally:
        await supervisor.stop()
    if supervisor.failure:
        console.print(f"[red]error:[/] {supervisor.failure}")
        return 1
    return 0
