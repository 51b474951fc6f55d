"""Orchestrator worker: every workflow, the ledger, risk and notification activities, and the
alert delivery loop beside them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.grid import GridActivities
from activities.health import HealthActivities
from activities.hedge import HedgeActivities
from activities.market import MarketActivities
from activities.payouts import orchestrator_payout_activities
from activities.reconcile import ReconcileActivities, orphans_probe
from activities.watches import WatchActivities, market_data_probe
from perpflow.alerts.channels import channels_from
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.notifier import Notifier
from perpflow.db.alerts import AlertOutbox
from perpflow.db.grid import GridSessions
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.health import ledger_probe, venue_probe
from perpflow.models import Component
from perpflow.names import ORCHESTRATOR_QUEUE
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from perpflow.venues.base import VenueAccess, VenueName
from perpflow.venues.registry import build_venue
from workers.common import BUILD_ID, run_workers
from workflows.registry import ALL_WORKFLOWS


async def main() -> None:
    settings = load_settings()
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    try:
        client = await connect(settings)
        probes = {Component.LEDGER: [ledger_probe(ledger), orphans_probe(ledger)]}
        market_activities: list[Callable[..., Any]] = []
        if settings.lighter_url:
            # Public reads only: no key here. Orders go through the signer queues.
            venue = build_venue(VenueName.LIGHTER, VenueAccess(settings.lighter_url))
            probes[Component.VENUE] = [venue_probe(venue), market_data_probe(settings.state_dir)]
            market = MarketActivities(venue)
            market_activities += [market.get_book_top, market.get_market]
        health = HealthActivities(probes)
        # Activities only record alerts; this loop delivers them, woken by each new one.
        delivery = AlertDelivery(AlertOutbox(ledger), channels_from(settings))
        notifier = Notifier(ledger, on_enqueued=delivery.wake)
        worker = Worker(
            client,
            build_id=BUILD_ID,
            task_queue=ORCHESTRATOR_QUEUE,
            workflows=ALL_WORKFLOWS,
            # The sandbox re-imports each workflow's module for every new run: a quarter of this
            # process's CPU with hundreds of payouts. Determinism is guarded where it is cheap:
            # the test suite runs every workflow sandboxed and replays the committed histories.
            workflow_runner=UnsandboxedWorkflowRunner(),
            activities=[
                health.check_component,
                *market_activities,
                *orchestrator_payout_activities(settings, ledger, notifier),
                *WatchActivities(ledger, settings.state_dir).all(),
                *HedgeActivities(HedgeCycles(ledger), notifier).all(),
                *GridActivities(GridSessions(ledger)).all(),
                *ReconcileActivities(client, ledger).all(),
            ],
        )
        # Outside the worker: alerts raised by activities finishing at shutdown still go out.
        async with delivery.running():
            await run_workers([worker], stop)
    finally:
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
