"""``perpflow hedge``: start, watch and steer hedge fleets (the same as the temporal CLI can)."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path

import typer
from rich.table import Table
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from perpflow import names
from perpflow.config import load_yaml
from perpflow.console import console
from perpflow.db.ledger import Ledger
from perpflow.hedge.config import FleetConfig
from perpflow.hedge.fleet import FleetInput, FleetStatus
from perpflow.hedge.models import CycleStatus
from perpflow.settings import load_settings
from perpflow.temporal_client import connect

hedge_app = typer.Typer(no_args_is_help=True, help="Hedge fleets: start, status, pause, resume, stop, kill.")


async def fleet_input(config: FleetConfig) -> FleetInput:
    ledger = Ledger(load_settings().ledger_url)
    try:
        return config.to_input(await ledger.accounts())
    finally:
        await ledger.close()


async def start_fleet(client: Client, inp: FleetInput, *, reuse: bool = False) -> str:
    wid = names.hedge_fleet_id(inp.name)
    policy = WorkflowIDConflictPolicy.USE_EXISTING if reuse else WorkflowIDConflictPolicy.FAIL
    await client.start_workflow(
        "HedgeFleetWorkflow", inp, id=wid, task_queue=names.ORCHESTRATOR_QUEUE, id_conflict_policy=policy
    )
    return wid


@hedge_app.command("start")
def start(config: Path) -> None:
    """Start a fleet from a YAML config (accounts by ledger name)."""

    async def run() -> str:
        inp = await fleet_input(load_yaml(config, FleetConfig))
        return await start_fleet(await connect(load_settings()), inp)

    console.print(f"started {asyncio.run(run())}")


async def fleet_table(client: Client, fleet_id: str) -> Table:
    status = await client.get_workflow_handle(fleet_id).query("status", result_type=FleetStatus)
    table = Table(
        title=f"{fleet_id}  {status.mode}  cycles {status.cycles}  day PnL {status.day_realized:.4f}  "
        f"total PnL {status.total_realized:.4f}"
    )
    for col in ("pair", "cycle", "state", "maker", "taker", "filled", "hedged", "last result", "last PnL"):
        table.add_column(col, overflow="fold")
    for pair in status.pairs:
        row = [pair.name, pair.running or "-", "-", "-", "-", "-", "-"]
        if pair.running:
            cycle = await client.get_workflow_handle(pair.running).query("status", result_type=CycleStatus)
            row[2:] = [
                cycle.state,
                str(cycle.maker.position),
                str(cycle.taker.position),
                str(cycle.maker_filled),
                str(cycle.hedged),
            ]
        last = pair.last
        row += [
            f"{last.state} {last.reason}"[:60] if last else "-",
            f"{last.realized_pnl:.4f}" if last else "-",
        ]
        table.add_row(*row)
    return table


@hedge_app.command("status")
def status(
    fleet: str | None = typer.Argument(None, help="Fleet name (default: every running fleet)."),
) -> None:
    """Pairs, cycle states, positions and PnL."""

    async def run() -> list[Table]:
        client = await connect(load_settings())
        ids = (
            [names.hedge_fleet_id(fleet)]
            if fleet
            else [
                wf.id
                async for wf in client.list_workflows(
                    'PerpflowKind="hedge-fleet" AND ExecutionStatus="Running"'
                )
            ]
        )
        return [await fleet_table(client, wid) for wid in ids]

    tables = asyncio.run(run())
    for table in tables:
        console.print(table)
    if not tables:
        console.print("no running fleet")


def _signal(workflow_id: str, name: str) -> None:
    async def run() -> None:
        client = await connect(load_settings())
        await client.get_workflow_handle(workflow_id).signal(name, {"by": getpass.getuser()})

    asyncio.run(run())
    console.print(f"sent {name} to {workflow_id}")


@hedge_app.command("pause")
def pause(fleet: str) -> None:
    """No new cycles; open ones go on."""
    _signal(names.hedge_fleet_id(fleet), "pause")


@hedge_app.command("resume")
def resume(fleet: str) -> None:
    _signal(names.hedge_fleet_id(fleet), "resume")


@hedge_app.command("stop")
def stop(fleet: str) -> None:
    """Let open cycles finish; start no other."""
    _signal(names.hedge_fleet_id(fleet), "stop")


@hedge_app.command("kill")
def kill(fleet: str) -> None:
    """Flatten every open cycle now, then halt."""
    _signal(names.hedge_fleet_id(fleet), "kill")


@hedge_app.command("flatten")
def flatten(cycle_id: str) -> None:
    """Close one cycle's legs now."""
    _signal(cycle_id, "flatten")
