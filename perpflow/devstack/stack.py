"""The embedded stack (``perpflow dev``): Temporal dev server, ledger migrations, the simulated
venue, anvil and the payout guard, every worker, and the demo jobs, in their start order.

``resolved()`` fixes every port first (anvil's, one metrics port per process), so the units, the
banner and the state dir's record (perpflow/devstack/state.py) name the same addresses.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime

from perpflow import names
from perpflow.config import load_yaml
from perpflow.db.migrate import upgrade
from perpflow.devstack import demo_fleet, demo_grid
from perpflow.devstack.carry_over import REASON, end_carried_over, running_on_the_sim
from perpflow.devstack.chain import anvil_available, chain_service_units, chain_setup_units
from perpflow.devstack.marketdata import market_data_service
from perpflow.devstack.options import METRICS_PROCESSES, DevOptions, child_env
from perpflow.devstack.probes import queue_has_pollers, temporal_client
from perpflow.devstack.reconcile import reconcile_schedule_step
from perpflow.devstack.supervisor import Service, Step, Unit
from perpflow.devstack.temporal import temporal_service
from perpflow.devstack.venue import signer_config_path, venue_units
from perpflow.hedge.config import FleetConfig
from perpflow.settings import Settings

log = logging.getLogger("perpflow.dev")


def worker_service(name: str, module: str, queue: str, settings: Settings, opts: DevOptions) -> Service:
    """A worker process, ready once it polls its task queue."""

    async def ready() -> bool:
        return await queue_has_pollers(opts.temporal_address, settings.temporal_namespace, queue)

    return Service(
        name=name,
        command=[sys.executable, "-m", module, *opts.metrics_args(name)],
        ready=ready,
        env=child_env(settings, opts),
        ports=opts.metrics_bind(name),
    )


def resolved(opts: DevOptions) -> DevOptions:
    """The options with every port fixed; no wallet or chain watcher runs without anvil."""
    processes = METRICS_PROCESSES if anvil_available() else ("market-data", "orchestrator", "signer")
    return opts.resolve(processes)


def carried_over_step(settings: Settings, temporal_address: str) -> Step:
    """Before any worker polls: a job an earlier stack left running on its sim (a demo, or a fleet,
    cycle or grid an operator started) would act on this stack's empty sim as soon as a worker took
    its tasks (a hold run out: closes refused, FAILED, critical alerts; a grid's orders gone).
    Ended now, no worker races its end, and the demos start afresh."""

    async def run() -> None:
        client = await temporal_client(temporal_address, settings.temporal_namespace)
        now = datetime.now(UTC)  # this stack's demos start last: every job running now is older
        fleet = names.hedge_fleet_id(load_yaml(demo_fleet.CONFIG, FleetConfig).name)
        demos = [fleet, *(names.grid_session_id(str(ladder["name"])) for _, ladder in demo_grid.SESSIONS)]
        # The demos by id too: one whose first task never ran has no kind to be found by.
        for job in dict.fromkeys([*demos, *await running_on_the_sim(client, now)]):
            if ended := await end_carried_over(client, job, now):
                log.warning("ended %s: %s", ", ".join(ended), REASON)

    return Step("end carried-over jobs", run)


def units(settings: Settings, opts: DevOptions) -> list[Unit]:
    async def migrate() -> None:
        await asyncio.to_thread(upgrade, settings.ledger_url)

    return [
        temporal_service(settings, opts),
        Step("ledger migrations", migrate),
        carried_over_step(settings, opts.temporal_address),
        *venue_units(settings, opts, child_env(settings, opts)),
        # anvil + guard set-up first: the orchestrator serves payouts only once payouts.yaml exists.
        *chain_setup_units(settings, opts),
        worker_service("orchestrator", "workers.orchestrator", names.ORCHESTRATOR_QUEUE, settings, opts),
        reconcile_schedule_step(settings, opts.temporal_address),
        *chain_service_units(settings, opts),
        market_data_service(
            settings,
            child_env(settings, opts),
            signer_config_path(settings),
            opts.metrics_port_of("market-data"),
        ),
        # Last: the demo jobs, started once every worker polls, printing their status.
        *(
            Service(name=name, command=[sys.executable, "-m", module], env=child_env(settings, opts))
            for name, module in (
                ("demo-fleet", "perpflow.devstack.demo_fleet"),
                ("demo-grid", "perpflow.devstack.demo_grid"),
            )
        ),
    ]
