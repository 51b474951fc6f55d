"""Every workflow class the orchestrator serves (and the replayer checks)."""

from __future__ import annotations

from workflows.grid.session import GridSessionWorkflow
from workflows.health import HealthCheckWorkflow
from workflows.hedge.cycle import HedgeCycleWorkflow
from workflows.hedge.fleet import HedgeFleetWorkflow
from workflows.payout import LiquidationPayoutWorkflow
from workflows.reconcile import ReconcileWorkflow

ALL_WORKFLOWS: list[type] = [
    GridSessionWorkflow,
    HealthCheckWorkflow,
    HedgeCycleWorkflow,
    HedgeFleetWorkflow,
    LiquidationPayoutWorkflow,
    ReconcileWorkflow,
]
