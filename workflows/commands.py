"""Operator commands arriving as signals with loose payloads, shared by every workflow.

An accepted command is logged with who sent it; anything malformed, and any signal the
workflow does not know (``pauze``, ``kill`` sent to a cycle), is kept as a rejected command
(visible in the ``status`` query and the log) instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from perpflow.config import describe_errors
    from perpflow.hedge.commands import OperatorCommand, parse_command
    from perpflow.models import RejectedCommand


class CommandLog:
    def __init__(self, owner: str, rejected: list[RejectedCommand] | None = None) -> None:
        self.owner = owner  # "cycle" / "fleet", for the log lines
        self.rejected = [] if rejected is None else rejected  # the workflow's state may hold it

    def accept(self, name: str, payload: Any) -> OperatorCommand | None:
        try:
            cmd = parse_command(payload)
        except (ValidationError, ValueError) as exc:
            self.reject(name, payload, exc)
            return None
        workflow.logger.info(
            "%s %s command %s by %s %s", self.owner, workflow.info().workflow_id, name, cmd.by, cmd.reason
        )
        return cmd

    def reject(self, name: str, payload: Any, exc: Exception) -> None:
        if isinstance(exc, ValidationError):
            error = describe_errors(exc)
        else:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.rejected.append(
            RejectedCommand(name=name, payload=repr(payload)[:500], error=error, at=workflow.now())
        )
        workflow.logger.warning(
            "%s %s rejected %s %r: %s", self.owner, workflow.info().workflow_id, name, payload, error
        )


class RejectsUnknownSignals:
    """Mixin: a signal no handler takes is recorded as a rejected command, never dropped."""

    commands: CommandLog

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        payloads: list[Any] = []
        for arg in args:
            try:
                payloads.append(workflow.payload_converter().from_payload(arg.payload))
            except Exception:  # an undecodable payload is still recorded
                payloads.append(arg.payload.data[:100])
        known = sorted({
            defn.name
            for cls in type(self).__mro__
            for member in vars(cls).values()
            if (defn := getattr(member, "__temporal_signal_definition", None)) is not None and defn.name
        })  # fmt: skip
        payload = payloads[0] if len(payloads) == 1 else payloads or None
        self.commands.reject(name, payload, ValueError(f"unknown signal {name!r}; known: {', '.join(known)}"))
