"""Operator commands sent as signals (pause, resume, flatten, stop) with a loose payload.

The payload may be empty or ``{"by": "...", "reason": "..."}``; anything else is rejected and
recorded by the workflow rather than silently dropped by the converter.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from perpflow.models import Model


class OperatorCommand(Model):
    by: str = Field(default="operator", max_length=100)
    reason: str = Field(default="", max_length=500)

    def said(self, done: str) -> str:
        """``done`` ("stopped", "killed") with who did it and why, for a reason text."""
        return f"{done} by {self.by}" + (f": {self.reason}" if self.reason else "")


def parse_command(payload: Any) -> OperatorCommand:
    if payload is None:
        return OperatorCommand()
    if not isinstance(payload, dict):
        raise ValueError(f'expected an object like {{"by": "name"}} or nothing, got {type(payload).__name__}')
    return OperatorCommand.model_validate(payload)
