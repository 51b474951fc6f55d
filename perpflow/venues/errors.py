"""Typed venue errors. Activity retry policies match these class names."""

from __future__ import annotations

from perpflow.errors import PerpflowError


class VenueError(PerpflowError):
    """Base of every venue failure."""


class TransportError(VenueError):
    """No answer, or an unusable one: whether the venue acted is unknown."""


class VenueUnavailable(VenueError):
    """The venue answered 5xx: it is up but not serving."""


class RateLimited(VenueError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidNonce(VenueError):
    """The venue's next nonce differs from ours; refresh it and send again."""


class InsufficientMargin(VenueError):
    """Business failure: the account cannot carry the order. Not retryable."""


class InvalidOrder(VenueError):
    """Business failure: the venue refuses the order as specified. Not retryable."""


class Unrepresentable(InvalidOrder):
    """A price or size has more precision than the market supports."""


class AuthError(VenueError):
    """The venue refused our credentials."""
