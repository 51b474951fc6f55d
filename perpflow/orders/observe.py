"""What the order gateway counts: orders placed, refused for good, failed and retried (by reason),
and the hedge's latency. Read by Prometheus from the signer's metrics port (perpflow.metrics)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from perpflow.metrics.instruments import HEDGE_LATENCY, ORDERS_PLACED, ORDERS_REJECTED, ORDERS_RETRIED
from perpflow.orders.errors import REFUSALS, IllegalTransition, OrderPending
from perpflow.orders.models import OrderAck, OrderIntent
from perpflow.venues.base import Venue
from perpflow.venues.errors import InvalidNonce, RateLimited, TransportError, VenueUnavailable
from perpflow.venues.types import TimeInForce

# Failures Temporal retries, each its own reason; anything else retried is "other".
RETRIED: tuple[type[Exception], ...] = (
    InvalidNonce,
    RateLimited,
    OrderPending,
    TransportError,
    VenueUnavailable,
    IllegalTransition,
)
OTHER = "other"


def reason(error: type[Exception] | str) -> str:
    """``InvalidNonce`` -> ``invalid_nonce``."""
    name = error if isinstance(error, str) else error.__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


REJECTED_REASONS = tuple(reason(e) for e in REFUSALS)
RETRIED_REASONS = (*(reason(e) for e in RETRIED), OTHER)


def prepare(venue: Venue) -> None:
    """Every series of the account at zero from the start: a rate over a counter that appears at its
    first increment misses that increment, and an alert sees 0 rather than nothing."""
    key = venue.name.value, str(venue.account_index)
    for tif in TimeInForce:
        ORDERS_PLACED.labels(*key, tif.value)
    for r in REJECTED_REASONS:
        ORDERS_REJECTED.labels(*key, r)
    for r in RETRIED_REASONS:
        ORDERS_RETRIED.labels(*key, r)
    HEDGE_LATENCY.labels(*key)


def _key(intent: OrderIntent) -> tuple[str, str]:
    return intent.venue.value, str(intent.account_index)


def acked(intent: OrderIntent, ack: OrderAck) -> None:
    """An order's answer: placed by this attempt, or (in a batch) refused on its own."""
    if ack.refusal:
        ORDERS_REJECTED.labels(*_key(intent), reason(ack.refusal)).inc()
        return
    if not ack.sent_now:
        return
    ORDERS_PLACED.labels(*_key(intent), intent.tif.value).inc()
    if intent.hedges_fill_at is not None:
        latency = (datetime.now(UTC) - intent.hedges_fill_at).total_seconds()
        HEDGE_LATENCY.labels(*_key(intent)).observe(max(latency, 0.0))


def failed(intent: OrderIntent, exc: BaseException) -> None:
    """An attempt that raised: refused for good, or to be retried by Temporal."""
    refusal = next((e for e in REFUSALS if isinstance(exc, e)), None)
    if refusal is not None:
        ORDERS_REJECTED.labels(*_key(intent), reason(refusal)).inc()
        return
    if not isinstance(exc, Exception):
        return  # cancelled: the activity was, not the order
    retried = next((e for e in RETRIED if isinstance(exc, e)), None)
    ORDERS_RETRIED.labels(*_key(intent), OTHER if retried is None else reason(retried)).inc()
