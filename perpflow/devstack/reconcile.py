"""The embedded stack's exposure reconciler: one Schedule per venue (``reconcile-lighter``,
``reconcile-grvt``), created (or updated) at start."""

from __future__ import annotations

from temporalio.client import Client

from perpflow.devstack.grvt import DEMO_GRVT_ACCOUNT
from perpflow.devstack.supervisor import Step
from perpflow.devstack.venue import DEMO_ACCOUNTS
from perpflow.reconcile.models import Policy, ReconcileInput
from perpflow.reconcile.schedule import ensure_schedule
from perpflow.settings import Settings
from perpflow.temporal_client import DATA_CONVERTER

# The demo accounts are paper money on the sim: orphans there are closed, not only reported.
DEMO_POLICY = Policy.FLATTEN


def reconcile_schedule_step(settings: Settings, temporal_address: str) -> Step:
    async def run() -> None:
        client = await Client.connect(
            temporal_address, namespace=settings.temporal_namespace, data_converter=DATA_CONVERTER
        )
        for venue, accounts in (("lighter", DEMO_ACCOUNTS), ("grvt", (DEMO_GRVT_ACCOUNT,))):
            await ensure_schedule(
                client, ReconcileInput(venue=venue, policies=dict.fromkeys(accounts, DEMO_POLICY))
            )

    return Step("reconcile schedule", run)
