"""Typed perpflow errors. Class names matter: Temporal matches non-retryable types by name."""

from __future__ import annotations


class PerpflowError(Exception):
    """Base of every error perpflow raises on purpose (shown to operators as one line)."""


class ConfigError(PerpflowError):
    """A configuration file or setting is invalid."""


class ServiceError(PerpflowError):
    """A process of the embedded stack could not start or stopped unexpectedly."""
