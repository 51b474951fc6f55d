"""The embedded stack's demo: start the demo hedge fleet and print its status table."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from rich.console import Console

from perpflow.config import load_yaml
from perpflow.db.ledger import Ledger
from perpflow.hedge.config import FleetConfig
from perpflow.hedge.fleet_client import fleet_table, start_fleet
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo-fleet.yaml"
REFRESH_S = 10


async def main() -> None:
    stop = stop_event()
    settings = load_settings()
    ledger = Ledger(settings.ledger_url)
    try:
        accounts = await ledger.accounts()
    finally:
        await ledger.close()
    client = await connect(settings)
    fleet_id = await start_fleet(client, load_yaml(CONFIG, FleetConfig).to_input(accounts), reuse=True)
    console = Console(width=160, force_terminal=False)
    while not stop.is_set():
        with contextlib.suppress(Exception):  # a status table is best effort; the fleet is not
            console.print(await fleet_table(client, fleet_id))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_S)


if __name__ == "__main__":
    main_entry(main)
