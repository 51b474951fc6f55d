"""Orchestrator worker: every workflow, the ledger, risk and notification activities, and the
alert delivery loop beside them.

  python -m workers.orchestrator [--metrics-port 9464] [--metrics-host 0.0.0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker

from activities.grid import GridActivities
from activities.health import HealthActivities
from activities.hedge import HedgeActivities
from activities.market import MarketActivities
from activities.payouts import orchestrator_payout_activities
from activities.reconcile import ReconcileActivities
from activities.watches import WatchActivities
from perpflow import names
from perpflow.alerts.delivery import delivery_from
from perpflow.alerts.notifier import Notifier
from perpflow.db.grid import GridSessions
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.grid.models import GridState
from perpflow.health import ledger_probe, market_data_probe, orphans_probe, venue_probe
from perpflow.hedge.models import CycleState
from perpflow.metrics import endpoint
from perpflow.metrics.ledger import LedgerGauges, LedgerWords
from perpflow.metrics.names import Process
from perpflow.models import Component
from perpflow.names import ORCHESTRATOR_QUEUE
from perpflow.payouts.models import PayoutState
from perpflow.process import main_entry, stop_event
from perpflow.reconcile.models import OrphanKind, RunClose
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from perpflow.venues.base import Venue, VenueAccess, VenueName
from perpflow.venues.registry import build_venue
from workers.common import BUILD_ID, run_workers, start_metrics, venue_urls
from workflows.registry import ALL_WORKFLOWS

# The ledger gauges' breakdowns, from the models that define them. A job's row whose run ended
# without its final state counts under Temporal's close status (RunClose): those are states too.
LEDGER_WORDS = LedgerWords(
    cycle_states=list(dict.fromkeys(s.value for s in [*CycleState, *RunClose])),
    open_cycle_states=[s.value for s in CycleState if not s.final],
    payout_states=[s.value for s in PayoutState],
    open_payout_states=[s.value for s in PayoutState if not s.final],
    grid_states=list(dict.fromkeys(s.value for s in [*GridState, *RunClose])),
    open_grid_states=[s.value for s in GridState if not s.final],
    orphan_kinds=[k.value for k in OrphanKind],
)


def market_workers(client: Client, venues: dict[VenueName, Venue]) -> list[Worker]:
    """Each other venue's public reads on its own market queue (``names.market_queue``): a job
    there names that queue, so a market is never read from the wrong venue."""
    workers = []
    for name, venue in venues.items():
        if name is not VenueName.LIGHTER:
            market = MarketActivities(venue)
            queue = names.market_queue(name)
            workers.append(
                Worker(
                    client,
                    build_id=BUILD_ID,
                    task_queue=queue,
                    activities=[market.get_book_top, market.get_market],
                )
            )
    return workers


async def main() -> None:
    metrics = endpoint.Endpoint(Process.ORCHESTRATOR, endpoint.parse(prog="workers.orchestrator"))
    metrics.install_sdk()  # before the first client connects
    settings = load_settings()
    stop = stop_event()
    ledger = Ledger(settings.ledger_url)
    try:
        start_metrics(metrics, ledger=LedgerGauges(ledger.engine, LEDGER_WORDS).read)
        client = await connect(settings)
        probes = {Component.LEDGER: [ledger_probe(ledger), orphans_probe(ledger)]}
        market_activities: list[Callable[..., Any]] = []
        # Public reads only: no key here. Orders go through the signer queues.
        venues = {name: build_venue(name, VenueAccess(url)) for name, url in venue_urls(settings).items()}
        if venues:
            probes[Component.VENUE] = [
                *map(venue_probe, venues.values()),
                market_data_probe(settings.state_dir),
            ]
        if VenueName.LIGHTER in venues:  # Lighter's reads on this queue, as they always were
            market = MarketActivities(venues[VenueName.LIGHTER])
            market_activities += [market.get_book_top, market.get_market]
        health = HealthActivities(probes)
        # Activities only record alerts; this loop delivers them, woken by each new one.
        delivery = delivery_from(settings, ledger)
        notifier = Notifier(ledger, on_enqueued=delivery.wake)
        worker = Worker(
            client,
            build_id=BUILD_ID,
            task_queue=ORCHESTRATOR_QUEUE,
            workflows=ALL_WORKFLOWS,
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.orchestrator_sticky_timeout_s),
            # The sandbox re-imports each workflow's module for every new run: a quarter of this
            # process's CPU with hundreds of payouts. Determinism is guarded where it is cheap:
            # the test suite runs every workflow sandboxed and replays the committed histories.
            workflow_runner=UnsandboxedWorkflowRunner(),
            # Five polls (the default) pick up a burst's workflow tasks a few at a time: fills come
            # 15-24 within 200 ms, each 2-3 tasks across the sessions (bench_grid_scale: their
            # schedule-to-start p50 1.0 s -> 0.15 s). The server's hints scale the polls.
            workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
            activities=[
                health.check_component,
                *market_activities,
                *orchestrator_payout_activities(settings, ledger, notifier),
                *WatchActivities(ledger, settings.state_dir).all(),
                *HedgeActivities(HedgeCycles(ledger), notifier).all(),
                *GridActivities(GridSessions(ledger)).all(),
                *ReconcileActivities(client, ledger, notifier).all(),
            ],
        )
        # Outside the worker: alerts raised by activities finishing at shutdown still go out.
        async with delivery.running():
            await run_workers([worker, *market_workers(client, venues)], stop)
    finally:
        metrics.close()
        await ledger.close()


if __name__ == "__main__":
    main_entry(main)
