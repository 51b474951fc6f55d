"""Typed failures of the order path. Class names matter: Temporal matches them by name."""

from __future__ import annotations

from perpflow.errors import PerpflowError
from perpflow.risk import RiskRejected
from perpflow.venues.errors import AuthError, InsufficientMargin, InvalidOrder, VenueError


class OrderPending(VenueError):
    """Sent moments ago and not visible yet: look again later rather than send twice."""


class OrderNotFound(PerpflowError):
    """Neither the ledger nor the venue knows this order."""


class IntentConflict(PerpflowError):
    """An idempotency key was reused for a different order: a workflow bug, never retried."""


class IllegalTransition(PerpflowError):
    """An order state change the transition table forbids: the ledger is left as it was. Retried,
    since the retry looks at the venue first and so follows whoever moved the row."""


# The same order would be refused again: the activity ends at once, never retried.
REFUSALS: tuple[type[Exception], ...] = (
    InsufficientMargin,
    InvalidOrder,
    RiskRejected,
    AuthError,
    IntentConflict,
)
