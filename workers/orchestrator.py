"""Orchestrator worker: every workflow, plus the ledger, risk and notification activities."""

from __future__ import annotations

from temporalio.worker import Worker

from activities.health import HealthActivities, ledger_probe
from perpflow.db.ledger import Ledger
from perpflow.models import Component
from perpflow.names import ORCHESTRATOR_QUEUE
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from workers.common import main_entry, run_workers, stop_event
from workflows.registry import ALL_WORKFLOWS


async def main() -> None:
    settings = load_settings()
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    try:
        client = await connect(settings)
        health = HealthActivities({Component.LEDGER: [ledger_probe(ledger)]})
        worker = Worker(
            client,
            task_queue=ORCHESTRATOR_QUEUE,
            workflows=ALL_WORKFLOWS,
            activities=[health.check_component],
        )
        await run_workers([worker], stop)
    finally:
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
