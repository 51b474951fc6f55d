"""HealthCheckWorkflow: probes the ledger (and venues, chains) through the real worker path."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.models import Component, ComponentHealth, HealthCheckInput, HealthCheckRequest, HealthReport
    from perpflow.names import KIND, Kind
    from workflows.calls import CHECK_COMPONENT
    from workflows.commands import CommandLog, RejectsUnknownSignals
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input


@workflow.defn(name="HealthCheckWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class HealthCheckWorkflow(RejectsUnknownSignals):
    """Unknown signals are logged as rejected commands; it takes none."""

    def __init__(self) -> None:
        self.commands = CommandLog("health")

    @workflow.run
    async def run(self, raw: Any = None) -> HealthReport:
        inp = parse_input(HealthCheckInput, raw, Kind.HEALTH)
        workflow.upsert_search_attributes([KIND.value_set(Kind.HEALTH)])
        results: list[ComponentHealth] = []
        required = inp.components is not None
        for component in inp.components or list(Component):
            found = await CHECK_COMPONENT.run(
                HealthCheckRequest(
                    component=component, timeout_seconds=inp.timeout_seconds, required=required
                )
            )
            results.extend(found.checks)
        report = HealthReport.of(workflow.now(), results)
        workflow.logger.info("health check done healthy=%s components=%d", report.healthy, len(results))
        return report
