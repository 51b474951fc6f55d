"""Typed hedge failures (pure: no I/O library behind them). Retry policies name them as
non-retryable by class name."""

from __future__ import annotations

from perpflow.errors import PerpflowError


class CycleIdReused(PerpflowError):
    """Two different cycles under one workflow id: a bug in id building, never retried."""
