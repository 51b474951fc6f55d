"""Operator commands arriving as signals with loose payloads, shared by every workflow.

An accepted command is logged with who sent it; anything malformed is kept as a rejected
command (visible in the ``status`` query and the log) instead of vanishing.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from perpflow.hedge.commands import OperatorCommand, parse_command
    from perpflow.hedge.models import RejectedCommand


class CommandLog:
    def __init__(self, owner: str) -> None:
        self.owner = owner  # "cycle" / "fleet", for the log lines
        self.rejected: list[RejectedCommand] = []

    def accept(self, name: str, payload: Any) -> OperatorCommand | None:
        try:
            cmd = parse_command(payload)
        except (ValidationError, ValueError) as exc:
            self.reject(name, payload, exc)
            return None
        workflow.logger.info("%s %s command %s by %s", self.owner, workflow.info().workflow_id, name, cmd.by)
        return cmd

    def reject(self, name: str, payload: Any, exc: Exception) -> None:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.rejected.append(
            RejectedCommand(name=name, payload=repr(payload)[:500], error=error, at=workflow.now())
        )
        workflow.logger.warning(
            "%s %s rejected %s %r: %s", self.owner, workflow.info().workflow_id, name, payload, error
        )
