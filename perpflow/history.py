"""Export workflow histories and replay saved ones against the current workflow code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from perpflow.temporal_client import DATA_CONVERTER


async def export_history(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return history.to_json()


class ReplayOutcome(BaseModel):
    path: Path
    workflow_type: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


async def replay_files(paths: list[Path], workflows: list[type]) -> list[ReplayOutcome]:
    from temporalio.client import WorkflowHistory

    replayer = Replayer(
        workflows=workflows,
        data_converter=DATA_CONVERTER,
        workflow_runner=SandboxedWorkflowRunner(),
    )
    outcomes = []
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        wf_type = _workflow_type(history)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        error = (
            None
            if result.replay_failure is None
            else f"{type(result.replay_failure).__name__}: {result.replay_failure}"
        )
        outcomes.append(ReplayOutcome(path=path, workflow_type=wf_type, error=error))
    return outcomes


def _workflow_type(history: object) -> str:
    events = getattr(history, "events", [])
    if events:
        attrs = events[0].workflow_execution_started_event_attributes
        return str(attrs.workflow_type.name)
    return "?"
