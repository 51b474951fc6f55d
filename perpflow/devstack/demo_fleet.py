"""The embedded stack's demo: start the demo hedge fleet and print its status table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from temporalio.client import Client

from perpflow import names
from perpflow.config import load_yaml
from perpflow.devstack.carry_over import end_carried_over, this_stack_started
from perpflow.devstack.demo_status import ledger_accounts, show_until_stopped
from perpflow.hedge.config import FleetConfig
from perpflow.hedge.fleet import FleetInput
from perpflow.hedge.fleet_client import fleet_table, start_fleet
from perpflow.process import main_entry
from perpflow.settings import load_settings
from perpflow.temporal_client import connect

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo-fleet.yaml"


async def start_demo(
    client: Client, inp: FleetInput, started: datetime | None, *, task_queue: str = names.ORCHESTRATOR_QUEUE
) -> str:
    """The demo fleet, once a fleet and cycles an earlier stack left running are ended
    (perpflow/devstack/carry_over.py); one this stack started goes on."""
    if started is not None:  # without the stack's record, no fleet is known to be older
        await end_carried_over(client, names.hedge_fleet_id(inp.name), started)
    return await start_fleet(client, inp, reuse=True, task_queue=task_queue)


async def main() -> None:
    settings = load_settings()
    accounts = await ledger_accounts(settings)
    client = await connect(settings)
    inp = load_yaml(CONFIG, FleetConfig).to_input(accounts)
    fleet_id = await start_demo(client, inp, this_stack_started(settings.state_dir))
    await show_until_stopped(lambda: fleet_table(client, fleet_id))


if __name__ == "__main__":
    main_entry(main)
