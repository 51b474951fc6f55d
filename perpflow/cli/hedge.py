"""``perpflow hedge``: start, watch and steer hedge fleets (the same as the temporal CLI can)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from perpflow.cli.console import console
from perpflow.cli.context import load_settings, reach
from perpflow.cli.operator import By, Reason, command_payload

if TYPE_CHECKING:  # loaded by the commands that use them: they bring the Temporal client along
    from perpflow.hedge.fleet_client import FleetReport

hedge_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Hedge fleets: start, status, pause, resume, stop, kill, flatten.",
)


@hedge_app.command("start")
def start(config: Path) -> None:
    """Start a fleet from a YAML config (accounts by ledger name)."""
    from perpflow.cli.ledger import ledger_call
    from perpflow.config import load_yaml
    from perpflow.hedge.config import FleetConfig
    from perpflow.hedge.fleet_client import start_fleet

    async def run() -> str:
        settings = load_settings()
        accounts = await ledger_call(settings, lambda ledger: ledger.accounts())
        return await start_fleet(await reach(settings), load_yaml(config, FleetConfig).to_input(accounts))

    console.print(f"started {asyncio.run(run())}")


@hedge_app.command("status")
def status(
    fleet: str | None = typer.Argument(None, help="Fleet name (default: running and recently ended fleets)."),
) -> None:
    """Each fleet's mode and Temporal status; while running its pairs, cycle states, positions, PnL."""
    from perpflow import names
    from perpflow.hedge.fleet_client import RECENT, fleet_report, fleet_reports, report_table

    async def run() -> list[FleetReport]:
        client = await reach(load_settings())
        if fleet:
            return [await fleet_report(client, names.hedge_fleet_id(fleet))]
        return await fleet_reports(client, datetime.now(UTC))

    reports = asyncio.run(run())
    for report in reports:
        console.print(report_table(report))
    if not reports:
        console.print(f"no fleet running or ended in the last {RECENT.total_seconds() / 3600:g} h")


def _signal(workflow_id: str, name: str, by: str | None, reason: str | None) -> None:
    async def run() -> None:
        client = await reach(load_settings())
        await client.get_workflow_handle(workflow_id).signal(name, command_payload(by, reason))

    asyncio.run(run())
    console.print(f"sent {name} to {workflow_id}")


def _fleet_id(fleet: str) -> str:
    from perpflow import names

    return names.hedge_fleet_id(fleet)


@hedge_app.command("pause")
def pause(fleet: str, by: By = None, reason: Reason = None) -> None:
    """No new cycles; open ones go on."""
    _signal(_fleet_id(fleet), "pause", by, reason)


@hedge_app.command("resume")
def resume(fleet: str, by: By = None, reason: Reason = None) -> None:
    """Start cycles again after a pause."""
    _signal(_fleet_id(fleet), "resume", by, reason)


@hedge_app.command("stop")
def stop(fleet: str, by: By = None, reason: Reason = None) -> None:
    """Let open cycles finish; start no other."""
    _signal(_fleet_id(fleet), "stop", by, reason)


@hedge_app.command("kill")
def kill(fleet: str, by: By = None, reason: Reason = None) -> None:
    """Flatten every open cycle now, then halt."""
    _signal(_fleet_id(fleet), "kill", by, reason)


@hedge_app.command("flatten")
def flatten(cycle_id: str, by: By = None, reason: Reason = None) -> None:
    """Close one cycle's legs now."""
    _signal(cycle_id, "flatten", by, reason)
