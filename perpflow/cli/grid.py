"""``perpflow grid``: start, watch and steer grid sessions (the same as the temporal CLI can)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from perpflow.cli.console import console, new_table
from perpflow.cli.context import load_settings, reach
from perpflow.cli.operator import By, Reason, command_payload
from perpflow.config import describe_errors, load_yaml
from perpflow.errors import ConfigError
from perpflow.grid.config import Adjust, GridConfig, SizeUnit, Spacing, StopAction

if TYPE_CHECKING:  # loaded by the commands: the grid client brings the Temporal client along
    from perpflow.grid.client import GridReport

grid_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Grid sessions: start, status, list, pause, resume, stop, flatten, adjust.",
)


@grid_app.command("start")
def start(config: Path) -> None:
    """Start a session from a YAML config (workflow id grid-NAME)."""
    from perpflow.grid import client as grid

    cfg = load_yaml(config, GridConfig)

    async def run() -> str:
        return await grid.start_session(await reach(load_settings()), cfg)

    console.print(f"started {asyncio.run(run())}")


@grid_app.command("status")
def status(
    name: str | None = typer.Argument(None, help="Session name (default: every running one)."),
) -> None:
    """State, frozen flag, PnL and the level table (price, side, state, order, filled)."""
    from perpflow import names
    from perpflow.grid import client as grid

    async def run() -> list[GridReport]:
        client = await reach(load_settings())
        if name:
            return [await grid.session_report(client, names.grid_session_id(name))]
        return await grid.running_reports(client)

    reports = asyncio.run(run())
    for report in reports:
        console.print(grid.report_view(report))
    if not reports:
        console.print("no grid session running")


@grid_app.command("list")
def list_sessions(limit: int = 50) -> None:
    """Sessions newest first, from Temporal's visibility (PerpflowKind=grid-session)."""
    from perpflow.grid import client as grid

    async def run() -> list[list[str]]:
        return await grid.session_rows(await reach(load_settings()), limit)

    rows = asyncio.run(run())
    table = new_table(
        f"grid sessions ({len(rows)})",
        "workflow id",
        "status",
        "GridState",
        "venue",
        "market",
        "account",
        "started",
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _signal(name: str, signal: str, by: str | None, reason: str | None, **fields: str | None) -> None:
    from perpflow.grid import client as grid

    payload = command_payload(by, reason, **fields)

    async def run() -> str:
        return await grid.send(await reach(load_settings()), name, signal, payload)

    console.print(f"sent {signal} to {asyncio.run(run())}")


@grid_app.command("pause")
def pause(name: str, by: By = None, reason: Reason = None) -> None:
    """Place nothing new; resting orders stay and their fills count."""
    _signal(name, "pause", by, reason)


@grid_app.command("resume")
def resume(name: str, by: By = None, reason: Reason = None) -> None:
    """Place orders again after a pause: the ladder is re-armed."""
    _signal(name, "resume", by, reason)


@grid_app.command("stop")
def stop(
    name: str,
    *,
    flatten: Annotated[
        bool, typer.Option("--flatten", help="Cancel the orders, close the position.")
    ] = False,
    keep_position: Annotated[bool, typer.Option("--keep-position", help="Cancel the orders only.")] = False,
    keep_orders: Annotated[bool, typer.Option("--keep-orders", help="Leave orders and position.")] = False,
    by: By = None,
    reason: Reason = None,
) -> None:
    """End the session; without a flag as its config's stop.action says."""
    chosen = [
        action
        for action, flag in (
            (StopAction.FLATTEN, flatten),
            (StopAction.KEEP_POSITION, keep_position),
            (StopAction.KEEP_ORDERS, keep_orders),
        )
        if flag
    ]
    if len(chosen) > 1:
        raise ConfigError("give at most one of --flatten, --keep-position, --keep-orders")
    _signal(name, "stop", by, reason, action=chosen[0].value if chosen else None)


@grid_app.command("flatten")
def flatten(name: str, by: By = None, reason: Reason = None) -> None:
    """Stop now: cancel the session's orders and close its position."""
    _signal(name, "flatten", by, reason)


@grid_app.command("adjust")
def adjust(
    name: str,
    *,
    lower: Annotated[str | None, typer.Option(help="New lower bound.")] = None,
    upper: Annotated[str | None, typer.Option(help="New upper bound.")] = None,
    levels: Annotated[int | None, typer.Option(help="New number of levels.")] = None,
    spacing: Annotated[Spacing | None, typer.Option(help="arithmetic or geometric.")] = None,
    size: Annotated[str | None, typer.Option(help="New size per level.")] = None,
    size_unit: Annotated[SizeUnit | None, typer.Option(help="base or quote.")] = None,
    max_open_orders_per_side: Annotated[int | None, typer.Option()] = None,
    activation_band_pct: Annotated[str | None, typer.Option()] = None,
    by: By = None,
    reason: Reason = None,
) -> None:
    """Change the ladder: a versioned rebuild (cancelling, then the new ladder), once even if retried."""
    from perpflow import names
    from perpflow.grid import client as grid

    fields = {
        "lower": lower, "upper": upper, "levels": levels, "spacing": spacing, "size": size,
        "size_unit": size_unit, "max_open_orders_per_side": max_open_orders_per_side,
        "activation_band_pct": activation_band_pct,
    }  # fmt: skip
    try:
        change = Adjust.model_validate({**{k: v for k, v in fields.items() if v is not None},
                                        **command_payload(by, reason)})  # fmt: skip
    except ValidationError as exc:
        raise ConfigError(f"invalid adjust: {describe_errors(exc)}") from None

    async def run() -> GridConfig:
        return await grid.adjust(await reach(load_settings()), name, change)

    cfg = asyncio.run(run())
    console.print(
        f"adjusted {names.grid_session_id(name)}: {cfg.lower}..{cfg.upper}, {cfg.levels} levels "
        f"{cfg.spacing}, size {cfg.size} {cfg.size_unit}; the ladder rebuilds"
    )
