"""The operator controls every long-running job takes, written once: ``pause`` and ``resume``
(no new steps meanwhile), ``stop`` (no new steps, then end), each logged with who sent it, and
every malformed or unknown signal recorded as a rejected command. A job says what pausing and
stopping mean to it; commands of its own (a cycle's ``flatten``, a fleet's ``kill``) sit beside.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.hedge.commands import OperatorCommand
    from workflows.commands import RejectsUnknownSignals


class OperatorControls(RejectsUnknownSignals):
    @workflow.signal
    def pause(self, payload: Any = None) -> None:
        if self.commands.accept("pause", payload):
            self._pause(True)

    @workflow.signal
    def resume(self, payload: Any = None) -> None:
        if self.commands.accept("resume", payload):
            self._pause(False)

    @workflow.signal
    def stop(self, payload: Any = None) -> None:
        if cmd := self.commands.accept("stop", payload):
            self._stop(cmd)

    def _pause(self, paused: bool) -> None:
        raise NotImplementedError

    def _stop(self, cmd: OperatorCommand) -> None:
        raise NotImplementedError
