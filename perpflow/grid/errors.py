"""Typed failures of grid sessions. Class names matter: Temporal matches them by name."""

from __future__ import annotations

from perpflow.errors import PerpflowError


class LadderError(PerpflowError):
    """The config's ladder does not fit the market (tick, lot, minimum size, fees): never retried."""
