"""Alerts a workflow raises under its own id: started beside its work (the BESIDE preset, a few
attempts) unless the caller picks another preset and awaits the handle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.alerts.models import Alert, Severity
    from workflows.calls import SEND_ALERT


def raise_alert(
    severity: Severity,
    title: str,
    detail: str,
    *,
    key: str | None = None,
    preset: Mapping[str, Any] | None = None,
) -> workflow.ActivityHandle[None]:
    alert = Alert(severity=severity, source=workflow.info().workflow_id, title=title, detail=detail, key=key)
    return SEND_ALERT.start(alert, preset=preset)
