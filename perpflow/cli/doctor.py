"""``perpflow doctor``: HealthCheckWorkflow through the orchestrator, its report as a table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from temporalio.client import WorkflowFailureError

from perpflow import names
from perpflow.cli.console import console, new_table
from perpflow.errors import PerpflowError
from perpflow.models import HealthCheckInput, HealthReport
from perpflow.settings import Settings, load_settings
from perpflow.temporal_client import reach


def doctor(timeout: Annotated[float, typer.Option(help="Seconds to wait for the report.")] = 30) -> None:
    """Run HealthCheckWorkflow through the orchestrator and print its report."""
    report = asyncio.run(_doctor(load_settings(), timeout))
    table = new_table("perpflow health", "component", "name", "healthy", "detail", "ms")
    for c in report.components:
        table.add_row(
            c.component,
            c.name,
            "[green]yes[/]" if c.healthy else "[red]NO[/]",
            c.detail,
            f"{c.latency_ms:.1f}",
        )
    console.print(table)
    raise typer.Exit(0 if report.healthy else 1)


async def _doctor(settings: Settings, timeout: float) -> HealthReport:
    client = await reach(settings)
    handle = await client.start_workflow(
        "HealthCheckWorkflow",
        HealthCheckInput(),
        id=names.health_check_id(datetime.now(UTC)),
        task_queue=names.ORCHESTRATOR_QUEUE,
        execution_timeout=timedelta(seconds=timeout),
        result_type=HealthReport,
    )
    try:
        return await asyncio.wait_for(handle.result(), timeout=timeout + 5)
    except (TimeoutError, WorkflowFailureError):
        raise PerpflowError(
            f"no orchestrator worker answered within {timeout:g} s on {names.ORCHESTRATOR_QUEUE}; "
            "is `perpflow dev` (or workers.orchestrator) running?"
        ) from None
