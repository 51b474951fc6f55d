"""``perpflow dev``: start the embedded stack, print where things are, stop cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape

from perpflow.devstack.chain import anvil_available
from perpflow.devstack.options import DevOptions
from perpflow.devstack.stack import resolved, units
from perpflow.devstack.state import StackRecord, remove_record, running_record, stack_file, write_record
from perpflow.devstack.supervisor import Supervisor
from perpflow.errors import ServiceError
from perpflow.settings import Settings

console = Console()
BANNER = "perpflow embedded stack is up"


def stack_record(settings: Settings, opts: DevOptions) -> StackRecord:
    """Every address of the stack ``opts`` (resolved) describes."""
    return StackRecord(
        pid=os.getpid(),
        started_at=datetime.now(UTC),
        namespace=settings.temporal_namespace,
        temporal_address=opts.temporal_address,
        ui_url=opts.ui_url,
        sim_url=opts.sim_url,
        ledger_url=settings.ledger_url,
        anvil_rpc=opts.anvil_url if anvil_available() else None,
        metrics=opts.metrics_urls(),
    )


def banner(settings: Settings, record: StackRecord) -> None:
    rows = [
        *record.addresses(),
        ("addresses in", f"{stack_file(settings.state_dir)}  (the CLI run with this state dir reads it)"),
        ("elsewhere", f"PERPFLOW_TEMPORAL_ADDRESS={record.temporal_address} perpflow ..."),
        ("try", "perpflow doctor; perpflow hedge status; perpflow payouts list"),
        ("on GRVT", "perpflow grid status demo-grvt; perpflow accounts --venue grvt"),
        ("stop", "Ctrl+C"),
    ]
    width = max(len(what) for what, _ in rows) + 2
    lines = "\n".join(f"  {what:<{width}}{escape(where)}" for what, where in rows)
    console.print(f"\n[bold green]{BANNER}[/]\n{lines}\n", highlight=False, soft_wrap=True)


async def run_dev(settings: Settings, opts: DevOptions, duration: float | None) -> int:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    other = running_record(settings.state_dir)
    if other is not None:
        raise ServiceError(
            f"a dev stack (pid {other.pid}) already runs from {settings.state_dir}: its Web UI is "
            f"{other.ui_url}; stop it, or give this one another PERPFLOW_STATE_DIR"
        )
    opts = resolved(opts)
    record = stack_record(settings, opts)
    supervisor = Supervisor(units(settings, opts), host=opts.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        supervisor.check_ports()
        # Recorded before the services start: the CLI finds the stack while it comes up too.
        write_record(settings.state_dir, record)
        await supervisor.start()
        banner(settings, record)
        await supervisor.wait(stop, duration)
    finally:
        await supervisor.stop()
        remove_record(settings.state_dir, record.pid)
    if supervisor.failure:
        console.print(f"[red]error:[/] {supervisor.failure}")
        return 1
    return 0
