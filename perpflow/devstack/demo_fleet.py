"""The embedded stack's demo: start the demo hedge fleet and print its status table."""

from __future__ import annotations

from pathlib import Path

from perpflow.config import load_yaml
from perpflow.devstack.demo_status import ledger_accounts, show_until_stopped
from perpflow.hedge.config import FleetConfig
from perpflow.hedge.fleet_client import fleet_table, start_fleet
from perpflow.process import main_entry
from perpflow.settings import load_settings
from perpflow.temporal_client import connect

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo-fleet.yaml"


async def main() -> None:
    settings = load_settings()
    accounts = await ledger_accounts(settings)
    client = await connect(settings)
    fleet_id = await start_fleet(client, load_yaml(CONFIG, FleetConfig).to_input(accounts), reuse=True)
    await show_until_stopped(lambda: fleet_table(client, fleet_id))


if __name__ == "__main__":
    main_entry(main)
